// The stack's whole life against the real Pulumi engine, the real Docker engine and real Synapse.
// The steps share one stack and run in order; `after` destroys everything even when a step failed.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import {
    changesOf,
    cleanUp,
    createStack,
    docker,
    freePort,
    healthStatus,
    inspectContainer as inspect,
    Matrix,
    outputsOf,
    ownedObjects,
    pulumiCommand,
    runId,
    setConfig,
    type TestStack,
    up,
} from "./support";

// Test stacks log in and fail logins more often than production's rate limits allow; never a production default.
const TEST_LIMITS = JSON.stringify({
    rc_login: {
        address: { per_second: 50, burst_count: 100 },
        account: { per_second: 50, burst_count: 100 },
        failed_attempts: { per_second: 50, burst_count: 100 },
    },
});

/** Local addresses listening on a TCP port, read from the kernel's socket tables (no traffic sent). */
function listenersOn(port: number): string[] {
    const found: string[] = [];
    for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
        for (const line of fs.readFileSync(table, "utf8").split("\n").slice(1)) {
            const fields = line.trim().split(/\s+/);
            if (fields.length < 4 || fields[3] !== "0A") {
                continue; // not LISTEN
            }
            const [address, portHex] = fields[1].split(":");
            if (parseInt(portHex, 16) !== port) {
                continue;
            }
            found.push(
                address.length === 8
                    ? address.match(/../g)!.reverse().map((byte) => parseInt(byte, 16)).join(".")
                    : address,
            );
        }
    }
    return found;
}


function filesUnder(dir: string): string[] {
    return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => path.join(entry.parentPath, entry.name));
}

describe("the stack's lifecycle on the real engine", { timeout: 30 * 60_000 }, () => {
    const id = runId();
    const nameA = `e2e-${id}-a`;
    const nameB = `e2e-${id}-b`;
    let stackA: TestStack | undefined;
    let stackB: TestStack | undefined;
    let portA: number;
    let outputs: Record<string, string>;
    let matrix: Matrix;
    let roomId: string;
    const message = `hello from ${nameA}`;
    const seenPasswords: string[] = [];

    const currentOutputs = outputsOf;

    const adminToken = async () => {
        const login = await matrix.login(outputs.adminUserId, outputs.adminPassword);
        assert.equal(login.status, 200, `admin login answered ${login.status} ${login.errcode ?? ""}`);
        return login.token!;
    };

    before(async () => {
        await pulumiCommand(); // fails loudly without CLI or engine
        portA = await freePort();
    });

    after(async () => {
        await cleanUp(stackB);
        await cleanUp(stackA);
    });

    it("refuses bad config before anything exists", async () => {
        stackA = await createStack(nameA, { serverName: "not a host", httpPort: "70000" });
        await assert.rejects(up(stackA), (err: Error) => {
            assert.match(err.message, /synapse:serverName "not a host" is not valid: expected a DNS name such as matrix\.example\.org/);
            assert.match(err.message, /synapse:httpPort "70000" is not valid: expected a port number from 1 to 65535/);
            return true;
        });
        assert.deepEqual(ownedObjects(nameA), { containers: [], volumes: [], networks: [] });
    });

    it("comes up cold: outputs, /health, the client API, and a listener on the configured address only", async () => {
        await setConfig(stackA!, { serverName: `${nameA}.localhost`, httpPort: String(portA), extraConfig: TEST_LIMITS });
        const result = await up(stackA!);
        assert.equal(result.summary.result, "succeeded");
        outputs = await currentOutputs(stackA!);
        assert.deepEqual(Object.keys(outputs).sort(), [
            "adminPassword",
            "adminUserId",
            "containerName",
            "database",
            "image",
            "lastBackup",
            "serverName",
            "signingKeyId",
            "url",
            "volumeName",
        ]);
        const secretOutputs = Object.entries(await stackA!.stack.outputs()).filter(([, output]) => output.secret);
        assert.deepEqual(secretOutputs.map(([key]) => key), ["adminPassword"]);
        assert.equal(outputs.url, `http://127.0.0.1:${portA}`);
        assert.equal(outputs.adminUserId, `@admin:${nameA}.localhost`);
        assert.equal(outputs.volumeName, `synapse-${nameA}-data`);
        seenPasswords.push(outputs.adminPassword);
        matrix = new Matrix(outputs.url);

        const health = await fetch(`${outputs.url}/health`);
        assert.equal(health.status, 200);
        const versions = await matrix.request("GET", "/_matrix/client/versions");
        assert.equal(versions.status, 200);
        assert.ok(Array.isArray(versions.json.versions) && versions.json.versions.length > 0);

        assert.deepEqual(listenersOn(portA), ["127.0.0.1"]);
        const bindings = inspect(outputs.containerName).HostConfig.PortBindings;
        assert.deepEqual(bindings, { "8008/tcp": [{ HostIp: "127.0.0.1", HostPort: String(portA) }] });
        assert.equal(await healthStatus(outputs.containerName), "healthy");
    });

    it("has a real admin: logs in, is an admin, and a wrong password is refused", async () => {
        const token = await adminToken();
        const user = await matrix.request("GET", `/_synapse/admin/v2/users/${encodeURIComponent(outputs.adminUserId)}`, undefined, token);
        assert.equal(user.status, 200);
        assert.equal(user.json.admin, true);
        const wrong = await matrix.login(outputs.adminUserId, `${outputs.adminPassword}-wrong`);
        assert.equal(wrong.status, 403);
        assert.equal(wrong.errcode, "M_FORBIDDEN");
    });

    it("keeps registration closed", async () => {
        const register = await matrix.request("POST", "/_matrix/client/v3/register", { username: "intruder", password: "x".repeat(20) });
        assert.equal(register.status, 403);
    });

    it("carries messages: create a room, send, read back", async () => {
        const token = await adminToken();
        roomId = await matrix.createRoomWithMessage(token, message);
        assert.deepEqual(await matrix.messages(token, roomId), [message]);
    });

    it("is idempotent: preview expects no changes and a second up changes nothing", async () => {
        await stackA!.stack.preview({ expectNoChanges: true, onOutput: (text) => stackA!.output.push(text) });
        assert.deepEqual(changesOf(await up(stackA!)), {});
    });

    it("rotates the admin password: the new one logs in, the old one is refused", async () => {
        const oldPassword = outputs.adminPassword;
        await setConfig(stackA!, { adminPasswordVersion: "2" });
        await up(stackA!);
        outputs = await currentOutputs(stackA!);
        seenPasswords.push(outputs.adminPassword);
        assert.notEqual(outputs.adminPassword, oldPassword);
        assert.equal((await matrix.login(outputs.adminUserId, outputs.adminPassword)).status, 200);
        assert.equal((await matrix.login(outputs.adminUserId, oldPassword)).status, 403);
    });

    it("keeps the data when the homeserver container is replaced (new host port)", async () => {
        const before = inspect(outputs.containerName).Id;
        portA = await freePort();
        await setConfig(stackA!, { httpPort: String(portA) });
        await up(stackA!);
        outputs = await currentOutputs(stackA!);
        assert.notEqual(inspect(outputs.containerName).Id, before, "the container was replaced");
        matrix = new Matrix(outputs.url);
        assert.deepEqual(await matrix.messages(await adminToken(), roomId), [message]);
    });

    it("heals drift: a container removed by hand comes back on the next up, data intact", async () => {
        docker("rm", "-f", outputs.containerName);
        await up(stackA!, { refresh: true });
        assert.equal(await healthStatus(outputs.containerName), "healthy");
        assert.deepEqual(await matrix.messages(await adminToken(), roomId), [message]);
    });

    it("runs a second stack side by side without touching the first", async () => {
        const portB = await freePort();
        stackB = await createStack(nameB, { serverName: `${nameB}.localhost`, httpPort: String(portB), extraConfig: TEST_LIMITS });
        await up(stackB);
        const outputsB = await currentOutputs(stackB);
        seenPasswords.push(outputsB.adminPassword);
        assert.notEqual(outputsB.volumeName, outputs.volumeName);
        assert.notEqual(outputsB.containerName, outputs.containerName);
        const keyA = await matrix.request("GET", "/_matrix/key/v2/server");
        const keyB = await new Matrix(outputsB.url).request("GET", "/_matrix/key/v2/server");
        assert.equal(keyA.json.server_name, `${nameA}.localhost`);
        assert.equal(keyB.json.server_name, `${nameB}.localhost`);
        assert.notDeepEqual(Object.values(keyA.json.verify_keys), Object.values(keyB.json.verify_keys));

        await stackB.stack.destroy({ onOutput: (text) => stackB!.output.push(text) });
        assert.deepEqual(ownedObjects(nameB), { containers: [], volumes: [], networks: [] });
        assert.deepEqual(ownedObjects(nameA).volumes, [outputs.volumeName]);
        assert.deepEqual(await matrix.messages(await adminToken(), roomId), [message]);
    });

    it("keeps the volume on destroy when retainDataOnDestroy is set, and a new up finds the old room", async () => {
        await setConfig(stackA!, { retainDataOnDestroy: "true" });
        await up(stackA!);
        await stackA!.stack.destroy({ onOutput: (text) => stackA!.output.push(text) });
        assert.deepEqual(ownedObjects(nameA), { containers: [], volumes: [outputs.volumeName], networks: [] });

        // A new up generates a new password for the admin that already exists in the kept data.
        await up(stackA!);
        outputs = await currentOutputs(stackA!);
        seenPasswords.push(outputs.adminPassword);
        assert.deepEqual(await matrix.messages(await adminToken(), roomId), [message]);
    });

    it("never shows the admin password: not in state, container args, env or logs, nor in the CLI's output", async () => {
        // Every file the state backend wrote: checkpoints, history and backups (the Automation API's own export
        // decrypts secrets, so the files on disk are what an attacker would read).
        const stateFiles = [stackA!, stackB!].flatMap((testStack) => filesUnder(testStack.stateDir));
        assert.ok(stateFiles.length > 0, "the state backend wrote files");
        const containers = ownedObjects(nameA).containers;
        assert.ok(containers.length >= 2, "the generate and homeserver containers exist");
        for (const password of seenPasswords) {
            const inPlaintext = stateFiles.filter((file) => fs.readFileSync(file, "utf8").includes(password));
            assert.deepEqual(inPlaintext, [], "the password is in the state's plaintext");
            for (const container of containers) {
                const details = inspect(container);
                const exposed = JSON.stringify([details.Args, details.Path, details.Config.Env, details.Config.Cmd, details.Config.Labels]);
                assert.ok(!exposed.includes(password), `the password is in ${container}'s args, env or labels`);
                assert.ok(!docker("logs", container).includes(password), `the password is in ${container}'s logs`);
            }
            for (const testStack of [stackA!, stackB!]) {
                assert.ok(!testStack.output.join("").includes(password), `the password is in ${testStack.name}'s CLI output`);
            }
        }
    });

    it("destroys everything: no container, volume or network of the stack remains", async () => {
        await setConfig(stackA!, { retainDataOnDestroy: "false" });
        await up(stackA!);
        await stackA!.stack.destroy({ onOutput: (text) => stackA!.output.push(text) });
        assert.deepEqual(ownedObjects(nameA), { containers: [], volumes: [], networks: [] });
    });
});
