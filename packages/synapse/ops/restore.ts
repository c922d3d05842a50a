#!/usr/bin/env node
// `npm run restore -- --stack <name> <archive> [--force]`: puts a backup back into a stack with the same server name:
// the database, the media, the signing key and homeserver.yaml. Refused, with nothing changed: an archive whose
// checksums do not match, another server name, another kind of database, a schema newer than the stack's image knows,
// and a stack that already holds data (unless --force, which backs up what it overwrites first and says what it is).
// Synapse's docs: restore into an empty database created UTF8/C, then empty e2e_one_time_keys_json. Afterwards the
// stack's admin gets the stack's password again.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ownerLabels } from "../runtime/labels";
import { backup, configuredDirectory } from "./backup";
import {
    containerState,
    docker,
    dockerFromFile,
    main,
    type Manifest,
    OpsError,
    parseArguments,
    pulumi,
    say,
    scaleServices,
    sha256,
    type StackFacts,
    stackFacts,
    stackResources,
    tar,
} from "./common";
import { helper, queryRow, runScript, synapseRelease } from "./helpers";

/** Where the archive's SQLite database waits in the data volume until it replaces homeserver.db. */
const RESTORING = "homeserver.db.restoring";

/** Extracts and checks an archive: every member present with the checksum its manifest names. */
export function openArchive(archive: string, staging: string): Manifest {
    try {
        tar(["-C", staging, "-xzf", archive]);
    } catch (err) {
        throw new OpsError(`${archive} is not a readable backup archive: ${String(err)}`);
    }
    const manifestFile = path.join(staging, "manifest.json");
    if (!fs.existsSync(manifestFile)) {
        throw new OpsError(`${archive} has no manifest.json: not a backup of this stack`);
    }
    const manifest = JSON.parse(fs.readFileSync(manifestFile, "utf8")) as Manifest;
    for (const [member, expected] of Object.entries(manifest.members)) {
        const file = path.join(staging, member);
        const actual = fs.existsSync(file) ? sha256(file) : "missing";
        if (actual !== expected.sha256) {
            throw new OpsError(`${archive}: ${member} does not match its checksum (manifest ${expected.sha256.slice(0, 12)}…, archive ${actual.slice(0, 12)}…): the archive is damaged; nothing was changed`);
        }
    }
    return manifest;
}

/** How much the stack holds beyond what a fresh `up` makes (its admin): users, rooms and events. */
function holdings(facts: StackFacts): { users: number; rooms: number; events: number } {
    // Every user but the stack's admin and its short-lived bootstrap admins.
    const query =
        "SELECT (SELECT count(*) FROM users WHERE name NOT LIKE '@stack-bootstrap-%') - 1, " +
        "(SELECT count(*) FROM rooms), (SELECT count(*) FROM events)";
    const [users, rooms, events] = queryRow(facts, query).map(Number);
    return { users: Math.max(0, users), rooms, events };
}

async function restoreDatabase(facts: StackFacts, staging: string): Promise<void> {
    if (facts.database === "postgres") {
        const psql = (database: string, sql: string) =>
            docker(["exec", facts.databaseContainer!, "psql", "--username=synapse", `--dbname=${database}`, "-v", "ON_ERROR_STOP=1", "-qc", sql]);
        say("recreating the PostgreSQL database empty, UTF8 with C collation and ctype");
        psql("postgres", "DROP DATABASE IF EXISTS synapse WITH (FORCE)");
        psql("postgres", "CREATE DATABASE synapse ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0 OWNER synapse");
        say("pg_restore");
        await dockerFromFile(
            ["exec", "-i", facts.databaseContainer!, "pg_restore", "--username=synapse", "--dbname=synapse", "--no-owner", "--role=synapse", "--exit-on-error"],
            path.join(staging, "database.pgdump"),
        );
        psql("synapse", "TRUNCATE e2e_one_time_keys_json");
    } else {
        say("putting the SQLite database back");
        // The script arrives on stdin, so the database goes into the volume first, beside the one it replaces.
        await dockerFromFile(
            helper(facts, { entrypoint: "dd", args: [`of=/data/${RESTORING}`, "bs=1M", "status=none"], stdin: true }, { data: "writable" }),
            path.join(staging, "homeserver.db"),
        );
        runScript(facts, "restore_sqlite.py", { copy: RESTORING }, { data: "writable" });
    }
}

/** Restores an archive into the stack; with --force, `overwritten` is the archive of what was there before. */
export async function restore(facts: StackFacts, archive: string, force: boolean): Promise<{ manifest: Manifest; overwritten?: string }> {
    const staging = fs.mkdtempSync(path.join(os.tmpdir(), "synapse-restore-"));
    try {
        say(`checking ${archive}`);
        const manifest = openArchive(archive, staging);
        if (manifest.serverName !== facts.serverName) {
            throw new OpsError(`${archive} is a backup of ${manifest.serverName}, but stack ${facts.stack} is ${facts.serverName}: a server name is permanent, restore into a stack of ${manifest.serverName}; nothing was changed`);
        }
        if (manifest.database !== facts.database) {
            throw new OpsError(`${archive} holds a ${manifest.database} database, but stack ${facts.stack} runs ${facts.database}: restore into a ${manifest.database} stack (a switch to postgres then ports it); nothing was changed`);
        }
        const image = synapseRelease(facts);
        if (manifest.schemaVersion > image.schemaVersion) {
            // The image's own release made it when a newer one had migrated the database first (its compat version lets an older one run).
            const release = manifest.synapseVersion === image.synapseVersion
                ? `a Synapse release with schema ${manifest.schemaVersion} or newer`
                : `Synapse ${manifest.synapseVersion} or newer`;
            throw new OpsError(
                `${archive} was made by Synapse ${manifest.synapseVersion} (database schema ${manifest.schemaVersion}), but stack ${facts.stack} runs ` +
                    `Synapse ${image.synapseVersion} (database schema ${image.schemaVersion}), which predates that schema: set synapse:image to ` +
                    `${release}, \`pulumi up\`, then restore; nothing was changed`,
            );
        }
        const held = holdings(facts);
        if (held.rooms > 0 || held.users > 0) {
            const what = `${held.users} users besides the admin, ${held.rooms} rooms and ${held.events} events`;
            if (!force) {
                throw new OpsError(`stack ${facts.stack} already holds ${what}: restore only into a fresh stack, or add --force to overwrite them; nothing was changed`);
            }
            say(`--force: overwriting ${what} of stack ${facts.stack}`);
        }
        let overwritten: string | undefined;
        if (force) {
            say("--force: backing up what the restore overwrites first");
            try {
                // Never prunes: the archive being restored may be among the oldest in that folder.
                overwritten = await backup({ facts, out: configuredDirectory(facts), keep: Infinity, reason: `before restore --force of ${path.basename(archive)}` });
            } catch (err) {
                throw new OpsError(`--force: what the restore would overwrite could not be backed up, so it did not start: ${err instanceof Error ? err.message : String(err)}; nothing was changed`);
            }
            say(`--force: what the restore overwrites is backed up first in ${overwritten}`);
        }
        say(`restoring ${manifest.serverName} from ${manifest.createdAt} (Synapse ${manifest.synapseVersion}, schema ${manifest.schemaVersion}, ${manifest.database})`);
        // Its workers first: nothing may write to the database or the media store while they are replaced.
        const processes = processesOf(facts);
        for (const part of [...processes.workers, processes.main]) {
            part.stop();
        }
        try {
            await restoreDatabase(facts, staging);
            say("putting media, signing key and homeserver.yaml back");
            await dockerFromFile(
                helper(facts, {
                    entrypoint: "tar",
                    // The stack's overlays stay the stack's own: they hold this deployment's database password.
                    args: ["-xf", "-", "-C", "/data", "--exclude=synapse-stack.yaml", "--exclude=synapse-stack", "--no-same-owner"],
                    stdin: true,
                }, { data: "writable" }),
                path.join(staging, "data.tar"),
            );
        } catch (err) {
            // Not started on a half-restored database: Synapse would make an empty one its own.
            throw new OpsError(`${err instanceof Error ? err.message : String(err)}\n${facts.container} is left stopped on half-restored data: run the restore again with --force${overwritten ? ` (what was there before is in ${overwritten})` : ""}`);
        }
        for (const part of [processes.main, ...processes.workers]) {
            part.start();
        }
        return { manifest, overwritten };
    } finally {
        fs.rmSync(staging, { recursive: true, force: true });
    }
}

/** A homeserver process the restore stops and starts again, saying so: a container, or on a swarm a service. */
interface Process {
    stop(): void;
    start(): void;
}

/**
 * The homeserver's main process and its workers (named after it, labelled as workers). A stopped task of a swarm
 * service is replaced at once, so a service is scaled to no replicas, and back to the replicas the stack declares.
 */
function processesOf(facts: StackFacts): { main: Process; workers: Process[] } {
    const worker = (name: string) => name.startsWith(`${facts.container}-`);
    // This stack's workers only: another stack's homeserver may be named with this one's as a prefix (`x-peer`).
    const project = facts.urn?.split("::")[1];
    const owned = Object.entries(ownerLabels(project ?? "", facts.stack, "worker"))
        .filter(([, value]) => value !== "")
        .flatMap(([label, value]) => ["--filter", `label=${label}=${value}`]);
    if (facts.platform === "swarm") {
        // The replicas the stack declares, not the spec's: a restore that failed part-way left them at 0.
        const declared = stackResources(facts.stack).filter((resource) => resource.type === "docker:index/service:Service");
        const replicasOf = (name: string) =>
            (declared.find((resource) => resource.outputs?.name === name)?.outputs as { mode?: { replicated?: { replicas?: number } } } | undefined)?.mode?.replicated?.replicas ?? 1;
        // Several services at once: one scale, which waits for all of them.
        const services = (names: string[]): Process => ({
            stop: () => {
                names.forEach((name) => say(`stopping service ${name} (${replicasOf(name)} to 0 replicas)`));
                scaleServices(names.map((name) => [name, 0]));
            },
            start: () => {
                names.forEach((name) => say(`starting service ${name} (0 to ${replicasOf(name)} replicas)`));
                scaleServices(names.map((name) => [name, replicasOf(name)]));
            },
        });
        const workers = docker(["service", "ls", ...owned, "--format", "{{.Name}}"]).split("\n").filter(worker);
        return { main: services([facts.container]), workers: workers.length > 0 ? [services(workers)] : [] };
    }
    const container = (name: string): Process => ({
        stop: () => {
            say(`stopping ${name}`);
            docker(["stop", "--time", "30", name]);
        },
        start: () => {
            say(`starting ${name}`);
            docker(["start", name]);
        },
    });
    const workers = docker(["ps", "-a", ...owned, "--format", "{{.Names}}"]).split("\n").filter(worker);
    return { main: container(facts.container), workers: workers.map(container) };
}

/**
 * Runs the homeserver's admin step again (the command of its synapse:index:Admin, found by type), so the restored
 * database's admin gets this stack's password and the signingKeyId output names the restored key.
 */
function ensureAdmin(facts: StackFacts): void {
    const stack = facts.stack;
    say("giving the stack's admin its password again (pulumi up of the admin step alone, replaced)");
    const resources = stackResources(stack);
    const admin = resources.find((resource) => resource.type === "synapse:index:Admin" && resource.parent === facts.urn);
    const urn = resources.find((resource) => resource.type === "command:local:Command" && admin && resource.parent === admin.urn)?.urn;
    if (!urn) {
        throw new OpsError(`the data is restored, but stack ${stack} has no admin step to run again: run \`pulumi up\``);
    }
    // Targeted: a config change waiting for the next `up` is not applied behind the user's back.
    const up = pulumi(["up", "--yes", "--skip-preview", "--stack", stack, "--target", urn, "--replace", urn]);
    if (up.status !== 0) {
        throw new OpsError(`the data is restored, but \`pulumi up\` failed afterwards: ${up.stdout.slice(-2000)}`);
    }
}

if (require.main === module) {
    main(async () => {
        const { options, positional } = parseArguments(process.argv.slice(2), ["force"]);
        if (!options.stack || positional.length !== 1) {
            throw new OpsError("usage: npm run restore -- --stack <name> [--homeserver <name>] <archive> [--force]");
        }
        const facts = stackFacts(options.stack, options.homeserver);
        // On a swarm, stackFacts has read main's service already.
        if (facts.platform !== "swarm" && containerState(facts.container) === "missing") {
            throw new OpsError(`stack ${facts.stack} has no homeserver container: run \`pulumi up\` (a fresh stack), then restore`);
        }
        const { manifest, overwritten } = await restore(facts, path.resolve(positional[0]), options.force === "true");
        ensureAdmin(facts);
        say(`restored: ${manifest.serverName}, signing key and data from ${manifest.createdAt}${overwritten ? `; what --force overwrote is in ${overwritten}` : ""}`);
    });
}
