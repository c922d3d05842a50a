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
 * The worker kinds a swarm runs as one replicated service each: those Synapse names nowhere in the shared config
 * (client, sync, federation readers), so every replica of the service can run the same file. Every other kind is
 * named in the shared config one process at a time (`instance_map`, `stream_writers`, the sender and pusher lists):
 * one service per process, of one replica, rolled stop-first (never two tasks of one name).
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

/** A worker service: its kind, its Synapse worker_name (every replica's), how many replicas, and its rollout order. */
export interface SwarmWorkerService extends WorkerProcess {
    replicas: number;
    /** start-first for a replicated kind; stop-first for a named process (a second task would be a second writer). */
    order: "start-first" | "stop-first";
}

/**
 * One service per replicated kind with workers, named after the kind (`client`, `federation-reader`); one per process
 * of every other kind, named as on one engine (`event-persister-1`, `media-1`), which the shared config names.
 */
export function swarmWorkerServices(counts: WorkerCounts): SwarmWorkerService[] {
    return WORKER_KINDS.flatMap((kind): SwarmWorkerService[] => {
        const named = kind.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
        if (counts[kind] === 0) {
            return [];
        }
        return SWARM_WORKER_KINDS.includes(kind)
            ? [{ kind, name: named, replicas: counts[kind], order: "start-first" }]
            : Array.from({ length: counts[kind] }, (_, index) => ({ kind, name: `${named}-${index + 1}`, replicas: 1, order: "stop-first" }));
    });
}
