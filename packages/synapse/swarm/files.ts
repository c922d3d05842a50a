// Swarm secrets and configs for a swarm stack's services: a fresh name for each content, never deleted by Pulumi, and
// swept by the stack's labels once no service names them.
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { LABEL_PREFIX, labelList, ownerLabels } from "../runtime/labels";
import { fingerprint } from "../runtime/scripts";

/** A file a service's tasks read: a Swarm secret or config, at a path (secrets: a name in /run/secrets). */
export interface ServiceFile {
    id: pulumi.Input<string>;
    name: pulumi.Input<string>;
    /** A secret's file name in /run/secrets, or a config's absolute path. */
    target: string;
}

/**
 * A name for a Swarm secret or config: the prefix and a random suffix drawn again whenever the content's keyed
 * fingerprint changes. Never a name used before, even when a config goes back to an earlier content: the earlier
 * object may still exist, kept by a service Swarm rolled back to it.
 */
function contentName(name: string, args: { prefix: pulumi.Input<string>; content: pulumi.Input<string>; fingerprintKey: pulumi.Input<string> }, parent: pulumi.Resource): pulumi.Output<string> {
    const suffix = new random.RandomId(`${name}-name`, { byteLength: 8, keepers: { content: fingerprint(args.content, args.fingerprintKey) } }, { parent });
    return pulumi.interpolate`${args.prefix}-${suffix.hex}`;
}

/**
 * Swarm secrets and configs cannot change, so a new content is a new object, the services using it roll to it, and
 * the old one is removed by sweepUnused once no service names it: not by Pulumi, which would delete it even while a
 * service that a failed rollout rolled back still uses it (Docker refuses, and every later `up` would fail on it).
 */
const SWEPT: pulumi.CustomResourceOptions = { retainOnDelete: true, deleteBeforeReplace: false };

/** A Swarm secret with a fresh name for each content (contentName), removed by sweepUnused. */
export function contentSecret(
    name: string,
    args: { prefix: pulumi.Input<string>; content: pulumi.Input<string>; fingerprintKey: pulumi.Input<string>; labels: { project: string; stack: string; role: string } },
    parent: pulumi.Resource,
    after: pulumi.Resource[] = [],
): docker.Secret {
    const content = pulumi.secret(args.content);
    return new docker.Secret(
        name,
        {
            name: contentName(name, { ...args, content }, parent),
            data: pulumi.secret(pulumi.output(content).apply((text) => Buffer.from(text).toString("base64"))),
            labels: labelList(ownerLabels(args.labels.project, args.labels.stack, args.labels.role)),
        },
        { parent, additionalSecretOutputs: ["data"], dependsOn: after, ...SWEPT },
    );
}

/** A Swarm config (not secret) with a fresh name for each content, as contentSecret. */
export function contentConfig(
    name: string,
    args: { prefix: pulumi.Input<string>; content: pulumi.Input<string>; fingerprintKey: pulumi.Input<string>; labels: { project: string; stack: string; role: string } },
    parent: pulumi.Resource,
    after: pulumi.Resource[] = [],
): docker.ServiceConfig {
    return new docker.ServiceConfig(
        name,
        {
            name: contentName(name, args, parent),
            data: pulumi.output(args.content).apply((text) => Buffer.from(text).toString("base64")),
            labels: labelList(ownerLabels(args.labels.project, args.labels.stack, args.labels.role)),
        },
        { parent, dependsOn: after, ...SWEPT },
    );
}

/**
 * Removes the stack's secrets and configs (by its owner labels) that no service's spec names. Run after every rollout
 * has completed, whenever the set the stack uses changes, and on destroy (by dataNodeCheck's delete, which comes after
 * every service's), when none is named any more.
 */
export const SWEEP_UNUSED = [
    `used=$(for service in $(docker service ls -q); do docker service inspect --format '{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.SecretID}} {{end}}{{range .Spec.TaskTemplate.ContainerSpec.Configs}}{{.ConfigID}} {{end}}' "$service"; done); `,
    `for kind in secret config; do docker $kind ls --filter "label=${LABEL_PREFIX}.project=$SYNAPSE_PROJECT" --filter "label=${LABEL_PREFIX}.stack=$SYNAPSE_STACK" --format '{{.ID}} {{.Name}}' | `,
    `while read -r id name; do case " $used " in *" $id "*) ;; *) docker $kind rm "$id" >/dev/null && echo "removed the unused $kind $name" >&2 ;; esac; done; done; true`,
].join("");

/** The sweep after the rollouts (`after`), run again whenever the secrets and configs the stack uses (`current`) change. */
export function sweepUnused(
    name: string,
    args: { current: pulumi.Input<string>[]; after: pulumi.Resource[]; labels: { project: string; stack: string } },
    parent: pulumi.Resource,
): command.local.Command {
    return new command.local.Command(
        name,
        {
            create: SWEEP_UNUSED,
            update: SWEEP_UNUSED,
            environment: {
                SYNAPSE_PROJECT: args.labels.project,
                SYNAPSE_STACK: args.labels.stack,
                // Not read by the sweep: a new set of secrets and configs in the services' specs updates the command,
                // which runs it again (a trigger would replace it, and its replacement's create would run it the same).
                SYNAPSE_SERVICE_FILES: pulumi.all(args.current).apply((specs) => specs.join(" ")),
            },
            logging: "stderr",
        },
        { parent, dependsOn: args.after },
    );
}

/** A secret or config as a service mounts it. */
export function serviceFile(resource: docker.Secret | docker.ServiceConfig, target: string): ServiceFile {
    return { id: resource.id, name: resource.name as pulumi.Output<string>, target };
}

