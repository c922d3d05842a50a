// Data safety on the real engine, second round: no update deletes a volume, no stack uses another's, a destroy after
// a failed first `up` leaves nothing, a failed or interrupted move to PostgreSQL loses no write and never leaves
// Synapse on a config it cannot run, and the config's fingerprint gives nothing away. One SQLite stack serves the
// checks in order; two more show a refused volume and a failed first `up`. `after` removes everything.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import {
    changesOf,
    cleanUp,
    createStack,
    docker,
    expectNoChanges,
    freePort,
    inspectContainer,
    keepAlive,
    Matrix,
    outputsOf,
    ownedObjects,
    pulumiCommand,
    recordedImage,
    ROOT,
    runId,
    send,
    setConfig,
    type TestStack,
    up,
} from "./support";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The overlay file a homeserver container runs with: the last --config-path of its arguments. */
function overlayOf(container: string): string {
    const args = inspectContainer(container).Args;
    return args[args.length - 1];
}

/** Everything printed since `from` (an index into the stack's output). */
function printedSince(testStack: TestStack, from: number): string {
    return testStack.output.slice(from).join("");
}

describe("data safety: volumes, retries and fingerprints", { timeout: 30 * 60_000 }, () => {
    const id = runId();
    const name = `e2e-${id}-vol`;
    const serverName = `${name}.localhost`;
    const container = `synapse-${name}`;
    const dataVolume = `synapse-${name}-data`;
    const databaseVolume = `synapse-${name}-db`;
    const foreign = `e2e-${id}-foreign`;
    let testStack: TestStack | undefined;
    let intruder: TestStack | undefined;
    let failed: TestStack | undefined;
    let outputs: Record<string, string>;
    let matrix: Matrix;
    let token: string;
    let roomId: string;
    const written: string[] = [];
    let release: () => void = () => undefined;

    /** Sends a message into the room and remembers it as acknowledged once Synapse answered 200. */
    const write = async (text: string) => {
        const sent = await matrix.request("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${runId()}`, { msgtype: "m.text", body: text }, token);
        assert.equal(sent.status, 200, JSON.stringify(sent.json));
        written.push(text);
    };
    const serving = async (timeoutSeconds = 90) => {
        const deadline = Date.now() + timeoutSeconds * 1000;
        while (Date.now() < deadline) {
            const health = await send(`${outputs.url}/health`).catch(() => ({ status: 0 }));
            if (health.status === 200) {
                return true;
            }
            await sleep(500);
        }
        return false;
    };
    const messages = async () => (await matrix.messages(token, roomId)).reverse();

    before(async () => {
        release = keepAlive();
        await pulumiCommand();
    });

    after(async () => {
        // Released whatever the clean-up meets: a pending keep-alive would hold the test process open for good.
        try {
            spawnQuietly("rm", "-f", "-v", foreign);
            await cleanUp(intruder);
            await cleanUp(failed);
            await cleanUp(testStack);
            spawnQuietly("volume", "rm", "-f", dataVolume, databaseVolume);
        } finally {
            release();
        }
    });

    it("comes up on SQLite; the config label is a keyed fingerprint that changes exactly when the config does", async () => {
        testStack = await createStack(name, { serverName, httpPort: String(await freePort()), extraConfig: '{"rc_message": {"per_second": 100, "burst_count": 100}}' });
        await up(testStack);
        outputs = await outputsOf(testStack);
        matrix = new Matrix(outputs.url);
        token = (await matrix.login(outputs.adminUserId, outputs.adminPassword)).token!;
        roomId = await matrix.createRoomWithMessage(token, "first");
        written.push("first");

        const label = () => inspectContainer(container).Config.Labels["io.synapse-stack.config"];
        const overlay = execFileSync("docker", ["exec", container, "cat", overlayOf(container)]);
        const unkeyed = crypto.createHash("sha256").update(overlay).digest("hex");
        const before = label();
        assert.match(before, /^[0-9a-f]{16}$/);
        assert.ok(!unkeyed.startsWith(before), `the label ${before} is not the plain SHA-256 of the overlay (${unkeyed.slice(0, 16)})`);
        assert.ok(overlayOf(container).endsWith(`config-${before}.yaml`), "the overlay file is named by the same fingerprint");

        assert.deepEqual(changesOf(await up(testStack)), {}, "an unchanged config changes nothing");
        assert.equal(label(), before, "same config, same label");
        await setConfig(testStack, { extraConfig: '{"rc_message": {"per_second": 100, "burst_count": 101}}' });
        await up(testStack);
        assert.notEqual(label(), before, "a changed config, a new label");
        assert.deepEqual(await messages(), written, "the data stayed");
    });

    it("refuses a volume another stack owns before anything changes, in preview as in up", async () => {
        intruder = await createStack(`e2e-${id}-intruder`, { serverName, volumeName: dataVolume, httpPort: String(await freePort()) });
        for (const attempt of [() => intruder!.stack.preview(), () => up(intruder!)]) {
            await assert.rejects(attempt(), (err: Error) =>
                new RegExp(`volumeName ${dataVolume} is the volume of stack ${name} \\(project synapse\\) on this Docker engine, so stack e2e-${id}-intruder may not use it`).test(err.message),
            );
        }
        assert.deepEqual(ownedObjects(intruder.name), { containers: [], volumes: [], networks: [] }, "nothing of the refused stack exists");
        const state = await intruder.stack.exportStack();
        const created = ((state.deployment as { resources?: { type: string; custom?: boolean }[] }).resources ?? [])
            .filter((resource) => resource.custom && !resource.type.startsWith("pulumi:"));
        assert.deepEqual(created, [], "no resource was created");
        assert.deepEqual(await messages(), written, "the owner's data is untouched");
    });

    it("leaves the host clean on destroy after a first up that failed part-way", async () => {
        // An image that cannot be pulled (a registry on a closed loopback port): the update fails while the data
        // volume is being made.
        failed = await createStack(`e2e-${id}-failed`, { serverName: `failed.${serverName}`, httpPort: String(await freePort()), image: "127.0.0.1:9/synapse:v0" });
        await assert.rejects(up(failed), /127\.0\.0\.1:9\/synapse:v0/);
        await failed.stack.destroy();
        assert.deepEqual(ownedObjects(failed.name), { containers: [], volumes: [], networks: [] }, "destroy removed everything");
        assert.throws(() => docker("volume", "inspect", `synapse-e2e-${id}-failed-data`), "no data volume is left behind");
    });

    it("keeps the old homeserver serving, and restartable, when a switch to PostgreSQL fails before the database is up", async () => {
        // The database's container name is taken, so the update fails after generate wrote the new config.
        docker("create", "--name", `${container}-db`, recordedImage("postgres"));
        await setConfig(testStack!, { database: "postgres", postgresImage: recordedImage("postgres") });
        await assert.rejects(up(testStack!));
        docker("rm", "-f", "-v", `${container}-db`);
        assert.doesNotMatch(docker("exec", container, "cat", overlayOf(container)), /psycopg2/, "the running homeserver's own config says SQLite");
        docker("restart", container);
        assert.ok(await serving(), "a restart (a reboot, a crash) comes back on SQLite, not on a database that is not there");
        await write("after the failed switch");
        assert.deepEqual(await messages(), written);
    });

    it("retries a port that failed part-way with a plain up: nothing written in between is lost, and Synapse runs on PostgreSQL", async () => {
        // Kill PostgreSQL the way the OOM killer would while synapse_port_db writes into it; its restart policy brings it back.
        const printed = testStack!.output.length;
        const interrupted = up(testStack!);
        let killed = false;
        const deadline = Date.now() + 180_000;
        while (!killed && Date.now() < deadline) {
            const porting = docker("ps", "--filter", `network=${container}-db`, "--format", "{{.Names}}").split("\n").filter((n) => n && n !== `${container}-db`);
            // Once synapse_port_db has made tables: the database then holds a part of the data.
            if (porting.length > 0 && Number(tablesIn(`${container}-db`)) > 0) {
                process.kill(Number(docker("inspect", "--format", "{{.State.Pid}}", `${container}-db`)), "SIGKILL");
                killed = true;
            }
            await sleep(100);
        }
        assert.ok(killed, "the port started");
        await assert.rejects(interrupted, "the interrupted port fails the update");
        assert.ok(await serving(), "the old homeserver serves again, on SQLite");
        await write("between the two attempts");

        await up(testStack!);
        outputs = await outputsOf(testStack!);
        assert.equal(outputs.database, "postgres");
        assert.match(printedSince(testStack!, printed), /an earlier port stopped part-way: emptying the PostgreSQL database/);
        assert.match(docker("exec", container, "cat", overlayOf(container)), /psycopg2/, "the new homeserver runs on PostgreSQL");
        token = (await matrix.login(outputs.adminUserId, outputs.adminPassword)).token!;
        assert.deepEqual(await messages(), written, "every acknowledged message, the one written between the attempts included");
        await write("on PostgreSQL");
        const stored = docker("exec", `${container}-db`, "psql", "--username=synapse", "--dbname=synapse", "-tAc",
            "SELECT count(*) FROM event_json WHERE json LIKE '%on PostgreSQL%'");
        assert.equal(stored, "1", "new messages go to PostgreSQL");
        await expectNoChanges(testStack!);
    });

    it("keeps the volumes when a renamed component's old ledger goes while the stack still has containers", () => {
        // The ledger's own delete, as Pulumi runs it for the old name at the end of an update that renamed the component.
        const stack = `e2e-${id}-renamed`;
        const volume = `synapse-${stack}-data`;
        const labels = ["--label", "io.synapse-stack.project=synapse", "--label", `io.synapse-stack.stack=${stack}`];
        docker("volume", "create", ...labels, volume);
        docker("create", "--name", `synapse-${stack}`, ...labels, recordedImage("caddy"));
        const remove = () =>
            spawnSync("sh", ["-s", "--", "remove"], {
                input: fs.readFileSync(path.join(ROOT, "packages", "synapse", "scripts", "volumes.sh"), "utf8"),
                encoding: "utf8",
                env: { PATH: process.env.PATH, SYNAPSE_VOLUMES: "", SYNAPSE_RETAIN: "false", SYNAPSE_PROJECT: "synapse", SYNAPSE_STACK: stack,
                    PULUMI_COMMAND_STDOUT: `${volume}\tthe homeserver's data` },
            });
        try {
            const renamed = remove();
            assert.equal(renamed.status, 0, renamed.stderr);
            assert.match(renamed.stderr, new RegExp(`kept volume ${volume} .*stack ${stack} still has containers \\(synapse-${stack}\\), so this is an update, not a destroy`));
            assert.equal(docker("volume", "inspect", "--format", "{{.Name}}", volume), volume, "the volume stays");
            docker("rm", "-f", "-v", `synapse-${stack}`);
            const destroyed = remove();
            assert.equal(destroyed.status, 0, destroyed.stderr);
            assert.throws(() => docker("volume", "inspect", volume), "with no container of the stack left, it is a destroy");
        } finally {
            spawnQuietly("rm", "-f", "-v", `synapse-${stack}`);
            spawnQuietly("volume", "rm", "-f", volume);
        }
    });

    it("never deletes a volume another container uses, even on destroy without retention", async () => {
        docker("create", "--name", foreign, "-v", `${dataVolume}:/data`, recordedImage("postgres"));
        const printed = testStack!.output.length;
        await testStack!.stack.destroy({ onOutput: (text) => testStack!.output.push(text) });
        assert.equal(docker("volume", "inspect", "--format", "{{.Name}}", dataVolume), dataVolume, "the data volume stays");
        assert.throws(() => docker("volume", "inspect", databaseVolume), "the database's volume, used by no one, went");
        assert.match(printedSince(testStack!, printed), new RegExp(`kept volume ${dataVolume} .*containers still use it \\(${foreign}`));
    });
});

function tablesIn(database: string): string {
    try {
        return docker("exec", database, "psql", "--username=synapse", "--dbname=synapse", "-tAc", "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'");
    } catch {
        return "0";
    }
}

function spawnQuietly(...args: string[]): void {
    try {
        docker(...args);
    } catch {
        // already gone
    }
}
