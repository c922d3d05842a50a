// The kinds of Synapse worker a homeserver can run, how many of each Synapse allows, the presets, and the shared
// homeserver.yaml keys and per-worker files they need (docs/workers.md, 1.163). Pure: rendered and tested without Pulumi.

/** The kinds of worker, in the order they are named and started: generic workers, then the stream writers. */
export const WORKER_KINDS = [
    "client",
    "sync",
    "federationReader",
    "federationSender",
    "pusher",
    "media",
    "background",
    "eventPersister",
    "typing",
    "toDevice",
    "accountData",
    "receipts",
    "presence",
    "pushRules",
    "deviceLists",
] as const;
export type WorkerCountKey = (typeof WORKER_KINDS)[number];
/** A process kind: main, or a kind of worker. */
export type WorkerKind = "main" | WorkerCountKey;

/** The stream each stream-writer kind writes (stream_writers' keys). */
export const STREAM_OF: Readonly<Partial<Record<WorkerCountKey, string>>> = {
    eventPersister: "events",
    typing: "typing",
    toDevice: "to_device",
    accountData: "account_data",
    receipts: "receipts",
    presence: "presence",
    pushRules: "push_rules",
    deviceLists: "device_lists",
};

/** The kinds the edge sends requests to: a homeserver with one of them needs the edge. */
export const SERVING_KINDS: readonly WorkerCountKey[] = ["client", "sync", "federationReader", "media", "typing", "toDevice", "accountData", "receipts", "presence", "pushRules", "deviceLists"];

/**
 * The kinds named in the keys every process shares (instance_map, stream_writers, the instance lists): a change of
 * their count changes every process's config, so every process restarts. Synapse requires it (docs/workers.md: "you
 * *must* restart all worker instances when adding or removing event persisters"; the same for pushers and senders).
 * Client, sync and federation-reader workers are named nowhere else: adding one starts one container.
 */
export const RESTART_ALL_KINDS: readonly WorkerCountKey[] = WORKER_KINDS.filter((kind) => !["client", "sync", "federationReader"].includes(kind));

/** Named sets of counts, as the Ansible playbook offers them. */
export const WorkersPreset = {
    /** No workers: the main process alone (what an absent preset means too). */
    None: "none",
    /** One worker of every kind. */
    OneOfEach: "one-of-each",
} as const;
export type WorkersPreset = (typeof WorkersPreset)[keyof typeof WorkersPreset];

/** The most of each kind Synapse (or one host) allows, and why. */
export const MAX_WORKERS: Readonly<Record<WorkerCountKey, { max: number; why: string }>> = {
    client: { max: 16, why: "" },
    sync: { max: 16, why: "" },
    federationReader: { max: 16, why: "" },
    federationSender: { max: 16, why: "" },
    pusher: { max: 16, why: "" },
    media: { max: 1, why: "several media workers need one media store and one of them running its background jobs" },
    background: { max: 1, why: "Synapse runs background tasks on exactly one process (run_background_tasks_on)" },
    eventPersister: { max: 16, why: "" },
    typing: { max: 1, why: "Synapse allows one writer of the typing stream" },
    toDevice: { max: 1, why: "Synapse allows one writer of the to_device stream" },
    accountData: { max: 1, why: "Synapse allows one writer of the account_data stream" },
    receipts: { max: 16, why: "" },
    presence: { max: 1, why: "Synapse allows one writer of the presence stream" },
    pushRules: { max: 1, why: "Synapse allows one writer of the push_rules stream" },
    deviceLists: { max: 16, why: "" },
};

/** How many workers of each kind: zero for every kind not named. */
export type WorkerCounts = Readonly<Record<WorkerCountKey, number>>;

/** The counts a preset stands for, with explicit counts over them. */
export function workerCounts(preset: WorkersPreset | undefined, counts: Partial<Record<WorkerCountKey, number>>): WorkerCounts {
    const base = preset === WorkersPreset.OneOfEach ? 1 : 0;
    return Object.fromEntries(WORKER_KINDS.map((kind) => [kind, counts[kind] ?? base])) as Record<WorkerCountKey, number>;
}

/** One problem per count Synapse would refuse, naming the argument as `prefix.kind`. */
export function countProblems(counts: Partial<Record<WorkerCountKey, unknown>>, prefix: string): string[] {
    const problems: string[] = [];
    for (const kind of WORKER_KINDS) {
        const count = counts[kind];
        const { max, why } = MAX_WORKERS[kind];
        if (count !== undefined && !(typeof count === "number" && Number.isInteger(count) && count >= 0 && count <= max)) {
            problems.push(`${prefix}.${kind} ${JSON.stringify(count)} is not valid: expected a whole number from 0 to ${max}${why ? ` (${why})` : ""}`);
        }
    }
    return problems;
}

/** A worker process: its kind, its unique name (worker_name), and its container's name. */
export interface WorkerProcess {
    kind: WorkerCountKey;
    name: string;
}

/** Every worker the counts stand for, named `<kind>-<n>` in lower case (Synapse's worker_name). */
export function workerProcesses(counts: WorkerCounts): WorkerProcess[] {
    return WORKER_KINDS.flatMap((kind) =>
        Array.from({ length: counts[kind] }, (_, index) => ({ kind, name: `${kind.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}-${index + 1}` })),
    );
}

/** The port every worker's HTTP listener has in its container (client, federation or media, and /health). */
export const WORKER_HTTP_PORT = 8083;
/** The port of each process's metrics listener, on the internal network only. */
export const METRICS_PORT = 9000;
/** The port of main's replication listener, on the internal network only. */
export const REPLICATION_PORT = 9093;

/** Where the shared keys reach the processes: the names and addresses they are known by on the internal network. */
export interface SharedWorkerSettings {
    /** Main's host name on the internal network; a worker's is `<it>-<worker name>` (its container's name). */
    mainHost: string;
    /** Redis's host name on the internal network. */
    redisHost: string;
    /** The file holding worker_replication_secret, as the processes see it. */
    replicationSecretPath: string;
}

/**
 * The homeserver.yaml keys every process shares (merged into the overlay): Redis, main in the instance map, and
 * each role's instances. Adding a client, sync or federation reader changes none of them, so main keeps running.
 */
export function sharedWorkerConfig(workers: readonly WorkerProcess[], settings: SharedWorkerSettings): Record<string, unknown> {
    if (workers.length === 0) {
        return {};
    }
    const named = (kind: WorkerCountKey) => workers.filter((worker) => worker.kind === kind).map((worker) => worker.name);
    const media = named("media");
    const background = named("background");
    const writers = workers.filter((worker) => STREAM_OF[worker.kind] !== undefined);
    const streamWriters: Record<string, string[]> = {};
    for (const worker of writers) {
        (streamWriters[STREAM_OF[worker.kind]!] ??= []).push(worker.name);
    }
    return {
        redis: { enabled: true, host: settings.redisHost, port: 6379 },
        worker_replication_secret_path: settings.replicationSecretPath,
        // Main and every stream writer: the processes others send replication requests to.
        instance_map: {
            main: { host: settings.mainHost, port: REPLICATION_PORT },
            ...Object.fromEntries(writers.map((worker) => [worker.name, { host: `${settings.mainHost}-${worker.name}`, port: REPLICATION_PORT }])),
        },
        ...(writers.length > 0 ? { stream_writers: streamWriters } : {}),
        enable_metrics: true,
        ...(named("federationSender").length > 0 ? { federation_sender_instances: named("federationSender") } : {}),
        ...(named("pusher").length > 0 ? { pusher_instances: named("pusher") } : {}),
        ...(background.length > 0 ? { run_background_tasks_on: background[0] } : {}),
        ...(media.length > 0 ? { enable_media_repo: false, media_instance_running_background_jobs: media[0] } : {}),
    };
}

/** The listeners main gets with workers, besides its client/federation one: replication and metrics. */
export function mainWorkerListeners(): Record<string, unknown>[] {
    return [
        { port: REPLICATION_PORT, type: "http", bind_addresses: ["0.0.0.0"], resources: [{ names: ["replication"] }] },
        { port: METRICS_PORT, type: "metrics", bind_addresses: ["0.0.0.0"] },
    ];
}

/**
 * A worker's own file: its app, name and listeners (and, for the media worker, the media repository). A stream writer
 * has a replication listener too, on the internal network, where the others send it what to write.
 */
export function workerConfig(worker: WorkerProcess, federation: boolean): Record<string, unknown> {
    const writer = STREAM_OF[worker.kind] !== undefined;
    const resources =
        worker.kind === "media"
            ? ["media"]
            : worker.kind === "federationReader"
              ? ["federation"]
              : (SERVING_KINDS as readonly WorkerKind[]).includes(worker.kind)
                ? ["client"]
                : // Background roles and event persisters serve no requests; their listener is for the health check.
                  ["health"];
    return {
        worker_app: "synapse.app.generic_worker",
        worker_name: worker.name,
        worker_listeners: [
            {
                port: WORKER_HTTP_PORT,
                type: "http",
                // Only the edge reaches a worker's listener, so its X-Forwarded-For is the client's address.
                x_forwarded: true,
                resources: [{ names: federation || worker.kind !== "federationReader" ? resources : ["health"] }],
            },
            ...(writer ? [{ port: REPLICATION_PORT, type: "http", bind_addresses: ["0.0.0.0"], resources: [{ names: ["replication"] }] }] : []),
            { port: METRICS_PORT, type: "metrics", bind_addresses: ["0.0.0.0"] },
        ],
        ...(worker.kind === "media" ? { enable_media_repo: true } : {}),
    };
}
