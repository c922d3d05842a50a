// The adapter from the stack's settings to the component's arguments: the stack's names for its containers and
// volumes, which parts it has (PostgreSQL, the edge), the peers' certificates from stack references, and secrets kept
// secret. The defaults in the settings are the component's own (DEFAULTS), filled in by parse.ts.
import * as pulumi from "@pulumi/pulumi";
import { type HomeserverArgs, Platform } from "@synapse-stack/synapse";
import type { ConfigKey } from "./keys";
import type { SynapseConfig } from "./types";

/**
 * The adapter from stack configuration to the component's arguments: the stack's names for its containers and
 * volumes, and which parts (PostgreSQL, the edge) it has. Secrets become secrets here.
 */
export function homeserverArgs(config: SynapseConfig): HomeserverArgs {
    // A key set with --secret stays secret in the component's inputs, and so in state and in everything derived from it.
    const kept = <T>(key: ConfigKey, value: T): T | pulumi.Output<T> => (config.secretKeys?.includes(key) ? (pulumi.secret(value) as pulumi.Output<T>) : value);
    return {
        serverName: kept("serverName", config.serverName),
        image: kept("image", config.image),
        httpPort: kept("httpPort", config.httpPort),
        // On a swarm the edge publishes on every address of the data node: config refused any other bind address.
        bindAddress: config.platform === Platform.Swarm ? undefined : kept("bindAddress", config.bindAddress),
        publicBaseUrl: kept("publicBaseUrl", config.publicBaseUrl),
        timezone: kept("timezone", config.timezone),
        uid: kept("uid", config.uid),
        gid: kept("gid", config.gid),
        memoryLimitMb: config.memoryLimitMb === undefined ? undefined : kept("memoryLimit", config.memoryLimitMb),
        cpuLimit: config.cpuLimit === undefined ? undefined : kept("cpuLimit", config.cpuLimit),
        reportStats: kept("reportStats", config.reportStats),
        adminUser: kept("adminUser", config.adminUser),
        adminPasswordVersion: kept("adminPasswordVersion", config.adminPasswordVersion),
        volumeName: kept("volumeName", config.volumeName),
        containerName: config.containerName,
        retainDataOnDestroy: config.retainDataOnDestroy,
        extraConfig: config.extraConfig,
        backups: { directory: kept("backupDirectory", config.backupDirectory), keep: kept("backupsToKeep", config.backupsToKeep) },
        postgres: config.database === "postgres" ? { image: kept("postgresImage", config.postgresImage), volumeName: config.databaseVolumeName } : undefined,
        edge:
            config.tls === "none"
                ? undefined
                : {
                      tls: config.tls,
                      publicHost: kept("publicHost", config.publicHost),
                      httpsPort: kept("httpsPort", config.httpsPort),
                      federationPort: kept("federationPort", config.federationPort),
                      serveWellKnown: config.serveWellKnown,
                      exposeAdminApi: config.exposeAdminApi,
                      acmeEmail: config.acmeEmail === undefined ? undefined : kept("acmeEmail", config.acmeEmail),
                      certificate: config.tlsCertificate === undefined ? undefined : kept("tlsCertificate", config.tlsCertificate),
                      privateKey: config.tlsKey === undefined ? undefined : pulumi.secret(config.tlsKey),
                      image: kept("caddyImage", config.caddyImage),
                      volumeName: config.edgeVolumeName,
                  },
        workers: config.workers === undefined ? undefined : { ...config.workers, redisImage: config.redisImage === undefined ? undefined : kept("redisImage", config.redisImage) },
        turn:
            config.turn === undefined
                ? undefined
                : {
                      bindAddress: kept("turn", config.turn.bindAddress),
                      externalIp: config.turn.externalIp === undefined ? undefined : kept("turn", config.turn.externalIp),
                      port: kept("turn", config.turn.port),
                      // TURN over TLS exists only behind the edge, whose certificate it serves.
                      tlsPort: config.tls === "none" ? undefined : kept("turn", config.turn.tlsPort),
                      relayPorts: kept("turn", config.turn.relayPorts),
                      allowPeers: kept("turn", config.turn.allowPeers),
                      network: config.turn.network === undefined ? undefined : kept("turn", config.turn.network),
                      image: kept("turn", config.turn.image),
                  },
        monitoring:
            config.monitoring === undefined
                ? undefined
                : {
                      port: kept("monitoring", config.monitoring.port),
                      scrapeInterval: kept("monitoring", config.monitoring.scrapeInterval),
                      retention: kept("monitoring", config.monitoring.retention),
                      backupMaxAgeHours: kept("monitoring", config.monitoring.backupMaxAgeHours),
                      image: kept("monitoring", config.monitoring.image),
                      postgresExporterImage: kept("monitoring", config.monitoring.postgresExporterImage),
                      volumeName: config.monitoring.volumeName,
                  },
        platform: config.platform,
        swarm: config.swarm,
        federation: {
            enabled: config.federation.enabled,
            allowList: config.federation.allowList === undefined ? undefined : kept("federation", config.federation.allowList),
            trustedCaCertificates: [...config.federation.trustedCaCertificates, ...peerCertificates(config.federation.peerStacks)],
            allowPrivateRanges: kept("federation", config.federation.allowPrivateRanges),
            network: config.federation.network === undefined ? undefined : kept("federation", config.federation.network),
        },
    };
}

/** The caCertificate outputs of peer stacks, read through stack references: the Pulumi way to wire stacks together. */
function peerCertificates(peerStacks: string[]): pulumi.Output<string>[] {
    return peerStacks.map(
        (peer) => new pulumi.StackReference(`synapse-peer-${peer.replace(/\//g, "-")}`, { name: peer }).requireOutput("caCertificate") as pulumi.Output<string>,
    );
}
