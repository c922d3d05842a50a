import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";

export interface DataVolumeArgs {
    /** Docker volume name; unique per stack so two stacks on one host never share data. */
    volumeName: string;
    /** Keep the volume (and so the homeserver's database, keys and media) when the stack is destroyed; default false. */
    retainOnDestroy: boolean;
    /** Owner labels put on the volume. */
    labels: docker.types.input.VolumeLabel[];
}

/** The named volume mounted at /data: config, signing key, SQLite database and media. */
export class DataVolume extends pulumi.ComponentResource {
    /** The volume's name, for mounts and for the operator. */
    public readonly volumeName: pulumi.Output<string>;

    constructor(name: string, args: DataVolumeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synapse:index:DataVolume", name, {}, opts);

        const volume = new docker.Volume(
            `${name}-volume`,
            { name: args.volumeName, labels: args.labels },
            // The name is fixed, so a replacement must free it first; retention keeps the data past `destroy`.
            { parent: this, deleteBeforeReplace: true, retainOnDelete: args.retainOnDestroy },
        );

        this.volumeName = volume.name;
        this.registerOutputs({ volumeName: this.volumeName });
    }
}
