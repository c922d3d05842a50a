import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import {
    CA_ROOT_PATH,
    CADDYFILE_PATH,
    CERTIFICATE_PATH,
    EDGE_DATA,
    HEALTH_PORT,
    PRIVATE_KEY_PATH,
    renderCaddyfile,
    type TlsMode,
    wellKnown,
} from "./caddyfile";
import { containerHardening, type Hardening } from "../runtime/hardening";
import { imageResource } from "../runtime/images";
import { VolumeFile } from "../storage/files";
import { LABEL_PREFIX, labelList, ownerLabels } from "../runtime/labels";
import { PidsLimit } from "../runtime/limits";
import { fingerprint, fingerprintKey as keyOf, shellQuote } from "../runtime/scripts";
import { DataVolume } from "../storage/storage";
import { DEFAULTS } from "../homeserver/rules";

/**
 * Caddy runs as root inside its container but keeps no capability: it binds 443 and 8448 (Docker lets any user bind
 * low ports in a container's own network namespace) and writes only its root-owned volume and /config.
 */
export const EDGE_HARDENING: Hardening = {
    pidsLimit: 128,
    tmpfs: { "/config": "rw,nosuid,nodev,size=16m", "/tmp": "rw,nosuid,nodev,size=16m" },
};

/** The edge's settings that are its user's to choose (a Homeserver's `edge` argument). */
export interface EdgeOptions {
    /** How certificates are obtained: internal (the edge's own CA), acme (Let's Encrypt), files (given). */
    tls: TlsMode;
    /** The host clients connect to. Default serverName. */
    publicHost?: pulumi.Input<string>;
    /** Host port for https (443 in the container). Default 443. */
    httpsPort?: pulumi.Input<number>;
    /** Host port for federation (8448 in the container); 0 federates through httpsPort. Default 8448. */
    federationPort?: pulumi.Input<number>;
    /** Serve the delegation documents (/.well-known/matrix/*) from the edge. Default false. */
    serveWellKnown?: pulumi.Input<boolean>;
    /** Forward /_synapse/admin to Synapse. Default false: refused. */
    exposeAdminApi?: pulumi.Input<boolean>;
    /** Contact address for Let's Encrypt; required with acme. */
    acmeEmail?: pulumi.Input<string>;
    /** PEM certificate chain; required with files. */
    certificate?: pulumi.Input<string>;
    /** PEM private key (secret); required with files. */
    privateKey?: pulumi.Input<string>;
    /** Caddy image (official or with its interface). Default CADDY_IMAGE. */
    image?: pulumi.Input<string>;
    /** Name of the edge's volume (certificates, the local CA, the config), recorded by the homeserver's VolumeLedger. Default `<name>-edge`. */
    volumeName?: pulumi.Input<string>;
    /** Name of the container. Default `<name>-edge`. */
    containerName?: pulumi.Input<string>;
}

/** Everything the Edge component takes: the user's options and what the homeserver wires in. */
export interface EdgeArgs extends EdgeOptions {
    /** The Matrix server name. */
    serverName: pulumi.Input<string>;
    /** Host address the ports are published on. Default 127.0.0.1. */
    bindAddress?: pulumi.Input<string>;
    /** Whether the homeserver federates; false: no federation port and no server delegation. Default true. */
    federation?: boolean;
    /** Largest request body in bytes (Synapse's max_upload_size). Default 50 MiB. */
    maxBodyBytes?: pulumi.Input<number>;
    /** The homeserver as the edge reaches it on the shared network, host:port. */
    upstream: pulumi.Input<string>;
    /** The workers' listeners (host:port) by worker kind: the edge routes each request as workers/routes.ts says. */
    workerUpstreams?: pulumi.Input<Partial<Record<string, string[]>>>;
    /** The network shared with the homeserver. */
    networkName: pulumi.Input<string>;
    /** Further networks to join, with the aliases other containers find the edge by there. */
    extraNetworks?: pulumi.Input<{ name: pulumi.Input<string>; aliases: pulumi.Input<string>[] }[]>;
    /** Serve Caddy's metrics (for Prometheus) on the metrics network, one of extraNetworks. Default false. */
    metrics?: boolean;
    /** Owner labels; the role is added. */
    labels: { project: string; stack: string };
    /** The secret key of the stack's fingerprints (the files may hold a private key). Default: a random key of its own. */
    fingerprintKey?: pulumi.Input<string>;
}

/** The edge's Caddyfile from its arguments, defaults applied (single engine and swarm alike). */
export function edgeCaddyfile(args: EdgeArgs): pulumi.Output<string> {
    const publicHost = pulumi.output(args.publicHost ?? args.serverName);
    const httpsPort = pulumi.output(args.httpsPort ?? DEFAULTS.edge.httpsPort);
    const federationPort = pulumi.output(args.federationPort ?? DEFAULTS.edge.federationPort);
    return pulumi
            .output({
                tls: args.tls,
                serverName: args.serverName,
                publicHost,
                httpsPort,
                federationPort,
                federation: args.federation ?? DEFAULTS.federation.enabled,
                serveWellKnown: args.serveWellKnown ?? DEFAULTS.edge.serveWellKnown,
                exposeAdminApi: args.exposeAdminApi ?? DEFAULTS.edge.exposeAdminApi,
                upstream: args.upstream,
                workerUpstreams: args.workerUpstreams ?? {},
                maxBodyBytes: args.maxBodyBytes ?? 50 * 1024 ** 2,
                acmeEmail: args.acmeEmail,
                caName: pulumi.interpolate`${args.labels.stack} synapse-stack`,
                metrics: args.metrics ?? false,
            })
            .apply(renderCaddyfile);
}

/** The edge's files (the Caddyfile; with tls files, the certificate and key), written into its volume before Caddy starts. */
export function edgeFiles(
    name: string,
    args: Pick<EdgeArgs, "tls" | "certificate" | "privateKey"> & { caddyfile: pulumi.Input<string>; image: pulumi.Input<string>; volumeName: pulumi.Input<string>; fingerprintKey: pulumi.Input<string> },
    parent: pulumi.Resource,
): VolumeFile[] {
    // Into the volume, before Caddy starts: Docker copies nothing into a read-only root.
    return [
        { role: "caddyfile", path: CADDYFILE_PATH, content: args.caddyfile },
        ...(args.tls === "files"
            ? [
                  { role: "certificate", path: CERTIFICATE_PATH, content: pulumi.output(args.certificate ?? "") },
                  { role: "private-key", path: PRIVATE_KEY_PATH, content: pulumi.secret(args.privateKey ?? "") },
              ]
            : []),
    ].map(
        (file) =>
            new VolumeFile(
                `${name}-${file.role}`,
                {
                    image: args.image,
                    volumeName: args.volumeName,
                    mountPath: EDGE_DATA,
                    path: file.path.slice(EDGE_DATA.length + 1),
                    content: file.content,
                    fingerprintKey: args.fingerprintKey,
                },
                { parent },
            ),
    );
}

/**
 * The TLS edge: Caddy in front of the homeserver, which is then published nowhere else. It terminates TLS for
 * clients (httpsPort) and federation (federationPort, or through httpsPort with delegation), forwards only Matrix
 * paths, refuses the admin API unless exposed, and can serve the delegation documents.
 */
export class Edge extends pulumi.ComponentResource {
    /** The public base URL clients use, e.g. https://matrix.example.org. */
    public readonly url: pulumi.Output<string>;
    /** The JSON to serve at https://<serverName>/.well-known/matrix/server. */
    public readonly wellKnownServer: pulumi.Output<string>;
    /** The JSON to serve at https://<serverName>/.well-known/matrix/client (with Access-Control-Allow-Origin: *). */
    public readonly wellKnownClient: pulumi.Output<string>;
    /** The root certificate of the edge's local CA (tls internal); stable across updates. Undefined otherwise. */
    public readonly caCertificate: pulumi.Output<string | undefined>;
    /** The edge container's name. */
    public readonly containerName: pulumi.Output<string>;
    /** The edge's volume (Caddy's certificates): the TURN server's TLS listener serves the same certificate. */
    public readonly volumeName: pulumi.Output<string>;

    constructor(name: string, args: EdgeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synapse:index:Edge", name, {}, opts);

        const publicHost = pulumi.output(args.publicHost ?? args.serverName);
        const httpsPort = pulumi.output(args.httpsPort ?? DEFAULTS.edge.httpsPort);
        const federationPort = pulumi.output(args.federationPort ?? DEFAULTS.edge.federationPort);
        const bindAddress = pulumi.output(args.bindAddress ?? DEFAULTS.bindAddress);

        const volume = new DataVolume(
            `${name}-data`,
            {
                volumeName: args.volumeName ?? `${name}-edge`,
                labels: ownerLabels(args.labels.project, args.labels.stack, "edge"),
            },
            { parent: this },
        );

        const fingerprintKey = args.fingerprintKey ?? keyOf(`${name}-fingerprint-key`, this);
        const caddyfile = edgeCaddyfile(args);

        const image = imageResource(`${name}-image`, args.image ?? DEFAULTS.edge.image, this);

        const files = edgeFiles(name, { ...args, caddyfile, image: image.imageId, volumeName: volume.volumeName, fingerprintKey }, this);
        const ports = pulumi.all([bindAddress, httpsPort, federationPort]).apply(([ip, https, federation]) => [
            { internal: 443, external: https, ip, protocol: "tcp" },
            ...(federation && args.federation !== false ? [{ internal: 8448, external: federation, ip, protocol: "tcp" }] : []),
        ]);
        const container = new docker.Container(
            `${name}-proxy`,
            {
                name: args.containerName ?? `${name}-edge`,
                image: image.imageId,
                command: ["caddy", "run", "--config", CADDYFILE_PATH, "--adapter", "caddyfile"],
                volumes: [{ volumeName: volume.volumeName, containerPath: EDGE_DATA }],
                ports,
                networksAdvanced: pulumi
                    .all([args.networkName, args.extraNetworks ?? []])
                    .apply(([network, extra]) => [{ name: network }, ...extra]),
                restart: "unless-stopped",
                healthcheck: {
                    // busybox wget in the official image, Debian's wget in the local build.
                    tests: ["CMD", "wget", "-q", "-O", "/dev/null", `http://127.0.0.1:${HEALTH_PORT}/health`],
                    interval: "1s",
                    timeout: "3s",
                    retries: 60,
                },
                wait: true,
                // Caddy serves within a second or two; a config it refuses makes it restart, not get healthy.
                waitTimeout: 60,
                destroyGraceSeconds: 10,
                ...containerHardening(EDGE_HARDENING),
                labels: [
                    ...labelList(ownerLabels(args.labels.project, args.labels.stack, "edge")),
                    // Data flow from the written files: Caddy starts on them, and restarts when they change.
                    { label: `${LABEL_PREFIX}.config`, value: fingerprint(pulumi.concat(...files.map((file) => file.fingerprint)), fingerprintKey) },
                ],
            },
            { parent: this, deleteBeforeReplace: true, replaceOnChanges: ["healthcheck"] },
        );
        new PidsLimit(`${name}-pids`, { containerName: container.name, containerId: container.id, limit: EDGE_HARDENING.pidsLimit }, { parent: this });

        if (args.tls === "internal") {
            // The root lives in the volume: created once, the same across container replacements and updates.
            const readRoot = pulumi.interpolate`docker exec ${container.name.apply(shellQuote)} cat ${CA_ROOT_PATH}`;
            const root = new command.local.Command(
                `${name}-ca`,
                { create: readRoot, triggers: [container.id] },
                { parent: this },
            );
            this.caCertificate = root.stdout.apply((pem) => `${pem.trim()}\n`);
        } else {
            this.caCertificate = pulumi.output<string | undefined>(undefined);
        }

        const documents = pulumi.all([publicHost, httpsPort, federationPort]).apply(([host, https, federation]) =>
            wellKnown({ publicHost: host, httpsPort: https, federationPort: federation }),
        );
        this.url = pulumi.all([publicHost, httpsPort]).apply(([host, port]) => `https://${host}${port === 443 ? "" : `:${port}`}`);
        this.wellKnownServer = documents.server;
        this.wellKnownClient = documents.client;
        this.containerName = container.name;
        this.volumeName = volume.volumeName;
        this.registerOutputs({
            url: this.url,
            wellKnownServer: this.wellKnownServer,
            wellKnownClient: this.wellKnownClient,
            caCertificate: this.caCertificate,
            containerName: this.containerName,
        });
    }
}
