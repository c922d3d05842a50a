// What the end-to-end tests need around the stack: a throwaway project folder and state per run, the Docker
// CLI, and a small Matrix client. Everything here talks to the real engine and the real homeserver.
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { LocalWorkspace, PulumiCommand, type Stack } from "@pulumi/pulumi/automation";
import * as yaml from "js-yaml";

export const ROOT = path.resolve(__dirname, "../..");
const PROJECT_FILES = ["Pulumi.yaml", "index.ts", "config.ts", "components", "tsconfig.json", "package.json"];

/** A stack of this project in a folder and state backend of its own, so runs never touch a developer's stacks. */
export interface TestStack {
    name: string;
    stack: Stack;
    /** Everything the CLI printed for this stack, to check that no secret was ever shown. */
    output: string[];
    workDir: string;
}

export function runId(): string {
    return crypto.randomBytes(4).toString("hex");
}

export function docker(...args: string[]): string {
    return execFileSync("docker", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
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

export async function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const { port } = server.address() as net.AddressInfo;
            server.close(() => resolve(port));
        });
    });
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

/** A stack of this project (or of the program in `projectDir`) in a throwaway copy of the project folder. */
export async function createStack(name: string, config: Record<string, string>, projectDir?: string): Promise<TestStack> {
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), `synapse-${name}-`));
    for (const entry of projectDir ? fs.readdirSync(projectDir) : PROJECT_FILES) {
        fs.cpSync(path.join(projectDir ?? ROOT, entry), path.join(workDir, entry), { recursive: true });
    }
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(workDir, "node_modules"));
    const stateDir = path.join(workDir, ".state");
    fs.mkdirSync(stateDir);
    const stack = await LocalWorkspace.createOrSelectStack(
        { stackName: name, workDir },
        {
            pulumiCommand: await pulumiCommand(),
            envVars: {
                PULUMI_BACKEND_URL: `file://${stateDir}`,
                PULUMI_CONFIG_PASSPHRASE: crypto.randomBytes(16).toString("hex"),
                PULUMI_SKIP_UPDATE_CHECK: "true",
                PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
            },
        },
    );
    const testStack = { name, stack, output: [], workDir };
    await setConfig(testStack, config);
    return testStack;
}

/** Sets `synapse:` keys by editing the stack's config file, as a person would; JSON values become objects. */
export async function setConfig(testStack: TestStack, config: Record<string, string>): Promise<void> {
    const file = path.join(testStack.workDir, `Pulumi.${testStack.name}.yaml`);
    const settings = (fs.existsSync(file) ? yaml.load(fs.readFileSync(file, "utf8")) : {}) as { config?: Record<string, unknown> };
    settings.config ??= {};
    for (const [key, value] of Object.entries(config)) {
        settings.config[`synapse:${key}`] = value.startsWith("{") ? JSON.parse(value) : value;
    }
    fs.writeFileSync(file, yaml.dump(settings));
}

export async function up(testStack: TestStack, options: { refresh?: boolean } = {}) {
    return testStack.stack.up({ onOutput: (text) => testStack.output.push(text), refresh: options.refresh });
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
    fs.rmSync(testStack.workDir, { recursive: true, force: true });
}

/** A minimal Matrix client for the checks a person would make with Element. */
export class Matrix {
    constructor(readonly baseUrl: string) {}

    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Matrix answers come in many shapes; tests assert on them
    async request(method: string, urlPath: string, body?: unknown, token?: string): Promise<{ status: number; json: any }> {
        const response = await fetch(`${this.baseUrl}${urlPath}`, {
            method,
            headers: {
                "Content-Type": "application/json",
                ...(token ? { Authorization: `Bearer ${token}` } : {}),
            },
            body: body === undefined ? undefined : JSON.stringify(body),
            signal: AbortSignal.timeout(30_000),
        });
        const text = await response.text();
        return { status: response.status, json: text ? JSON.parse(text) : {} };
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

    async messages(token: string, roomId: string): Promise<string[]> {
        const { status, json } = await this.request(
            "GET",
            `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=50`,
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
