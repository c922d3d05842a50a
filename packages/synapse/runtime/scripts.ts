import * as crypto from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { scriptStdin } from "./script-files";

// Where they have always been imported from; they live where the operations can load them without the Pulumi SDK.
export { PACKAGE_ROOT, pythonFromStdin, readScript } from "./script-files";
export { shellQuote } from "./helper";

/** The stdin for pythonFromStdin: secret, since the request usually is. */
export function scriptInput(scriptName: string, request: pulumi.Input<Record<string, unknown>>): pulumi.Output<string> {
    return pulumi.secret(pulumi.output(request).apply((value) => scriptStdin(scriptName, value)));
}

/** A short fingerprint of a text: HMAC-SHA-256 under a key, in hex, cut to 16 characters. */
export function keyedHash(text: string, key: string): string {
    return crypto.createHmac("sha256", key).update(text).digest("hex").slice(0, 16);
}

/**
 * A short fingerprint of a value, for triggers, labels and file names. Keyed with a random per-stack secret: an
 * unkeyed hash of a config holding a low-entropy secret (an SMTP password) would let whoever reads a label or the
 * state test guesses offline; without the key, the fingerprint says nothing but "changed" or "same".
 */
export function fingerprint(value: pulumi.Input<string>, key: pulumi.Input<string>): pulumi.Output<string> {
    return pulumi.unsecret(pulumi.all([value, key]).apply(([text, secret]) => keyedHash(text, secret)));
}

/** The random key of a stack's fingerprints, kept as a Pulumi secret; made once, never rotated by a change. */
export function fingerprintKey(name: string, parent: pulumi.Resource): pulumi.Output<string> {
    return new random.RandomPassword(name, { length: 32, special: false }, { parent }).result;
}
