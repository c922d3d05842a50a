// The pieces every swarm part is made of: a Swarm service with the stack's hardening, placement and rollout rules, and
// Swarm secrets and configs named by their content.
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { type Hardening, LOG_OPTIONS } from "../runtime/hardening";
import { labelList, ownerLabels, SERVICE_LABEL } from "../runtime/labels";
import { fingerprint, shellQuote } from "../runtime/scripts";

/** A file a service's tasks read: a Swarm secret or config, at a path (secrets: a name in /run/secrets). */
export interface ServiceFile {
    id: pulumi.Input<string>;
    name: pulumi.Input<string>;
    /** A secret's file name in /run/secrets, or a config's absolute path. */
    target: string;
}

export interface SwarmServiceArgs {
    /** The service's name: also its host name on its networks. */
    name: pulumi.Input<string>;
    /** The image reference (a service resolves references, not image ids). */
    image: pulumi.Input<string>;
    /** The image's entrypoint's arguments. */
    args?: pulumi.Input<pulumi.Input<string>[]>;
    /** user or uid:gid; default the image's. */
    user?: pulumi.Input<string>;
    env?: Record<string, pulumi.Input<string>>;
    /** Named volumes (on the data node) by the path they are mounted at. */
    volumes?: { source: pulumi.Input<string>; target: string }[];
    secrets?: ServiceFile[];
    configs?: ServiceFile[];
    /** The uid:gid that owns the secret and config files (mode 0400). */
    fileOwner?: { uid: pulumi.Input<number>; gid: pulumi.Input<number> };
    /** The overlay networks' ids. */
    networks: pulumi.Input<string>[];
    /** The health check: its command, and how long a start may take. */
    health: { tests: string[]; startPeriod?: string };
    hardening: Hardening;
    /** Placement constraints (node.labels...). */
    constraints: pulumi.Input<string>[];
    replicas?: pulumi.Input<number>;
    /** stop-first for what holds data (never two writers), start-first for the stateless. */
    order: "stop-first" | "start-first";
    /** As Docker prints durations (1m, not 60s): another spelling plans an update on every up. */
    stopGracePeriod: string;
    stopSignal?: string;
    /** Host-mode published ports (the routing mesh needs IPVS, which not every kernel has). */
    ports?: pulumi.Input<{ target: number; published: number }[]>;
    /** Owner labels and the role, on the service and its task containers. */
    labels: { project: string; stack: string; role: string };
}

/**
 * A Swarm service: DNS round robin (no virtual IP, which needs IPVS), tasks with an init (Python as PID 1 ignores
 * SIGTERM), a read-only root with the hardening's tmpfs mounts, every capability dropped but the hardening's, rotated
 * logs, health-gated rollouts that roll back on failure, and `up` waiting for convergence. A failed create makes the
 * provider delete the service: named volumes are never deleted with a service, so that can never touch data.
 */
export function swarmService(name: string, args: SwarmServiceArgs, opts: pulumi.CustomResourceOptions): docker.Service {
    // Sorted by key, as the provider reads them back: another order would plan an update on every up.
    const labels = labelList(ownerLabels(args.labels.project, args.labels.stack, args.labels.role)).sort((a, b) => a.label.localeCompare(b.label));
    const owner = args.fileOwner;
    const file = (item: ServiceFile) => ({
        fileName: item.target,
        ...(owner ? { fileUid: pulumi.output(owner.uid).apply(String), fileGid: pulumi.output(owner.gid).apply(String) } : {}),
        fileMode: 0o400,
    });
    const rollout = { order: args.order, parallelism: 1, delay: "1s", monitor: "10s" };
    return new docker.Service(
        name,
        {
            name: args.name,
            labels,
            mode: { replicated: { replicas: args.replicas ?? 1 } },
            endpointSpec: {
                mode: "dnsrr",
                ports: pulumi.output(args.ports ?? []).apply((ports) => ports.map((port) => ({ targetPort: port.target, publishedPort: port.published, publishMode: "host", protocol: "tcp" }))),
            },
            taskSpec: {
                containerSpec: {
                    image: args.image,
                    args: args.args,
                    user: args.user,
                    init: true,
                    env: args.env,
                    readOnly: true,
                    capDrops: ["ALL"],
                    capAdds: args.hardening.capabilities ?? [],
                    mounts: [
                        ...(args.volumes ?? []).map((volume) => ({ type: "volume", source: volume.source, target: volume.target })),
                        ...Object.entries(args.hardening.tmpfs).map(([target, options]) => ({
                            type: "tmpfs",
                            target,
                            tmpfsOptions: { sizeBytes: tmpfsBytes(options), mode: options.includes("mode=1777") ? 0o1777 : undefined },
                        })),
                    ],
                    secrets: (args.secrets ?? []).map((item) => ({ secretId: item.id, secretName: item.name, ...file(item) })),
                    configs: (args.configs ?? []).map((item) => ({ configId: item.id, configName: item.name, ...file(item) })),
                    healthcheck: { tests: ["CMD", ...args.health.tests], interval: "5s", timeout: "5s", retries: 3, startPeriod: args.health.startPeriod ?? "5s" },
                    stopGracePeriod: args.stopGracePeriod,
                    stopSignal: args.stopSignal,
                    labels,
                },
                // By id: a name reads back as the id, and would plan an update on every up.
                networksAdvanceds: args.networks.map((network) => ({ id: network })),
                placement: { constraints: args.constraints },
                logDriver: { name: "json-file", options: LOG_OPTIONS },
                // The window as the provider reads it back (no window): unset, every up would plan an update.
                restartPolicy: { condition: "any", delay: "2s", window: "0s" },
                resources: args.hardening.memoryMb !== undefined ? { limits: { memoryBytes: args.hardening.memoryMb * 1024 ** 2 } } : undefined,
            },
            updateConfig: { ...rollout, failureAction: "rollback" },
            rollbackConfig: { ...rollout, failureAction: "pause" },
            convergeConfig: { delay: "2s", timeout: "5m" },
        },
        opts,
    );
}

/** A tmpfs size option (size=64m) in bytes. */
function tmpfsBytes(options: string): number | undefined {
    const match = /size=(\d+)([kmg])/.exec(options);
    return match ? Number(match[1]) * { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[match[2] as "k" | "m" | "g"] : undefined;
}

/**
 * A Swarm secret named by a keyed fingerprint of its content: Swarm secrets cannot change, so a new content is a new
 * secret, the services using it roll to it, and the old one is deleted after them (Docker refuses while one uses it).
 */
export function contentSecret(
    name: string,
    args: { prefix: pulumi.Input<string>; content: pulumi.Input<string>; fingerprintKey: pulumi.Input<string>; labels: { project: string; stack: string; role: string } },
    parent: pulumi.Resource,
): docker.Secret {
    const content = pulumi.secret(args.content);
    return new docker.Secret(
        name,
        {
            name: pulumi.interpolate`${args.prefix}-${fingerprint(content, args.fingerprintKey)}`,
            data: pulumi.secret(pulumi.output(content).apply((text) => Buffer.from(text).toString("base64"))),
            labels: labelList(ownerLabels(args.labels.project, args.labels.stack, args.labels.role)),
        },
        // The provider asks to delete a secret before its replacement, which Docker refuses while a service uses it:
        // the new one (another name) first, the services roll to it, then the old one goes.
        { parent, additionalSecretOutputs: ["data"], deleteBeforeReplace: false },
    );
}

/** A Swarm config (not secret) named by its content, as contentSecret. */
export function contentConfig(
    name: string,
    args: { prefix: pulumi.Input<string>; content: pulumi.Input<string>; fingerprintKey: pulumi.Input<string> },
    parent: pulumi.Resource,
): docker.ServiceConfig {
    return new docker.ServiceConfig(
        name,
        {
            name: pulumi.interpolate`${args.prefix}-${fingerprint(args.content, args.fingerprintKey)}`,
            data: pulumi.output(args.content).apply((text) => Buffer.from(text).toString("base64")),
        },
        { parent, deleteBeforeReplace: false },
    );
}

/** A secret or config as a service mounts it. */
export function serviceFile(resource: docker.Secret | docker.ServiceConfig, target: string): ServiceFile {
    return { id: resource.id, name: resource.name as pulumi.Output<string>, target };
}

/**
 * The name of a running task container of a service on this engine (the data node's), read again whenever the
 * service's spec changes: what the one-shot steps `docker exec` into.
 */
export function taskContainer(name: string, service: docker.Service, parent: pulumi.Resource): pulumi.Output<string> {
    const find = service.name.apply(
        (serviceName) =>
            `for i in $(seq 120); do found=$(docker ps --filter ${shellQuote(`label=${SERVICE_LABEL}=${serviceName}`)} --filter health=healthy --format '{{.Names}}' | head -n 1); ` +
            `[ -n "$found" ] && { echo "$found"; exit 0; }; sleep 1; done; echo "no healthy task of ${serviceName} on this engine" >&2; exit 1`,
    );
    const lookup = new command.local.Command(name, { create: find, triggers: [pulumi.jsonStringify(service.taskSpec)] }, { parent });
    return lookup.stdout.apply((stdout) => stdout.trim());
}

/** A network for a swarm stack: overlay, internal unless the world must be reached, attachable only for one-shot steps. */
export function overlayNetwork(
    name: string,
    args: { name: pulumi.Input<string>; internal: boolean; attachable: boolean; labels: { project: string; stack: string; role: string } },
    parent: pulumi.Resource,
): docker.Network {
    return new docker.Network(
        name,
        {
            name: args.name,
            driver: "overlay",
            internal: args.internal,
            attachable: args.attachable,
            labels: labelList(ownerLabels(args.labels.project, args.labels.stack, args.labels.role)),
        },
        { parent, deleteBeforeReplace: true },
    );
}
