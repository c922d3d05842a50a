// The TURN server for calls: coturn on a network of its own (none of the stack's internal ones), published on the
// address the user chooses, with the REST-API shared secret Synapse signs credentials with, and (behind a TLS edge)
// TURN over TLS with the edge's certificate, kept current by a container that copies it.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { DEFAULTS, RULES } from "../homeserver/rules";
import { userError } from "../runtime/errors";
import { containerHardening, type Hardening } from "../runtime/hardening";
import { imageResource } from "../runtime/images";
import { LABEL_PREFIX, labelList, ownerLabels } from "../runtime/labels";
import { PidsLimit } from "../runtime/limits";
import { readScript } from "../runtime/scripts";
import { VolumeFile } from "../storage/files";
import { subnetsOf } from "../runtime/networks";
import { DataVolume } from "../storage/storage";
import {
    allowedIntoStack,
    relayPortRange,
    renderTurnConfig,
    TURN_CERTIFICATE_PATH,
    TURN_CONFIG_PATH,
    TURN_DATA,
    TURN_PORT,
    TURN_TLS_DIR,
    TURN_TLS_PORT,
    turnUris,
} from "./turnserver";

/** The official image's user, nobody:nogroup, which owns /var/lib/coturn. */
const TURN_USER = "65534:65534";

/**
 * coturn runs as nobody from the first instruction and needs no capability, but its binary carries
 * CAP_NET_BIND_SERVICE as a file capability (the official image's, and the local build's): the kernel refuses to run
 * such a file when that capability is not in the bounding set, so it stays there, and no-new-privileges keeps the
 * process from gaining it. One relay thread per core and a few more.
 */
export const TURN_HARDENING: Hardening = {
    capabilities: ["NET_BIND_SERVICE"],
    pidsLimit: 64,
    tmpfs: { "/tmp": "rw,noexec,nosuid,nodev,size=8m" },
    memoryMb: 256,
};

/** The certificate copier: root for Caddy's files, with nothing to run but cp, cmp and sleep. */
const CERTIFICATES_HARDENING: Hardening = { pidsLimit: 16, tmpfs: {}, memoryMb: 32 };

/** The TURN server's settings that are its user's to choose (a Homeserver's `turn` argument). */
export interface TurnOptions {
    /** Host address the TURN ports are published on. Default 127.0.0.1 (this host only). */
    bindAddress?: pulumi.Input<string>;
    /**
     * The address clients and peers reach the TURN server at (coturn's external-ip, and the host of turn_uris without
     * an edge). Default bindAddress; required when that is a wildcard (0.0.0.0 or ::).
     */
    externalIp?: pulumi.Input<string>;
    /** Host port of TURN over UDP and TCP (3478 in the container). Default 3478. */
    port?: pulumi.Input<number>;
    /** Host port of TURN over TLS (5349 in the container), served only behind the TLS edge. Default 5349. */
    tlsPort?: pulumi.Input<number>;
    /** The UDP relay ports, first-last, the same on the host (each is a published port). Default 49160-49200. */
    relayPorts?: pulumi.Input<string>;
    /** CIDRs the relay may reach although they are private (a LAN's), never the stack's own networks. Default none. */
    allowPeers?: pulumi.Input<string[]>;
    /** An existing Docker network to run on instead of one of its own (peers there, such as a media server). */
    network?: pulumi.Input<string>;
    /** coturn image (official or with its interface). Default TURN_IMAGE. */
    image?: pulumi.Input<string>;
    /** Name of the TURN server's volume (its config), recorded by the homeserver's VolumeLedger. Default `<name>-turn`. */
    volumeName?: pulumi.Input<string>;
    /** Name of the container. Default `<name>-turn`. */
    containerName?: pulumi.Input<string>;
}

/** Where the TURN server gets its TLS certificate: the edge's volume, read-only. */
export interface TurnCertificateSource {
    /** The edge's volume. */
    volumeName: pulumi.Input<string>;
    /** Where Caddy keeps its data in it (EDGE_DATA). */
    edgeData: string;
    /** The host the certificate is for (the edge's public host, the host of the turns: URI). */
    host: pulumi.Input<string>;
    /** How the edge gets certificates: internal and acme from Caddy's storage, files from the given ones. */
    mode: pulumi.Input<string>;
}

/** Everything the Turn component takes: the user's options and what the homeserver wires in. */
export interface TurnArgs extends TurnOptions {
    /** The realm: the Matrix server name. */
    realm: pulumi.Input<string>;
    /** The host clients are told to reach the TURN server at. Default externalIp. */
    uriHost?: pulumi.Input<string>;
    /** With a TLS edge: where its certificate is. Default none: no TURN over TLS. */
    certificates?: TurnCertificateSource;
    /** Subnets of the stack's own networks: always denied, and allowPeers may not overlap them. */
    protectedSubnets: pulumi.Input<pulumi.Input<string>[]>;
    /** Owner labels; the role is added. */
    labels: { project: string; stack: string };
    /** The secret key of the stack's fingerprints (the config holds the shared secret). */
    fingerprintKey: pulumi.Input<string>;
}

/**
 * coturn for Synapse's calls: a network of its own (so none of the stack's containers is a neighbour), the UDP and TCP
 * listener and the relay ports on bindAddress, every private range denied but allowPeers, and a random shared secret
 * that reaches coturn in its config file (mode 0600 in its volume) and Synapse as a file, never an argument or variable.
 */
export class Turn extends pulumi.ComponentResource {
    /** The shared secret (secret): Synapse signs each client's TURN credentials with it. */
    public readonly sharedSecret: pulumi.Output<string>;
    /** What Synapse hands to clients (turn_uris). */
    public readonly uris: pulumi.Output<string[]>;
    /** The TURN container's name. */
    public readonly containerName: pulumi.Output<string>;

    constructor(name: string, args: TurnArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synapse:index:Turn", name, {}, opts);
        const { project, stack } = args.labels;
        const containerName = pulumi.output(args.containerName ?? `${name}-turn`);
        const bindAddress = pulumi.output(args.bindAddress ?? DEFAULTS.turn.bindAddress);
        const externalIp = pulumi.all([args.externalIp, bindAddress]).apply(([given, bound]) => given ?? bound);
        const port = pulumi.output(args.port ?? DEFAULTS.turn.port);
        const tlsPort = pulumi.output(args.tlsPort ?? DEFAULTS.turn.tlsPort);
        const relayPorts = pulumi.output(args.relayPorts ?? DEFAULTS.turn.relayPorts).apply((text) => {
            const range = relayPortRange(text);
            if (!range) {
                throw userError(`turn.relayPorts ${JSON.stringify(text)} is not valid: expected ${RULES.relayPorts.form}`);
            }
            return range;
        });
        const tls = args.certificates !== undefined;

        const network = args.network
            ? undefined
            : new docker.Network(`${name}-network`, { name: containerName, labels: labelList(ownerLabels(project, stack, "turn-network")) }, { parent: this, deleteBeforeReplace: true });
        const networkName = network ? network.name : pulumi.output(args.network!);
        // Its own subnet holds the Docker host's gateway address: denied like the stack's other networks.
        const ownSubnets = network ? subnetsOf(network) : pulumi.output<string[]>([]);
        const protectedSubnets = pulumi.all([pulumi.output(args.protectedSubnets), ownSubnets]).apply(([stackSubnets, own]) => [...new Set([...stackSubnets, ...own])]);

        this.sharedSecret = new random.RandomPassword(`${name}-secret`, { length: 64, special: false }, { parent: this }).result;
        const config = pulumi.secret(
            pulumi
                .all([args.realm, this.sharedSecret, externalIp, relayPorts, args.allowPeers ?? [], protectedSubnets])
                .apply(([realm, sharedSecret, external, relay, allowPeers, subnets]) => {
                    const into = allowedIntoStack(allowPeers, subnets);
                    if (into.length > 0) {
                        // Known only once the networks exist: Docker picks their subnets.
                        throw userError(
                            `turn.allowPeers ${into.join(", ")} overlaps the stack's own Docker networks (${subnets.join(", ")}): the relay must never reach ` +
                                "PostgreSQL, Redis or the Synapse processes. Allow a narrower range (the LAN's own), or give Docker address pools outside it",
                        );
                    }
                    return renderTurnConfig({ realm, sharedSecret, externalIp: external, relayPorts: relay, allowPeers, protectedSubnets: subnets, tls });
                }),
        );
        const image = imageResource(`${name}-image`, args.image ?? DEFAULTS.turn.image, this);
        const volumeName = new DataVolume(`${name}-data`, { volumeName: args.volumeName ?? `${name}-turn`, labels: ownerLabels(project, stack, "turn") }, { parent: this }).volumeName;
        const configFile = new VolumeFile(
            `${name}-config`,
            { image: image.imageId, volumeName, mountPath: TURN_DATA, path: TURN_CONFIG_PATH.slice(TURN_DATA.length + 1), content: config, user: TURN_USER, fingerprintKey: args.fingerprintKey },
            { parent: this },
        );

        // The certificate copies live in memory only, in a volume both containers mount.
        const copies = args.certificates
            ? new docker.Volume(
                  `${name}-tls`,
                  {
                      name: pulumi.interpolate`${containerName}-tls`,
                      driver: "local",
                      driverOpts: { type: "tmpfs", device: "tmpfs", o: "size=1m,mode=0750,uid=0,gid=65534" },
                      labels: labelList(ownerLabels(project, stack, "turn-tls")),
                  },
                  { parent: this, ignoreChanges: ["*"], deleteBeforeReplace: true },
              )
            : undefined;
        const copier =
            args.certificates && copies
                ? new docker.Container(
                      `${name}-certificates`,
                      {
                          name: pulumi.interpolate`${containerName}-certificates`,
                          image: image.imageId,
                          // Caddy's files are root's with mode 0600; the copies get the TURN server's group.
                          user: "0:65534",
                          entrypoints: ["sh", "-c", readScript("turn_certificates.sh"), "turn-certificates"],
                          command: [args.certificates.edgeData, TURN_TLS_DIR, pulumi.output(args.certificates.host), pulumi.output(args.certificates.mode)],
                          volumes: [
                              { volumeName: args.certificates.volumeName, containerPath: args.certificates.edgeData, readOnly: true },
                              { volumeName: copies.name, containerPath: TURN_TLS_DIR },
                          ],
                          networkMode: "none",
                          restart: "unless-stopped",
                          wait: false,
                          destroyGraceSeconds: 5,
                          ...containerHardening(CERTIFICATES_HARDENING),
                          labels: labelList(ownerLabels(project, stack, "turn-certificates")),
                      },
                      { parent: this, deleteBeforeReplace: true },
                  )
                : undefined;
        if (copier) {
            new PidsLimit(`${name}-certificates-pids`, { containerName: copier.name, containerId: copier.id, limit: CERTIFICATES_HARDENING.pidsLimit }, { parent: this });
        }

        const ports = pulumi.all([bindAddress, port, tlsPort, relayPorts]).apply(([ip, turnPort, secure, relay]) => [
            { internal: TURN_PORT, external: turnPort, ip, protocol: "udp" },
            { internal: TURN_PORT, external: turnPort, ip, protocol: "tcp" },
            ...(tls ? [{ internal: TURN_TLS_PORT, external: secure, ip, protocol: "tcp" }] : []),
            // coturn tells clients externalIp and the port it relays on: the host port must be the same number.
            ...Array.from({ length: relay.last - relay.first + 1 }, (_, offset) => ({ internal: relay.first + offset, external: relay.first + offset, ip, protocol: "udp" })),
        ]);
        const container = new docker.Container(
            `${name}-server`,
            {
                name: containerName,
                image: image.imageId,
                user: TURN_USER,
                // With TLS a small loop starts coturn once the certificate is there and reloads it when it changes.
                ...(tls ? { entrypoints: ["sh", "-c", readScript("turn_run.sh"), "turn-run", TURN_CERTIFICATE_PATH] } : {}),
                command: ["-c", TURN_CONFIG_PATH],
                volumes: [
                    { volumeName, containerPath: TURN_DATA, readOnly: true },
                    ...(copies ? [{ volumeName: copies.name, containerPath: TURN_TLS_DIR, readOnly: true }] : []),
                ],
                ports,
                networksAdvanced: [{ name: networkName }],
                restart: "unless-stopped",
                healthcheck: { tests: ["CMD", "turnutils_stunclient", "-p", String(TURN_PORT), "127.0.0.1"], interval: "5s", timeout: "3s", retries: 3 },
                wait: false,
                destroyGraceSeconds: 10,
                ...containerHardening(TURN_HARDENING),
                labels: [
                    ...labelList(ownerLabels(project, stack, "turn")),
                    // Data flow from the config file: coturn starts on it, and restarts when it changes.
                    { label: `${LABEL_PREFIX}.config`, value: configFile.fingerprint },
                ],
            },
            // Fixed name and host ports: the old container must go before its replacement can bind them.
            { parent: this, deleteBeforeReplace: true, replaceOnChanges: ["healthcheck"], dependsOn: copier ? [copier] : [] },
        );
        new PidsLimit(`${name}-pids`, { containerName: container.name, containerId: container.id, limit: TURN_HARDENING.pidsLimit }, { parent: this });

        const host = pulumi.all([args.uriHost, externalIp]).apply(([given, external]) => given ?? external);
        this.uris = pulumi.all([host, port, tlsPort]).apply(([uriHost, turnPort, secure]) => turnUris({ host: uriHost, port: turnPort, tlsPort: tls ? secure : undefined }));
        this.containerName = container.name;
        this.registerOutputs({ uris: this.uris, containerName: this.containerName });
    }
}
