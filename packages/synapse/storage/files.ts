import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { helperCommand } from "../runtime/helper";
import { fingerprint } from "../runtime/scripts";

export interface VolumeFileArgs {
    /** The image to write with (the one that will read the file, so the volume gets that image's layout first). */
    image: pulumi.Input<string>;
    /** The volume to write into. */
    volumeName: pulumi.Input<string>;
    /** Where the volume is mounted, as in the container that reads the file (the image's VOLUME, if it has one). */
    mountPath: string;
    /** The file's path, inside mountPath. */
    path: string;
    /** The file's content; a secret stays one (it travels on stdin). */
    content: pulumi.Input<string>;
    /** The user:group that writes (and so owns) the file. Default 0:0. */
    user?: pulumi.Input<string>;
    /** The secret key of the stack's fingerprints (the content may be a secret). */
    fingerprintKey: pulumi.Input<string>;
}

/**
 * A file written into a volume by a one-shot container, before the container that reads it starts. Docker copies
 * nothing into a container whose root filesystem is read-only, not even onto a volume, so the docker provider's
 * uploads cannot be used there. The content travels on stdin and the file is created mode 0600.
 */
export class VolumeFile extends pulumi.ComponentResource {
    /** A fingerprint of the content: a label with it restarts the reader when the file changes. */
    public readonly fingerprint: pulumi.Output<string>;

    constructor(name: string, args: VolumeFileArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synapse:index:VolumeFile", name, {}, opts);

        const create = pulumi.all([args.image, args.volumeName, args.user ?? "0:0"]).apply(([image, volume, user]) =>
            helperCommand({
                image,
                user,
                stdin: true,
                hardening: { pidsLimit: 16, tmpfs: {}, memoryMb: 64 },
                mounts: [{ volume, target: args.mountPath, writable: true }],
                entrypoint: "sh",
                // A file in a folder makes the folder first (the same mode: its writer's alone).
                args: ["-c", `umask 077 && ${args.path.includes("/") ? 'mkdir -p "${0%/*}" && ' : ""}cat > "$0.tmp" && mv -f "$0.tmp" "$0"`, `${args.mountPath}/${args.path}`],
            }),
        );
        const content = pulumi.output(args.content);
        const write = new command.local.Command(
            `${name}-write`,
            {
                create,
                stdin: content,
                logging: "stderr",
                // Every change is a create, which is retried when it failed.
                triggers: [fingerprint(pulumi.concat(create, content), args.fingerprintKey)],
            },
            { parent: this, additionalSecretOutputs: ["stdin"] },
        );
        this.fingerprint = pulumi.all([write.id, fingerprint(content, args.fingerprintKey)]).apply(([, print]) => print);
        this.registerOutputs({ fingerprint: this.fingerprint });
    }
}
