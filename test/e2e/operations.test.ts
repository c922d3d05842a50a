// Operations, proven: one stack with a few hundred messages goes through backup → destroy → fresh up → restore on
// SQLite, the restore refusals, --force with its backup of what it overwrites (restored again), an upgrade from an
// older Synapse release with the automatic backup first, the move to PostgreSQL (a failed port first, which leaves
// SQLite running), and backup → destroy → restore on PostgreSQL, refused first on the older release (schema too new).
// The project's own commands run as a user would type them: npm run backup / restore.
// Over 300 lines: one stack goes through every operation in order (each new stack costs CI minutes), so one file.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import {
    cleanUp,
    createStack,
    docker,
    freePort,
    healthStatus,
    inspectContainer,
    inVolume,
    keepAlive,
    Matrix,
    outputsOf,
    pulumiCommand,
    recordedImage,
    ROOT,
    runId,
    setConfig,
    testImage,
    type TestStack,
    up,
} from "./support";

const UPGRADE_FROM = (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { config: { synapseUpgradeFrom: string } }).config
    .synapseUpgradeFrom;
const MESSAGES = 300;
// Seeding a few hundred messages and logging in often needs more than production's rate limits; never a default.
const TEST_LIMITS = JSON.stringify({
    rc_login: { address: { per_second: 50, burst_count: 100 }, account: { per_second: 50, burst_count: 100 }, failed_attempts: { per_second: 50, burst_count: 100 } },
    rc_message: { per_second: 1000, burst_count: 1000 },
});

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

interface Run {
    status: number;
    stdout: string;
    stderr: string;
    seconds: number;
}

describe("backup, restore, upgrade and the move to PostgreSQL", { timeout: 40 * 60_000 }, () => {
    const id = runId();
    const name = `e2e-${id}-ops`;
    const serverName = `${name}.localhost`;
    const carolPassword = crypto.randomBytes(12).toString("hex");
    const media = crypto.randomBytes(4096);
    const timings: Record<string, number> = {};
    let testStack: TestStack | undefined;
    let outputs: Record<string, string>;
    let matrix: Matrix;
    let roomId: string;
    let mediaUri: string;
    let signingKeys: string;
    let archive: string;
    let release: () => void = () => undefined;
    const backupDir = fs.mkdtempSync(path.join(os.tmpdir(), `synapse-${name}-backups-`));

    /** npm run backup / restore, as a user runs them, against the test's stack. */
    const npm = (script: "backup" | "restore", args: string[]): Run => {
        const started = Date.now();
        const result = spawnSync("npm", ["run", "-s", script, "--", ...args], { cwd: ROOT, encoding: "utf8", env: { ...process.env, ...testStack!.env } });
        return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr, seconds: (Date.now() - started) / 1000 };
    };
    const admin = async () => {
        const login = await matrix.login(outputs.adminUserId, outputs.adminPassword);
        assert.equal(login.status, 200, `the stack's admin logs in (${login.errcode ?? ""})`);
        return login.token!;
    };
    /** Every message body in the room, oldest first, paging back through all of it. */
    const allMessages = async (token: string) => {
        const bodies: string[] = [];
        let from = "";
        for (;;) {
            const page = await matrix.request("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=100${from ? `&from=${from}` : ""}`, undefined, token);
            assert.equal(page.status, 200, JSON.stringify(page.json));
            bodies.push(...(page.json.chunk as { type: string; content: { body?: string } }[]).filter((event) => event.type === "m.room.message").map((event) => event.content.body ?? ""));
            if (!page.json.end || page.json.chunk.length === 0) {
                return bodies.reverse();
            }
            from = page.json.end;
        }
    };
    /** Everything the data must still hold: carol, every message, the media, the signing key; the admin works. */
    const expectSameData = async () => {
        const carol = await matrix.login(`@carol:${serverName}`, carolPassword);
        assert.equal(carol.status, 200, "carol, a user of the backed-up server, logs in");
        const messages = await allMessages(carol.token!);
        assert.equal(messages.length, MESSAGES);
        assert.deepEqual(messages.slice(0, 2), ["message 0", "message 1"]);
        assert.equal(messages.at(-1), `message ${MESSAGES - 1}`);
        const download = await matrix.download(carol.token!, mediaUri);
        assert.equal(download.status, 200);
        assert.ok(download.bytes.equals(media), "the media came back byte for byte");
        assert.equal(JSON.stringify((await matrix.request("GET", "/_matrix/key/v2/server")).json.verify_keys), signingKeys, "the same signing key");
        await admin();
    };
    const sqliteQuery = (sql: string) =>
        inVolume(outputs.volumeName, ["python3", "-c", `import sqlite3; print(sqlite3.connect('/data/homeserver.db').execute("${sql}").fetchone()[0])`], { writable: true });
    const deployed = async () => {
        await up(testStack!);
        outputs = await outputsOf(testStack!);
        matrix = new Matrix(outputs.url);
    };

    before(async () => {
        release = keepAlive();
        await pulumiCommand();
        fs.chmodSync(backupDir, 0o700);
        assert.ok(docker("image", "inspect", "--format", "{{.Id}}", recordedImage(`synapse-${UPGRADE_FROM}`)), `run npm run setup -- image ${UPGRADE_FROM}`);
    });

    after(async () => {
        // Released whatever the clean-up meets: a pending keep-alive would hold the test process open for good.
        try {
            await cleanUp(testStack);
            spawnSync("docker", ["volume", "rm", "-f", `synapse-${name}-db`]);
            fs.rmSync(backupDir, { recursive: true, force: true });
        } finally {
            release();
        }
        console.log(`    operation times (s): ${JSON.stringify(timings)}`);
    });

    it(`comes up on Synapse ${UPGRADE_FROM} and takes ${MESSAGES} messages, a second user and media`, async () => {
        testStack = await createStack(name, {
            serverName,
            image: recordedImage(`synapse-${UPGRADE_FROM}`),
            httpPort: String(await freePort()),
            extraConfig: TEST_LIMITS,
            backupDirectory: backupDir,
            backupsToKeep: "2",
        });
        await deployed();
        const token = await admin();
        const carol = await matrix.request("PUT", `/_synapse/admin/v2/users/${encodeURIComponent(`@carol:${serverName}`)}`, { password: carolPassword }, token);
        assert.equal(carol.status, 201, JSON.stringify(carol.json));
        const carolToken = (await matrix.login(`@carol:${serverName}`, carolPassword)).token!;
        const room = await matrix.request("POST", "/_matrix/client/v3/createRoom", { name: "history" }, carolToken);
        roomId = room.json.room_id;
        const started = Date.now();
        for (let i = 0; i < MESSAGES; i++) {
            const sent = await matrix.request("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/m${i}`, { msgtype: "m.text", body: `message ${i}` }, carolToken);
            assert.equal(sent.status, 200, JSON.stringify(sent.json));
        }
        timings.seed = (Date.now() - started) / 1000;
        mediaUri = await matrix.upload(carolToken, media, "application/octet-stream");
        signingKeys = JSON.stringify((await matrix.request("GET", "/_matrix/key/v2/server")).json.verify_keys);
        assert.equal(sqliteQuery("SELECT version FROM schema_version"), "93", `Synapse ${UPGRADE_FROM} has schema 93`);
    });

    it("backs up the running SQLite stack: one archive, mode 0600, with a manifest and a checksum per member", () => {
        const refused = npm("backup", ["--stack", name, "--out", os.tmpdir()]);
        assert.notEqual(refused.status, 0);
        assert.match(refused.stderr, /can be read or entered by others .*backups hold the signing key and secrets/);

        const result = npm("backup", ["--stack", name]);
        assert.equal(result.status, 0, result.stderr);
        timings.backupSqlite = result.seconds;
        archive = result.stdout.trim();
        assert.equal(path.dirname(archive), backupDir, "into the stack's synapse:backupDirectory");
        assert.equal(fs.statSync(archive).mode & 0o777, 0o600);
        assert.match(result.stderr, /copying SQLite through its online backup API/);
        const listing = spawnSync("tar", ["-tzf", archive], { encoding: "utf8" }).stdout.split("\n").filter(Boolean).sort();
        assert.deepEqual(listing, ["data.tar", "homeserver.db", "manifest.json"]);
        const manifest = JSON.parse(spawnSync("tar", ["-xzOf", archive, "manifest.json"], { encoding: "utf8" }).stdout);
        assert.equal(manifest.stack, name);
        assert.equal(manifest.serverName, serverName);
        assert.equal(manifest.synapseVersion, UPGRADE_FROM);
        assert.equal(manifest.schemaVersion, 93);
        assert.equal(manifest.database, "sqlite");
        assert.match(manifest.members["homeserver.db"].sha256, /^[0-9a-f]{64}$/);
        const members = spawnSync("tar", ["-xzOf", archive, "data.tar"], { encoding: "buffer" }).stdout;
        const files = spawnSync("tar", ["-t"], { input: members, encoding: "utf8" }).stdout;
        assert.match(files, new RegExp(`${serverName}\\.signing\\.key`));
        assert.match(files, /media_store\/local_content\//);
        assert.match(files, /homeserver\.yaml/);
    });

    it("restores into a fresh stack after destroy: the same users, messages, media and signing key", async () => {
        await testStack!.stack.destroy({ onOutput: (text) => testStack!.output.push(text) });
        await deployed();
        assert.notEqual(JSON.stringify((await matrix.request("GET", "/_matrix/key/v2/server")).json.verify_keys), signingKeys, "a fresh server has a key of its own");
        const result = npm("restore", ["--stack", name, archive]);
        assert.equal(result.status, 0, result.stderr);
        timings.restoreSqlite = result.seconds;
        outputs = await outputsOf(testStack!);
        assert.ok(outputs.signingKeyId in JSON.parse(signingKeys), `the signingKeyId output names the restored key (${outputs.signingKeyId})`);
        await expectSameData();
        assert.equal(sqliteQuery("SELECT count(*) FROM e2e_one_time_keys_json"), "0", "one-time keys are emptied, as Synapse's docs require");
    });

    it("refuses a damaged archive, another server's archive and a stack with data (unless --force), changing nothing", async () => {
        const work = fs.mkdtempSync(path.join(os.tmpdir(), "synapse-tamper-"));
        try {
            spawnSync("tar", ["-C", work, "-xzf", archive]);
            const damaged = path.join(work, "damaged.tar.gz");
            fs.appendFileSync(path.join(work, "data.tar"), "x");
            spawnSync("tar", ["-C", work, "-czf", damaged, "manifest.json", "homeserver.db", "data.tar"]);
            const refusedDamaged = npm("restore", ["--stack", name, "--force", damaged]);
            assert.notEqual(refusedDamaged.status, 0);
            assert.match(refusedDamaged.stderr, /data\.tar does not match its checksum .*nothing was changed/);

            spawnSync("tar", ["-C", work, "-xzf", archive, "data.tar"]);
            const manifest = JSON.parse(fs.readFileSync(path.join(work, "manifest.json"), "utf8"));
            fs.writeFileSync(path.join(work, "manifest.json"), JSON.stringify({ ...manifest, serverName: "other.example.org" }));
            const other = path.join(work, "other.tar.gz");
            spawnSync("tar", ["-C", work, "-czf", other, "manifest.json", "homeserver.db", "data.tar"]);
            const refusedOther = npm("restore", ["--stack", name, "--force", other]);
            assert.notEqual(refusedOther.status, 0);
            assert.match(refusedOther.stderr, new RegExp(`is a backup of other\\.example\\.org, but stack ${name} is ${serverName}: a server name is permanent`));
        } finally {
            fs.rmSync(work, { recursive: true, force: true });
        }
        const refusedData = npm("restore", ["--stack", name, archive]);
        assert.notEqual(refusedData.status, 0);
        assert.match(refusedData.stderr, /already holds 1 users besides the admin, 1 rooms and \d+ events: restore only into a fresh stack, or add --force/);
        // Something the archive lacks, which --force overwrites: a room topic (an event, not a message).
        const carolToken = (await matrix.login(`@carol:${serverName}`, carolPassword)).token!;
        const topicPath = `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.topic`;
        assert.equal((await matrix.request("PUT", topicPath, { topic: "set after the backup" }, carolToken)).status, 200);
        const forced = npm("restore", ["--stack", name, "--force", archive]);
        assert.equal(forced.status, 0, forced.stderr);
        timings.restoreForced = forced.seconds;
        assert.match(forced.stderr, /--force: overwriting 1 users besides the admin, 1 rooms and \d+ events/);
        const safety = /--force: what the restore overwrites is backed up first in (\S+\.tar\.gz)\n(?:.*\n)*?.*stopping /.exec(forced.stderr)?.[1];
        assert.ok(safety, `names the archive of what it overwrites, before stopping anything: ${forced.stderr}`);
        assert.equal(path.dirname(safety), backupDir, "into the stack's synapse:backupDirectory");
        assert.equal(fs.statSync(safety).mode & 0o777, 0o600);
        const safetyManifest = JSON.parse(spawnSync("tar", ["-xzOf", safety, "manifest.json"], { encoding: "utf8" }).stdout);
        assert.equal(safetyManifest.reason, `before restore --force of ${path.basename(archive)}`);
        assert.match(forced.stderr, new RegExp(`restored: .*; what --force overwrote is in ${escapeRegExp(safety)}`));
        outputs = await outputsOf(testStack!);
        await expectSameData();
        const carolAgain = (await matrix.login(`@carol:${serverName}`, carolPassword)).token!;
        assert.equal((await matrix.request("GET", topicPath, undefined, carolAgain)).status, 404, "the topic set after the backup is overwritten");

        const undone = npm("restore", ["--stack", name, "--force", safety]);
        assert.equal(undone.status, 0, undone.stderr);
        timings.restoreOverwritten = undone.seconds;
        outputs = await outputsOf(testStack!);
        await expectSameData();
        const carolBack = (await matrix.login(`@carol:${serverName}`, carolPassword)).token!;
        const topic = await matrix.request("GET", topicPath, undefined, carolBack);
        assert.equal(topic.json.topic, "set after the backup", "restoring that archive brings back what --force overwrote");
    });

    it(`upgrades ${UPGRADE_FROM} → the current release with a backup first, named in the output; the data is read on the new one`, async () => {
        const started = Date.now();
        // A setting changed with the image: the backup must hold the config the old homeserver ran with, not the new one.
        const runningConfig = inspectContainer(outputs.containerName).Config.Labels["io.synapse-stack.config"];
        const contact = `mailto:upgrade-${runId()}@${serverName}`;
        await setConfig(testStack!, { image: testImage(), extraConfig: JSON.stringify({ ...JSON.parse(TEST_LIMITS), admin_contact: contact }) });
        await deployed();
        timings.upgrade = (Date.now() - started) / 1000;
        assert.ok(outputs.lastBackup.startsWith(backupDir), `lastBackup names the archive: ${outputs.lastBackup}`);
        assert.equal(fs.statSync(outputs.lastBackup).mode & 0o777, 0o600);
        const manifest = JSON.parse(spawnSync("tar", ["-xzOf", outputs.lastBackup, "manifest.json"], { encoding: "utf8" }).stdout);
        assert.equal(manifest.synapseVersion, UPGRADE_FROM, "taken from the old release, before its replacement");
        assert.match(manifest.reason, new RegExp(`before the image changes to ${testImage()}`));
        const dataTar = spawnSync("tar", ["-xzOf", outputs.lastBackup, "data.tar"], { maxBuffer: 512 * 1024 * 1024 }).stdout;
        const overlays = spawnSync("tar", ["-t", "-f", "-", "--wildcards", "synapse-stack/*.yaml"], { input: dataTar, encoding: "utf8" }).stdout.split("\n").filter(Boolean);
        assert.deepEqual(overlays, [`synapse-stack/config-${runningConfig}.yaml`], "the backup, taken before generate, holds the old homeserver's config only");
        assert.doesNotMatch(spawnSync("tar", ["-xO", "-f", "-", overlays[0]], { input: dataTar, encoding: "utf8" }).stdout, new RegExp(contact));
        assert.ok(testStack!.output.join("").includes(outputs.lastBackup), "the up output names it");
        assert.ok(fs.readdirSync(backupDir).filter((file) => file.endsWith(".tar.gz")).length <= 2, "keeps synapse:backupsToKeep archives");
        assert.equal(sqliteQuery("SELECT version FROM schema_version"), "94", "Synapse migrated the schema");
        await expectSameData();
    });

    it("moves to PostgreSQL: a failed port leaves SQLite running as before; then synapse_port_db moves everything", async () => {
        // A PostgreSQL volume that already holds a table: synapse_port_db needs an empty database, so the port fails.
        const volume = `synapse-${name}-db`;
        docker("volume", "create", volume);
        const seeded = spawnSync("docker", ["run", "--rm", "--user", "999:999", "-v", `${volume}:/var/lib/postgresql/data`,
            "-e", "PGDATA=/var/lib/postgresql/data/pgdata", "-e", "POSTGRES_USER=synapse", "-e", "POSTGRES_PASSWORD=unused",
            "-e", "POSTGRES_INITDB_ARGS=--encoding=UTF8 --locale=C", "--entrypoint", "bash", recordedImage("postgres"), "-c",
            // Ready once the server is the entrypoint's own process: the entrypoint's temporary init server answers too.
            "docker-entrypoint.sh postgres -c listen_addresses= & for i in $(seq 120); do " +
                '[ "$(head -n 1 /var/lib/postgresql/data/pgdata/postmaster.pid 2>/dev/null)" = "$!" ] && pg_isready -q -U synapse && break; sleep 0.5; done; ' +
                "psql -U synapse -d synapse -c 'CREATE TABLE leftover (id int)' && pg_ctl -D /var/lib/postgresql/data/pgdata -m fast -w stop"], { encoding: "utf8" });
        assert.equal(seeded.status, 0, seeded.stderr);
        await setConfig(testStack!, { database: "postgres", postgresImage: recordedImage("postgres") });
        await assert.rejects(up(testStack!), (err: Error) =>
            /already holds 1 tables, so the SQLite data \(\d+ users\) cannot be ported into it/.test(err.message),
        );
        assert.equal(await healthStatus(outputs.containerName), "healthy", "SQLite still serves");
        const args = inspectContainer(outputs.containerName).Args;
        assert.doesNotMatch(inVolume(outputs.volumeName, ["cat", args[args.length - 1]]), /psycopg2/, "the homeserver's own config still says SQLite");
        await expectSameData();

        await setConfig(testStack!, { database: "sqlite", postgresImage: undefined });
        const printed = testStack!.output.length;
        await up(testStack!);
        // No update deletes a volume: the refused database's volume stays, named with how to delete it by hand.
        assert.match(docker("volume", "inspect", "--format", "{{.Name}}", volume), new RegExp(volume));
        assert.match(testStack!.output.slice(printed).join(""), new RegExp(`kept volume ${volume} \\(the PostgreSQL database\\).*docker volume rm ${volume}`));
        docker("volume", "rm", volume);
        const started = Date.now();
        await setConfig(testStack!, { database: "postgres", postgresImage: recordedImage("postgres") });
        await deployed();
        timings.port = (Date.now() - started) / 1000;
        assert.equal(outputs.database, "postgres");
        const events = docker("exec", `${outputs.containerName}-db`, "psql", "--username=synapse", "--dbname=synapse", "-tAc", "SELECT count(*) FROM events");
        assert.ok(Number(events) > MESSAGES, `the events are in PostgreSQL (${events})`);
        await expectSameData();
    });

    it("backs up and restores on PostgreSQL: destroy, a fresh up, restore, the same data", async () => {
        const backedUp = npm("backup", ["--stack", name]);
        assert.equal(backedUp.status, 0, backedUp.stderr);
        timings.backupPostgres = backedUp.seconds;
        archive = backedUp.stdout.trim();
        assert.match(backedUp.stderr, /pg_dump -Fc, without the data of e2e_one_time_keys_json/);
        const made = JSON.parse(spawnSync("tar", ["-xzOf", archive, "manifest.json"], { encoding: "utf8" }).stdout);
        assert.equal(made.schemaVersion, 94, "made by the current release");
        await testStack!.stack.destroy({ onOutput: (text) => testStack!.output.push(text) });

        // The fresh stack comes up on the older release first: the newer archive is refused before anything is stopped.
        await setConfig(testStack!, { image: recordedImage(`synapse-${UPGRADE_FROM}`) });
        await deployed();
        const startedAt = inspectContainer(outputs.containerName).State.StartedAt;
        const freshKeys = JSON.stringify((await matrix.request("GET", "/_matrix/key/v2/server")).json.verify_keys);
        const tooNew = npm("restore", ["--stack", name, "--force", archive]);
        assert.notEqual(tooNew.status, 0);
        timings.refusedTooNew = tooNew.seconds;
        assert.match(
            tooNew.stderr,
            new RegExp(`was made by Synapse ${escapeRegExp(made.synapseVersion)} \\(database schema 94\\), but stack ${name} runs Synapse ${escapeRegExp(UPGRADE_FROM)} ` +
                `\\(database schema 93\\), which predates that schema: set synapse:image to Synapse ${escapeRegExp(made.synapseVersion)} or newer, .*nothing was changed`),
        );
        assert.doesNotMatch(tooNew.stderr, /stopping|backed up first/, "refused before any backup or stop");
        assert.equal(inspectContainer(outputs.containerName).State.StartedAt, startedAt, "the homeserver was never stopped");
        assert.equal(JSON.stringify((await matrix.request("GET", "/_matrix/key/v2/server")).json.verify_keys), freshKeys, "it still answers, with its own key");
        assert.equal((await matrix.login(`@carol:${serverName}`, carolPassword)).status, 403, "none of the archive's data is in it");
        await admin();
        assert.equal(made.schemaCompatVersion, 84, "the manifest records the oldest schema that can read the database");

        // What the refusal says to do: the image of that release, then the restore.
        const upgradeStarted = Date.now();
        await setConfig(testStack!, { image: testImage() });
        await deployed();
        timings.upgradeFresh = (Date.now() - upgradeStarted) / 1000;
        const restored = npm("restore", ["--stack", name, archive]);
        assert.equal(restored.status, 0, restored.stderr);
        timings.restorePostgres = restored.seconds;
        outputs = await outputsOf(testStack!);
        await expectSameData();
        const keys = docker("exec", `${outputs.containerName}-db`, "psql", "--username=synapse", "--dbname=synapse", "-tAc", "SELECT count(*) FROM e2e_one_time_keys_json");
        assert.equal(keys, "0");
    });
});
