// The scripts the package ships (scripts/) and how a container runs one from stdin. Free of the Pulumi SDK, which
// takes a second to load: the operations (backup, restore, port) are plain Node.js programs that use these too.
import * as fs from "node:fs";
import * as path from "node:path";

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

/** What pythonFromStdin reads: the request as one JSON line, then the script. */
export function scriptStdin(scriptName: string, request: Record<string, unknown>): string {
    return `${JSON.stringify(request)}\n${readScript(scriptName)}`;
}
