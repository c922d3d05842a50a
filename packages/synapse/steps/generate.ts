import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULTS } from "../homeserver/rules";
import type { Hardening } from "../runtime/hardening";
import { helperCommand, pythonScript } from "../runtime/helper";
import { fingerprint, scriptInput, shellQuote } from "../runtime/scripts";

/**
 * Where the stack's overlay configs live: in the data volume, next to the generated homeserver.yaml, one file per
 * config, named by its fingerprint. A container runs with the file it was made with and no other: a new config is a
 * new file (and a new container), so a running homeserver that restarts never picks up a config meant for a database
 * that is not ready, or not yet ported, and no step ever rewrites a file a container runs with.
 */
export const OVERLAY_DIR = "/data/synapse-stack";
/** Where the overlay of a config with this fingerprint lives. */
export function overlayPath(configFingerprint: string): string {
    return `${OVERLAY_DIR}/config-${configFingerprint}.yaml`;
}
/** Where further files the overlay names (federation CA roots) live, in the data volume. */
export const FILES_DIR = "synapse-stack-files";

/**
 * The one-shot container runs as root to re-own data and let the image's generate drop to UID:GID; these are the only
 * capabilities that needs: CHOWN and FOWNER to give files to UID:GID, DAC_OVERRIDE to read and write files of
 * another owner (an adopted volume), SETUID/SETGID for the image's switch to UID:GID.
 */
export const GENERATE_HARDENING: Hardening = {
    capabilities: ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"],
    pidsLimit: 64,
    tmpfs: { "/tmp": "rw,nosuid,nodev,size=16m" },
    memoryMb: 512,
};

export interface GenerateConfigArgs {
    /** Synapse image (official or compatible, by id or reference) whose `generate` mode writes the config. */
    image: pulumi.Input<string>;
    /** The Matrix server name baked into the generated config and signing key. */
    serverName: pulumi.Input<string>;
    /** Whether the generated config reports usage statistics (the overlay has the final say). Default false. */
    reportStats?: pulumi.Input<boolean>;
    /** IANA time zone of the container. Default UTC. */
    timezone?: pulumi.Input<string>;
    /** User id that owns the data and runs the homeserver. Default 1000. */
    uid?: pulumi.Input<number>;
    /** Group id that owns the data and runs the homeserver. Default 1000. */
    gid?: pulumi.Input<number>;
    /** The data volume to prepare, mounted at /data. */
    volumeName: pulumi.Input<string>;
    /** Name of the one-shot container (kept after it exits, for `docker logs`). */
    containerName: pulumi.Input<string>;
    /** The stack's overlay config (may hold secrets), written to overlayPath (mode 0600). */
    overlay: pulumi.Input<string>;
    /** Where the overlay goes: overlayPath of its fingerprint. */
    overlayPath: pulumi.Input<string>;
    /** Containers whose overlay files stay (the running homeserver): every other overlay file is removed. */
    keepOverlaysOf: pulumi.Input<string>[];
    /** The secret key of the stack's fingerprints. */
    fingerprintKey: pulumi.Input<string>;
    /** Further files for the overlay to name, by file name, written into FILES_DIR (which holds nothing else). */
    files?: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /** Owner labels put on the container. */
    labels: pulumi.Input<Record<string, string>>;
}

/**
 * The recipe's `generate` step, safe to repeat: a one-shot container (no network, no capabilities beyond what
 * re-owning needs) refuses a volume of another server name, re-owns data of another uid/gid, runs the image's
 * `generate` (which keeps existing files) and writes the overlay config.
 *
 * It runs through the Docker CLI rather than as a container resource: a failure then leaves nothing recorded, so the
 * next `up` simply tries again, and `docker container prune` removing the exited container changes nothing.
 */
export class GenerateConfig extends pulumi.ComponentResource {
    /** The server name of the prepared data. */
    public readonly serverName: pulumi.Output<string>;
    /** The id of the homeserver's signing key, e.g. ed25519:a_AbCd (its identity to other servers). */
    public readonly signingKeyId: pulumi.Output<string>;
    /** Whether the volume holds SQLite data not yet moved to PostgreSQL (what a switch to postgres must port). */
    public readonly sqliteData: pulumi.Output<boolean>;
    /** The id of this run: new whenever the step ran again, so what starts on its result can follow it. */
    public readonly runId: pulumi.Output<string>;

    constructor(name: string, args: GenerateConfigArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synapse:index:GenerateConfig", name, {}, opts);

        const settings = {
            containerName: args.containerName,
            image: args.image,
            volumeName: args.volumeName,
            serverName: args.serverName,
            reportStats: args.reportStats ?? DEFAULTS.reportStats,
            timezone: args.timezone ?? DEFAULTS.timezone,
            uid: args.uid ?? DEFAULTS.uid,
            gid: args.gid ?? DEFAULTS.gid,
            labels: args.labels,
            keepOverlaysOf: pulumi.all(args.keepOverlaysOf),
        };
        // The manual recipe's variables (SYNAPSE_HTTP_PORT and TZ have no effect in generate mode, as upstream).
        const environment = pulumi.output(settings).apply((given): Record<string, string> => ({
            SYNAPSE_SERVER_NAME: given.serverName,
            SYNAPSE_REPORT_STATS: given.reportStats ? "yes" : "no",
            SYNAPSE_HTTP_PORT: "8008",
            SYNAPSE_CONFIG_DIR: "/data",
            SYNAPSE_DATA_DIR: "/data",
            TZ: given.timezone,
            UID: String(given.uid),
            GID: String(given.gid),
        }));
        const create = pulumi.all([settings, environment]).apply(([given, variables]) => {
            const run = helperCommand({
                image: given.image,
                ...pythonScript("configure.py"),
                name: given.containerName,
                keep: true,
                labels: given.labels,
                // Generation needs no network; root only long enough for the image to switch to UID:GID.
                user: "0:0",
                hardening: GENERATE_HARDENING,
                mounts: [{ volume: given.volumeName, target: "/data", writable: true }],
                env: [...Object.keys(variables), "SYNAPSE_STACK_IN_USE"],
            });
            // The arguments of the running homeserver name the overlay it restarts with, which must stay.
            const inUse = given.keepOverlaysOf.length === 0 ? "" :
                `docker inspect --type container --format '{{join .Args " "}}' ${given.keepOverlaysOf.map(shellQuote).join(" ")} 2>/dev/null`;
            // A container left by an interrupted run would block the name.
            return `docker rm -f ${shellQuote(given.containerName)} >/dev/null 2>&1; export SYNAPSE_STACK_IN_USE="$(${inUse || "true"})"; ${run}`;
        });
        const stdin = scriptInput(
            "configure.py",
            pulumi.all([args.serverName, args.volumeName, args.overlay, args.overlayPath, pulumi.output(args.files ?? {})]).apply(([serverName, volumeName, overlay, path, files]) => ({
                serverName,
                volumeName,
                overlay,
                overlayPath: path,
                filesDir: FILES_DIR,
                files,
            })),
        );

        const run = new command.local.Command(
            `${name}-run`,
            {
                create,
                delete: pulumi.interpolate`docker rm -f ${pulumi.output(args.containerName).apply(shellQuote)} >/dev/null`,
                stdin,
                environment,
                // stdout is the JSON result; stderr is the container's own output and the script's messages, never stdin.
                logging: "stderr",
                // Any change re-runs the whole step as a create: a failed create is not recorded, so it is retried.
                triggers: [fingerprint(pulumi.concat(create, stdin, pulumi.jsonStringify(environment)), args.fingerprintKey)],
            },
            { parent: this, deleteBeforeReplace: true, additionalSecretOutputs: ["stdin"] },
        );

        const result = pulumi
            .unsecret(run.stdout)
            .apply((stdout) => JSON.parse(stdout) as { serverName: string; signingKeyId: string; sqliteData?: boolean });
        this.serverName = result.serverName;
        this.signingKeyId = result.signingKeyId;
        this.sqliteData = result.apply((parsed) => parsed.sqliteData === true);
        this.runId = run.id;
        this.registerOutputs({ serverName: this.serverName, signingKeyId: this.signingKeyId, sqliteData: this.sqliteData });
    }
}
