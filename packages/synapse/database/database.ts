import * as crypto from "node:crypto";
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { containerHardening, type Hardening } from "../runtime/hardening";
import { imageResource } from "../runtime/images";
import { VolumeFile } from "../storage/files";
import { LABEL_PREFIX, labelList, ownerLabels } from "../runtime/labels";
import { PidsLimit } from "../runtime/limits";
import type { DatabaseConfig } from "../homeserver/overlay";
import { fingerprint, fingerprintKey as keyOf, shellQuote } from "../runtime/scripts";
import { DataVolume } from "../storage/storage";
import { DEFAULTS } from "../homeserver/rules";

/** Where the data volume is mounted: the image's VOLUME, so no anonymous volume is made beside it. */
export const VOLUME_PATH = "/var/lib/postgresql/data";
/** The cluster lives one level down, so the volume's root can hold the password file initdb reads once. */
export const PGDATA = `${VOLUME_PATH}/pgdata`;
const PASSWORD_FILE_NAME = "synapse-password";
const PASSWORD_FILE = `${VOLUME_PATH}/${PASSWORD_FILE_NAME}`;

/**
 * PostgreSQL runs as its own user (999 in the official image and the local build) from the first instruction, so
 * it needs no capability; it writes to its volume, its socket directory and /tmp. One process per connection
 * (Synapse's pool holds at most 10) plus a handful of workers.
 */
export const DATABASE_HARDENING: Hardening = {
    pidsLimit: 256,
    tmpfs: { "/var/run/postgresql": "rw,nosuid,nodev,mode=1777,size=16m", "/tmp": "rw,nosuid,nodev,size=64m" },
};

/**
 * PostgreSQL's SCRAM-SHA-256 verifier of a password (what ALTER ROLE ... PASSWORD accepts in place of the password):
 * RFC 5802 keys over PBKDF2 with 4096 rounds. The salt comes from the password itself, so the same password gives
 * the same verifier and an unchanged stack plans no change.
 */
export function scramVerifier(password: string): string {
    const iterations = 4096;
    const salt = crypto.createHash("sha256").update(`synapse-stack salt:${password}`).digest().subarray(0, 16);
    const salted = crypto.pbkdf2Sync(password, salt, iterations, 32, "sha256");
    const clientKey = crypto.createHmac("sha256", salted).update("Client Key").digest();
    const storedKey = crypto.createHash("sha256").update(clientKey).digest();
    const serverKey = crypto.createHmac("sha256", salted).update("Server Key").digest();
    return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

/**
 * What the password step sends psql on stdin: sets `role`'s password to a SCRAM verifier. On failure the step prints
 * psql's errors and the server's last log lines, and PostgreSQL logs a failing statement with its error
 * (log_min_error_statement): so psql reports errors without the statement's text, and this session logs no
 * statement, failing, slow or sampled. Only a superuser (the role POSTGRES_USER creates) may set these.
 */
export function passwordStatements(role: string, verifier: string): string {
    if (!/^[a-z_][a-z0-9_]*$/.test(role)) {
        throw new Error(`passwordStatements: role "${role}" is not a plain lower-case SQL identifier`);
    }
    if (!/^SCRAM-SHA-256\$\d+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/.test(verifier)) {
        throw new Error("passwordStatements: the verifier (not shown) is not in PostgreSQL's SCRAM-SHA-256 form");
    }
    return [
        "\\set VERBOSITY terse",
        "SET log_statement = 'none';",
        "SET log_min_error_statement = 'panic';",
        "SET log_min_duration_statement = -1;",
        "SET log_min_duration_sample = -1;",
        "SET log_transaction_sample_rate = 0;",
        `ALTER ROLE ${role} WITH PASSWORD '${verifier}';`,
        "",
    ].join("\n");
}

/** Synapse's `database:` block for a server at `host` (secret: it holds the password). */
export function synapseDatabaseConfig(host: pulumi.Input<string>, password: pulumi.Input<string>): pulumi.Output<DatabaseConfig> {
    return pulumi.secret(
        pulumi.all([host, password]).apply(([server, secret]): DatabaseConfig => ({
            name: "psycopg2",
            args: {
                user: "synapse",
                password: secret,
                dbname: "synapse",
                host: server,
                port: 5432,
                cp_min: 5,
                cp_max: 10,
                keepalives_idle: 10,
                keepalives_interval: 10,
                keepalives_count: 3,
            },
        })),
    );
}

/**
 * Waits until the server in container `server` answers over TCP (the entrypoint's first-run server listens on its
 * socket only), then sets the password: a kept or adopted volume was initialised with another. As a SCRAM verifier,
 * so not even PostgreSQL's own log could ever show the password. Runs again when `trigger` or the password changes.
 */
export function passwordStep(
    name: string,
    args: { server: pulumi.Input<string>; password: pulumi.Input<string>; fingerprintKey: pulumi.Input<string>; trigger: pulumi.Input<string> },
    parent: pulumi.Resource,
): command.local.Command {
    return new command.local.Command(
        name,
        {
            create: pulumi.output(args.server).apply(shellQuote).apply(
                (server) =>
                    `for i in $(seq 600); do docker exec ${server} pg_isready --quiet --host=127.0.0.1 && break; sleep 0.2; done; ` +
                    `docker exec -i ${server} psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 --host=127.0.0.1 --username=synapse --dbname=synapse ` +
                    `|| { status=$?; echo "PostgreSQL's last log lines:" >&2; docker logs --tail 25 ${server} >&2 2>&1; exit $status; }`,
            ),
            stdin: pulumi.secret(pulumi.output(args.password).apply((secret) => passwordStatements("synapse", scramVerifier(secret)))),
            logging: "stderr",
            triggers: [args.trigger, fingerprint(args.password, args.fingerprintKey)],
        },
        { parent, additionalSecretOutputs: ["stdin"] },
    );
}

export interface DatabaseArgs {
    /** PostgreSQL image (official or with its interface), major 14 or newer. Default POSTGRES_IMAGE. */
    image?: pulumi.Input<string>;
    /** Name of the data volume, recorded by the homeserver's VolumeLedger; an existing one is adopted. Default `<name>-db`. */
    volumeName?: pulumi.Input<string>;
    /** Name of the container, which is also its host name on the network. Default `<name>-db`. */
    containerName?: pulumi.Input<string>;
    /** The private network shared only with the homeserver. */
    networkName: pulumi.Input<string>;
    /** Owner labels; the role is added. */
    labels: { project: string; stack: string };
    /** The secret key of the stack's fingerprints. Default: a random key of its own. */
    fingerprintKey?: pulumi.Input<string>;
}

/**
 * A PostgreSQL server for Synapse: its own volume (as safe as the homeserver's), a private network, a random
 * password that reaches PostgreSQL as a file and Synapse in its secret config, and a database created as Synapse
 * requires (UTF8, C collation and ctype). Healthy before anything that uses it starts.
 */
export class Database extends pulumi.ComponentResource {
    /** The host name the homeserver reaches the server at. */
    public readonly host: pulumi.Output<string>;
    /** The data volume's name. */
    public readonly volumeName: pulumi.Output<string>;
    /** Synapse's `database:` block (secret: it holds the password); known before the server runs. */
    public readonly synapseConfig: pulumi.Output<DatabaseConfig>;
    /** Done once the server answers on the network with the password set: what Synapse must wait for. */
    public readonly ready: command.local.Command;

    constructor(name: string, args: DatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synapse:index:Database", name, {}, opts);

        const volume = new DataVolume(
            `${name}-data`,
            {
                volumeName: args.volumeName ?? `${name}-db`,
                labels: ownerLabels(args.labels.project, args.labels.stack, "database"),
            },
            { parent: this },
        );

        const fingerprintKey = args.fingerprintKey ?? keyOf(`${name}-fingerprint-key`, this);
        const password = new random.RandomPassword(`${name}-password`, { length: 32, special: false }, { parent: this });
        const image = imageResource(`${name}-image`, args.image ?? DEFAULTS.postgres.image, this);

        // Read once, by initdb, as the server's own user; the file stays in the volume (which holds the data anyway).
        const passwordFile = new VolumeFile(
            `${name}-password-file`,
            {
                image: image.imageId,
                volumeName: volume.volumeName,
                mountPath: VOLUME_PATH,
                path: PASSWORD_FILE_NAME,
                content: password.result,
                user: "999:999",
                fingerprintKey,
            },
            { parent: this },
        );

        const container = new docker.Container(
            `${name}-server`,
            {
                name: args.containerName ?? `${name}-db`,
                image: image.imageId,
                user: "999:999",
                envs: [
                    "POSTGRES_USER=synapse",
                    "POSTGRES_DB=synapse",
                    `POSTGRES_PASSWORD_FILE=${PASSWORD_FILE}`,
                    // Synapse refuses any other encoding or locale; initdb in a bare Debian root would pick SQL_ASCII.
                    "POSTGRES_INITDB_ARGS=--encoding=UTF8 --locale=C",
                    `PGDATA=${PGDATA}`,
                ],
                volumes: [{ volumeName: volume.volumeName, containerPath: VOLUME_PATH }],
                networksAdvanced: [{ name: args.networkName }],
                restart: "unless-stopped",
                // For `docker ps` and monitoring. `up` does not wait on it: the password step below polls the server
                // every fifth of a second, where Docker's probe interval would add up to a whole one.
                healthcheck: {
                    tests: ["CMD", "pg_isready", "--host=127.0.0.1", "--username=synapse", "--dbname=synapse"],
                    interval: "5s",
                    timeout: "5s",
                    retries: 3,
                },
                wait: false,
                // A clean shutdown (SIGINT, the image's stop signal) with time to checkpoint, never a kill mid-write.
                destroyGraceSeconds: 60,
                ...containerHardening(DATABASE_HARDENING),
                labels: [
                    ...labelList(ownerLabels(args.labels.project, args.labels.stack, "database")),
                    // Data flow from the password file: the server starts only once it is written.
                    { label: `${LABEL_PREFIX}.config`, value: passwordFile.fingerprint },
                ],
            },
            { parent: this, deleteBeforeReplace: true, replaceOnChanges: ["healthcheck"] },
        );
        const applyPassword = passwordStep(`${name}-password-apply`, { server: container.name, password: password.result, fingerprintKey, trigger: container.id }, this);
        new PidsLimit(`${name}-pids`, { containerName: container.name, containerId: container.id, limit: DATABASE_HARDENING.pidsLimit }, { parent: this });

        this.host = container.name;
        this.volumeName = volume.volumeName;
        this.ready = applyPassword;
        // From the names and the password alone, so Synapse's config is written while PostgreSQL still starts.
        this.synapseConfig = synapseDatabaseConfig(args.containerName ?? `${name}-db`, password.result);
        this.registerOutputs({ host: this.host, volumeName: this.volumeName });
    }
}
