import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { shellLine } from "../runtime/helper";
import { fingerprint, pythonFromStdin, scriptInput, shellQuote } from "../runtime/scripts";
import { userError } from "../runtime/errors";
import { SERVICE_LABEL } from "../runtime/labels";
import { DEFAULTS } from "../homeserver/rules";

/** Where the stack records which account it made admin, so a renamed admin does not stay behind. */
export const ADMIN_RECORD_PATH = "/data/synapse-stack-admin";

export interface AdminArgs {
    /** Name of the running homeserver container the admin is ensured through. */
    containerName: pulumi.Input<string>;
    /** The container's id: a new container (or a new volume under it) re-runs the ensure step. */
    containerId: pulumi.Input<string>;
    /**
     * On a swarm, main's service: the step reaches its running task on this engine, found when the step runs (a task
     * replaced since the last `up`, by a restore or a restart, has another name).
     */
    service?: pulumi.Input<string>;
    /** User id the homeserver runs as; the step runs as the same user inside the container. Default 1000. */
    uid?: pulumi.Input<number>;
    /** Group id the homeserver runs as. Default 1000. */
    gid?: pulumi.Input<number>;
    /** Config files the homeserver runs with, in order; the script reads the shared secret and server name from them. */
    configPaths: pulumi.Input<string[]>;
    /** The admin's localpart. Default admin. */
    adminUser?: pulumi.Input<string>;
    /** The admin's full Matrix user id, checked against what the step reports. */
    adminUserId: pulumi.Input<string>;
    /** Changing this label generates a new password; the old one stops working. Default "1". */
    passwordVersion?: pulumi.Input<string>;
    /** The secret key of the stack's fingerprints (see fingerprint). */
    fingerprintKey: pulumi.Input<string>;
}

/**
 * The first admin: a random password (secret from the start) and a command that makes the account exist, be an
 * admin and have exactly that password. The password travels on the command's stdin, never in an argument or log;
 * the step's own messages (stderr, which never holds the password) are shown, so a failure says why.
 */
export class Admin extends pulumi.ComponentResource {
    /** The admin's Matrix user id, e.g. @admin:matrix.example.org. */
    public readonly userId: pulumi.Output<string>;
    /** The admin's password (secret). */
    public readonly password: pulumi.Output<string>;
    /** The id of the signing key the running homeserver has, as the step read it (after a restore, the restored one). */
    public readonly signingKeyId: pulumi.Output<string>;

    constructor(name: string, args: AdminArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synapse:index:Admin", name, {}, opts);

        const password = new random.RandomPassword(
            `${name}-password`,
            // Letters and digits only: no character needs escaping anywhere the password is typed or pasted.
            { length: 32, special: false, keepers: { version: pulumi.output(args.passwordVersion ?? DEFAULTS.adminPasswordVersion) } },
            { parent: this },
        );
        this.password = pulumi.secret(password.result);

        const ensureAdmin = pulumi.all([args.containerName, args.service, args.uid ?? DEFAULTS.uid, args.gid ?? DEFAULTS.gid]).apply(([container, service, uid, gid]) => {
            // As the homeserver's own user: the step needs to read its config, and nothing root may do.
            const exec = (target: string) => `${shellLine(["docker", "exec", "-i", "-u", `${uid}:${gid}`])} ${target} ${shellLine(["python3", "-c", pythonFromStdin("ensure_admin.py")])}`;
            // `up` waits here for Synapse to serve; if it does not (a config it refuses, a database too new for it),
            // its own last words say why.
            const lastWords = (target: string) => `{ status=$?; echo "the homeserver's last log lines:" >&2; docker logs --tail 25 ${target} >&2 2>&1; exit $status; }`;
            if (service === undefined) {
                return `${exec(shellQuote(container))} || ${lastWords(shellQuote(container))}`;
            }
            return (
                `task=$(docker ps --filter ${shellQuote(`label=${SERVICE_LABEL}=${service}`)} --filter status=running --format '{{.Names}}' | head -n 1); ` +
                `[ -n "$task" ] || { echo "service ${service} has no running task on this Docker engine" >&2; exit 1; }; ${exec('"$task"')} || ${lastWords('"$task"')}`
            );
        });
        const stdin = scriptInput(
            "ensure_admin.py",
            pulumi.all([args.adminUser ?? DEFAULTS.adminUser, this.password, args.configPaths]).apply(([user, secret, configPaths]) => ({
                user,
                password: secret,
                configPaths,
                recordPath: ADMIN_RECORD_PATH,
            })),
        );
        const ensure = new command.local.Command(
            `${name}-ensure`,
            {
                create: ensureAdmin,
                stdin,
                // stderr carries progress and errors and never the password; stdout is not shown.
                logging: "stderr",
                // A new container, password or script re-runs the step as a create, which is retried after a failure.
                triggers: [args.containerId, fingerprint(pulumi.concat(ensureAdmin, stdin), args.fingerprintKey)],
            },
            { parent: this, additionalSecretOutputs: ["stdin"] },
        );

        // The command's output is secret because its stdin is; the user id it reports is not, and is checked here.
        const reported = pulumi.unsecret(ensure.stdout).apply((stdout) => stdout.trim().split("\n"));
        this.userId = pulumi.all([reported, args.adminUserId]).apply(([[userId], expected]) => {
            if (userId !== expected) {
                throw userError(`ensuring the admin reported "${userId}", expected ${expected}`);
            }
            return userId;
        });
        this.signingKeyId = reported.apply(([, keyId]) => keyId ?? "");
        this.registerOutputs({ userId: this.userId, password: this.password, signingKeyId: this.signingKeyId });
    }
}
