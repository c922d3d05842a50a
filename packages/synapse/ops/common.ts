// What backup, restore and the stack's own pre-upgrade backup share: the Docker CLI, a stack's facts, progress lines,
// private folders and checksums. Everything here runs on the machine that runs Pulumi, with the same Docker engine.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { SERVICE_LABEL } from "../runtime/labels";

/** The Pulumi project whose stacks these operations serve: SYNAPSE_PROJECT_DIR, else the current folder. */
export function projectDirectory(): string {
    return path.resolve(process.env.SYNAPSE_PROJECT_DIR ?? process.cwd());
}

/** A failure the user can act on: printed as its message alone. */
export class OpsError extends Error {}

const started = Date.now();

/** A progress line on stderr with the time since the operation started (stdout carries results). */
export function say(message: string): void {
    process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${message}\n`);
}

export function docker(args: string[], options: { input?: string | Buffer; env?: Record<string, string> } = {}): string {
    const env = options.env ? { ...process.env, ...options.env } : undefined;
    const result = spawnSync("docker", args, { input: options.input, env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    if (result.status !== 0) {
        throw new OpsError(`docker ${args.slice(0, 2).join(" ")} failed: ${(result.stderr || result.stdout).trim()}`);
    }
    return result.stdout.trim();
}

/** Runs docker with stdout streamed into a file (dumps and archives that do not fit in memory), `input` on its stdin. */
export function dockerToFile(args: string[], file: string, input?: string): Promise<void> {
    return new Promise((resolve, reject) => {
        const out = fs.openSync(file, "w", 0o600);
        const child = spawn("docker", args, { stdio: [input === undefined ? "ignore" : "pipe", out, "pipe"] });
        let stderr = "";
        child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
        child.on("error", reject);
        child.on("close", (code) => {
            fs.closeSync(out);
            if (code === 0) {
                resolve();
            } else {
                reject(new OpsError(`docker ${args.slice(0, 2).join(" ")} failed (exit ${code}): ${stderr.trim()}`));
            }
        });
        // A helper that fails before reading all its input closes stdin: its exit code says why, not the broken pipe.
        child.stdin?.on("error", () => undefined);
        child.stdin?.end(input);
    });
}

/** Runs docker with a file streamed into its stdin. */
export function dockerFromFile(args: string[], file: string): Promise<string> {
    return new Promise((resolve, reject) => {
        const child = spawn("docker", args, { stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
        child.on("error", reject);
        child.on("close", (code) =>
            code === 0 ? resolve(stdout.trim()) : reject(new OpsError(`docker ${args.slice(0, 2).join(" ")} failed (exit ${code}): ${stderr.trim()}`)),
        );
        fs.createReadStream(file).pipe(child.stdin);
    });
}

/** What backup and restore need to know of a deployed stack: its containers, volumes and database. */
export interface StackFacts {
    stack: string;
    /** One Docker engine (containers), or a Docker Swarm whose manager this engine is (services). Default docker. */
    platform?: "docker" | "swarm";
    /** The URN of the stack's synapse:index:Homeserver (absent for the stack's own pre-upgrade backup). */
    urn?: string;
    /** Where the homeserver's own backups go (its backupDirectory output), "" without. */
    backupDirectory?: string;
    serverName: string;
    /** The homeserver's container; on a swarm, its service. */
    container: string;
    volume: string;
    database: "sqlite" | "postgres";
    /** The container the database is reached in (`docker exec`); on a swarm, its service's running task here. */
    databaseContainer?: string;
    image: string;
    /** The user:group the homeserver runs as, which owns the data. */
    user: string;
}

/**
 * The Pulumi CLI on PATH (the project's wrapper puts the one setup built there, with its backend and passphrase), in
 * the folder of the stack's program.
 */
export function pulumi(args: string[]): { status: number | null; stdout: string; stderr: string } {
    const result = spawnSync("pulumi", ["--cwd", projectDirectory(), ...args], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    if (result.error) {
        throw new OpsError(`cannot run the Pulumi CLI (${result.error.message}): put it on PATH, or run this through the project's npm scripts`);
    }
    return result;
}

/** A resource as `pulumi stack export` lists it. */
export interface StateResource {
    urn: string;
    type: string;
    parent?: string;
    outputs?: Record<string, unknown>;
}

/** Every resource in a stack's state. */
export function stackResources(stack: string): StateResource[] {
    const result = pulumi(["stack", "export", "--stack", stack]);
    if (result.status !== 0) {
        throw new OpsError(`cannot read the state of stack ${stack}: ${result.stderr.trim()}`);
    }
    return (JSON.parse(result.stdout) as { deployment: { resources?: StateResource[] } }).deployment.resources ?? [];
}

/** The name a resource was given in its program: the last part of its URN. */
export function resourceName(urn: string): string {
    return urn.slice(urn.lastIndexOf("::") + 2);
}

/**
 * A deployed homeserver, found in the stack's state by its type (synapse:index:Homeserver), whatever the program named
 * it; with several, `homeserver` names the one meant.
 */
export function stackFacts(stack: string, homeserver?: string): StackFacts {
    const resources = stackResources(stack);
    const found = resources.filter(
        (resource) => resource.type === "synapse:index:Homeserver" && (homeserver === undefined || resourceName(resource.urn) === homeserver),
    );
    if (found.length === 0) {
        throw new OpsError(`stack ${stack} has no deployed synapse:index:Homeserver${homeserver ? ` named ${homeserver}` : ""}: run \`pulumi up\` first`);
    }
    if (found.length > 1) {
        throw new OpsError(`stack ${stack} has ${found.length} homeservers (${found.map((resource) => resourceName(resource.urn)).join(", ")}): name one with --homeserver <name>`);
    }
    const outputs = found[0].outputs ?? {};
    if (typeof outputs.containerName !== "string") {
        throw new OpsError(`the homeserver of stack ${stack} was never deployed completely (it has no containerName): run \`pulumi up\` first`);
    }
    const facts = { stack, urn: found[0].urn, backupDirectory: typeof outputs.backupDirectory === "string" ? outputs.backupDirectory : "", serverName: String(outputs.serverName), volume: String(outputs.volumeName) };
    // Its processes are Swarm services when the homeserver has the swarm's component.
    if (resources.some((resource) => resource.type === "synapse:swarm:Processes" && resource.parent === found[0].urn)) {
        return { ...facts, ...serviceFacts(outputs.containerName) };
    }
    const database = outputs.database === "postgres" ? "postgres" : "sqlite";
    return {
        ...facts,
        container: outputs.containerName,
        database,
        databaseContainer: database === "postgres" ? `${outputs.containerName}-db` : undefined,
        image: (outputs.image as { id: string }).id,
        user: containerUser(outputs.containerName),
    };
}

/**
 * A homeserver on a swarm, from its main service's spec: its image, user and database (always PostgreSQL there, in
 * the service named after main's with -db, whose running task on this engine, the data node's, is where psql runs).
 */
export function serviceFacts(service: string): Pick<StackFacts, "platform" | "container" | "database" | "databaseContainer" | "image" | "user"> {
    const spec = JSON.parse(docker(["service", "inspect", "--format", "{{json .Spec.TaskTemplate.ContainerSpec}}", service])) as { Image: string; User?: string };
    return { platform: "swarm", container: service, database: "postgres", databaseContainer: runningTask(`${service}-db`), image: spec.Image, user: spec.User || "0:0" };
}

/** Whether a Swarm service of that name exists (this engine is a swarm manager and has it). */
export function serviceExists(name: string): boolean {
    return spawnSync("docker", ["service", "inspect", name], { encoding: "utf8" }).status === 0;
}

/** The running task container of a Swarm service on this engine (the data node's): what `docker exec` reaches. */
export function runningTask(service: string): string {
    const found = docker(["ps", "--filter", `label=${SERVICE_LABEL}=${service}`, "--filter", "status=running", "--format", "{{.Names}}"]).split("\n").filter(Boolean);
    if (found.length === 0) {
        throw new OpsError(`service ${service} has no running task on this Docker engine: run this with DOCKER_HOST set to the data node's engine, where its tasks run, once \`docker service ps ${service}\` shows one running`);
    }
    return found[0];
}

/** Scales services, all at once, and waits until the tasks of each have converged (stopped, or running and healthy). */
export function scaleServices(services: [string, number][]): void {
    docker(["service", "scale", "--detach=false", ...services.map(([service, replicas]) => `${service}=${replicas}`)]);
}

/** Whether a container exists, and whether it runs. */
export function containerState(name: string): "missing" | "running" | "stopped" {
    const result = spawnSync("docker", ["inspect", "--format", "{{.State.Running}}", name], { encoding: "utf8" });
    if (result.status !== 0) {
        return "missing";
    }
    return result.stdout.trim() === "true" ? "running" : "stopped";
}

/** The stack's overlay config a homeserver container runs with: the file its last --config-path names. */
export function runningOverlay(container: string): string {
    const args = JSON.parse(docker(["inspect", "--format", "{{json .Args}}", container])) as string[];
    const last = args.lastIndexOf("--config-path");
    // Containers made before overlays had files of their own read this one.
    return last >= 0 && last + 1 < args.length ? args[last + 1] : "/data/synapse-stack.yaml";
}

/** The user:group a container runs as (the homeserver's uid:gid). */
export function containerUser(name: string): string {
    return docker(["inspect", "--format", "{{.Config.User}}", name]) || "0:0";
}

/**
 * A folder only this user can enter. An existing folder that others may read is refused: a backup holds the signing
 * key and the config's secrets.
 */
export function privateDirectory(dir: string): string {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const mode = fs.statSync(dir).mode & 0o777;
    if ((mode & 0o077) !== 0) {
        throw new OpsError(
            `${dir} can be read or entered by others (mode ${mode.toString(8)}): backups hold the signing key and secrets. ` +
                `Use a private folder (chmod 700 ${dir}) or --out another one`,
        );
    }
    return dir;
}

export function sha256(file: string): string {
    return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

export function tar(args: string[]): void {
    try {
        execFileSync("tar", args, { stdio: ["ignore", "ignore", "pipe"] });
    } catch (err) {
        // What tar said (a full disk, a missing member), not the stack of the call.
        throw new OpsError(`tar failed: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`);
    }
}

/** The archive's table of contents and provenance. */
export interface Manifest {
    format: 1;
    stack: string;
    serverName: string;
    synapseVersion: string;
    /** The database's schema version: restore refuses an image whose Synapse knows an older one. */
    schemaVersion: number;
    /** The oldest schema version a Synapse may know and still use this database; absent in older archives. */
    schemaCompatVersion?: number;
    database: "sqlite" | "postgres";
    createdAt: string;
    reason: string;
    /** Each member's SHA-256 and size. */
    members: Record<string, { sha256: string; bytes: number }>;
}

/** Parses `--name value` and `--flag` options; the rest are positional. */
export function parseArguments(argv: string[], flags: string[] = []): { options: Record<string, string>; positional: string[] } {
    const options: Record<string, string> = {};
    const positional: string[] = [];
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        if (arg.startsWith("--")) {
            const name = arg.slice(2);
            if (flags.includes(name)) {
                options[name] = "true";
            } else {
                const value = argv[++i];
                if (value === undefined) {
                    throw new OpsError(`${arg} needs a value`);
                }
                options[name] = value;
            }
        } else {
            positional.push(arg);
        }
    }
    return { options, positional };
}

/** Runs an operation as a command: its errors as one clear line and a non-zero exit, never a stack trace. */
export function main(operation: () => Promise<void>): void {
    operation().catch((err: unknown) => {
        process.stderr.write(`${err instanceof OpsError ? err.message : err instanceof Error ? err.stack : String(err)}\n`);
        process.exit(1);
    });
}
