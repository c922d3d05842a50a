// Synapse workers on one host: the internal network and Redis they share with main (WorkerBus, declared before main),
// and the worker processes themselves (Workers, after main has migrated the database). Every process runs the
// homeserver's image with its hardening and labels.
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { DEFAULTS } from "../homeserver/rules";
import { containerHardening, type Hardening } from "../runtime/hardening";
import { imageResource } from "../runtime/images";
import { LABEL_PREFIX, labelList, ownerLabels } from "../runtime/labels";
import { PidsLimit } from "../runtime/limits";
import { subnetsOf } from "../runtime/networks";
import { shellQuote } from "../runtime/scripts";
import { VolumeFile } from "../storage/files";
import { WORKER_HTTP_PORT, workerConfig, type WorkerKind, type WorkerProcess } from "./kinds";

/** Redis holds nothing worth keeping (Synapse uses it for replication pub/sub): no volume, a small tmpfs, no saves. */
export const REDIS_HARDENING: Hardening = {
    pidsLimit: 64,
    tmpfs: { "/data": "rw,noexec,nosuid,nodev,size=16m" },
    memoryMb: 256,
};

/** Redis as the worker bus runs it: no snapshots, no append-only file (`--save` with no value is `save ""`). */
export const REDIS_COMMAND = ["redis-server", "--save", "--appendonly", "no"];

export interface WorkerBusArgs {
    /** The Redis image (official, or a local build with its interface). */
    redisImage?: pulumi.Input<string>;
    /** The homeserver's container name: the network, Redis and the workers are named after it. */
    containerName: pulumi.Input<string>;
    /** Owner labels: project and stack. */
    labels: { project: string; stack: string };
    /**
     * What Redis is made after and deleted before: the volume ledger, whose destroy deletes the volumes only once no
     * container of the stack is left (Redis mounts none, so nothing else orders it before the ledger).
     */
    after?: pulumi.Resource[];
}

/**
 * What main and its workers share: an internal network (no route out, nothing published) that only the Synapse
 * processes and Redis join, Redis on it, and the replication secret. Redis has no password: only the Synapse
 * processes can reach it (its password could only reach it on its command line or environment, which `docker
 * inspect` shows); replication is authenticated by the secret as well as isolated.
 */
export class WorkerBus extends pulumi.ComponentResource {
    /** The internal network's name. */
    public readonly networkName: pulumi.Output<string>;
    /** The internal network's subnets (the TURN server's relay may never reach them). */
    public readonly subnets: pulumi.Output<string[]>;
    /** Redis's host name on it. */
    public readonly redisHost: pulumi.Output<string>;
    /** worker_replication_secret (a Pulumi secret). */
    public readonly replicationSecret: pulumi.Output<string>;

    constructor(name: string, args: WorkerBusArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synapse:index:WorkerBus", name, {}, opts);
        const { project, stack } = args.labels;
        const network = new docker.Network(
            `${name}-network`,
            { name: pulumi.interpolate`${args.containerName}-workers`, internal: true, labels: labelList(ownerLabels(project, stack, "workers-network")) },
            { parent: this, deleteBeforeReplace: true },
        );
        const image = imageResource(`${name}-redis-image`, args.redisImage ?? DEFAULTS.redisImage, this);
        const redis = new docker.Container(
            `${name}-redis`,
            {
                name: pulumi.interpolate`${args.containerName}-redis`,
                image: image.imageId,
                // The image's user and ids; no snapshots, no append-only file: nothing in it outlives a restart.
                user: "999:999",
                // The provider refuses an empty argument, hence `--save` with no value.
                command: REDIS_COMMAND,
                networksAdvanced: [{ name: network.name }],
                restart: "unless-stopped",
                healthcheck: { tests: ["CMD", "redis-cli", "ping"], interval: "5s", timeout: "3s", retries: 3 },
                wait: false,
                ...containerHardening(REDIS_HARDENING),
                labels: labelList(ownerLabels(project, stack, "redis")),
            },
            { parent: this, deleteBeforeReplace: true, replaceOnChanges: ["healthcheck"], dependsOn: args.after },
        );
        new PidsLimit(`${name}-redis-pids`, { containerName: redis.name, containerId: redis.id, limit: REDIS_HARDENING.pidsLimit }, { parent: this });
        this.networkName = network.name;
        this.subnets = subnetsOf(network);
        this.redisHost = redis.name;
        this.replicationSecret = new random.RandomPassword(`${name}-replication-secret`, { length: 40, special: false }, { parent: this }).result;
        this.registerOutputs({ networkName: this.networkName, redisHost: this.redisHost });
    }
}

export interface WorkerProcessesArgs {
    /** The workers to run (plain values: each is a container). */
    processes: readonly WorkerProcess[];
    /** The homeserver's image id. */
    image: pulumi.Input<string>;
    /** The homeserver's container name: each worker's is `<it>-<worker name>`. */
    containerName: pulumi.Input<string>;
    /** The data volume, mounted read-only but for the media worker, which writes the media store. */
    volumeName: pulumi.Input<string>;
    /** The config paths main runs with (generated config and overlay): each worker reads them, then its own file. */
    configPaths: pulumi.Input<string[]>;
    /** The networks each worker joins: the edge's and outbound (federation), the database's, the worker bus. */
    networks: pulumi.Input<string>[];
    /** Whether the homeserver federates (the federation reader's listener serves federation). */
    federation: boolean;
    uid: pulumi.Input<number>;
    gid: pulumi.Input<number>;
    timezone: pulumi.Input<string>;
    /** The homeserver's hardening, which every worker shares. */
    hardening: Hardening;
    /** Owner labels: project and stack. */
    labels: { project: string; stack: string };
    /** The secret key of the stack's fingerprints. */
    fingerprintKey: pulumi.Input<string>;
    /** The fingerprint of the config every process shares (main's overlay), as a label: see StaleWorkersStop. */
    sharedFingerprint: pulumi.Input<string>;
}

/** The label naming the shared config a worker runs (its container's, or on a swarm its service's). */
export const SHARED_LABEL = `${LABEL_PREFIX}.shared`;

export interface StaleWorkersStopArgs {
    /** The fingerprint of the config main is about to run with. */
    sharedFingerprint: pulumi.Input<string>;
    /** Owner labels: project and stack. */
    labels: { project: string; stack: string };
}

/**
 * The restart order when the config every process shares changes (a stream writer, sender or pusher added or
 * removed; any change of main's overlay): first every worker running on the old config stops, then main restarts on
 * the new one, then the workers start on it. No two processes ever run with different stream writers, which Synapse
 * does not survive; and the edge holds the requests that arrive meanwhile (lb_try_duration) until a process of their
 * row answers, and sends again those a stopping process dropped that are safe to repeat (see routes.ts).
 * Main declares this before itself; Pulumi then replaces the stopped workers after main, as their command names the
 * new overlay. A change that leaves the shared config as it was (a client worker added) stops nothing.
 */
export class StaleWorkersStop extends pulumi.ComponentResource {
    constructor(name: string, args: StaleWorkersStopArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synapse:index:StaleWorkersStop", name, {}, opts);
        const filters = Object.entries(ownerLabels(args.labels.project, args.labels.stack, "worker"))
            .map(([label, value]) => `--filter ${shellQuote(`label=${label}=${value}`)}`)
            .join(" ");
        const stop = pulumi
            .output(args.sharedFingerprint)
            .apply(
                (shared) =>
                    `docker ps ${filters} --format '{{.ID}} {{.Label "${SHARED_LABEL}"}}' | awk -v keep=${shellQuote(shared)} '$2 != keep { print $1 }' | xargs -r docker stop -t 30 >/dev/null`,
            );
        new command.local.Command(`${name}-stop`, { create: stop, triggers: [args.sharedFingerprint] }, { parent: this });
        this.registerOutputs({});
    }
}

/**
 * Each worker's listener as the edge reaches it (host:port), by kind: from the names alone, so the edge is configured
 * while the workers still start (its health checks send them requests once they answer).
 */
export function workerUpstreams(containerName: string, processes: readonly WorkerProcess[]): Partial<Record<WorkerKind, string[]>> {
    const byKind: Partial<Record<WorkerKind, string[]>> = {};
    for (const worker of processes) {
        (byKind[worker.kind] ??= []).push(`${containerName}-${worker.name}:${WORKER_HTTP_PORT}`);
    }
    return byKind;
}

/** How long a process may take to answer /health after its container starts (a worker on a busy 2-core host: ~40 s). */
const READY_SECONDS = 180;

/**
 * Waits until each container's Synapse answers /health on `port` inside it (so after its database migrations), all at
 * once; fails naming the one that did not, with its last log lines. Runs again whenever one of them is replaced.
 */
export function awaitHealthy(
    name: string,
    containers: readonly { name: pulumi.Input<string>; id: pulumi.Input<string> }[],
    port: number,
    parent: pulumi.Resource,
): command.local.Command {
    const script = pulumi.all(containers.map((container) => container.name)).apply((names) =>
        [
            "pids=",
            ...names.map(
                (container) =>
                    `{ docker exec ${shellQuote(container)} curl -fsS --retry ${READY_SECONDS} --retry-delay 1 --retry-all-errors --retry-max-time ${READY_SECONDS} -o /dev/null http://localhost:${port}/health 2>/dev/null || { echo "${container} did not answer /health within ${READY_SECONDS} s; its last log lines:" >&2; docker logs --tail 25 ${shellQuote(container)} >&2 2>&1; exit 1; }; } & pids="$pids $!"`,
            ),
            // Every background check's status: one that failed fails the step. By pid: `jobs -p` in a command
            // substitution lists nothing in dash (the `sh` the command provider runs), which waited for none.
            "failed=0; for pid in $pids; do wait $pid || failed=1; done; exit $failed",
        ].join("\n"),
    );
    return new command.local.Command(name, { create: script, triggers: containers.map((container) => container.id) }, { parent });
}

/** The worker processes, each a container of the homeserver's image with its own file in the data volume. */
export class Workers extends pulumi.ComponentResource {
    /** Done when every worker answers /health: the admin step waits on it, as main's writes need the stream writers. */
    public readonly ready: command.local.Command | undefined;

    constructor(name: string, args: WorkerProcessesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synapse:index:Workers", name, {}, opts);
        const { project, stack } = args.labels;
        const containers: docker.Container[] = [];
        for (const worker of args.processes) {
            const containerName = pulumi.interpolate`${args.containerName}-${worker.name}`;
            // Beside, not inside, synapse-stack/: generate removes every file there but the overlays in use.
            const filePath = `synapse-stack-worker-${worker.name}.yaml`;
            // Written once per worker: adding or removing one touches no other process.
            const file = new VolumeFile(
                `${name}-${worker.name}-config`,
                {
                    image: args.image,
                    volumeName: args.volumeName,
                    mountPath: "/data",
                    path: filePath,
                    content: JSON.stringify(workerConfig(worker, args.federation), null, 2),
                    user: pulumi.interpolate`${args.uid}:${args.gid}`,
                    fingerprintKey: args.fingerprintKey,
                },
                { parent: this },
            );
            const container = new docker.Container(
                `${name}-${worker.name}`,
                {
                    name: containerName,
                    image: args.image,
                    user: pulumi.interpolate`${args.uid}:${args.gid}`,
                    command: pulumi
                        .output(args.configPaths)
                        .apply((paths) => ["run", "-m", "synapse.app.generic_worker", ...[...paths, `/data/${filePath}`].flatMap((configPath) => ["--config-path", configPath])]),
                    envs: [pulumi.interpolate`TZ=${args.timezone}`],
                    volumes: [{ volumeName: args.volumeName, containerPath: "/data", readOnly: worker.kind !== "media" }],
                    networksAdvanced: args.networks.map((network) => ({ name: network })),
                    restart: "unless-stopped",
                    healthcheck: {
                        tests: ["CMD", "curl", "-fSs", `http://localhost:${WORKER_HTTP_PORT}/health`],
                        interval: "5s",
                        timeout: "5s",
                        // A worker on a busy host takes longer than main to start. Under a minute: the provider reads
                        // 60s back as 1m0s, and would plan a replacement on every up.
                        startPeriod: "45s",
                        retries: 3,
                    },
                    wait: false,
                    destroyGraceSeconds: 30,
                    ...containerHardening(args.hardening),
                    labels: [
                        ...labelList(ownerLabels(project, stack, "worker")),
                        { label: `${LABEL_PREFIX}.worker`, value: worker.name },
                        { label: `${LABEL_PREFIX}.config`, value: file.fingerprint },
                        { label: SHARED_LABEL, value: args.sharedFingerprint },
                    ],
                },
                { parent: this, deleteBeforeReplace: true, replaceOnChanges: ["healthcheck"] },
            );
            new PidsLimit(`${name}-${worker.name}-pids`, { containerName: container.name, containerId: container.id, limit: args.hardening.pidsLimit }, { parent: this });
            containers.push(container);
        }
        this.ready = containers.length > 0 ? awaitHealthy(`${name}-ready`, containers, WORKER_HTTP_PORT, this) : undefined;
        this.registerOutputs({});
    }
}
