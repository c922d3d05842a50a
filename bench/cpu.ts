// CPU seconds each container used during the load run's measured window: its cgroup's own counter (cgroup v2
// cpu.stat usage_usec) read before and after, found at run time, since where Docker puts a container's cgroup
// depends on the engine's cgroup driver and the host (system.slice/docker-<id>.scope, docker/<id>, a hybrid
// host's unified/ mount). A container whose counter is nowhere to be found is sampled with `docker stats` instead.
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { docker } from "../test/e2e/support";

/** How a container's CPU time was measured. */
export type CpuMethod = "cgroup" | "docker stats";

export interface CpuUse {
    seconds: number;
    method: CpuMethod;
}

const now = () => Number(process.hrtime.bigint()) / 1e9;

/** Where cgroup v2 hierarchies are mounted, from this process's mount table (the 5th field; " - cgroup2 " after). */
function cgroupV2Mounts(): string[] {
    const unescape = (field: string) => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
    return fs.readFileSync("/proc/self/mountinfo", "utf8")
        .split("\n")
        .filter((line) => line.split(" - ")[1]?.startsWith("cgroup2 "))
        .map((line) => unescape(line.split(" ")[4]));
}

/** The cpu.stat file of a running container's cgroup, or undefined where there is none to read. */
function cpuStatFile(container: string): string | undefined {
    const [id, pid] = docker("inspect", "--format", "{{.Id}} {{.State.Pid}}", container).split(" ");
    // The cgroup the container's first process is in, as the kernel names it (relative to a cgroup2 mount).
    const own = Number(pid) > 0 ? fs.readFileSync(`/proc/${pid}/cgroup`, "utf8").match(/^0::(.*)$/m)?.[1] : undefined;
    const candidates = cgroupV2Mounts().flatMap((mount) => [
        ...(own ? [path.join(mount, own)] : []),
        path.join(mount, "system.slice", `docker-${id}.scope`),
        path.join(mount, "docker", id),
    ]);
    return candidates.map((dir) => path.join(dir, "cpu.stat")).find((file) => fs.existsSync(file) && /^usage_usec /m.test(fs.readFileSync(file, "utf8")));
}

const usageSeconds = (file: string) => Number(fs.readFileSync(file, "utf8").match(/^usage_usec (\d+)$/m)![1]) / 1e6;

/** Measures the CPU time of the named running containers between start() and stop(). */
export class CpuMeter {
    private readonly files = new Map<string, string>();
    private readonly sampled: string[] = [];
    private readonly before = new Map<string, number>();
    private readonly used = new Map<string, number>();
    private readonly samples = new Map<string, number[]>();
    private sampling?: Promise<void>;
    private running = false;
    private started = 0;
    private stopped = 0;

    constructor(readonly containers: string[]) {
        for (const container of containers) {
            const file = cpuStatFile(container);
            if (file) {
                this.files.set(container, file);
            } else {
                this.sampled.push(container);
            }
        }
    }

    start(): void {
        this.started = now();
        for (const [container, file] of this.files) {
            this.before.set(container, usageSeconds(file));
        }
        this.running = true;
        if (this.sampled.length > 0) {
            this.sampling = this.sample();
        }
    }

    stop(): void {
        this.stopped = now();
        for (const [container, file] of this.files) {
            this.used.set(container, usageSeconds(file) - this.before.get(container)!);
        }
        this.running = false;
    }

    /** CPU seconds per container in the window; waits for a `docker stats` sample still under way. */
    async result(): Promise<Record<string, CpuUse>> {
        await this.sampling;
        const window = this.stopped - this.started;
        const mean = (values: number[]) => (values.length > 0 ? values.reduce((sum, value) => sum + value, 0) / values.length : NaN);
        return Object.fromEntries(
            this.containers.map((container) => [
                container,
                this.files.has(container)
                    ? { seconds: this.used.get(container)!, method: "cgroup" as const }
                    : { seconds: (mean(this.samples.get(container) ?? []) / 100) * window, method: "docker stats" as const },
            ]),
        );
    }

    /** `docker stats --no-stream` over and over (each call takes a second or two): the mean CPU% times the window. */
    private async sample(): Promise<void> {
        while (this.running) {
            const table = await new Promise<string>((resolve) =>
                execFile("docker", ["stats", "--no-stream", "--format", "{{.Name}}\t{{.CPUPerc}}", ...this.sampled], (err, stdout) => resolve(err ? "" : stdout)),
            );
            if (!this.running) {
                return;
            }
            for (const [container, percent] of table.trim().split("\n").map((line) => line.split("\t"))) {
                if (percent !== undefined && this.sampled.includes(container)) {
                    this.samples.set(container, [...(this.samples.get(container) ?? []), parseFloat(percent)]);
                }
            }
        }
    }
}
