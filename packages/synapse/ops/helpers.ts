// The throwaway helpers the operations run on a stack's data: containers of the stack's own image, built by the one
// module every helper comes from (runtime/helper.ts), each running a script the package ships.
import type { Hardening } from "../runtime/hardening";
import { helperArgs, type HelperSpec, pythonScript } from "../runtime/helper";
import { scriptStdin } from "../runtime/script-files";
import { docker, type StackFacts } from "./common";

/**
 * How the operations' helpers are confined. Some run Synapse's own tools (update_synapse_database, synapse_port_db),
 * hence room for their threads and memory; what they write goes to the data volume, since /tmp is a small tmpfs.
 */
export const HELPER_HARDENING: Hardening = { pidsLimit: 256, tmpfs: { "/tmp": "rw,nosuid,nodev,size=64m" }, memoryMb: 1024 };

export interface HelperOptions {
    /** How the helper sees the data volume at /data. Default read-only. */
    data?: "read-only" | "writable" | "none";
    /** The network it joins. Default none. */
    network?: string;
    /** Variables it gets: names in its arguments, values in the environment of docker only. */
    env?: Record<string, string>;
}

/**
 * `docker run` arguments of a throwaway helper of the stack's image, as the homeserver's user (files it creates must
 * stay the homeserver's), with the shared hardening.
 */
export function helper(facts: StackFacts, program: Pick<HelperSpec, "entrypoint" | "args" | "stdin">, options: HelperOptions = {}): string[] {
    const data = options.data ?? "read-only";
    return helperArgs({
        ...program,
        image: facts.image,
        user: facts.user,
        hardening: HELPER_HARDENING,
        network: options.network,
        mounts: data === "none" ? [] : [{ volume: facts.volume, target: "/data", writable: data === "writable" }],
        env: Object.keys(options.env ?? {}),
    });
}

/** Runs a Python script of the package (scripts/) in a helper, its request on stdin; returns what it printed. */
export function runScript(facts: StackFacts, scriptName: string, request: Record<string, unknown>, options: HelperOptions = {}): string {
    return docker(helper(facts, pythonScript(scriptName), options), { input: scriptStdin(scriptName, request), env: options.env });
}

/**
 * One row of a query on the stack's database, its columns split on white space: PostgreSQL through psql in its
 * container, SQLite in a throwaway helper (the query travels in the request, not inside the Python source).
 */
export function queryRow(facts: StackFacts, sql: string): string[] {
    const answer =
        facts.database === "postgres"
            ? docker(["exec", facts.databaseContainer!, "psql", "--username=synapse", "--dbname=synapse", "-tA", "-F", " ", "-c", sql])
            : // Writable: a reader of a database in WAL mode writes its shared-memory file.
              runScript(facts, "query_row.py", { sql }, { data: "writable" });
    return answer.split(/\s+/);
}

/** The Synapse release of the stack's image and the database schema it knows. */
export function synapseRelease(facts: StackFacts): { synapseVersion: string; schemaVersion: number } {
    const release = JSON.parse(runScript(facts, "synapse_release.py", {}, { data: "none" })) as { version: string; schema: number };
    return { synapseVersion: release.version, schemaVersion: release.schema };
}
