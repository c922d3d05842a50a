// A second program built from the component package alone, as another project would use it: installed as an ordinary
// dependency (`npm install @synapse-stack/synapse`, or the tarball `npm pack` makes), no synapse: configuration, its own
// names and choices. Type-checked by `npm run lint`; the end-to-end tests install the packed package here and deploy it.
import * as pulumi from "@pulumi/pulumi";
import { Homeserver } from "@synapse-stack/synapse";

const config = new pulumi.Config();

const chat = new Homeserver("chat", {
    serverName: config.get("serverName") ?? "chat.example.org",
    // Names of its own where several copies share one engine (the tests); by default the component's, after "chat".
    containerName: config.get("containerName"),
    volumeName: config.get("volumeName"),
    // Where no registry is reachable, the local builds `npm run setup` made (see .tools/images).
    image: config.get("synapseImage"),
    postgres: { image: config.get("postgresImage") },
    edge: {
        tls: "internal",
        image: config.get("caddyImage"),
        httpsPort: config.getNumber("httpsPort") ?? 8443,
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
export const caCertificate = chat.caCertificate;
export const wellKnownServer = chat.wellKnownServer;
