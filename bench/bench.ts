// `npm run bench`: the stack against the manual recipes it replaces, side by side in one run on one machine.
// Over 300 lines on purpose: both sides of every comparison (the stack's steps and the recipe's docker commands) and the
// one timing harness they share stay in one file, so a change to either side is seen next to the other.
// For each of BENCH_RUNS rounds (default 3), alternating which goes first, with the real engine and real Synapse:
//   dev:  cold `up` until the admin logs in, no-op `up`, `destroy`, and the commands a user types, `pulumi up --yes`
//         with and without its preview, from cold; against the same steps as plain docker commands
//   prod: the production profile's cold `up` (PostgreSQL, TLS edge) against the same steps as docker commands
// and prints medians, ratios, and where the stack's cold dev `up` spends its time (from the engine's events, plus
// each plugin's start measured alone). Then the load run (bench/load.ts): one Synapse process against workers.
// Then the soak (bench/soak.ts): steady writes while Synapse processes restart. BENCH_ONLY=recipes, load or soak runs
// one part alone.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import {
    cleanUp,
    createStack,
    docker,
    freePort,
    keepAlive,
    Matrix,
    outputsOf,
    productionConfig,
    recordedImage,
    ROOT,
    runId,
    send,
    testImage,
} from "../test/e2e/support";
import { loadBenchmark } from "./load";
import { soakBenchmark } from "./soak";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const IMAGE = testImage();

type Sample = Record<string, number>;

const now = () => Number(process.hrtime.bigint()) / 1e9;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function waitFor(what: string, check: () => Promise<boolean>, timeoutSeconds = 180): Promise<void> {
    const deadline = Date.now() + timeoutSeconds * 1000;
    while (Date.now() < deadline) {
        if (await check().catch(() => false)) {
            return;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${what} did not happen within ${timeoutSeconds} s`);
}

/** When each resource step started and ended during an update, from the engine's events as they arrive. */
class Timeline {
    readonly started = now();
    readonly steps = new Map<string, { start: number; end?: number }>();
    firstStep?: number;
    lastStep?: number;

    onEvent = (event: EngineEvent) => {
        const at = now();
        const pre = event.resourcePreEvent?.metadata;
        const done = event.resOutputsEvent?.metadata;
        if (pre && pre.type !== "pulumi:pulumi:Stack" && !pre.type.startsWith("synapse:index:")) {
            this.firstStep ??= at;
            this.steps.set(pre.urn.split("::").pop()!, { start: at });
        }
        if (done && done.type !== "pulumi:pulumi:Stack" && !done.type.startsWith("synapse:index:")) {
            const step = this.steps.get(done.urn.split("::").pop()!);
            if (step) {
                step.end = at;
                this.lastStep = at;
            }
        }
    };

    duration(name: string): number {
        const step = this.steps.get(name);
        return step?.end !== undefined ? step.end - step.start : NaN;
    }
}

const LOGIN_LIMITS = JSON.stringify({ rc_login: { address: { per_second: 50, burst_count: 100 }, account: { per_second: 50, burst_count: 100 } } });

async function stackDevRound(): Promise<Sample> {
    const name = `bench-${runId()}`;
    const testStack = await createStack(name, { serverName: `${name}.localhost`, httpPort: String(await freePort()), extraConfig: LOGIN_LIMITS });
    try {
        const timeline = new Timeline();
        await testStack.stack.up({ onEvent: timeline.onEvent });
        const upReturned = now();
        const outputs = await outputsOf(testStack);
        const matrix = new Matrix(outputs.url);
        await waitFor("admin login", async () => (await matrix.login(outputs.adminUserId, outputs.adminPassword)).status === 200);
        const cold = now() - timeline.started;

        // The no-op and destroy as a user types them (the Automation API adds its own process calls around each).
        let begin = now();
        cli(testStack, ["up", "--yes", "--skip-preview"]);
        const noop = now() - begin;
        begin = now();
        cli(testStack, ["destroy", "--yes", "--skip-preview"]);
        const destroy = now() - begin;

        const generate = timeline.duration("synapse-generate-run");
        const homeserver = timeline.duration("synapse-homeserver");
        const admin = timeline.duration("synapse-admin-ensure");
        return {
            cold,
            noop,
            destroy,
            programStart: (timeline.firstStep ?? NaN) - timeline.started,
            generate,
            homeserver,
            admin,
            steps: (timeline.lastStep ?? NaN) - (timeline.firstStep ?? NaN),
            finish: upReturned - (timeline.lastStep ?? NaN),
            outputsAndLogin: cold - (upReturned - timeline.started),
        };
    } finally {
        await cleanUp(testStack);
    }
}

/** The project's Pulumi CLI on a test stack, as a user runs it in the project folder. */
function cli(testStack: { name: string; workDir: string; env: Record<string, string> }, args: string[]): void {
    const result = spawnSync(path.join(ROOT, ".tools", "bin", "pulumi"), [...args, "--stack", testStack.name, "--cwd", testStack.workDir], {
        env: { ...process.env, ...testStack.env },
        encoding: "utf8",
    });
    if (result.status !== 0) {
        throw new Error(`pulumi ${args.join(" ")} failed: ${result.stdout.slice(-2000)}`);
    }
}

/**
 * The command a new user types, in a fresh stack and a fresh copy of the program, until the admin logs in: `pulumi up
 * --yes` (preview included) or with `--skip-preview`. Reading the outputs for the password (one more CLI call) is off
 * the clock: the recipe knows its password beforehand.
 */
async function stackCliRound(key: string, args: string[]): Promise<Sample> {
    const name = `bench-cli-${runId()}`;
    const testStack = await createStack(name, { serverName: `${name}.localhost`, httpPort: String(await freePort()), extraConfig: LOGIN_LIMITS });
    try {
        const begin = now();
        cli(testStack, ["up", ...args]);
        const up = now() - begin;
        const outputs = await outputsOf(testStack);
        const matrix = new Matrix(outputs.url);
        const login = now();
        await waitFor("admin login", async () => (await matrix.login(outputs.adminUserId, outputs.adminPassword)).status === 200);
        return { [key]: up + (now() - login) };
    } finally {
        await cleanUp(testStack);
    }
}

/** The recipe's step 4, with the password on stdin, not `-p`: a command line shows it to every process lister. */
function registerAdmin(container: string, password: string): void {
    const register = spawnSync(
        "docker",
        ["exec", "-i", container, "register_new_matrix_user", "-c", "/data/homeserver.yaml", "-a", "-u", "admin", "--password-file", "/dev/stdin", "http://localhost:8008"],
        { input: password, encoding: "utf8" },
    );
    if (register.status !== 0) {
        throw new Error(`register_new_matrix_user failed: ${register.stderr}`);
    }
}

async function recipeDevRound(): Promise<Sample> {
    const name = `bench-manual-${runId()}`;
    const volume = `${name}-data`;
    const port = await freePort();
    const password = crypto.randomBytes(16).toString("hex");
    const matrix = new Matrix(`http://127.0.0.1:${port}`);
    try {
        const start = now();
        docker("volume", "create", volume);
        let phase = now();
        docker(
            "run", "--rm", "-v", `${volume}:/data`,
            "-e", `SYNAPSE_SERVER_NAME=${name}.localhost`, "-e", "SYNAPSE_REPORT_STATS=no", "-e", "SYNAPSE_HTTP_PORT=8008",
            "-e", "SYNAPSE_CONFIG_DIR=/data", "-e", "SYNAPSE_DATA_DIR=/data", "-e", "TZ=UTC", "-e", "UID=1000", "-e", "GID=1000",
            IMAGE, "generate",
        );
        const generate = now() - phase;
        phase = now();
        docker("run", "-d", "--name", name, "-v", `${volume}:/data`, "-p", `127.0.0.1:${port}:8008`, "-e", "TZ=UTC", "-e", "UID=1000", "-e", "GID=1000", "--restart", "unless-stopped", IMAGE);
        await waitFor("/health", async () => (await send(`${matrix.baseUrl}/health`)).status === 200);
        const homeserver = now() - phase;
        phase = now();
        registerAdmin(name, password);
        await waitFor("admin login", async () => (await matrix.login(`@admin:${name}.localhost`, password)).status === 200);
        const admin = now() - phase;
        const cold = now() - start;

        let begin = now();
        // What an operator does to see that nothing needs doing: the container runs and answers.
        docker("inspect", "--format", "{{.State.Status}}", name);
        await waitFor("/health", async () => (await send(`${matrix.baseUrl}/health`)).status === 200);
        const noop = now() - begin;
        begin = now();
        docker("rm", "-f", name);
        docker("volume", "rm", volume);
        const destroy = now() - begin;
        return { cold, noop, destroy, generate, homeserver, admin };
    } finally {
        spawnSync("docker", ["rm", "-f", name]);
        spawnSync("docker", ["volume", "rm", "-f", volume]);
    }
}

async function stackProdRound(): Promise<Sample> {
    const name = `bench-prod-${runId()}`;
    const testStack = await createStack(name, {
        serverName: `${name}.localhost`,
        ...productionConfig(),
        httpsPort: String(await freePort()),
        federationPort: String(await freePort()),
        extraConfig: LOGIN_LIMITS,
    });
    try {
        const begin = now();
        await testStack.stack.up();
        const outputs = await outputsOf(testStack);
        const matrix = new Matrix(outputs.url, { ca: outputs.caCertificate, connectTo: "127.0.0.1" });
        await waitFor("admin login over TLS", async () => (await matrix.login(outputs.adminUserId, outputs.adminPassword)).status === 200);
        return { prodCold: now() - begin };
    } finally {
        await cleanUp(testStack);
    }
}

/** The production profile by hand: networks, volumes, PostgreSQL, generate, the overlay, Synapse, Caddy, the admin. */
async function recipeProdRound(): Promise<Sample> {
    const name = `bench-manual-prod-${runId()}`;
    const server = `${name}.localhost`;
    const httpsPort = await freePort();
    const password = crypto.randomBytes(16).toString("hex");
    const dbPassword = crypto.randomBytes(16).toString("hex");
    const work = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
    const objects = { containers: [`${name}-db`, name, `${name}-edge`], volumes: [`${name}-data`, `${name}-db`, `${name}-edge`], networks: [name, `${name}-db`] };
    try {
        const start = now();
        docker("network", "create", name);
        docker("network", "create", "--internal", `${name}-db`);
        for (const volume of objects.volumes) {
            docker("volume", "create", volume);
        }
        fs.writeFileSync(path.join(work, "pw"), dbPassword);
        docker("run", "-d", "--name", `${name}-db`, "--network", `${name}-db`, "-v", `${name}-db:/var/lib/postgresql/data`,
            "-e", "POSTGRES_USER=synapse", "-e", "POSTGRES_DB=synapse", "-e", "PGDATA=/var/lib/postgresql/data/pgdata",
            "-e", "POSTGRES_PASSWORD_FILE=/run/pw", "-v", `${path.join(work, "pw")}:/run/pw:ro`,
            "-e", "POSTGRES_INITDB_ARGS=--encoding=UTF8 --locale=C", recordedImage("postgres"));
        docker(
            "run", "--rm", "-v", `${name}-data:/data`, "-e", `SYNAPSE_SERVER_NAME=${server}`, "-e", "SYNAPSE_REPORT_STATS=no",
            "-e", "UID=1000", "-e", "GID=1000", IMAGE, "generate",
        );
        const overlay = JSON.stringify({
            public_baseurl: `https://${server}:${httpsPort}/`,
            database: { name: "psycopg2", args: { user: "synapse", password: dbPassword, dbname: "synapse", host: `${name}-db`, cp_min: 5, cp_max: 10 } },
        });
        spawnSync("docker", ["run", "--rm", "-i", "-v", `${name}-data:/data`, "--user", "1000:1000", "--entrypoint", "sh", IMAGE, "-c", "cat > /data/overlay.yaml"], { input: overlay });
        await waitFor("PostgreSQL", async () => spawnSync("docker", ["exec", `${name}-db`, "pg_isready", "-h", "127.0.0.1", "-q"]).status === 0);
        docker("create", "--name", name, "--network", name, "-v", `${name}-data:/data`, "-e", "UID=1000", "-e", "GID=1000",
            "--restart", "unless-stopped", IMAGE, "run", "-c", "/data/homeserver.yaml", "-c", "/data/overlay.yaml");
        docker("network", "connect", `${name}-db`, name);
        docker("start", name);
        fs.writeFileSync(path.join(work, "Caddyfile"), `{\n\tadmin off\n\tlocal_certs\n\tskip_install_trust\n\tauto_https disable_redirects\n}\nhttps://${server}:443 {\n\ttls internal\n\treverse_proxy /_matrix/* ${name}:8008\n}\n`);
        docker("run", "-d", "--name", `${name}-edge`, "--network", name, "-p", `127.0.0.1:${httpsPort}:443`, "-v", `${name}-edge:/data`,
            "-v", `${path.join(work, "Caddyfile")}:/etc/caddy/Caddyfile:ro`, recordedImage("caddy"));
        await waitFor("Synapse", async () => spawnSync("docker", ["exec", name, "curl", "-fsS", "http://localhost:8008/health"]).status === 0);
        registerAdmin(name, password);
        let ca = "";
        await waitFor("the edge's CA", async () => {
            ca = docker("exec", `${name}-edge`, "cat", "/data/caddy/pki/authorities/local/root.crt");
            return ca.includes("BEGIN CERTIFICATE");
        });
        const matrix = new Matrix(`https://${server}:${httpsPort}`, { ca, connectTo: "127.0.0.1" });
        await waitFor("admin login over TLS", async () => (await matrix.login(`@admin:${server}`, password)).status === 200);
        return { prodCold: now() - start };
    } finally {
        spawnSync("docker", ["rm", "-f", "-v", ...objects.containers]);
        spawnSync("docker", ["volume", "rm", "-f", ...objects.volumes]);
        spawnSync("docker", ["network", "rm", ...objects.networks]);
        fs.rmSync(work, { recursive: true, force: true });
    }
}

/** Seconds from starting a provider plugin until it announces its port: what the engine pays per plugin, per run. */
function pluginStart(name: string): Promise<number> {
    const dir = path.join(ROOT, ".tools", "pulumi-home", "plugins");
    const folder = fs.readdirSync(dir).find((entry) => entry.startsWith(`resource-${name}-v`) && !entry.endsWith(".lock"));
    const binary = path.join(dir, folder!, `pulumi-resource-${name}`);
    return new Promise((resolve, reject) => {
        const begin = now();
        // A plugin speaks to the engine it is given; a dead address is enough for it to start and print its port.
        const child = spawn(binary, ["127.0.0.1:1"], { stdio: ["ignore", "pipe", "ignore"] });
        child.stdout.once("data", () => {
            resolve(now() - begin);
            child.kill();
        });
        child.on("error", reject);
    });
}

function machine(): string {
    const cpu = os.cpus()[0]?.model ?? "unknown CPU";
    const engine = execFileSync("docker", ["version", "--format", "{{.Server.Version}}"], { encoding: "utf8" }).trim();
    return `${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Docker ${engine}, image ${IMAGE}`;
}

async function recipesBenchmark(): Promise<void> {
    const stack: Sample[] = [];
    const recipe: Sample[] = [];
    for (let round = 1; round <= RUNS; round++) {
        const stackSample = async () => ({
            ...(await stackDevRound()),
            ...(await stackCliRound("cliSkipPreview", ["--yes", "--skip-preview"])),
            ...(await stackCliRound("cliCold", ["--yes"])),
            ...(await stackProdRound()),
        });
        const recipeSample = async () => ({ ...(await recipeDevRound()), ...(await recipeProdRound()) });
        // Alternate the order so neither side always runs on a warmer machine.
        if (round % 2 === 1) {
            recipe.push(await recipeSample());
            stack.push(await stackSample());
        } else {
            stack.push(await stackSample());
            recipe.push(await recipeSample());
        }
        console.log(`round ${round}/${RUNS}: dev cold ${stack.at(-1)!.cold.toFixed(1)} s vs ${recipe.at(-1)!.cold.toFixed(1)} s, prod cold ${stack.at(-1)!.prodCold.toFixed(1)} s vs ${recipe.at(-1)!.prodCold.toFixed(1)} s`);
    }
    const plugins = Object.fromEntries(await Promise.all(["docker", "command", "random"].map(async (name) => [name, await pluginStart(name)] as const)));
    const med = (samples: Sample[], key: string) => median(samples.map((sample) => sample[key]));
    const row = (label: string, stackKey: string, recipeKey: string) => {
        const s = med(stack, stackKey);
        const r = med(recipe, recipeKey);
        return `| ${label} | ${s.toFixed(2)} | ${r.toFixed(2)} | ${(s / r).toFixed(2)}× | ${(s - r).toFixed(2)} |`;
    };
    const lines = [
        `benchmark ${new Date().toISOString().slice(0, 10)}: median of ${RUNS} runs on ${machine()}`,
        "",
        "| step | stack (s) | manual docker recipe (s) | ratio | stack − recipe (s) |",
        "| --- | ---: | ---: | ---: | ---: |",
        row("dev: cold up (Automation API, its own CLI calls included) → admin logs in", "cold", "cold"),
        row("dev: `pulumi up --yes --skip-preview` from cold → admin logs in", "cliSkipPreview", "cold"),
        row("dev: `pulumi up --yes` (preview included) from cold → admin logs in", "cliCold", "cold"),
        row("dev: no-op `pulumi up --yes --skip-preview`", "noop", "noop"),
        row("dev: `pulumi destroy --yes --skip-preview`", "destroy", "destroy"),
        row("prod (PostgreSQL + TLS edge): cold up → admin logs in over TLS", "prodCold", "prodCold"),
        "",
        "where the dev cold up goes (median s):",
        "",
        "| phase | stack | manual recipe |",
        "| --- | ---: | ---: |",
        `| CLI, engine, language host, TypeScript program until the first resource step | ${med(stack, "programStart").toFixed(2)} | — |`,
        `| generate (one-shot container) | ${med(stack, "generate").toFixed(2)} | ${med(recipe, "generate").toFixed(2)} |`,
        `| homeserver container created → step done | ${med(stack, "homeserver").toFixed(2)} | ${med(recipe, "homeserver").toFixed(2)} (start → /health) |`,
        `| admin ensured | ${med(stack, "admin").toFixed(2)} | ${med(recipe, "admin").toFixed(2)} |`,
        `| all resource steps, first start → last end (the steps above overlap with the rest) | ${med(stack, "steps").toFixed(2)} | — |`,
        `| after the last step until \`up\` returns: stack outputs, state, plugin shutdown | ${med(stack, "finish").toFixed(2)} | — |`,
        `| reading the outputs (one more CLI call) and the first admin login | ${med(stack, "outputsAndLogin").toFixed(2)} | — |`,
        "",
        `provider plugin start, each alone (s): ${Object.entries(plugins).map(([name, seconds]) => `${name} ${seconds.toFixed(2)}`).join(", ")}`,
    ];
    console.log(`\n${lines.join("\n")}`);
    const resultsDir = path.join(ROOT, "bench", "results");
    fs.mkdirSync(resultsDir, { recursive: true });
    fs.writeFileSync(path.join(resultsDir, "latest.json"), JSON.stringify({ machine: machine(), stack, recipe, plugins }, null, 2));
}

async function main(): Promise<void> {
    const only = process.env.BENCH_ONLY ?? "";
    if (!["", "recipes", "load", "soak"].includes(only)) {
        throw new Error(`BENCH_ONLY ${JSON.stringify(only)} is not valid: expected recipes, load, soak or nothing (all three)`);
    }
    // Node does not wait for a pending request whose socket is unref'd; this keeps the run alive until the end.
    const release = keepAlive();
    if (only === "" || only === "recipes") {
        await recipesBenchmark();
    }
    if (only === "" || only === "load") {
        await loadBenchmark(machine());
    }
    if (only === "" || only === "soak") {
        await soakBenchmark(machine());
    }
    release();
}

main().catch((err) => {
    console.error(err);
    process.exit(1);
});
