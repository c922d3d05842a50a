// A second program built from the component alone, as another project would use it: no synapse: configuration, its
// own names and choices. Type-checked by `npm run lint`; deploy it with `pulumi up` in this folder.
import * as pulumi from "@pulumi/pulumi";
import { Homeserver } from "../../packages/synapse/homeserver/homeserver";

const config = new pulumi.Config();

const chat = new Homeserver("chat", {
    serverName: "chat.example.org",
    // Where no registry is reachable, the local builds `npm run setup` made (see .tools/images).
    image: config.get("synapseImage"),
    postgres: { image: config.get("postgresImage") },
    edge: {
        tls: "internal",
        image: config.get("caddyImage"),
        httpsPort: 8443,
        // Federation through the https port, announced by the delegation document the edge serves.
        federationPort: 0,
        serveWellKnown: true,
    },
    uid: 991,
    gid: 991,
    memoryLimitMb: 2048,
    extraConfig: { max_upload_size: "100M" },
    retainDataOnDestroy: true,
});

export const url = chat.url;
export const adminUserId = chat.adminUserId;
export const adminPassword = chat.adminPassword;
export const caCertificate = chat.edge?.caCertificate;
export const wellKnownServer = chat.edge?.wellKnownServer;
