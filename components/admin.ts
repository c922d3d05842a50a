import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";

/** Where the homeserver container holds the admin script (uploaded with the container). */
export const ENSURE_ADMIN_PATH = "/stack/ensure_admin.py";

export interface AdminArgs {
    /** Name of the running homeserver container the admin is ensured through. */
    containerName: pulumi.Input<string>;
    /** The container's id: a new container (or a new volume under it) re-runs the ensure step. */
    containerId: pulumi.Input<string>;
    /** Config files the homeserver runs with, in order; the script reads the shared secret and server name from them. */
    configPaths: string[];
    /** The admin's localpart. */
    adminUser: string;
    /** The admin's full Matrix user id. */
    adminUserId: string;
    /** Changing this label generates a new password; the old one stops working. */
    passwordVersion: string;
}

/**
 * The first admin: a random password (secret from the start) and a command that makes the account exist, be an
 * admin and have exactly that password. The password travels on the command's stdin, never in an argument or log.
 */
export class Admin extends pulumi.ComponentResource {
    /** The admin's Matrix user id, e.g. @admin:matrix.example.org. */
    public readonly userId: pulumi.Output<string>;
    /** The admin's password (secret). */
    public readonly password: pulumi.Output<string>;

    constructor(name: string, args: AdminArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synapse:index:Admin", name, {}, opts);

        const password = new random.RandomPassword(
            `${name}-password`,
            // Letters and digits only: no character needs escaping anywhere the password is typed or pasted.
            { length: 32, special: false, keepers: { version: args.passwordVersion } },
            { parent: this },
        );
        this.password = pulumi.secret(password.result);

        const ensureAdmin = pulumi.interpolate`docker exec -i ${args.containerName} python3 ${ENSURE_ADMIN_PATH} ${args.configPaths.join(" ")}`;
        const ensure = new command.local.Command(
            `${name}-ensure`,
            {
                create: ensureAdmin,
                update: ensureAdmin,
                stdin: pulumi.secret(pulumi.jsonStringify({ user: args.adminUser, password: this.password })),
                triggers: [args.containerId],
                logging: "none",
            },
            { parent: this, additionalSecretOutputs: ["stdin"] },
        );

        // The command's output is secret because its stdin is; the user id it reports is not, and is checked here.
        this.userId = pulumi.unsecret(ensure.stdout).apply((stdout) => {
            const reported = stdout.trim();
            if (reported !== args.adminUserId) {
                throw new pulumi.RunError(`ensuring the admin reported "${reported}", expected ${args.adminUserId}`);
            }
            return reported;
        });
        this.registerOutputs({ userId: this.userId, password: this.password });
    }
}
