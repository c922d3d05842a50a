import * as path from "node:path";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { shellLine } from "../runtime/helper";
import { PACKAGE_ROOT, shellQuote } from "../runtime/scripts";
import { DEFAULTS } from "../homeserver/rules";

/** An operation of the package, compiled (bin/ops): it runs with Node.js alone, no TypeScript loader. */
function opsCommand(script: string, options: Record<string, pulumi.Input<string | number>>): pulumi.Output<string> {
    return pulumi
        .output(options)
        .apply((given) =>
            shellLine(["node", path.join(PACKAGE_ROOT, "bin", "ops", `${script}.js`), ...Object.entries(given).flatMap(([key, value]) => [`--${key}`, String(value)])]),
        );
}

export interface UpgradeBackupArgs {
    /** The image (id) the homeserver is about to run: a new one means a backup of the running homeserver first. */
    image: pulumi.Input<string>;
    /** Its reference, for the archive's manifest. */
    imageReference: pulumi.Input<string>;
    /** The homeserver container (absent on a first deployment: nothing to back up then); on a swarm, its service. */
    containerName: pulumi.Input<string>;
    /** Whether the homeserver is a Swarm service. Default false. */
    swarm?: boolean;
    /** Its data volume. */
    volumeName: pulumi.Input<string>;
    /** The Matrix server name. */
    serverName: pulumi.Input<string>;
    /** Where the archives go: a folder only this user can read. */
    directory: pulumi.Input<string>;
    /** How many archives of this stack to keep. Default 5. */
    keep?: pulumi.Input<number>;
    /** The stack's name, in the archives' names. */
    stack: string;
}

/**
 * A backup of the running homeserver taken before its image changes (an upgrade, or a downgrade the database may
 * refuse), with the same tool as `npm run backup`. The homeserver's replacement waits for it; its archive is named in
 * the `up` output and in `archive`.
 */
export class UpgradeBackup extends pulumi.ComponentResource {
    /** The archive written before the last image change, or "" when there was nothing to back up yet. */
    public readonly archive: pulumi.Output<string>;

    constructor(name: string, args: UpgradeBackupArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synapse:index:UpgradeBackup", name, {}, opts);
        const run = new command.local.Command(
            `${name}-run`,
            {
                // Before the first deployment there is nothing to back up, and no Node.js process to start for it.
                create: pulumi.interpolate`docker ${args.swarm ? "service inspect" : "inspect --type container"} ${pulumi.output(args.containerName).apply(shellQuote)} >/dev/null 2>&1 || exit 0; ${opsCommand("backup", {
                    stack: args.stack,
                    [args.swarm ? "service" : "container"]: args.containerName,
                    "data-volume": args.volumeName,
                    "server-name": args.serverName,
                    out: args.directory,
                    keep: args.keep ?? DEFAULTS.backups.keep,
                    reason: pulumi.interpolate`before the image changes to ${args.imageReference}`,
                })}`,
                // Only a new image takes a new backup; the archive's path and the progress are shown.
                triggers: [args.image],
            },
            { parent: this },
        );
        this.archive = run.stdout;
        this.registerOutputs({ archive: this.archive });
    }
}

export interface PortToPostgresArgs {
    /** The Synapse image (it carries synapse_port_db). */
    image: pulumi.Input<string>;
    /** The homeserver container, stopped during the port and started again if it fails. */
    containerName: pulumi.Input<string>;
    /** The data volume with homeserver.db. */
    volumeName: pulumi.Input<string>;
    /** The Matrix server name. */
    serverName: pulumi.Input<string>;
    /** The owner of the data, uid:gid. */
    user: pulumi.Input<string>;
    /** The network PostgreSQL is on. */
    networkName: pulumi.Input<string>;
    /** Synapse's database block for PostgreSQL (secret). */
    databaseConfig: pulumi.Input<unknown>;
    /** Whether the data volume holds SQLite data to move (generate reports it); without, the step does nothing. */
    needed: pulumi.Input<boolean>;
}

/**
 * Moves a homeserver's SQLite data into its new, empty PostgreSQL database with Synapse's own synapse_port_db, when
 * a stack with data switches to postgres. Runs after PostgreSQL is up and the new config is written (to a file of its
 * own, which the running homeserver does not read), before the homeserver is replaced by one that runs on it. A failed
 * port starts the old homeserver again, on SQLite as it was, and fails the step; the next `up` retries it from a new
 * snapshot, into a database emptied of what the failed attempt left.
 */
export class PortToPostgres extends pulumi.ComponentResource {
    /** The port step: what must follow it (the config switch to postgres) depends on it. */
    public readonly step: command.local.Command;

    constructor(name: string, args: PortToPostgresArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synapse:index:PortToPostgres", name, {}, opts);
        this.step = new command.local.Command(
            `${name}-run`,
            {
                // Nothing to move (a new stack, or already ported): a no-op that starts no Node.js process.
                create: pulumi.all([args.needed, opsCommand("port", {
                    container: args.containerName,
                    "data-volume": args.volumeName,
                    image: args.image,
                    network: args.networkName,
                    "server-name": args.serverName,
                    user: args.user,
                })]).apply(([needed, port]) => (needed ? port : "true")),
                stdin: pulumi.secret(pulumi.jsonStringify(args.databaseConfig)),
                // The steps' progress and errors; the database password travels on stdin only.
                logging: "stderr",
            },
            { parent: this, additionalSecretOutputs: ["stdin"] },
        );
        this.registerOutputs({});
    }
}
