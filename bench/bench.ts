// `npm run bench`: the stack against the manual recipe it replaces, side by side in one run on one machine.
// For each of BENCH_RUNS rounds (default 3) it times, with the real engine and real Synapse:
//   stack:    cold `pulumi up` until the admin logs in, a no-op `up`, `destroy`
//   baseline: the same done as plain docker CLI commands (volume, generate, run, wait for /health,
//             register_new_matrix_user, check) and the manual checks and removal
// and prints medians, the ratio stack/baseline, and where the stack's cold `up` spends its time.
import { execFileSync, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { cleanUp, createStack, docker, freePort, inspectContainer as inspect, Matrix, ROOT, runId, testImage, up } from "../test/e2e/support";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const IMAGE = testImage();

type Sample = Record<string, number>;

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const at = (timestamp: string) => new Date(timestamp).getTime() / 1000;

async function waitFor(what: string, check: () => Promise<boolean>, timeoutSeconds = 120): Promise<void> {
    const deadline = Date.now() + timeoutSeconds * 1000;
    while (Date.now() < deadline) {
        if (await check().catch(() => false)) {
            return;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${what} did not happen within ${timeoutSeconds} s`);
}

/** Seconds the admin script's `docker exec` ran in the homeserver container, from the engine's event log. */
function ensureAdminSeconds(container: string, since: number, until: number): number {
    type ExecEvent = { Action: string; timeNano: number; Actor: { Attributes: Record<string, string> } };
    const events = docker(
        "events", "--since", String(Math.floor(since)), "--until", String(Math.ceil(until) + 1),
        "--filter", `container=${container}`, "--filter", "event=exec_start", "--filter", "event=exec_die",
        "--format", "{{json .}}",
    ).split("\n").filter(Boolean).map((line) => JSON.parse(line) as ExecEvent);
    // Healthchecks are execs too: keep only the one that ran the admin script.
    const start = events.find((e) => e.Action.startsWith("exec_start") && e.Action.includes("ensure_admin.py"));
    const execId = start?.Actor.Attributes.execID;
    const end = events.find((e) => e.Action.startsWith("exec_die") && e.Actor.Attributes.execID === execId);
    return start && end ? (end.timeNano - start.timeNano) / 1e9 : NaN;
}

/** When the container first answered its healthcheck, from Docker's health log. */
function firstHealthy(container: string): number {
    const log = inspect(container).State.Health.Log;
    const ok = log.find((entry) => entry.ExitCode === 0);
    return ok ? at(ok.End) : NaN;
}

async function stackRound(): Promise<Sample> {
    const name = `bench-${runId()}`;
    const testStack = await createStack(name, { serverName: `${name}.localhost`, httpPort: String(await freePort()) });
    try {
        const wallStart = Date.now() / 1000;
        const start = process.hrtime.bigint();
        await up(testStack);
        const outputs = Object.fromEntries(
            Object.entries(await testStack.stack.outputs()).map(([key, output]) => [key, String(output.value)]),
        );
        const matrix = new Matrix(outputs.url);
        await waitFor("admin login", async () => (await matrix.login(outputs.adminUserId, outputs.adminPassword)).status === 200);
        const cold = seconds(start);
        const wallEnd = Date.now() / 1000;

        const generate = inspect(`${outputs.containerName}-generate`).State;
        const homeserver = inspect(outputs.containerName).State;
        const generateSeconds = at(generate.FinishedAt) - at(generate.StartedAt);
        const bootSeconds = firstHealthy(outputs.containerName) - at(homeserver.StartedAt);
        const adminSeconds = ensureAdminSeconds(outputs.containerName, wallStart, wallEnd);

        let begin = process.hrtime.bigint();
        await up(testStack);
        const noop = seconds(begin);
        begin = process.hrtime.bigint();
        await testStack.stack.destroy();
        const destroy = seconds(begin);
        return {
            cold,
            noop,
            destroy,
            generate: generateSeconds,
            boot: bootSeconds,
            admin: adminSeconds,
            overhead: cold - generateSeconds - bootSeconds - adminSeconds,
        };
    } finally {
        await cleanUp(testStack);
    }
}

async function baselineRound(): Promise<Sample> {
    const name = `bench-manual-${runId()}`;
    const volume = `${name}-data`;
    const port = await freePort();
    const password = crypto.randomBytes(16).toString("hex");
    const matrix = new Matrix(`http://127.0.0.1:${port}`);
    try {
        const start = process.hrtime.bigint();
        docker("volume", "create", volume);
        let phase = process.hrtime.bigint();
        docker(
            "run", "--rm", "-v", `${volume}:/data`,
            "-e", `SYNAPSE_SERVER_NAME=${name}.localhost`, "-e", "SYNAPSE_REPORT_STATS=no", "-e", "SYNAPSE_HTTP_PORT=8008",
            "-e", "SYNAPSE_CONFIG_DIR=/data", "-e", "SYNAPSE_DATA_DIR=/data", "-e", "TZ=UTC", "-e", "UID=1000", "-e", "GID=1000",
            IMAGE, "generate",
        );
        const generate = seconds(phase);
        phase = process.hrtime.bigint();
        docker(
            "run", "-d", "--name", name, "-v", `${volume}:/data`, "-p", `127.0.0.1:${port}:8008`,
            "-e", "TZ=UTC", "-e", "UID=1000", "-e", "GID=1000", "--restart", "unless-stopped", IMAGE,
        );
        await waitFor("/health", async () => (await fetch(`${matrix.baseUrl}/health`, { signal: AbortSignal.timeout(5000) })).status === 200);
        const boot = seconds(phase);
        phase = process.hrtime.bigint();
        // The password on stdin, not `-p`: the recipe's own command line would show it to every process lister.
        const register = spawnSync(
            "docker",
            ["exec", "-i", name, "register_new_matrix_user", "-c", "/data/homeserver.yaml", "-a", "-u", "admin",
                "--password-file", "/dev/stdin", "http://localhost:8008"],
            { input: password, encoding: "utf8" },
        );
        if (register.status !== 0) {
            throw new Error(`register_new_matrix_user failed: ${register.stderr}`);
        }
        await waitFor("admin login", async () => (await matrix.login(`@admin:${name}.localhost`, password)).status === 200);
        const admin = seconds(phase);
        const cold = seconds(start);

        let begin = process.hrtime.bigint();
        // What an operator does to see that nothing needs doing: the container runs and answers.
        docker("inspect", "--format", "{{.State.Status}}", name);
        await waitFor("/health", async () => (await fetch(`${matrix.baseUrl}/health`, { signal: AbortSignal.timeout(5000) })).status === 200);
        const noop = seconds(begin);
        begin = process.hrtime.bigint();
        docker("rm", "-f", name);
        docker("volume", "rm", volume);
        const destroy = seconds(begin);
        return { cold, noop, destroy, generate, boot, admin, overhead: cold - generate - boot - admin };
    } finally {
        spawnSync("docker", ["rm", "-f", name]);
        spawnSync("docker", ["volume", "rm", "-f", volume]);
    }
}

function machine(): string {
    const cpu = os.cpus()[0]?.model ?? "unknown CPU";
    const engine = execFileSync("docker", ["version", "--format", "{{.Server.Version}}"], { encoding: "utf8" }).trim();
    return `${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Docker ${engine}, image ${IMAGE}`;
}

async function main(): Promise<void> {
    // Node does not wait for a pending fetch (its sockets are unref'd); this keeps the run alive until the end.
    const keepAlive = setInterval(() => undefined, 60_000);
    const stack: Sample[] = [];
    const baseline: Sample[] = [];
    for (let round = 1; round <= RUNS; round++) {
        // Alternate the order so neither side always runs on a warmer machine.
        if (round % 2 === 1) {
            baseline.push(await baselineRound());
            stack.push(await stackRound());
        } else {
            stack.push(await stackRound());
            baseline.push(await baselineRound());
        }
        console.log(`round ${round}/${RUNS}: stack cold ${stack.at(-1)!.cold.toFixed(1)} s, baseline cold ${baseline.at(-1)!.cold.toFixed(1)} s`);
    }
    const med = (samples: Sample[], key: string) => median(samples.map((sample) => sample[key]));
    const rows: [string, string][] = [
        ["cold up → admin logs in", "cold"],
        ["no-op up", "noop"],
        ["destroy", "destroy"],
    ];
    const lines = [
        `benchmark ${new Date().toISOString().slice(0, 10)}: median of ${RUNS} runs on ${machine()}`,
        "",
        "| step | stack (s) | manual docker recipe (s) | ratio |",
        "| --- | ---: | ---: | ---: |",
        ...rows.map(([label, key]) => {
            const s = med(stack, key);
            const b = med(baseline, key);
            return `| ${label} | ${s.toFixed(2)} | ${b.toFixed(2)} | ${(s / b).toFixed(2)}× |`;
        }),
        "",
        "where the cold up goes (median s):",
        "",
        "| phase | stack | manual recipe |",
        "| --- | ---: | ---: |",
        ...[
            ["generate (one-shot container)", "generate"],
            ["container start → Synapse healthy", "boot"],
            ["admin registration", "admin"],
            ["the rest (Pulumi engine and plugins; docker CLI for the recipe)", "overhead"],
        ].map(([label, key]) => `| ${label} | ${med(stack, key).toFixed(2)} | ${med(baseline, key).toFixed(2)} |`),
    ];
    console.log(`\n${lines.join("\n")}`);
    const resultsDir = path.join(ROOT, "bench", "results");
    fs.mkdirSync(resultsDir, { recursive: true });
    fs.writeFileSync(path.join(resultsDir, "latest.json"), JSON.stringify({ machine: machine(), stack, baseline }, null, 2));
    clearInterval(keepAlive);
}

main().catch((err) => {
    console.error(err);
    process.exit(1);
});
