import type * as docker from "@pulumi/docker";
import type * as pulumi from "@pulumi/pulumi";

/** Rotated json-file logs: a chatty homeserver never fills the Docker host's disk. */
export const LOG_OPTIONS: Record<string, string> = { "max-size": "10m", "max-file": "3" };

/** What every container of the stack runs with, whatever its role. */
export interface Hardening {
    /** Capabilities kept; every other one is dropped. Default none. */
    capabilities?: string[];
    /** Most processes and threads the container may run. */
    pidsLimit: number;
    /** Writable scratch directories on a read-only root filesystem, with their tmpfs options. */
    tmpfs: Record<string, string>;
    /** Memory limit in MiB; undefined: no limit. */
    memoryMb?: number;
    /** CPU limit in CPUs, e.g. "1.5"; undefined: no limit. */
    cpus?: string;
}

/**
 * The docker.Container arguments that apply a Hardening: no new privileges, capabilities, read-only root, limits.
 * The provider has no pids limit: `PidsLimit` (components/limits.ts) sets it on the running container.
 */
export function containerHardening(hardening: Omit<Hardening, "pidsLimit" | "memoryMb" | "cpus"> & {
    memoryMb?: pulumi.Input<number>;
    cpus?: pulumi.Input<string>;
}): Partial<docker.ContainerArgs> {
    return {
        securityOpts: ["no-new-privileges:true"],
        capabilities: { drops: ["ALL"], adds: hardening.capabilities ?? [] },
        readOnly: true,
        tmpfs: hardening.tmpfs,
        logDriver: "json-file",
        logOpts: LOG_OPTIONS,
        // Swap equal to memory means no swap; left unset, Docker doubles it and every refresh shows a difference.
        ...(hardening.memoryMb !== undefined ? { memory: hardening.memoryMb, memorySwap: hardening.memoryMb } : {}),
        ...(hardening.cpus !== undefined ? { cpus: hardening.cpus } : {}),
    };
}

/** The same as `docker run` flags, for the one-shot helpers the stack starts through the Docker CLI. */
export function runFlags(hardening: Hardening): string[] {
    return [
        "--security-opt", "no-new-privileges:true",
        "--cap-drop", "ALL",
        ...(hardening.capabilities ?? []).flatMap((capability) => ["--cap-add", capability]),
        "--read-only",
        ...Object.entries(hardening.tmpfs).flatMap(([dir, options]) => ["--tmpfs", `${dir}:${options}`]),
        "--pids-limit", String(hardening.pidsLimit),
        "--log-driver", "json-file",
        ...Object.entries(LOG_OPTIONS).flatMap(([key, value]) => ["--log-opt", `${key}=${value}`]),
        ...(hardening.memoryMb !== undefined ? ["--memory", `${hardening.memoryMb}m`, "--memory-swap", `${hardening.memoryMb}m`] : []),
        ...(hardening.cpus !== undefined ? ["--cpus", hardening.cpus] : []),
    ];
}
