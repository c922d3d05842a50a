import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { shellQuote } from "./scripts";

export interface PidsLimitArgs {
    /** Name of the running container to limit. */
    containerName: pulumi.Input<string>;
    /** The container's id: a new container gets the limit again. */
    containerId: pulumi.Input<string>;
    /** Most processes and threads the container may run. */
    limit: pulumi.Input<number>;
}

/**
 * A pids limit on a running container. The docker provider cannot set one (its container has no such property), so
 * `docker update` does, once per container; a fork bomb in the container then stops at the limit, not at the host's.
 */
export class PidsLimit extends pulumi.ComponentResource {
    constructor(name: string, args: PidsLimitArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synapse:index:PidsLimit", name, {}, opts);
        const update = pulumi
            .all([args.containerName, args.limit])
            .apply(([container, limit]) => `docker update --pids-limit ${limit} ${shellQuote(container)} >/dev/null`);
        new command.local.Command(`${name}-update`, { create: update, triggers: [args.containerId, update] }, { parent: this });
        this.registerOutputs({});
    }
}
