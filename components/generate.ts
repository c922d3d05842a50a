import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";

export interface GenerateConfigArgs {
    /** Synapse image (official or compatible) whose `generate` mode writes the config. */
    image: pulumi.Input<string>;
    /** The Matrix server name baked into the generated config and signing key. */
    serverName: string;
    /** Whether the generated config reports usage statistics (the overlay has the final say). */
    reportStats: boolean;
    /** IANA time zone for the container. */
    timezone: string;
    /** User id that will own the generated files; must match the homeserver's. */
    uid: number;
    /** Group id that will own the generated files; must match the homeserver's. */
    gid: number;
    /** The data volume to write into, mounted at /data. */
    volumeName: pulumi.Input<string>;
    /** Container name of the one-shot run. */
    containerName: string;
    /** Owner labels put on the container. */
    labels: docker.types.input.ContainerLabel[];
}

/**
 * Runs the image once in `generate` mode to write homeserver.yaml, the log config and the signing key into the volume.
 * Generation keeps files that already exist, so re-running it on a volume with data is harmless.
 */
export class GenerateConfig extends pulumi.ComponentResource {
    /** Resolves to the one-shot container's id once it exited 0; fails the deployment, with its output, otherwise. */
    public readonly generatedBy: pulumi.Output<string>;

    constructor(name: string, args: GenerateConfigArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synapse:index:GenerateConfig", name, {}, opts);

        const run = new docker.Container(
            `${name}-run`,
            {
                name: args.containerName,
                image: args.image,
                command: ["generate"],
                envs: [
                    `SYNAPSE_SERVER_NAME=${args.serverName}`,
                    `SYNAPSE_REPORT_STATS=${args.reportStats ? "yes" : "no"}`,
                    "SYNAPSE_HTTP_PORT=8008",
                    "SYNAPSE_CONFIG_DIR=/data",
                    "SYNAPSE_DATA_DIR=/data",
                    `TZ=${args.timezone}`,
                    // The same ids as the homeserver: files it cannot read are the classic failure of this recipe.
                    `UID=${args.uid}`,
                    `GID=${args.gid}`,
                ],
                volumes: [{ volumeName: args.volumeName, containerPath: "/data" }],
                // A one-shot container: wait for it to exit and keep its output; the provider cannot `rm` an attached one.
                attach: true,
                mustRun: false,
                logs: true,
                labels: args.labels,
            },
            { parent: this, deleteBeforeReplace: true },
        );

        // The provider does not fail on a non-zero exit code, so the check lives here, on the data path of the homeserver.
        this.generatedBy = pulumi.all([run.id, run.exitCode, run.containerLogs]).apply(([id, exitCode, logs]) => {
            if (exitCode !== undefined && exitCode !== 0) {
                throw new pulumi.RunError(
                    `${args.containerName} exited with code ${exitCode}; its output:\n${logs ?? "(no output)"}`,
                );
            }
            return id;
        });

        this.registerOutputs({ generatedBy: this.generatedBy });
    }
}
