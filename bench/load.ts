// `npm run bench`'s load run (alone with BENCH_ONLY=load): one Synapse process against Synapse with workers, each a
// production-like stack (PostgreSQL, the TLS edge), under the same traffic through the edge (bench/traffic.ts), and
// the CPU each container spent (bench/cpu.ts). Prints both sides with ratios and saves the raw figures.
// The sides run one after the other (up, users and rooms, warm-up, measured window, destroy), never both measured at
// once: on two cores each would take the other's CPU. One round by default (BENCH_LOAD_RUNS), single process first,
// since a round brings up and destroys two production stacks (minutes) and one 60 s window already holds hundreds of
// sends and thousands of deliveries; with more rounds the side that goes first alternates and the figures are medians.
import * as fs from "node:fs";
import * as path from "node:path";
import { cleanUp, createStack, docker, freePort, healthStatus, Matrix, outputsOf, productionConfig, recordedImage, ROOT, runId, type TestStack, up } from "../test/e2e/support";
import { type CpuUse, CpuMeter } from "./cpu";
import { percentile, populate, runTraffic, type TrafficFigures, type TrafficShape } from "./traffic";

type Side = "single" | "workers";

interface SideRun {
    side: Side;
    round: number;
    /** The traffic's rate: "paced" (the same offered load on both sides) or "flat out" (as fast as answered). */
    pace: string;
    /** The stack's cold `up`, for the record (not compared: the workers side has more containers to start). */
    upSeconds: number;
    traffic: TrafficFigures;
    /** CPU seconds in the measured window, by container role (main, db, edge, redis, client-1, ...). */
    cpu: Record<string, CpuUse>;
    /** CPU seconds of this process (the load generator) in the window: it shares the machine's cores. */
    generatorCpuSeconds: number;
}

export function envNumber(name: string, fallback: number, least = 1): number {
    const raw = process.env[name];
    const value = raw === undefined || raw === "" ? fallback : Number(raw);
    if (!Number.isInteger(value) || value < least) {
        throw new Error(`${name} ${JSON.stringify(raw)} is not valid: expected a whole number of at least ${least}`);
    }
    return value;
}

/** BENCH_LOAD_WORKERS: the workers side's `synapse:workers`, counts by kind (packages/synapse/workers/kinds.ts). */
function workersConfig(): string {
    const raw = process.env.BENCH_LOAD_WORKERS || JSON.stringify({ client: 1, sync: 1 });
    const parsed: unknown = (() => {
        try {
            return JSON.parse(raw);
        } catch {
            return undefined;
        }
    })();
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        throw new Error(`BENCH_LOAD_WORKERS ${raw} is not valid: expected a JSON object such as {"client":1,"sync":1} or {"preset":"one-of-each"}`);
    }
    return raw;
}

// High enough that no limit is what the run measures. rc_presence stays as it is: over it, a sync's presence
// update is skipped, not refused, so the limit keeps presence at a real client's pace.
const unlimited = { per_second: 10_000, burst_count: 10_000 };
const LOAD_LIMITS = {
    rc_message: unlimited,
    rc_login: { address: unlimited, account: unlimited, failed_attempts: unlimited },
    rc_joins: { local: unlimited, remote: unlimited },
    rc_joins_per_room: unlimited,
    rc_room_creation: unlimited,
};

async function sideConfig(side: Side, name: string, workers: string): Promise<Record<string, string>> {
    return {
        serverName: `${name}.localhost`,
        ...productionConfig(),
        httpsPort: String(await freePort()),
        federationPort: "0",
        // Users are made with the admin API (registration is closed), through the edge like every other request.
        exposeAdminApi: "true",
        extraConfig: JSON.stringify(LOAD_LIMITS),
        ...(side === "workers" ? { workers, redisImage: recordedImage("redis") } : {}),
    };
}

/** The stack's running containers by role: `main` for the homeserver, else what follows its name (db, edge, sync-1). */
function runningContainers(stackName: string, mainName: string): Record<string, string> {
    const names = docker("ps", "--filter", `label=io.synapse-stack.stack=${stackName}`, "--format", "{{.Names}}").split("\n").filter(Boolean);
    return Object.fromEntries(names.map((name) => [name === mainName ? "main" : name.slice(mainName.length + 1), name]));
}

/** One side's stack, measured under each shape in turn (the same users and rooms), then destroyed. */
async function measureSide(side: Side, round: number, shapes: readonly { pace: string; shape: TrafficShape }[], workers: string): Promise<SideRun[]> {
    const name = `bench-load-${side}-${runId()}`;
    let testStack: TestStack | undefined;
    try {
        testStack = await createStack(name, await sideConfig(side, name, workers));
        const began = Date.now();
        await up(testStack);
        const upSeconds = (Date.now() - began) / 1000;
        const outputs = await outputsOf(testStack);
        const containers = runningContainers(name, outputs.containerName);
        for (const container of Object.values(containers)) {
            const status = await healthStatus(container, 120);
            if (status !== "" && status !== "healthy") {
                throw new Error(`${container} is ${status} after up`);
            }
        }
        const matrix = new Matrix(outputs.url, { ca: outputs.caCertificate, connectTo: "127.0.0.1" });
        const population = await populate(matrix, { userId: outputs.adminUserId, password: outputs.adminPassword }, outputs.serverName, shapes[0].shape);
        const runs: SideRun[] = [];
        for (const { pace, shape } of shapes) {
            const meter = new CpuMeter(Object.values(containers));
            let generatorBefore = process.cpuUsage();
            let generator = process.cpuUsage();
            const traffic = await runTraffic(matrix, population, shape, {
                begin: () => {
                    meter.start();
                    generatorBefore = process.cpuUsage();
                },
                end: () => {
                    meter.stop();
                    generator = process.cpuUsage(generatorBefore);
                },
            });
            const byContainer = await meter.result();
            const cpu = Object.fromEntries(Object.entries(containers).map(([role, container]) => [role, byContainer[container]]));
            runs.push({ side, round, pace, upSeconds, traffic, cpu, generatorCpuSeconds: (generator.user + generator.system) / 1e6 });
        }
        return runs;
    } finally {
        await cleanUp(testStack);
    }
}

const format = (value: number, whole = false) =>
    !Number.isFinite(value) ? "—" : whole || Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 10 ? value.toFixed(1) : value.toFixed(2);
const ratio = (workers: number, single: number) => (single > 0 && Number.isFinite(workers / single) ? `${(workers / single).toFixed(2)}×` : "—");
const errorCount = (run: SideRun) => Object.values(run.traffic.errors).reduce((sum, count) => sum + count, 0);
const cpuTotal = (run: SideRun) => Object.values(run.cpu).reduce((sum, use) => sum + use.seconds, 0);

function report(runs: SideRun[], pace: string, shape: TrafficShape, workers: string, machine: string): string {
    const of = (side: Side) => runs.filter((run) => run.side === side);
    const median = (side: Side, figure: (run: SideRun) => number) => percentile(of(side).map(figure), 50);
    /** A figure's row; a count (`whole`) is printed without decimals. */
    const row = (label: string, figure: (run: SideRun) => number, whole = false) => {
        const [single, withWorkers] = [median("single", figure), median("workers", figure)];
        return `| ${label} | ${format(single, whole)} | ${format(withWorkers, whole)} | ${ratio(withWorkers, single)} |`;
    };
    const kinds = (side: Side) => {
        const summed: Record<string, number> = {};
        for (const run of of(side)) {
            for (const [kind, count] of Object.entries(run.traffic.errors)) {
                summed[kind] = (summed[kind] ?? 0) + count;
            }
        }
        return Object.entries(summed).map(([kind, count]) => `${kind} × ${count}`).join(", ") || "none";
    };
    const roles = [...new Set(runs.flatMap((run) => Object.keys(run.cpu)))].sort((a, b) => (a === "main" ? -1 : b === "main" ? 1 : a.localeCompare(b)));
    const cpuCell = (side: Side, role: string) => {
        const uses = of(side).map((run) => run.cpu[role]).filter((use) => use !== undefined);
        return uses.length === 0 ? "—" : `${format(percentile(uses.map((use) => use.seconds), 50))}${uses.some((use) => use.method === "docker stats") ? " *" : ""}`;
    };
    const rounds = runs.length / 2;
    return [
        `load through the TLS edge ${new Date().toISOString().slice(0, 10)}, ${pace} (${shape.rate > 0 ? `${shape.rate} messages/s offered` : "each sender sends when its last send is answered"}): ${shape.senders} senders, ${shape.syncers} syncing clients, ${shape.rooms} shared rooms,`,
        `${shape.seconds} s measured after ${shape.warmupSeconds} s of warm-up; workers ${workers}; ${rounds === 1 ? "one round" : `median of ${rounds} rounds`} on ${machine}`,
        "",
        "| figure | single process | workers | ratio (workers/single) |",
        "| --- | ---: | ---: | ---: |",
        row("messages/s accepted (PUT /send answered 200)", (run) => run.traffic.messagesPerSecond),
        row("send answered, p50 (ms)", (run) => run.traffic.sendP50),
        row("send answered, p95 (ms)", (run) => run.traffic.sendP95),
        row("delivery p50 (ms): send issued → seen in another client's /sync", (run) => run.traffic.deliveryP50),
        row("delivery p95 (ms)", (run) => run.traffic.deliveryP95),
        row("deliveries missed (accepted × syncing clients − seen)", (run) => run.traffic.missed, true),
        row("/sync p50 (ms), syncs that returned events", (run) => run.traffic.syncP50),
        row("/sync p95 (ms), syncs that returned events", (run) => run.traffic.syncP95),
        row("syncs that returned events", (run) => run.traffic.syncsWithEvents, true),
        row("sync timelines cut short (limited)", (run) => run.traffic.gaps, true),
        row("errors (non-200 answers and transport errors)", errorCount, true),
        row("CPU s, all the stack's containers", cpuTotal),
        row("CPU ms per accepted message", (run) => (cpuTotal(run) * 1000) / run.traffic.accepted),
        "",
        `errors by kind: single process: ${kinds("single")}; workers: ${kinds("workers")}`,
        "",
        "CPU seconds per container in the measured window (cgroup cpu.stat usage_usec; * sampled with docker stats):",
        "",
        "| container | single process | workers |",
        "| --- | ---: | ---: |",
        ...roles.map((role) => `| ${role} | ${cpuCell("single", role)} | ${cpuCell("workers", role)} |`),
        `| load generator (this process) | ${format(median("single", (run) => run.generatorCpuSeconds))} | ${format(median("workers", (run) => run.generatorCpuSeconds))} |`,
        "",
        `cold up, for the record: single process ${format(median("single", (run) => run.upSeconds))} s, workers ${format(median("workers", (run) => run.upSeconds))} s`,
    ].join("\n");
}

/**
 * The load run: BENCH_LOAD_RATE, _SECONDS, _WARMUP_SECONDS, _SENDERS, _SYNCERS, _ROOMS, _RUNS and _WORKERS tune it.
 * Each side is measured twice: paced, the same offered load on both (BENCH_LOAD_RATE messages/s, below what one
 * process accepts here, so latency is compared at equal load), then flat out (what each side accepts at most).
 */
export async function loadBenchmark(machine: string): Promise<void> {
    const flat: TrafficShape = {
        rate: 0,
        senders: envNumber("BENCH_LOAD_SENDERS", 8),
        syncers: envNumber("BENCH_LOAD_SYNCERS", 8),
        rooms: envNumber("BENCH_LOAD_ROOMS", 4),
        warmupSeconds: envNumber("BENCH_LOAD_WARMUP_SECONDS", 5, 0),
        seconds: envNumber("BENCH_LOAD_SECONDS", 60),
    };
    const shapes = [
        { pace: "paced", shape: { ...flat, rate: envNumber("BENCH_LOAD_RATE", 4) } },
        { pace: "flat out", shape: flat },
    ];
    const rounds = envNumber("BENCH_LOAD_RUNS", 1);
    const workers = workersConfig();
    const runs: SideRun[] = [];
    const began = Date.now();
    for (let round = 1; round <= rounds; round++) {
        for (const side of round % 2 === 1 ? (["single", "workers"] as const) : (["workers", "single"] as const)) {
            for (const run of await measureSide(side, round, shapes, workers)) {
                runs.push(run);
                console.log(`load round ${round}/${rounds}, ${side}, ${run.pace}: ${format(run.traffic.messagesPerSecond)} messages/s, delivery p95 ${format(run.traffic.deliveryP95)} ms, ${errorCount(run)} errors`);
            }
        }
    }
    const tables = shapes.map(({ pace, shape }) => report(runs.filter((run) => run.pace === pace), pace, shape, workers, machine));
    console.log(`\n${tables.join("\n\n")}\n\nthe load run took ${format((Date.now() - began) / 1000)} s`);
    const resultsDir = path.join(ROOT, "bench", "results");
    fs.mkdirSync(resultsDir, { recursive: true });
    fs.writeFileSync(path.join(resultsDir, "load.json"), JSON.stringify({ machine, shapes, workers, runs }, null, 2));
}
