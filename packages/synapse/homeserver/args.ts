// The arguments of the Homeserver component, and the shapes of its outputs. Named interfaces and `as const` kinds
// only (no inline object types, unions of shapes or component instances), so a schema can describe them for programs
// in any Pulumi language.
import type * as pulumi from "@pulumi/pulumi";
import type { EdgeOptions } from "../edge/edge";
import type { MonitoringOptions } from "../monitoring/monitoring";
import type { TurnOptions } from "../turn/turn";
import type { WorkersPreset } from "../workers/kinds";
import type { Platform } from "../swarm/placement";

export interface HomeserverArgs {
    /** The Matrix server name, the part after the colon in @user:server. Permanent once the homeserver has data. */
    serverName: pulumi.Input<string>;
    /** Synapse image (official or compatible) with a tag or digest. Default SYNAPSE_IMAGE (the official image, pinned). */
    image?: pulumi.Input<string>;
    /** Host port the homeserver's listener (8008 in the container) is published on. Default 8008. */
    httpPort?: pulumi.Input<number>;
    /** Host address the port is published on. Default 127.0.0.1 (this host only); with platform swarm, unset or a wildcard only. */
    bindAddress?: pulumi.Input<string>;
    /** public_baseurl, the URL clients reach the homeserver at, ending in "/". Default http://<bindAddress>:<httpPort>/. */
    publicBaseUrl?: pulumi.Input<string>;
    /** IANA time zone of the containers. Default UTC. */
    timezone?: pulumi.Input<string>;
    /** User id Synapse runs as and owns its data with. Default 1000. */
    uid?: pulumi.Input<number>;
    /** Group id Synapse runs as and owns its data with. Default 1000. */
    gid?: pulumi.Input<number>;
    /** Memory limit of the homeserver container in MiB. Default none. */
    memoryLimitMb?: pulumi.Input<number>;
    /** CPU limit of the homeserver container in CPUs, e.g. "1.5". Default none. */
    cpuLimit?: pulumi.Input<string>;
    /** Report anonymous usage statistics to matrix.org. Default false. */
    reportStats?: pulumi.Input<boolean>;
    /** Localpart of the stack's admin. Default admin. */
    adminUser?: pulumi.Input<string>;
    /** Change it to rotate the admin's password. Default "1". */
    adminPasswordVersion?: pulumi.Input<string>;
    /** Name of the data volume; an existing volume of that name is adopted. Default `<name>-data`. */
    volumeName?: pulumi.Input<string>;
    /** Name of the homeserver container; helpers are named after it. Default `<name>`. */
    containerName?: pulumi.Input<string>;
    /** Keep the data volumes (homeserver, PostgreSQL, edge) on destroy. Default false: destroy deletes them. */
    retainDataOnDestroy?: boolean;
    /** Further top-level homeserver.yaml keys, merged over the generated config (may be secret). Default {}. */
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any YAML value; a component package's schema knows `any`, not `unknown`
    extraConfig?: pulumi.Input<Record<string, any>>;
    /** PostgreSQL instead of SQLite: a server of its own on a private network. Default: SQLite in the data volume. */
    postgres?: PostgresArgs;
    /**
     * A TLS edge (Caddy) in front of the homeserver, which is then published nowhere else; it uses bindAddress for
     * its ports. Default: none, the homeserver's own port is published.
     */
    edge?: EdgeOptions;
    /** Backups the homeserver takes by itself before its image changes. Default: on, up to 5 archives in backups/<containerName>. */
    backups?: BackupsArgs;
    /** Federation. Default: on, with the public internet's trust (system CAs, Synapse's IP blocklist, matrix.org keys). */
    federation?: FederationArgs;
    /**
     * Synapse workers beside the main process, with Redis; they need `postgres`, and those that serve requests
     * (client, sync, federationReader, media) the `edge` that routes to them. Default: none, one process.
     */
    workers?: WorkersArgs;
    /**
     * A TURN server (coturn) for calls, on a network of its own, whose credentials Synapse hands to clients; TURN over
     * TLS too behind the edge, with its certificate. Default: none.
     */
    turn?: TurnOptions;
    /**
     * Monitoring: Prometheus on 127.0.0.1 scraping every Synapse process, PostgreSQL, the edge and the stack's own
     * exporter (free space, backups, the certificate), with the package's alert rules and console pages. Default: none.
     */
    monitoring?: MonitoringOptions;
    /**
     * Where the parts run: docker (containers on the one engine the provider talks to) or swarm (Docker Swarm
     * services, the provider talking to the manager that is the data node). Default docker.
     */
    platform?: Platform;
    /** (swarm) Which nodes hold the data and may run workers, by node label. Required with platform swarm. */
    swarm?: SwarmArgs;
}

/**
 * Placement on a Docker Swarm. The data node (main, media, PostgreSQL, Redis, the edge and their volumes) must be the
 * manager the provider talks to: the one-shot steps (generate, the admin, backups) run on its engine.
 */
export interface SwarmArgs {
    /** The node label of the data node, key=value, such as synapse.data=true. */
    dataNodeLabel: string;
    /** The node label of the nodes workers may run on. Default: any node. */
    workerNodeLabel?: string;
}

/**
 * How many Synapse workers of each kind (plain numbers: each worker is a container). Adding or removing client, sync
 * or federation-reader workers leaves main running; a change to the others restarts every process.
 */
export interface WorkersArgs {
    /** A named set of counts (none, or one-of-each: one of every kind); a count given here overrides it. Default none. */
    preset?: WorkersPreset;
    /** Client API workers (room reads, sending, keys, login, ...), balanced in turn. Default 0. */
    client?: number;
    /** Sync workers (/sync, /events, /initialSync), one user's requests to one worker. Default 0. */
    sync?: number;
    /** Inbound federation: transactions by source server, the other federation requests in turn. Default 0. */
    federationReader?: number;
    /** Outbound federation senders (main then sends none). Default 0. */
    federationSender?: number;
    /** Push notification senders (main then pushes none). Default 0. */
    pusher?: number;
    /** The media repository, 0 or 1 (main then serves no media). Default 0. */
    media?: number;
    /** The process that runs Synapse's background tasks instead of main, 0 or 1. Default 0. */
    background?: number;
    /** Event persisters, the writers of the events stream (main then persists none), 0-16. Default 0. */
    eventPersister?: number;
    /** The writer of the typing stream, 0 or 1. Default 0. */
    typing?: number;
    /** The writer of the to-device stream, 0 or 1. Default 0. */
    toDevice?: number;
    /** The writer of the account data stream, 0 or 1. Default 0. */
    accountData?: number;
    /** Writers of the receipts stream, 0-16. Default 0. */
    receipts?: number;
    /** The writer of the presence stream, 0 or 1. Default 0. */
    presence?: number;
    /** The writer of the push rules stream, 0 or 1. Default 0. */
    pushRules?: number;
    /** Writers of the device lists stream, 0-16. Default 0. */
    deviceLists?: number;
    /** Redis image (official, or with its interface). Default REDIS_IMAGE. */
    redisImage?: pulumi.Input<string>;
}

/** A PostgreSQL server of the homeserver's own. */
export interface PostgresArgs {
    /** PostgreSQL image, major 14 or newer. Default POSTGRES_IMAGE. */
    image?: pulumi.Input<string>;
    /** Its data volume (kept by retainDataOnDestroy like the homeserver's). Default `<containerName>-db`. */
    volumeName?: pulumi.Input<string>;
}

/** The backups the homeserver takes by itself before its image changes (an upgrade, or a downgrade). */
export interface BackupsArgs {
    /** false: none. Default true. */
    enabled?: boolean;
    /** A folder only this user may read (the archives hold the signing key and secrets). Default backups/<containerName>. */
    directory?: pulumi.Input<string>;
    /** How many archives to keep. Default 5. */
    keep?: pulumi.Input<number>;
}

/** Federation with other homeservers. */
export interface FederationArgs {
    /** false: an island, no federation listener and no federation in either direction. Default true. */
    enabled?: boolean;
    /** The only servers federated with (federation_domain_whitelist). Default: all. */
    allowList?: pulumi.Input<string[]>;
    /** PEM roots trusted for federation instead of the system store; trusted_key_servers is then emptied. */
    trustedCaCertificates?: pulumi.Input<pulumi.Input<string>[]>;
    /** CIDRs taken out of Synapse's outbound IP blocklist, e.g. a Docker network's subnet. Default none. */
    allowPrivateRanges?: pulumi.Input<string[]>;
    /** An existing Docker network: the edge joins it with the server name as alias, the homeserver to reach peers. */
    network?: pulumi.Input<string>;
}

/** The image a homeserver runs: the reference it was given and the image id that resolved to. */
export interface HomeserverImage {
    /** The configured reference, e.g. matrixdotorg/synapse:v1.163.2. */
    reference: string;
    /** The image id it resolved to on the engine. */
    id: string;
}

/** The database a homeserver runs on. */
export const DatabaseKind = { Sqlite: "sqlite", Postgres: "postgres" } as const;
/** sqlite (a file in the data volume) or postgres (a server of its own). */
export type DatabaseKind = (typeof DatabaseKind)[keyof typeof DatabaseKind];


