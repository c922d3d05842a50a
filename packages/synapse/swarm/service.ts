// The pieces every swarm part is made of: a Swarm service with the stack's hardening, placement and rollout rules, the
// wait for its rollouts, the lookup of its task on the data node, the stop of workers on stale shared keys, and the
// check that the engine Pulumi talks to is the data node. Its secrets and configs are in files.ts, its networks in
// networks.ts.
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { type Hardening, LOG_OPTIONS } from "../runtime/hardening";
import { labelList, ownerLabels, SERVICE_LABEL } from "../runtime/labels";
import { shellQuote } from "../runtime/scripts";
import { SHARED_LABEL } from "../workers/workers";
import { type ServiceFile, SWEEP_UNUSED } from "./files";

/** An overlay network a service joins, by id, with the names its tasks answer to there besides the service's. */
export interface SwarmNetwork {
    id: pulumi.Input<string>;
    aliases?: pulumi.Input<pulumi.Input<string>[]>;
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
    /** The overlay networks, by id (a name reads back as the id, and would plan an update on every up). */
    networks: SwarmNetwork[];
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
    /** Further labels on the service alone (its tasks' containers do not get them). */
    serviceLabels?: Record<string, pulumi.Input<string>>;
}

/**
 * A Swarm service: DNS round robin (no virtual IP, which needs IPVS), tasks with an init (Python as PID 1 ignores
 * SIGTERM), a read-only root with the hardening's tmpfs mounts, every capability dropped but the hardening's, rotated
 * logs, and health-gated rollouts that roll back on failure; `up` waits for them with rolloutWait. Named volumes are
 * never deleted with a service, so deleting one can never touch data.
 */
export function swarmService(name: string, args: SwarmServiceArgs, opts: pulumi.CustomResourceOptions): docker.Service {
    // Sorted by key, as the provider reads them back: another order would plan an update on every up.
    const labels = labelList(ownerLabels(args.labels.project, args.labels.stack, args.labels.role)).sort((a, b) => a.label.localeCompare(b.label));
    const serviceLabels = [...labels, ...Object.entries(args.serviceLabels ?? {}).map(([label, value]) => ({ label, value }))].sort((a, b) => a.label.localeCompare(b.label));
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
            labels: serviceLabels,
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
                networksAdvanceds: args.networks.map((network) => ({ id: network.id, ...(network.aliases ? { aliases: network.aliases } : {}) })),
                placement: { constraints: args.constraints },
                logDriver: { name: "json-file", options: LOG_OPTIONS },
                // The window as the provider reads it back (no window): unset, every up would plan an update.
                restartPolicy: { condition: "any", delay: "2s", window: "0s" },
                resources: limitsOf(args.hardening),
            },
            updateConfig: { ...rollout, failureAction: "rollback" },
            rollbackConfig: { ...rollout, failureAction: "pause" },
            // No convergeConfig: the provider's wait ends while Swarm still monitors the new tasks, and reports a
            // rollback without the task's error; rolloutWait waits for Swarm itself, and says why a rollout failed.
        },
        opts,
    );
}

/** A hardening's memory and CPU limits as a task's resource limits; none without either. */
function limitsOf(hardening: Hardening): docker.types.input.ServiceTaskSpecResources | undefined {
    const limits = {
        ...(hardening.memoryMb !== undefined ? { memoryBytes: hardening.memoryMb * 1024 ** 2 } : {}),
        // In billionths of a CPU, as Docker keeps them ("1.5" CPUs is 1500000000).
        ...(hardening.cpus !== undefined ? { nanoCpus: Math.round(Number(hardening.cpus) * 1e9) } : {}),
    };
    return Object.keys(limits).length > 0 ? { limits } : undefined;
}

/** A tmpfs size option (size=64m) in bytes. */
function tmpfsBytes(options: string): number | undefined {
    const match = /size=(\d+)([kmg])/.exec(options);
    return match ? Number(match[1]) * { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[match[2] as "k" | "m" | "g"] : undefined;
}

/** How long a service's rollout (or first start) may take before `up` fails with its tasks' errors. */
const ROLLOUT_SECONDS = 300;

/**
 * Waits, after each change of a service's spec, until Swarm says its rollout has completed and every replica runs
 * (healthy: a task with a health check only runs once it passes). A rollout Swarm rolled back or paused, or one that
 * does not finish in time, fails `up` with Swarm's message, the last tasks' errors and the last failed one's log lines.
 * Whatever waits on it (the sweep of replaced secrets) waits until no rollback can follow.
 */
export function rolloutWait(name: string, service: docker.Service, parent: pulumi.Resource): command.local.Command {
    const script = [
        `report() { echo "service $SERVICE: $1" >&2; docker service ps --no-trunc --filter desired-state=shutdown --format '{{.Name}} on {{.Node}}: {{.CurrentState}} {{.Error}}' "$SERVICE" | head -n 3 >&2; `,
        `task=$(docker service ps --no-trunc --filter desired-state=shutdown --format '{{.ID}} {{.CurrentState}}' "$SERVICE" | awk '$2 == "Failed" || $2 == "Rejected" { print $1; exit }'); `,
        `[ -z "$task" ] || { echo "its last log lines:" >&2; docker service logs --raw --tail 20 "$task" >&2 2>&1; }; exit 1; }; `,
        `for i in $(seq ${ROLLOUT_SECONDS}); do `,
        `state=$(docker service inspect --format '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' "$SERVICE") || exit 1; `,
        `case "$state" in `,
        `""|completed) want=$(docker service inspect --format '{{.Spec.Mode.Replicated.Replicas}}' "$SERVICE"); `,
        `running=$(docker service ps --filter desired-state=running --format '{{.CurrentState}}' "$SERVICE" | grep -c '^Running' || true); `,
        `[ "$running" -ge "$want" ] && exit 0 ;; `,
        `updating|rollback_started) ;; `,
        `*) report "the rollout ended $state: $(docker service inspect --format '{{.UpdateStatus.Message}}' "$SERVICE")" ;; `,
        `esac; sleep 1; done; `,
        `report "not rolled out within ${ROLLOUT_SECONDS} s"`,
    ].join("");
    return new command.local.Command(
        name,
        { create: script, environment: { SERVICE: service.name }, triggers: [pulumi.jsonStringify(service.taskSpec), pulumi.jsonStringify(service.mode)], logging: "stderr" },
        { parent },
    );
}

/**
 * The name of a running task container of a service on this engine (the data node's), read again whenever the
 * service's spec changes: what the one-shot steps `docker exec` into.
 */
export function taskContainer(name: string, service: docker.Service, parent: pulumi.Resource, after: pulumi.Resource[] = []): pulumi.Output<string> {
    const find = service.name.apply(
        (serviceName) =>
            `for i in $(seq 120); do found=$(docker ps --filter ${shellQuote(`label=${SERVICE_LABEL}=${serviceName}`)} --filter health=healthy --format '{{.Names}}' | head -n 1); ` +
            `[ -n "$found" ] && { echo "$found"; exit 0; }; sleep 1; done; echo "no healthy task of ${serviceName} on this engine" >&2; exit 1`,
    );
    const lookup = new command.local.Command(name, { create: find, triggers: [pulumi.jsonStringify(service.taskSpec)] }, { parent, dependsOn: after });
    return lookup.stdout.apply((stdout) => stdout.trim());
}

/**
 * Fails the deployment before any volume, network or service of a swarm stack exists unless the engine the provider
 * talks to is a swarm manager with the data node's label: the volumes and the one-shot steps are on that engine, and
 * services placed on another node would start there on new, empty volumes.
 */
export function dataNodeCheck(
    name: string,
    label: string,
    owner: { project: string; stack: string },
    parent: pulumi.Resource,
    /** Networks the stack does not make, looked up first (existingOverlayId): a refused one stops the check too. */
    networkIds: pulumi.Output<string>[] = [],
): command.local.Command {
    const [key, value] = label.split("=", 2);
    const labelled = shellQuote(`{{index .Spec.Labels "${key}"}}`);
    return new command.local.Command(
        name,
        {
            create:
                `node=$(docker node inspect self --format '{{.Description.Hostname}}' 2>&1) || ` +
                `{ echo "platform swarm needs DOCKER_HOST at the swarm manager that holds the data, but this Docker engine answers: $node" >&2; exit 1; }; ` +
                `[ "$(docker node inspect self --format ${labelled})" = ${shellQuote(value)} ] || ` +
                `{ echo "this Docker engine's node ($node) has no label ${label}, which swarm.dataNodeLabel names: the volumes and one-shot steps are made on this engine, so its node must hold the data. ` +
                `Label it (docker node update --label-add ${label} $node), or set DOCKER_HOST to the manager that has the label" >&2; exit 1; }`,
            // On destroy, after every service is gone: the secrets and configs the sweeps leave to Docker.
            delete: SWEEP_UNUSED,
            environment: { SYNAPSE_PROJECT: owner.project, SYNAPSE_STACK: owner.stack, ...(networkIds.length > 0 ? { SYNAPSE_NETWORKS: pulumi.all(networkIds).apply((ids) => ids.join(" ")) } : {}) },
            logging: "stderr",
            triggers: [label],
        },
        { parent },
    );
}

/**
 * The swarm's StaleWorkersStop (workers/workers.ts says why). Each worker service carries the keyed fingerprint of the
 * worker keys every process shares as a label (SHARED_LABEL); when they change (a stream writer, sender, pusher, media
 * or background worker added or removed), this scales every worker service of the homeserver whose label differs to
 * no replicas, and waits until none of their tasks is left; main, which waits for it, then rolls to the new config,
 * and each stopped service's update (its label changes) brings its replicas back. Services already on the new keys,
 * and every change that leaves the keys as they were (a client replica, any other setting), stop nothing.
 */
export function staleWorkersStop(
    name: string,
    args: { sharedFingerprint: pulumi.Input<string>; mainName: pulumi.Input<string>; labels: { project: string; stack: string } },
    parent: pulumi.Resource,
    after: pulumi.Resource[],
): command.local.Command {
    const filters = Object.entries(ownerLabels(args.labels.project, args.labels.stack, "worker"))
        .map(([label, value]) => `--filter ${shellQuote(`label=${label}=${value}`)}`)
        .join(" ");
    const stop = [
        `services=$(docker service ls ${filters} --format '{{.Name}}') || exit 1; stale=""; `,
        `for service in $services; do case "$service" in "$MAIN"-*) ;; *) continue ;; esac; `,
        `[ "$(docker service inspect --format '{{index .Spec.Labels "${SHARED_LABEL}"}}' "$service")" = "$SHARED" ] && continue; `,
        `docker service scale --detach "$service=0" >/dev/null || exit 1; echo "stopping service $service: the shared worker config changes" >&2; stale="$stale $service"; done; `,
        // Until no task is left in a state before its end: a task starting, not yet healthy, runs Synapse already.
        `for i in $(seq 120); do left=0; `,
        `for service in $stale; do left=$((left + $(docker service ps --format '{{.CurrentState}}' "$service" | grep -cvE '^(Shutdown|Complete|Failed|Rejected|Orphaned|Remove)' || true))); done; `,
        `[ "$left" -eq 0 ] && exit 0; sleep 1; done; `,
        `echo "the worker services did not stop within 120 s:$stale" >&2; exit 1`,
    ].join("");
    return new command.local.Command(
        name,
        { create: stop, update: stop, environment: { SHARED: args.sharedFingerprint, MAIN: args.mainName }, logging: "stderr" },
        { parent, dependsOn: after },
    );
}
