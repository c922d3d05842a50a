import * as pulumi from "@pulumi/pulumi";

/**
 * An error for the user, shown as its message alone (as Pulumi shows every RunError). It carries no stack: the
 * SDK formats an uncaught error's stack with util.inspect even when it prints only the message, and under the
 * Pulumi runtime on Node.js 20 that took 20 s of CPU per failure here (measured), so a refused `up` took 25 s.
 */
export function userError(message: string): pulumi.RunError {
    const error = new pulumi.RunError(message);
    error.stack = "";
    return error;
}

/** An error for the user about a component's arguments, named after the component; shown as its message alone. */
export function argumentError(message: string, resource: pulumi.Resource): pulumi.ResourceError {
    const error = new pulumi.ResourceError(message, resource, true);
    error.stack = "";
    return error;
}
