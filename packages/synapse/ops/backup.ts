#!/usr/bin/env node
// `npm run backup -- --stack <name> [--out <dir>] [--keep <n>]`: a consistent backup of a running stack, without
// stopping it, in one archive with a manifest. Also run by the stack itself before an image change
// (`--container ...`, or on a swarm `--service ...`, with `--reason`): it then prints the archive's path, or nothing before the first deployment.
//
// The database first (Synapse's docs: dump before copying media): PostgreSQL with `pg_dump -Fc`, leaving out the
// data of e2e_one_time_keys_json; SQLite through its online backup API, never a file copy of a live database. Then
// from the data volume: the media store's local_content and local_thumbnails, the signing key, homeserver.yaml and
// the stack's overlay. The archive is mode 0600 in a private folder, written whole or not at all.
import * as fs from "node:fs";
import * as path from "node:path";
import { pythonScript } from "../runtime/helper";
import { readScript, scriptStdin } from "../runtime/script-files";
import {
    containerState,
    containerUser,
    docker,
    dockerToFile,
    main,
    type Manifest,
    OpsError,
    parseArguments,
    privateDirectory,
    projectDirectory,
    runningOverlay,
    say,
    serviceExists,
    serviceFacts,
    sha256,
    type StackFacts,
    stackFacts,
    tar,
} from "./common";
import { helper, queryRow, runScript, synapseRelease } from "./helpers";

export interface BackupOptions {
    facts: StackFacts;
    out: string;
    keep: number;
    reason: string;
}

/** The database's schema version, and the oldest schema a Synapse may know to use it (when the database says). */
function schemaVersions(facts: StackFacts): { version: number; compat?: number } {
    const [version, compat] = queryRow(facts, "SELECT (SELECT version FROM schema_version), (SELECT max(compat_version) FROM schema_compat_version)");
    return { version: Number(version), compat: /^\d+$/.test(compat ?? "") ? Number(compat) : undefined };
}

/** Writes the archive and returns its path. */
export async function backup(options: BackupOptions): Promise<string> {
    const { facts } = options;
    const out = privateDirectory(path.resolve(options.out));
    const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
    const archive = path.join(out, `${facts.stack}-${stamp}.tar.gz`);
    const staging = fs.mkdtempSync(path.join(out, ".backup-"));
    try {
        const { synapseVersion } = synapseRelease(facts);
        if (facts.database === "postgres") {
            say(`dumping PostgreSQL (pg_dump -Fc, without the data of e2e_one_time_keys_json) from ${facts.databaseContainer}`);
            await dockerToFile(
                ["exec", facts.databaseContainer!, "pg_dump", "--format=custom", "--exclude-table-data=e2e_one_time_keys_json", "--username=synapse", "--dbname=synapse"],
                path.join(staging, "database.pgdump"),
            );
        } else {
            say("copying SQLite through its online backup API");
            // Writable: the copy is made on the volume, and a reader of a database in WAL mode writes its shared memory.
            await dockerToFile(helper(facts, pythonScript("sqlite_backup.py"), { data: "writable" }), path.join(staging, "homeserver.db"), scriptStdin("sqlite_backup.py", {}));
        }
        const { version: schema, compat } = schemaVersions(facts);
        say("copying media, signing key and config from the data volume");
        await dockerToFile(
            helper(facts, { entrypoint: "sh", args: ["-s", "--", "/data", facts.serverName], stdin: true }),
            path.join(staging, "data.tar"),
            readScript("data_files.sh"),
        );
        const members = Object.fromEntries(
            fs.readdirSync(staging).map((member) => {
                const file = path.join(staging, member);
                return [member, { sha256: sha256(file), bytes: fs.statSync(file).size }];
            }),
        );
        const manifest: Manifest = {
            format: 1,
            stack: facts.stack,
            serverName: facts.serverName,
            synapseVersion,
            schemaVersion: schema,
            schemaCompatVersion: compat,
            database: facts.database,
            createdAt: new Date().toISOString(),
            reason: options.reason,
            members,
        };
        fs.writeFileSync(path.join(staging, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
        say("writing the archive");
        const partial = `${archive}.partial`;
        fs.writeFileSync(partial, "", { mode: 0o600 });
        tar(["-C", staging, "-czf", partial, "manifest.json", ...Object.keys(members)]);
        fs.chmodSync(partial, 0o600);
        fs.renameSync(partial, archive);
        say(`backup of ${facts.serverName} (Synapse ${synapseVersion}, schema ${schema}, ${facts.database}): ${archive} (${(fs.statSync(archive).size / 1e6).toFixed(1)} MB)`);
        prune(out, facts.stack, options.keep);
        return archive;
    } catch (err) {
        fs.rmSync(`${archive}.partial`, { force: true });
        // A full disk or a failed step: said in one line, with what is left (nothing).
        const reason = err instanceof Error ? err.message : String(err);
        throw new OpsError(`the backup failed, and left nothing in ${out} (no archive, no partial one): ${reason}`);
    } finally {
        fs.rmSync(staging, { recursive: true, force: true });
    }
}

/** Keeps the newest `keep` archives of the stack in the folder. */
function prune(out: string, stack: string, keep: number): void {
    const pattern = new RegExp(`^${stack.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}-\\d{8}T\\d{6}Z\\.tar\\.gz$`);
    const archives = fs.readdirSync(out).filter((file) => pattern.test(file)).sort();
    for (const old of archives.slice(0, Math.max(0, archives.length - keep))) {
        fs.rmSync(path.join(out, old));
        say(`removed the older backup ${old} (keeping ${keep})`);
    }
}

/** The database the homeserver runs on: the overlay its container was made with says postgres, or it is SQLite. */
function runningDatabase(facts: StackFacts): "sqlite" | "postgres" {
    const name = runScript(facts, "running_database.py", { overlay: runningOverlay(facts.container) });
    return name === "psycopg2" ? "postgres" : "sqlite";
}

/** Where the homeserver's own backups before upgrades go (its backupDirectory), else backups/<container> in the project. */
export function configuredDirectory(facts: StackFacts): string {
    return facts.backupDirectory || path.join(projectDirectory(), "backups", facts.container);
}

if (require.main === module) {
    main(async () => {
        const { options } = parseArguments(process.argv.slice(2));
        const keep = Number(options.keep ?? 5);
        if (!Number.isInteger(keep) || keep < 1) {
            throw new OpsError(`--keep ${options.keep} is not valid: expected a whole number of archives, at least 1`);
        }
        let facts: StackFacts;
        if (options.container) {
            // The stack's own pre-upgrade backup: the facts come from the program, mid-update.
            if (containerState(options.container) === "missing") {
                say(`no homeserver ${options.container} yet: nothing to back up`);
                return;
            }
            facts = {
                stack: options.stack ?? options.container,
                serverName: options["server-name"],
                container: options.container,
                volume: options["data-volume"],
                database: "sqlite",
                image: docker(["inspect", "--format", "{{.Image}}", options.container]),
                user: containerUser(options.container),
            };
            // What the running homeserver uses, which a change in progress (a switch to postgres) has not moved yet.
            if (runningDatabase(facts) === "postgres") {
                facts.database = "postgres";
                facts.databaseContainer = `${options.container}-db`;
            }
        } else if (options.service) {
            // The same on a swarm, where the homeserver is a service (on PostgreSQL, as every swarm stack).
            if (!serviceExists(options.service)) {
                say(`no homeserver service ${options.service} yet: nothing to back up`);
                return;
            }
            facts = { stack: options.stack ?? options.service, serverName: options["server-name"], volume: options["data-volume"], ...serviceFacts(options.service) };
        } else if (options.stack) {
            facts = stackFacts(options.stack, options.homeserver);
        } else {
            throw new OpsError("usage: npm run backup -- --stack <name> [--homeserver <name>] [--out <dir>] [--keep <n>]");
        }
        if (facts.database === "postgres" && containerState(facts.databaseContainer!) !== "running") {
            throw new OpsError(`the database container ${facts.databaseContainer} is not running: start the stack (pulumi up) first`);
        }
        const archive = await backup({
            facts,
            out: options.out ?? configuredDirectory(facts),
            keep,
            reason: options.reason ?? "manual",
        });
        process.stdout.write(`${archive}\n`);
    });
}
