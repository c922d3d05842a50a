import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { labelList } from "./labels";

export interface DataVolumeArgs {
    /** Docker volume name. An existing volume of that name (a manual deployment's) is adopted with its data. */
    volumeName: pulumi.Input<string>;
    /** Keep the volume, and so the data, when the stack is destroyed. Default false. */
    retainOnDestroy?: boolean;
    /** Owner labels for a volume the stack creates (an adopted volume keeps the labels it has). */
    labels: pulumi.Input<Record<string, string>>;
}

/**
 * A named volume that holds a user's data. Only `destroy` may delete it, and only without retainOnDestroy:
 * no property difference ever plans a replacement. An adopted volume has no owner labels and Docker cannot add them,
 * so after a refresh its labels differ from the program's, and the provider would replace it (labels, like every
 * volume property, force a new volume), deleting the data. The stack refuses a changed volume name up front.
 */
export class DataVolume extends pulumi.ComponentResource {
    /** The volume's name, for mounts and for the operator. */
    public readonly volumeName: pulumi.Output<string>;

    constructor(name: string, args: DataVolumeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synapse:index:DataVolume", name, {}, opts);

        const volume = new docker.Volume(
            `${name}-volume`,
            {
                name: args.volumeName,
                labels: pulumi.output(args.labels).apply(labelList),
            },
            { parent: this, retainOnDelete: args.retainOnDestroy ?? false, ignoreChanges: ["*"] },
        );

        this.volumeName = volume.name;
        this.registerOutputs({ volumeName: this.volumeName });
    }
}
