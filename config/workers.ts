// synapse:workers and synapse:redisImage: the preset and counts as given, refused in synapse:* terms with the package's
// count rules, and the parts workers need (PostgreSQL; the edge for those that serve requests).
import { countProblems, DatabaseKind, DEFAULTS, RULES, SERVING_KINDS, WORKER_KINDS, workerCounts, WorkersPreset } from "@synapse-stack/synapse";
import type { Reader } from "./reader";
import type { SynapseConfig, WorkersSetting } from "./types";

const WORKERS_KEYS = ["preset", ...WORKER_KINDS] as const;

export function readWorkers(reader: Reader, database: DatabaseKind, tls: SynapseConfig["tls"]): Pick<SynapseConfig, "workers" | "redisImage"> {
    const redisImage = reader.isSet("redisImage") ? { redisImage: reader.text("redisImage", DEFAULTS.redisImage, RULES.redisImage) } : {};
    const value = reader.mapping("workers", `a mapping with the keys ${WORKERS_KEYS.join(", ")}`);
    if (value === undefined) {
        if (reader.isSet("redisImage")) {
            reader.problems.push("synapse:redisImage is set but synapse:workers is not: Redis runs only with workers; set synapse:workers, or remove it");
        }
        return redisImage;
    }
    for (const key of Object.keys(value).filter((item) => !(WORKERS_KEYS as readonly string[]).includes(item))) {
        reader.problems.push(`synapse:workers.${key} is not a worker setting: known keys are ${WORKERS_KEYS.join(", ")}`);
    }
    const workers: WorkersSetting = {};
    const presets = Object.values(WorkersPreset) as string[];
    if (value.preset !== undefined) {
        if (typeof value.preset === "string" && presets.includes(value.preset)) {
            workers.preset = value.preset as WorkersPreset;
        } else {
            reader.bad("workers.preset", value.preset, `one of ${presets.join(", ")}`);
        }
    }
    // A count may come as YAML's number or as text (pulumi config set --path).
    const counts = Object.fromEntries(
        WORKER_KINDS.filter((kind) => value[kind] !== undefined).map((kind) => [kind, typeof value[kind] === "string" && /^\d+$/.test(value[kind]) ? Number(value[kind]) : value[kind]]),
    );
    const countErrors = countProblems(counts, "workers").map((problem) => `synapse:${problem}`);
    reader.problems.push(...countErrors);
    if (countErrors.length > 0) {
        return { workers, ...redisImage };
    }
    Object.assign(workers, counts);
    const total = workerCounts(workers.preset, workers);
    if (Object.values(total).some((count) => count > 0)) {
        if (database !== DatabaseKind.Postgres) {
            reader.problems.push("synapse:workers needs synapse:database postgres: Synapse's workers share one PostgreSQL database (they do not run on SQLite)");
        }
        const serving = SERVING_KINDS.filter((kind) => total[kind] > 0);
        if (serving.length > 0 && tls === "none") {
            reader.problems.push(`synapse:workers.${serving.join(", synapse:workers.")} needs synapse:tls: requests reach those workers only through the edge's routing`);
        }
    }
    return { workers, ...redisImage };
}
