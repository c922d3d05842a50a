// A swarm stack's networks: the overlays it makes, and the federation network it is given, found by name and checked.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { userError } from "../runtime/errors";
import { labelList, ownerLabels } from "../runtime/labels";

/** A network for a swarm stack: overlay, internal unless the world must be reached, attachable only for one-shot steps. */
export function overlayNetwork(
    name: string,
    args: { name: pulumi.Input<string>; internal: boolean; attachable: boolean; labels: { project: string; stack: string; role: string } },
    parent: pulumi.Resource,
    dependsOn: pulumi.Resource[] = [],
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
        { parent, deleteBeforeReplace: true, dependsOn },
    );
}

/** Why a network found by name cannot be a swarm stack's federation network, or undefined when it can. */
export function overlayProblem(setting: string, network: { name: string; driver: string; scope: string }): string | undefined {
    return network.driver === "overlay" && network.scope === "swarm"
        ? undefined
        : `${setting} ${JSON.stringify(network.name)} is a ${network.driver} network of scope ${network.scope}: on a swarm it must be an overlay network, which services on every node can join; ${makeOverlay(network.name)}`;
}

const makeOverlay = (name: string) => `make it on the manager with docker network create --driver overlay --subnet <a CIDR> ${name}`;

/**
 * The id of a network the stack does not make (the federation network), read on every run: an overlay network of the
 * swarm, which every node's tasks can join. Anything else fails the run before anything is made, naming the setting.
 */
export function existingOverlayId(setting: string, network: pulumi.Input<string>, parent: pulumi.Resource): pulumi.Output<string> {
    return pulumi.output(network).apply(async (name) => {
        const found = await docker.getNetwork({ name }, { parent }).catch((error: unknown) => {
            throw userError(`${setting} ${JSON.stringify(name)} cannot be read on this swarm manager (${String(error).split("\n")[0]}): ${makeOverlay(name)}`);
        });
        const problem = overlayProblem(setting, { name, driver: found.driver, scope: found.scope });
        if (problem !== undefined) {
            throw userError(problem);
        }
        return found.id;
    });
}
