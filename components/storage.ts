import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { labelList } from "./labels";
import { shellQuote } from "./scripts";

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
 *
 * The provider never deletes the volume itself (it waits 2 s before every volume removal, whatever the volume);
 * a command that holds the volume's name removes it on destroy, as soon as no container uses it any more.
 */
export class DataVolume extends pulumi.ComponentResource {
    /** The volume's name, for mounts and for the operator; mounting it orders containers before the removal. */
    public readonly volumeName: pulumi.Output<string>;

    constructor(name: string, args: DataVolumeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synapse:index:DataVolume", name, {}, opts);

        const volume = new docker.Volume(
            `${name}-volume`,
            {
                name: args.volumeName,
                labels: pulumi.output(args.labels).apply(labelList),
            },
            { parent: this, retainOnDelete: true, ignoreChanges: ["*"] },
        );

        const quoted = volume.name.apply(shellQuote);
        const removal = new command.local.Command(
            `${name}-removal`,
            {
                create: pulumi.interpolate`echo ${quoted}`,
                // Changing retention updates this in place (the command is never replaced, so this never runs on an
                // update); the removal waits the moment Docker takes to let go of a just-removed container's mount.
                delete: args.retainOnDestroy
                    ? "true"
                    : pulumi.interpolate`for i in $(seq 100); do docker volume rm ${quoted} >/dev/null 2>&1 && exit 0; docker volume inspect ${quoted} >/dev/null 2>&1 || exit 0; sleep 0.1; done; docker volume rm ${quoted}`,
            },
            { parent: this },
        );

        this.volumeName = removal.stdout;
        this.registerOutputs({ volumeName: this.volumeName });
    }
}
