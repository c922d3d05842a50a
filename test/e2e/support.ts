// What the end-to-end tests need around the stack: a throwaway project folder and state per run, the Docker
// CLI, and a small Matrix client. Everything here talks to the real engine and the real homeserver.
// Over 300 lines: the one harness every e2e file and the benchmark import; split, each test would import from several.
import { execFileSync, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { LocalWorkspace, PulumiCommand, type Stack, type UpOptions } from "@pulumi/pulumi/automation";
import * as yaml from "js-yaml";

export const ROOT = path.resolve(__dirname, "../..");
// The stack program and its config; the package comes with node_modules, as an installed dependency does.
const PROJECT_FILES = ["Pulumi.yaml", "index.ts", "config", "scripts", "tsconfig.json", "package.json"];

/**
 * The image of a kind (synapse, postgres, caddy; synapse-<version> for other releases) the tests deploy: what setup
 * recorded, the official image or the local build of the same release where no registry is reachable. Tests set it
 * in the stack's config, as a user would.
 */
export function recordedImage(kind: string): string {
    const recorded = path.join(ROOT, ".tools", "images", kind);
    if (!fs.existsSync(recorded)) {
        throw new Error(`no ${kind} image recorded in .tools/images: run \`npm run setup -- image\``);
    }
    return fs.readFileSync(recorded, "utf8").trim();
}

/** The Synapse image the tests deploy (see recordedImage). */
export function testImage(): string {
    return recordedImage("synapse");
}

/** The production profile's keys: PostgreSQL and the TLS edge with its own CA, each with the image setup recorded. */
export function productionConfig(): Record<string, string> {
    return { database: "postgres", postgresImage: recordedImage("postgres"), tls: "internal", caddyImage: recordedImage("caddy") };
}

/** A stack of this project in a folder and state backend of its own, so runs never touch a developer's stacks. */
export interface TestStack {
    name: string;
    stack: Stack;
    /** Everything the CLI printed for this stack, to check that no secret was ever shown. */
    output: string[];
    workDir: string;
    /** The stack's own file state backend. */
    stateDir: string;
    /** Whether workDir is a throwaway copy the test removes (not a program run in place). */
    ownsWorkDir: boolean;
    /** Whether stateDir is this stack's alone (not a backend shared with other stacks). */
    ownsStateDir: boolean;
    /** The environment the project's own commands (npm run backup, restore) need to reach this stack. */
    env: Record<string, string>;
}

/**
 * Keeps the test process waiting while only a fetch is pending: undici unrefs its sockets, and node:test cancels a
 * test whose event loop has nothing else to do. Returns the function that lets go.
 */
export function keepAlive(): () => void {
    const timer = setInterval(() => undefined, 60_000);
    return () => clearInterval(timer);
}

/**
 * Docker's health status of a container once it settles: `up` returns when Synapse serves (the admin step polls it),
 * which can be before Docker's next probe marks the container healthy.
 */
export async function healthStatus(container: string, timeoutSeconds = 30): Promise<string> {
    const deadline = Date.now() + timeoutSeconds * 1000;
    let status = "";
    while (Date.now() < deadline) {
        status = docker("inspect", "--format", "{{if .State.Health}}{{.State.Health.Status}}{{end}}", container);
        if (status !== "starting") {
            return status;
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
    }
    return status;
}

/** Retries `check` until it holds or `seconds` pass: federation is asynchronous. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, seconds = 90): Promise<T> {
    const deadline = Date.now() + seconds * 1000;
    let last: unknown;
    while (Date.now() < deadline) {
        try {
            const value = await check();
            if (value !== undefined) {
                return value;
            }
        } catch (err) {
            last = err;
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
    }
    throw new Error(`${what} did not happen within ${seconds} s${last ? `: ${String(last)}` : ""}`);
}

export function runId(): string {
    return crypto.randomBytes(4).toString("hex");
}

export function docker(...args: string[]): string {
    return execFileSync("docker", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

/**
 * The sum of a counter's samples (those whose labels include `labels`, such as `servlet="SyncRestServlet"`) on a
 * Synapse process's own metrics listener, read from inside its container: the listener is on internal networks only.
 */
export function synapseCounter(container: string, metric: string, labels = ""): number {
    return docker("exec", container, "curl", "-fsS", "http://localhost:9000/_synapse/metrics")
        .split("\n")
        .filter((line) => line.startsWith(`${metric}{`) && line.includes(labels))
        .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

/** The parts of `docker inspect` the tests and the benchmark read. */
export interface ContainerDetails {
    Id: string;
    Path: string;
    Args: string[];
    Config: { Env: string[]; Cmd: string[]; Labels: Record<string, string> };
    HostConfig: { PortBindings: Record<string, { HostIp: string; HostPort: string }[]> };
    State: {
        StartedAt: string;
        FinishedAt: string;
        Health: { Status: string; Log: { ExitCode: number; End: string }[] };
    };
}

export function inspectContainer(name: string): ContainerDetails {
    return (JSON.parse(docker("inspect", name)) as ContainerDetails[])[0];
}

/** Names of this stack's containers and volumes, found by the owner labels the stack puts on them. */
export function ownedObjects(stackName: string): { containers: string[]; volumes: string[]; networks: string[] } {
    const filter = `label=io.synapse-stack.stack=${stackName}`;
    const lines = (text: string) => text.split("\n").filter(Boolean);
    return {
        containers: lines(docker("ps", "-a", "--filter", filter, "--format", "{{.Names}}")),
        volumes: lines(docker("volume", "ls", "--filter", filter, "--format", "{{.Name}}")),
        networks: lines(docker("network", "ls", "--filter", filter, "--format", "{{.Name}}")),
    };
}

/** The engine's volumes now, to tell afterwards which ones a test left. */
export function volumeNames(): Set<string> {
    return new Set(docker("volume", "ls", "--quiet").split("\n").filter(Boolean));
}

/**
 * The volumes a stack left: those of its name (`prefix`), and the anonymous ones (an image's VOLUME nothing was
 * mounted over has no name or label to tell whose it is), made since `before` and used by no container. Other test
 * files run beside this one: their containers' anonymous volumes are in use while they run, and theirs by name differ.
 */
export function volumesLeft(before: Set<string>, prefix: string): string[] {
    return [...volumeNames()].filter(
        (volume) => !before.has(volume) && (volume.startsWith(prefix) || /^[0-9a-f]{64}$/.test(volume)) && docker("ps", "-aq", "--filter", `volume=${volume}`) === "",
    );
}

const handedOut = new Set<number>();

/**
 * A port free on loopback, below Linux's ephemeral range (32768 and up): a port from that range can be taken by any
 * outgoing connection between now and the moment Docker binds it. Never the same port twice in one process.
 */
export async function freePort(): Promise<number> {
    for (let attempt = 0; attempt < 200; attempt++) {
        const port = 20000 + Math.floor(Math.random() * 12000);
        if (handedOut.has(port)) {
            continue;
        }
        const free = await new Promise<boolean>((resolve) => {
            const server = net.createServer();
            server.once("error", () => resolve(false));
            server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
        });
        if (free) {
            handedOut.add(port);
            return port;
        }
    }
    throw new Error("no free port found between 20000 and 32000");
}

/** Fails loudly when the CLI or the engine is missing: the end-to-end tests are never skipped. */
export async function pulumiCommand(): Promise<PulumiCommand> {
    const cli = path.join(ROOT, ".tools", "bin", "pulumi");
    try {
        docker("info", "--format", "{{.ServerVersion}}");
    } catch (err) {
        throw new Error(`no Docker engine answers (run \`npm run setup\`): ${String(err)}`);
    }
    if (fs.existsSync(cli)) {
        return PulumiCommand.get({ root: path.join(ROOT, ".tools"), skipVersionCheck: true });
    }
    return PulumiCommand.get({ skipVersionCheck: true }).catch((err) => {
        throw new Error(`no Pulumi CLI found (run \`npm run setup\`): ${String(err)}`);
    });
}

/**
 * The copy's node_modules: a link to each of this checkout's packages, except the component package, which is copied
 * (compiled, with its scripts) as an installed dependency is, so a test may change it without touching this checkout.
 */
function linkModules(workDir: string): void {
    const modules = path.join(workDir, "node_modules");
    fs.mkdirSync(modules);
    for (const entry of fs.readdirSync(path.join(ROOT, "node_modules"))) {
        if (entry !== "@synapse-stack" && entry !== ".bin") {
            fs.symlinkSync(path.join(ROOT, "node_modules", entry), path.join(modules, entry));
        }
    }
    const installed = path.join(modules, "@synapse-stack", "synapse");
    const source = path.join(ROOT, "packages", "synapse");
    // What `npm pack` would install: package.json and the files it lists.
    const manifest = JSON.parse(fs.readFileSync(path.join(source, "package.json"), "utf8")) as { files: string[] };
    for (const entry of ["package.json", ...manifest.files].filter((item) => fs.existsSync(path.join(source, item)))) {
        fs.mkdirSync(path.dirname(path.join(installed, entry)), { recursive: true });
        fs.cpSync(path.join(source, entry), path.join(installed, entry), { recursive: true });
    }
}

/**
 * A stack of this project (or of the program in `projectDir`) in a throwaway copy of the project folder, deploying
 * testImage() unless the config names an image.
 */
export async function createStack(
    name: string,
    config: Record<string, string>,
    projectDir?: string,
    options: { inPlace?: boolean; backend?: SharedBackend } = {},
): Promise<TestStack> {
    // In place: a program inside this repository (examples/) that imports the components by relative path.
    const workDir = options.inPlace && projectDir ? projectDir : fs.mkdtempSync(path.join(os.tmpdir(), `synapse-${name}-`));
    if (workDir !== projectDir) {
        for (const entry of projectDir ? fs.readdirSync(projectDir) : PROJECT_FILES) {
            fs.cpSync(path.join(projectDir ?? ROOT, entry), path.join(workDir, entry), { recursive: true });
        }
        linkModules(workDir);
        if (fs.existsSync(path.join(ROOT, ".tools"))) {
            fs.symlinkSync(path.join(ROOT, ".tools"), path.join(workDir, ".tools"));
        }
    }
    const stateDir = options.backend?.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `synapse-${name}-state-`));
    const env = {
        PULUMI_BACKEND_URL: `file://${stateDir}`,
        PULUMI_CONFIG_PASSPHRASE: options.backend?.passphrase ?? crypto.randomBytes(16).toString("hex"),
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    };
    const stack = await LocalWorkspace.createOrSelectStack({ stackName: name, workDir }, { pulumiCommand: await pulumiCommand(), envVars: env });
    const testStack = { name, stack, output: [], workDir, ownsWorkDir: workDir !== projectDir, stateDir, ownsStateDir: !options.backend, env: { ...env, SYNAPSE_PROJECT_DIR: workDir } };
    await setConfig(testStack, projectDir ? config : { image: testImage(), ...config });
    return testStack;
}

/**
 * Sets `synapse:` keys by editing the stack's config file, as a person would; JSON values become objects and
 * `undefined` removes a key.
 */
export async function setConfig(testStack: TestStack, config: Record<string, string | undefined>): Promise<void> {
    const file = path.join(testStack.workDir, `Pulumi.${testStack.name}.yaml`);
    const settings = (fs.existsSync(file) ? yaml.load(fs.readFileSync(file, "utf8")) : {}) as { config?: Record<string, unknown> };
    settings.config ??= {};
    for (const [key, value] of Object.entries(config)) {
        if (value === undefined) {
            delete settings.config[`synapse:${key}`];
        } else {
            settings.config[`synapse:${key}`] = value.startsWith("{") ? JSON.parse(value) : value;
        }
    }
    fs.writeFileSync(file, yaml.dump(settings));
}

export async function up(testStack: TestStack, options: Omit<UpOptions, "onOutput"> = {}) {
    return testStack.stack.up({ ...options, onOutput: (text) => testStack.output.push(text) });
}

/** What an update changed, by operation; unchanged resources and reads (the stack's reference to itself) are left out. */
export function changesOf(result: { summary: { resourceChanges?: Record<string, number> } }): Record<string, number> {
    return Object.fromEntries(Object.entries(result.summary.resourceChanges ?? {}).filter(([op]) => op !== "same" && op !== "read"));
}

export async function refresh(testStack: TestStack) {
    return testStack.stack.refresh({ onOutput: (text) => testStack.output.push(text) });
}

/** Fails unless a preview of the stack plans no change at all. */
export async function expectNoChanges(testStack: TestStack) {
    return testStack.stack.preview({ expectNoChanges: true, onOutput: (text) => testStack.output.push(text) });
}

/** The stack's outputs as strings (objects as JSON), secrets included. */
export async function outputsOf(testStack: TestStack): Promise<Record<string, string>> {
    return Object.fromEntries(
        Object.entries(await testStack.stack.outputs()).map(([key, output]) => [
            key,
            typeof output.value === "string" ? output.value : JSON.stringify(output.value),
        ]),
    );
}

/** The URN of the stack's resource whose name ends with `suffix`. */
export async function urnOf(testStack: TestStack, suffix: string): Promise<string> {
    const state = await testStack.stack.exportStack();
    const resources = (state.deployment as { resources: { urn: string }[] }).resources;
    const found = resources.find((resource) => resource.urn.endsWith(`::${suffix}`) || resource.urn.endsWith(suffix));
    if (!found) {
        throw new Error(`no resource ending in ${suffix}`);
    }
    return found.urn;
}

/** Runs a command in a throwaway container of `image` with `volume` at /data (read-only unless asked). */
export function inVolume(volume: string, args: string[], options: { writable?: boolean; image?: string } = {}): string {
    return docker(
        "run", "--rm", "--network", "none", "-v", `${volume}:/data${options.writable ? "" : ":ro"}`,
        "--entrypoint", args[0], options.image ?? testImage(), ...args.slice(1),
    );
}

/**
 * Where a secret shows in plaintext, outside the files meant to hold it: the state backend's files, each of the
 * stack's containers (its arguments, environment, command, entrypoint and labels as `docker inspect` shows them, and
 * its whole log), and everything the CLI printed. Empty when it shows nowhere.
 */
export function whereSecretShows(testStack: TestStack, secret: string): string[] {
    const found = stateFiles(testStack).filter((file) => fs.readFileSync(file, "utf8").includes(secret)).map((file) => `state file ${file}`);
    for (const container of ownedObjects(testStack.name).containers) {
        const details = JSON.parse(docker("inspect", container))[0];
        if (JSON.stringify([details.Args, details.Path, details.Config.Env, details.Config.Cmd, details.Config.Entrypoint, details.Config.Labels]).includes(secret)) {
            found.push(`${container}'s inspect`);
        }
        const logs = spawnSync("docker", ["logs", container], { encoding: "utf8", maxBuffer: 256 * 2 ** 20 });
        if (`${logs.stdout}${logs.stderr}`.includes(secret)) {
            found.push(`${container}'s logs`);
        }
    }
    return testStack.output.join("").includes(secret) ? [...found, "the CLI's output"] : found;
}

/** Every file state backend holds, for "is this secret anywhere in plaintext" checks. */
export function stateFiles(testStack: TestStack): string[] {
    return fs.readdirSync(testStack.stateDir, { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => path.join(entry.parentPath, entry.name));
}

/** Destroys the stack and removes whatever it may have left, even after a failed assertion. */
export async function cleanUp(testStack: TestStack | undefined): Promise<void> {
    if (!testStack) {
        return;
    }
    await testStack.stack.destroy({ onOutput: (text) => testStack.output.push(text) }).catch(() => undefined);
    const left = ownedObjects(testStack.name);
    for (const container of left.containers) {
        docker("rm", "-f", container);
    }
    for (const volume of left.volumes) {
        docker("volume", "rm", "-f", volume);
    }
    if (testStack.ownsWorkDir) {
        fs.rmSync(testStack.workDir, { recursive: true, force: true });
    } else {
        fs.rmSync(path.join(testStack.workDir, `Pulumi.${testStack.name}.yaml`), { force: true });
    }
    if (testStack.ownsStateDir) {
        fs.rmSync(testStack.stateDir, { recursive: true, force: true });
    }
}

/** One state backend (and passphrase) for several stacks, so they can read each other's outputs (StackReference). */
export interface SharedBackend {
    stateDir: string;
    passphrase: string;
}

export function sharedBackend(name: string): SharedBackend {
    return { stateDir: fs.mkdtempSync(path.join(os.tmpdir(), `synapse-${name}-state-`)), passphrase: crypto.randomBytes(16).toString("hex") };
}

/** How a client reaches a server: which CA it trusts and where a public host name really is (a test's DNS). */
export interface Transport {
    /** PEM roots to trust instead of the system's (the edge's caCertificate). */
    ca?: string;
    /** Connect here whatever the URL's host resolves to, keeping the host for SNI and the Host header. */
    connectTo?: string;
    /** How long the server may stay silent before the request fails; 30 s unless set. */
    timeoutSeconds?: number;
}

export interface Answer {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: Buffer;
}

/** One HTTP(S) request with node:http(s): a chosen CA and address, no proxy, no redirects followed. */
export function send(url: string, options: { method?: string; headers?: Record<string, string>; body?: Buffer | string } & Transport = {}): Promise<Answer> {
    const target = new URL(url);
    const client = target.protocol === "https:" ? https : http;
    return new Promise((resolve, reject) => {
        const request = client.request(
            target,
            {
                method: options.method ?? "GET",
                headers: options.headers,
                ca: options.ca,
                timeout: (options.timeoutSeconds ?? 30) * 1000,
                lookup: options.connectTo
                    ? (_host, lookupOptions, callback) => {
                          const family = net.isIPv6(options.connectTo!) ? 6 : 4;
                          // eslint-disable-next-line @typescript-eslint/no-explicit-any -- node's lookup callback has two shapes
                          const done = callback as any;
                          if ((lookupOptions as { all?: boolean }).all) {
                              done(null, [{ address: options.connectTo!, family }]);
                          } else {
                              done(null, options.connectTo!, family);
                          }
                      }
                    : undefined,
            },
            (response) => {
                const chunks: Buffer[] = [];
                response.on("data", (chunk: Buffer) => chunks.push(chunk));
                response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
                response.on("error", reject);
            },
        );
        request.on("timeout", () => request.destroy(new Error(`${url} did not answer within ${options.timeoutSeconds ?? 30} s`)));
        request.on("error", reject);
        request.end(options.body);
    });
}

/** A minimal Matrix client for the checks a person would make with Element. */
export class Matrix {
    constructor(
        readonly baseUrl: string,
        readonly transport: Transport = {},
    ) {}

    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Matrix answers come in many shapes; tests assert on them
    async request(method: string, urlPath: string, body?: unknown, token?: string): Promise<{ status: number; json: any }> {
        const answer = await send(`${this.baseUrl}${urlPath}`, {
            ...this.transport,
            method,
            headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
            body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = answer.body.toString("utf8");
        return { status: answer.status, json: text ? JSON.parse(text) : {} };
    }

    async login(userId: string, password: string): Promise<{ status: number; token?: string; errcode?: string }> {
        const { status, json } = await this.request("POST", "/_matrix/client/v3/login", {
            type: "m.login.password",
            identifier: { type: "m.id.user", user: userId },
            password,
        });
        return { status, token: json.access_token, errcode: json.errcode };
    }

    async createRoomWithMessage(token: string, text: string): Promise<string> {
        const room = await this.request("POST", "/_matrix/client/v3/createRoom", { name: "e2e" }, token);
        if (room.status !== 200) {
            throw new Error(`createRoom answered ${room.status}: ${JSON.stringify(room.json)}`);
        }
        const roomId: string = room.json.room_id;
        const sent = await this.request(
            "PUT",
            `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${runId()}`,
            { msgtype: "m.text", body: text },
            token,
        );
        if (sent.status !== 200) {
            throw new Error(`send answered ${sent.status}: ${JSON.stringify(sent.json)}`);
        }
        return roomId;
    }

    async whoami(token: string): Promise<{ status: number; userId?: string }> {
        const { status, json } = await this.request("GET", "/_matrix/client/v3/account/whoami", undefined, token);
        return { status, userId: json.user_id };
    }

    /** Uploads bytes to the media repository; returns the mxc:// URI. */
    async upload(token: string, bytes: Buffer, contentType: string): Promise<string> {
        const answer = await send(`${this.baseUrl}/_matrix/media/v3/upload`, {
            ...this.transport,
            method: "POST",
            headers: { "Content-Type": contentType, Authorization: `Bearer ${token}` },
            body: bytes,
        });
        const json = JSON.parse(answer.body.toString("utf8")) as { content_uri?: string };
        if (answer.status !== 200 || !json.content_uri) {
            throw new Error(`upload answered ${answer.status}: ${JSON.stringify(json)}`);
        }
        return json.content_uri;
    }

    /** Downloads media by mxc:// URI (authenticated media). */
    async download(token: string, mxc: string): Promise<{ status: number; bytes: Buffer }> {
        const [server, mediaId] = mxc.replace("mxc://", "").split("/");
        const answer = await send(`${this.baseUrl}/_matrix/client/v1/media/download/${server}/${mediaId}`, {
            ...this.transport,
            headers: { Authorization: `Bearer ${token}` },
        });
        return { status: answer.status, bytes: answer.body };
    }

    /** The bodies of a room's last `limit` messages, newest first. */
    async messages(token: string, roomId: string, limit = 50): Promise<string[]> {
        const { status, json } = await this.request(
            "GET",
            `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=${limit}`,
            undefined,
            token,
        );
        if (status !== 200) {
            throw new Error(`messages answered ${status}: ${JSON.stringify(json)}`);
        }
        return (json.chunk as { type: string; content: { body?: string } }[])
            .filter((event) => event.type === "m.room.message")
            .map((event) => event.content.body ?? "");
    }
}
