import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";

/**
 * The one-liner that runs a script sent on stdin: the first line is the JSON request (it may hold secrets, so it
 * never goes into an argument), the rest is the script. Changing a script changes only stdin, so nothing that runs
 * it has to be restarted.
 */
export function pythonFromStdin(scriptName: string): string {
    return `import json,sys; request = json.loads(sys.stdin.readline()); exec(compile(sys.stdin.read(), "${scriptName}", "exec"))`;
}

/** The package's own folder (with package.json and scripts/), from its sources or its compiled bin/ alike. */
export const PACKAGE_ROOT = ((): string => {
    let dir = __dirname;
    while (!fs.existsSync(path.join(dir, "package.json")) && path.dirname(dir) !== dir) {
        dir = path.dirname(dir);
    }
    return dir;
})();

/** The text of a script the package ships (scripts/). */
export function readScript(name: string): string {
    return fs.readFileSync(path.join(PACKAGE_ROOT, "scripts", name), "utf8");
}

/** The stdin for pythonFromStdin: secret, since the request usually is. */
export function scriptInput(scriptName: string, request: pulumi.Input<Record<string, unknown>>): pulumi.Output<string> {
    const script = readScript(scriptName);
    return pulumi.secret(pulumi.output(request).apply((value) => `${JSON.stringify(value)}\n${script}`));
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

/** Quotes a value for /bin/sh; names and ids are validated already, this keeps it so. */
export function shellQuote(value: string): string {
    return /^[A-Za-z0-9_./:=@%+,-]+$/.test(value) ? value : `'${value.replace(/'/g, "'\\''")}'`;
}
