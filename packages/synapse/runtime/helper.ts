// One way to run a helper container. The operations (backup, restore, the port) and the one-shot steps (generate,
// files written into volumes) build every throwaway `docker run` here, so each gets the shared hardening and none
// can carry a secret in its arguments. No Pulumi SDK here: the operations, plain Node.js programs, load this module.
import { type Hardening, runFlags } from "./hardening";
import { pythonFromStdin } from "./script-files";

/** A volume a helper sees. */
export interface HelperMount {
    /** The volume's name. */
    volume: string;
    /** Where the helper sees it. */
    target: string;
    /** Whether the helper may write to it. Default false: a helper that only reads cannot damage the data. */
    writable?: boolean;
}

/** A throwaway container: what it runs, as whom, on what, and how it is confined. */
export interface HelperSpec {
    /** The image, by id or reference. */
    image: string;
    /** The program it runs instead of the image's entrypoint. */
    entrypoint: string;
    /** The program's arguments. Default none. */
    args?: string[];
    /** The user:group it runs as. */
    user: string;
    /** Capabilities kept, scratch space on the read-only root, and limits. */
    hardening: Hardening;
    /** The network it joins. Default none. */
    network?: string;
    /** The volumes it sees. Default none. */
    mounts?: HelperMount[];
    /** Whether it reads stdin (`-i`). Default false. */
    stdin?: boolean;
    /**
     * Variables it gets, by name only (`-e NAME`): each value comes from the environment of the `docker` process, so
     * no value, secret or not, is ever an argument. Default none.
     */
    env?: string[];
    /** The container's name. Default none: Docker picks one. */
    name?: string;
    /** Whether the exited container stays, for `docker logs`. Default false: it is removed when it exits. */
    keep?: boolean;
    /** Labels on the container. Default none. */
    labels?: Record<string, string>;
}

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The `docker` arguments, from `run` on, that start the helper. */
export function helperArgs(spec: HelperSpec): string[] {
    const notNames = (spec.env ?? []).filter((name) => !VARIABLE_NAME.test(name));
    if (notNames.length > 0) {
        // What follows a "=" may be a secret: the message shows the part before it only.
        const shown = notNames.map((entry) => (entry.includes("=") ? `${entry.slice(0, entry.indexOf("="))}=…` : JSON.stringify(entry)));
        throw new Error(`a helper gets variables by name, their values from the environment of docker; not a name: ${shown.join(", ")}`);
    }
    return [
        "run",
        ...(spec.keep ? [] : ["--rm"]),
        ...(spec.stdin ? ["-i"] : []),
        ...(spec.name !== undefined ? ["--name", spec.name] : []),
        ...Object.entries(spec.labels ?? {}).flatMap(([key, value]) => ["--label", `${key}=${value}`]),
        "--network", spec.network ?? "none",
        "--user", spec.user,
        ...runFlags(spec.hardening),
        ...(spec.mounts ?? []).flatMap((mount) => ["-v", `${mount.volume}:${mount.target}${mount.writable ? "" : ":ro"}`]),
        ...(spec.env ?? []).flatMap((name) => ["-e", name]),
        "--entrypoint", spec.entrypoint,
        spec.image,
        ...(spec.args ?? []),
    ];
}

/** The helper as one /bin/sh command line, for the command provider, which runs a string. */
export function helperCommand(spec: HelperSpec): string {
    return shellLine(["docker", ...helperArgs(spec)]);
}

/**
 * A Python script of the package's scripts/ as a helper's program: the fixed loader is the only argument, and the
 * request and the script arrive on stdin (scriptStdin, or scriptInput for a command).
 */
export function pythonScript(scriptName: string): Pick<HelperSpec, "entrypoint" | "args" | "stdin"> {
    return { entrypoint: "python3", args: ["-c", pythonFromStdin(scriptName)], stdin: true };
}

/** An argv as one /bin/sh command line. */
export function shellLine(argv: string[]): string {
    return argv.map(shellQuote).join(" ");
}

/** Quotes a value for /bin/sh; names and ids are validated already, this keeps it so. */
export function shellQuote(value: string): string {
    return /^[A-Za-z0-9_./:=@%+,-]+$/.test(value) ? value : `'${value.replace(/'/g, "'\\''")}'`;
}
