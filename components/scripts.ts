import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";

/**
 * The one-liner that runs a script sent on stdin: the first line is the JSON request (it may hold secrets, so it
 * never goes into an argument), the rest is the script. Changing a script changes only stdin, so nothing that runs
 * it has to be restarted.
 */
export function pythonFromStdin(scriptName: string): string {
    return `import json,sys; request = json.loads(sys.stdin.readline()); exec(compile(sys.stdin.read(), "${scriptName}", "exec"))`;
}

function readScript(name: string): string {
    return fs.readFileSync(path.join(__dirname, "scripts", name), "utf8");
}

/** The stdin for pythonFromStdin: secret, since the request usually is. */
export function scriptInput(scriptName: string, request: pulumi.Input<Record<string, unknown>>): pulumi.Output<string> {
    const script = readScript(scriptName);
    return pulumi.secret(pulumi.output(request).apply((value) => `${JSON.stringify(value)}\n${script}`));
}

/** A short fingerprint of a value, for triggers and labels; the fingerprint of a secret reveals nothing of it. */
export function fingerprint(value: pulumi.Input<string>): pulumi.Output<string> {
    return pulumi.unsecret(pulumi.output(value).apply((text) => crypto.createHash("sha256").update(text).digest("hex").slice(0, 16)));
}

/** Quotes a value for /bin/sh; names and ids are validated already, this keeps it so. */
export function shellQuote(value: string): string {
    return /^[A-Za-z0-9_./:=@%+,-]+$/.test(value) ? value : `'${value.replace(/'/g, "'\\''")}'`;
}
