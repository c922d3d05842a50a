// Where a homeserver's parts run on Docker Swarm, and what the first swarm slice accepts. Pure: tested without Pulumi.
import { type WorkerCountKey, type WorkerCounts, type WorkerProcess, WORKER_KINDS } from "../workers/kinds";

/** The engine a homeserver runs on: one Docker engine (containers), or a Docker Swarm (services). */
export const Platform = { Docker: "docker", Swarm: "swarm" } as const;
export type Platform = (typeof Platform)[keyof typeof Platform];

/** A node label as an operator sets it (`docker node update --label-add synapse.data=true <node>`). */
export const NODE_LABEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}=[A-Za-z0-9._-]{1,128}$/;
/** The accepted form of a node label, for messages. */
export const NODE_LABEL_FORM = "a node label key=value, such as synapse.data=true";

/**
 * The worker kinds a swarm runs, each as one replicated service: those Synapse names nowhere in the shared config
 * (client, sync, federation readers), so every replica of one service can run the same file. Stream writers, senders,
 * pushers, media and background workers are named in the shared config one process each: not in this slice.
 */
export const SWARM_WORKER_KINDS: readonly WorkerCountKey[] = ["client", "sync", "federationReader"];

/** What the swarm slice refuses, by the argument that asks for it, and why. */
/** Why a swarm stack cannot keep a bind address: Swarm's host-mode ports take no address. */
export const SWARM_PUBLISHING = "the edge publishes its ports in host mode on every address of the data node";

export const SWARM_REFUSALS = {
    turn: "the TURN server does not run on Docker Swarm yet",
    monitoring: "monitoring does not run on Docker Swarm yet",
} as const;

/** The placement constraint of a node label. */
export function labelConstraint(label: string): string {
    const [key, value] = label.split("=", 2);
    return `node.labels.${key}==${value}`;
}

/** A replicated worker service: its kind, its Synapse worker_name (every replica's), and how many replicas. */
export interface SwarmWorkerService extends WorkerProcess {
    replicas: number;
}

/** One service per worker kind with workers, named after the kind (`client`, `sync`, `federation-reader`). */
export function swarmWorkerServices(counts: WorkerCounts): SwarmWorkerService[] {
    return WORKER_KINDS.filter((kind) => counts[kind] > 0).map((kind) => ({
        kind,
        name: kind.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`),
        replicas: counts[kind],
    }));
}

/** The kinds given workers that a swarm cannot run yet. */
export function unsupportedSwarmKinds(counts: WorkerCounts): WorkerCountKey[] {
    return WORKER_KINDS.filter((kind) => counts[kind] > 0 && !SWARM_WORKER_KINDS.includes(kind));
}
