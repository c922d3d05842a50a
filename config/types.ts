// What the stack's configuration becomes: the typed settings it builds its homeserver from, and what the last
// deployment recorded of them.
import type { DatabaseKind, Platform, TlsMode, WorkerCountKey, WorkersPreset } from "@synapse-stack/synapse";

/** synapse:workers as given: a preset and/or counts per kind. */
export type WorkersSetting = { preset?: WorkersPreset } & Partial<Record<WorkerCountKey, number>>;

/** synapse:turn as validated: the TURN server's settings, the package's defaults filled in. */
export interface TurnSetting {
    bindAddress: string;
    externalIp?: string;
    port: number;
    tlsPort: number;
    relayPorts: string;
    allowPeers: string[];
    network?: string;
    image: string;
}

/** synapse:monitoring as validated: Prometheus's settings, the package's defaults filled in. */
export interface MonitoringSetting {
    port: number;
    scrapeInterval: string;
    retention: string;
    backupMaxAgeHours: number;
    image: string;
    postgresExporterImage: string;
    volumeName: string;
}

/** The validated, typed configuration the stack builds its homeserver from. */
export interface SynapseConfig {
    serverName: string;
    image: string;
    httpPort: number;
    bindAddress: string;
    publicBaseUrl: string;
    timezone: string;
    uid: number;
    gid: number;
    /** Memory limit of the homeserver container in MiB; undefined: no limit. */
    memoryLimitMb?: number;
    /** CPU limit of the homeserver container in CPUs (e.g. "1.5"); undefined: no limit. */
    cpuLimit?: string;
    reportStats: boolean;
    adminUser: string;
    adminPasswordVersion: string;
    volumeName: string;
    containerName: string;
    retainDataOnDestroy: boolean;
    extraConfig: Record<string, unknown>;
    /** sqlite (a file in the data volume) or postgres (a server of its own). */
    database: DatabaseKind;
    postgresImage: string;
    databaseVolumeName: string;
    /** none (the homeserver's port is published) or how the TLS edge gets certificates. */
    tls: "none" | TlsMode;
    publicHost: string;
    httpsPort: number;
    federationPort: number;
    serveWellKnown: boolean;
    exposeAdminApi: boolean;
    acmeEmail?: string;
    /** tls files: the certificate chain and key, each as PEM text or the path of a file on this machine. */
    tlsCertificate?: string;
    tlsKey?: string;
    caddyImage: string;
    edgeVolumeName: string;
    federation: FederationConfig;
    /** Where the backups before an image change go (absolute); `npm run backup` uses it too. */
    backupDirectory: string;
    backupsToKeep: number;
    /** The homeserver's base URL: the edge's public URL, or the published port as reached from the Docker host. */
    url: string;
    /** synapse:workers: the preset and counts as given; absent: no workers (one process). */
    workers?: WorkersSetting;
    /** The Redis image of the workers; absent: the package's default. */
    redisImage?: string;
    /** synapse:turn: a TURN server for calls; absent: none. */
    turn?: TurnSetting;
    /** synapse:monitoring: Prometheus with alerts and console pages; absent: none. */
    monitoring?: MonitoringSetting;
    /** synapse:platform: docker (one engine) or swarm (Docker Swarm services). Default docker. */
    platform: Platform;
    /** synapse:swarm: the placement labels, with platform swarm. */
    swarm?: { dataNodeLabel: string; workerNodeLabel?: string };
    /** The keys set with --secret: their values reach the component as secrets. Default none. */
    secretKeys?: readonly string[];
}

/** synapse:federation: who this homeserver federates with, and how it trusts them. */
export interface FederationConfig {
    /** false: an island, no federation listener, no outbound federation. Default true. */
    enabled: boolean;
    /** Synapse's federation_domain_whitelist; undefined: everyone. */
    allowList?: string[];
    /** PEM roots trusted for federation instead of the system store (federation_custom_ca_list). */
    trustedCaCertificates: string[];
    /** Stacks (org/project/stack) whose caCertificate output is trusted too, read through stack references. */
    peerStacks: string[];
    /** CIDRs taken out of Synapse's outbound IP blocklist (ip_range_whitelist), e.g. a Docker network's subnet. */
    allowPrivateRanges: string[];
    /** An existing Docker network: the edge joins it with the server name as alias, the homeserver to reach peers. */
    network?: string;
}

/** What the last deployment of this stack recorded (its outputs); absent on a new stack. */
export interface PreviousSettings {
    serverName?: string;
    volumeName?: string;
    database?: string;
    databaseVolumeName?: string;
    /** Recorded by a stack on a swarm only. */
    platform?: string;
}
