// A two-node Docker Swarm for the swarm e2e test, made by the test and removed afterwards: two Docker engines in
// containers of the swarm node image (toolchain/images/swarm-node) on a bridge network of their own, a manager and a
// worker. The host engine never joins a swarm: it only runs the two node containers, so a swarm the host may be part
// of is never touched, and a test that restarts the host engine cannot collide with this one's swarm state.
// Pulumi and the docker CLI reach the manager's API through a unix socket in a bind-mounted temporary folder (no TCP
// port anywhere); the stack's images are loaded into both inner engines under a loopback-registry tag.
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** The swarm node image `npm run setup` builds. */
export const SWARM_NODE_IMAGE = "swarm-node-local:trixie";
/** The node labels the cluster sets: the data node (the manager) and the node workers may run on (the worker). */
export const DATA_LABEL = "synapse.data=true";
export const WORKERS_LABEL = "synapse.workers=true";

/** The host engine's environment: the harness's own calls never go to the manager, whatever the test sets. */
const HOST_ENV = { ...process.env };

function hostDocker(...args: string[]): string {
    return execFileSync("docker", args, { encoding: "utf8", env: HOST_ENV, stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 * 2 ** 20 }).trim();
}

/** `docker save` of images on the host piped into `docker load` on a node: the host engine's images are only read. */
function loadInto(node: string, images: readonly string[]): Promise<void> {
    return new Promise((resolve, reject) => {
        const save = spawn("docker", ["save", ...images], { env: HOST_ENV, stdio: ["ignore", "pipe", "inherit"] });
        const load = spawn("docker", ["exec", "-i", node, "docker", "load", "-q"], { env: HOST_ENV, stdio: ["pipe", "ignore", "inherit"] });
        save.stdout.pipe(load.stdin);
        let saved: number | null = null;
        save.on("close", (code) => (saved = code));
        load.on("close", (code) => (code === 0 && saved === 0 ? resolve() : reject(new Error(`loading ${images.join(" ")} into ${node}: save ${saved}, load ${code}`))));
    });
}

async function until<T>(what: string, seconds: number, probe: () => T | undefined): Promise<T> {
    const deadline = Date.now() + seconds * 1000;
    for (;;) {
        try {
            const value = probe();
            if (value !== undefined) {
                return value;
            }
        } catch (error) {
            if (Date.now() > deadline) {
                throw new Error(`${what}: not within ${seconds} s: ${String(error)}`);
            }
        }
        if (Date.now() > deadline) {
            throw new Error(`${what}: not within ${seconds} s`);
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
    }
}

/** A /16 for the swarm's overlay networks that no route of this host and no network of the host engine uses. */
function unusedPool(): string {
    const taken = new Set(
        [
            execFileSync("ip", ["-4", "route"], { encoding: "utf8" }),
            hostDocker("network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", ...hostDocker("network", "ls", "-q").split("\n").filter(Boolean)),
        ]
            .join(" ")
            .match(/\b10\.\d+/g) ?? [],
    );
    for (let second = 200; second < 250; second++) {
        if (!taken.has(`10.${second}`)) {
            return `10.${second}.0.0/16`;
        }
    }
    throw new Error("no unused 10.x.0.0/16 between 10.200 and 10.249 for the swarm's address pool");
}

export class SwarmCluster {
    /** The prefix of everything the cluster makes on the host engine. */
    readonly prefix: string;
    readonly network: string;
    readonly manager: string;
    readonly worker: string;
    /** The folder holding the manager's API socket (bind-mounted into it). */
    readonly socketDir: string;
    /** DOCKER_HOST for the manager's API. */
    readonly dockerHost: string;
    /** The loopback registry prefix the stack's images are tagged with in the nodes, e.g. 127.0.0.1:5999. */
    readonly registry: string;
    /** The manager's address on the cluster's bridge (where the edge's host-mode ports are). */
    managerAddress = "";
    private readonly volumes: string[];

    constructor(id: string, registryPort: number) {
        this.prefix = `swarm-e2e-${id}`;
        this.network = this.prefix;
        this.manager = `${this.prefix}-manager`;
        this.worker = `${this.prefix}-worker`;
        this.volumes = [`${this.manager}-engine`, `${this.worker}-engine`];
        this.socketDir = fs.mkdtempSync(path.join(os.tmpdir(), `${this.prefix}-api-`));
        this.dockerHost = `unix://${path.join(this.socketDir, "docker.sock")}`;
        this.registry = `127.0.0.1:${registryPort}`;
    }

    /** The docker CLI inside a node (its own engine). */
    exec(node: string, ...args: string[]): string {
        return hostDocker("exec", node, "docker", ...args);
    }

    /** The reference an image of the host has in the nodes. */
    tagOf(image: string): string {
        return `${this.registry}/${image}`;
    }

    /** Starts both nodes, makes the swarm, labels the nodes, and loads `images` (the worker gets `workerImages`). */
    async start(images: readonly string[], workerImages: readonly string[]): Promise<void> {
        const started = Date.now();
        const label = `io.synapse-stack.test=${this.prefix}`;
        hostDocker("network", "create", "--label", label, this.network);
        for (const [node, volume] of [[this.manager, this.volumes[0]], [this.worker, this.volumes[1]]]) {
            hostDocker("volume", "create", "--label", label, volume);
            hostDocker(
                "run", "--detach", "--name", node, "--hostname", node, "--network", this.network, "--label", label,
                // What a Docker engine in a container needs on this kernel (--privileged is refused: no CAP_SYS_RESOURCE).
                "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE", "--security-opt", "seccomp=unconfined", "--security-opt", "systempaths=unconfined",
                "--cgroupns", "private", "--device-cgroup-rule", "a *:* rwm",
                "--volume", `${volume}:/var/lib/docker`,
                ...(node === this.manager ? ["--volume", `${this.socketDir}:/run/swarm-api`] : []),
                SWARM_NODE_IMAGE,
                ...(node === this.manager ? ["--host", "unix:///run/swarm-api/docker.sock"] : []),
            );
        }
        for (const node of [this.manager, this.worker]) {
            await until(`${node}'s engine answers`, 60, () => (this.exec(node, "info", "--format", "{{.ServerVersion}}") ? true : undefined));
        }
        this.managerAddress = hostDocker("inspect", "--format", `{{(index .NetworkSettings.Networks "${this.network}").IPAddress}}`, this.manager);
        this.exec(this.manager, "swarm", "init", "--advertise-addr", this.managerAddress, "--listen-addr", `${this.managerAddress}:2377`, "--default-addr-pool", unusedPool());
        const token = this.exec(this.manager, "swarm", "join-token", "--quiet", "worker");
        this.exec(this.worker, "swarm", "join", "--token", token, `${this.managerAddress}:2377`);
        const nodeId = (node: string) => this.exec(this.manager, "node", "inspect", "--format", "{{.ID}}", node);
        this.exec(this.manager, "node", "update", "--label-add", DATA_LABEL, nodeId(this.manager));
        this.exec(this.manager, "node", "update", "--label-add", WORKERS_LABEL, nodeId(this.worker));
        console.log(`# swarm: 2 nodes ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
        const loading = Date.now();
        await Promise.all([loadInto(this.manager, images), loadInto(this.worker, workerImages)]);
        for (const [node, list] of [[this.manager, images], [this.worker, workerImages]] as const) {
            for (const image of list) {
                this.exec(node, "tag", image, this.tagOf(image));
            }
        }
        console.log(`# swarm: images loaded in ${((Date.now() - loading) / 1000).toFixed(1)} s`);
    }

    /** What is left in a node's engine besides its defaults: services, secrets, configs, containers, volumes, networks. */
    leftovers(node: string): string[] {
        const lines = (text: string) => text.split("\n").filter(Boolean);
        const onManager = node === this.manager;
        return [
            ...(onManager ? lines(this.exec(node, "service", "ls", "--format", "service {{.Name}}")) : []),
            ...(onManager ? lines(this.exec(node, "secret", "ls", "--format", "secret {{.Name}}")) : []),
            ...(onManager ? lines(this.exec(node, "config", "ls", "--format", "config {{.Name}}")) : []),
            ...lines(this.exec(node, "ps", "-a", "--format", "container {{.Names}}")),
            ...lines(this.exec(node, "volume", "ls", "--format", "volume {{.Name}}")),
            ...lines(this.exec(node, "network", "ls", "--format", "network {{.Name}}")).filter(
                (line) => !["network bridge", "network host", "network none", "network ingress", "network docker_gwbridge"].includes(line),
            ),
        ];
    }

    /** Removes both nodes, their engines' volumes, the network and the socket folder: the host engine as it was. */
    stop(): void {
        for (const node of [this.manager, this.worker]) {
            try {
                hostDocker("rm", "--force", "--volumes", node);
            } catch {
                // never started
            }
        }
        for (const volume of this.volumes) {
            try {
                hostDocker("volume", "rm", volume);
            } catch {
                // never made
            }
        }
        try {
            hostDocker("network", "rm", this.network);
        } catch {
            // never made
        }
        fs.rmSync(this.socketDir, { recursive: true, force: true });
    }

    /** What of the cluster is left on the host engine (nothing, after stop). */
    hostLeftovers(): string[] {
        const filter = `label=io.synapse-stack.test=${this.prefix}`;
        return [
            ...hostDocker("ps", "-a", "--filter", filter, "--format", "container {{.Names}}").split("\n"),
            ...hostDocker("volume", "ls", "--filter", filter, "--format", "volume {{.Name}}").split("\n"),
            ...hostDocker("network", "ls", "--filter", filter, "--format", "network {{.Name}}").split("\n"),
        ].filter(Boolean);
    }
}
