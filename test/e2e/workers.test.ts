// Synapse workers on the real engine: PostgreSQL, the TLS edge routing to one worker of each kind, Redis. One stack
// serves every check, in order: a real client over TLS, each worker's own metrics, a count change that leaves main
// running, and back to one process with every byte kept.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import {
    changesOf,
    cleanUp,
    createStack,
    docker,
    expectNoChanges,
    freePort,
    healthStatus,
    inVolume,
    keepAlive,
    Matrix,
    outputsOf,
    ownedObjects,
    pulumiCommand,
    recordedImage,
    runId,
    setConfig,
    synapseCounter,
    type TestStack,
    up,
} from "./support";

/** A process's count of requests its servlet `servlet` received. */
const requestsReceived = (container: string, servlet: string) => synapseCounter(container, "synapse_http_server_requests_received_total", `servlet="${servlet}"`);

const lastLogLines = (container: string) => {
    const logs = spawnSync("docker", ["logs", "--tail", "30", container], { encoding: "utf8" });
    return `${logs.stdout}${logs.stderr}`;
};

const containerId = (name: string) => docker("inspect", "--format", "{{.Id}}", name);

describe("Synapse workers behind the edge", { timeout: 30 * 60_000 }, () => {
    const name = `e2e-${runId()}-workers`;
    const serverName = `${name}.localhost`;
    const prefix = `synapse-${name}`;
    const kinds = ["client-1", "sync-1", "federation-reader-1", "federation-sender-1", "pusher-1", "media-1", "background-1"];
    let testStack: TestStack | undefined;
    let httpsPort: number;
    let matrix: Matrix;
    let token: string;
    let roomId: string;
    let mxc: string;
    let mainId: string;
    let signingKey: string;
    const release = keepAlive();
    const media = Buffer.from(`media through the media worker ${name}`);

    before(async () => {
        await pulumiCommand();
        httpsPort = await freePort();
    });

    after(async () => {
        await cleanUp(testStack);
        release();
    });

    it("comes up with one worker of each kind and Redis, each healthy, none published", async () => {
        testStack = await createStack(name, {
            serverName,
            database: "postgres",
            postgresImage: recordedImage("postgres"),
            tls: "internal",
            caddyImage: recordedImage("caddy"),
            httpsPort: String(httpsPort),
            federationPort: "0",
            workers: JSON.stringify({ preset: "one-of-each" }),
            redisImage: recordedImage("redis"),
            // The test sends faster than Synapse's default message rate limit allows.
            extraConfig: JSON.stringify({ rc_message: { per_second: 100, burst_count: 100 } }),
        });
        assert.equal((await up(testStack)).summary.result, "succeeded");
        const outputs = await outputsOf(testStack);
        matrix = new Matrix(`https://${serverName}:${httpsPort}`, { ca: outputs.caCertificate, connectTo: "127.0.0.1" });
        for (const worker of kinds) {
            const status = await healthStatus(`${prefix}-${worker}`, 90);
            assert.equal(status, "healthy", `${worker} is ${status}; its last log lines:\n${status === "healthy" ? "" : lastLogLines(`${prefix}-${worker}`)}`);
        }
        assert.equal(await healthStatus(`${prefix}-redis`, 30), "healthy");
        const owned = ownedObjects(name);
        for (const container of [...kinds.map((worker) => `${prefix}-${worker}`), `${prefix}-redis`]) {
            assert.ok(owned.containers.includes(container), `${container} carries the stack's labels`);
            assert.ok(["{}", "null"].includes(docker("inspect", "--format", "{{json .HostConfig.PortBindings}}", container)), `${container} is published nowhere`);
        }
        assert.equal(docker("network", "inspect", "--format", "{{.Internal}}", `${prefix}-workers`), "true");
        const redisNetworks = docker("inspect", "--format", "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}", `${prefix}-redis`).trim();
        assert.equal(redisNetworks, `${prefix}-workers`, "Redis is on the internal worker network alone");
        token = (await matrix.login(outputs.adminUserId, outputs.adminPassword)).token ?? "";
        assert.ok(token, "the admin logs in through the client worker");
        signingKey = inVolume(`${prefix}-data`, ["sh", "-c", "cat /data/*.signing.key"]);
        mainId = containerId(prefix);
    });

    it("syncs through the sync worker, not main, and sends and reads messages", async () => {
        const mainBefore = requestsReceived(prefix, "SyncRestServlet");
        const syncBefore = requestsReceived(`${prefix}-sync-1`, "SyncRestServlet");
        roomId = await matrix.createRoomWithMessage(token, `first message ${name}`);
        for (let i = 0; i < 5; i++) {
            const sent = await matrix.request("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${runId()}`, { msgtype: "m.text", body: `message ${i}` }, token);
            assert.equal(sent.status, 200);
        }
        const sync = await matrix.request("GET", "/_matrix/client/v3/sync?timeout=0", undefined, token);
        assert.equal(sync.status, 200);
        assert.ok(sync.json.rooms.join[roomId], "the room is in the sync");
        const again = await matrix.request("GET", `/_matrix/client/v3/sync?timeout=0&since=${sync.json.next_batch}`, undefined, token);
        assert.equal(again.status, 200);
        assert.deepEqual((await matrix.messages(token, roomId)).slice(0, 6).reverse(), [`first message ${name}`, "message 0", "message 1", "message 2", "message 3", "message 4"]);
        assert.ok(requestsReceived(`${prefix}-sync-1`, "SyncRestServlet") >= syncBefore + 2, "the sync worker served both syncs");
        assert.equal(requestsReceived(prefix, "SyncRestServlet"), mainBefore, "main served no sync");
        assert.ok(requestsReceived(`${prefix}-client-1`, "RoomSendEventRestServlet") >= 5, "the client worker served the sends");
    });

    it("uploads and downloads media through the media worker", async () => {
        mxc = await matrix.upload(token, media, "text/plain");
        const downloaded = await matrix.download(token, mxc);
        assert.equal(downloaded.status, 200);
        assert.deepEqual(downloaded.bytes, media);
        assert.ok(requestsReceived(`${prefix}-media-1`, "UploadServlet") >= 1, "the media worker served the upload");
        assert.equal(requestsReceived(prefix, "UploadServlet"), 0, "main served no upload");
    });

    it("changes nothing on a second up", async () => {
        await expectNoChanges(testStack!);
    });

    it("adds a client worker without restarting main", async () => {
        await setConfig(testStack!, { workers: JSON.stringify({ preset: "one-of-each", client: 2 }) });
        const result = await up(testStack!);
        assert.equal(result.summary.result, "succeeded");
        assert.equal(containerId(prefix), mainId, "main kept running");
        assert.equal(await healthStatus(`${prefix}-client-2`, 90), "healthy");
        assert.equal(changesOf(result).delete ?? 0, 0, "nothing removed");
        const messages = await matrix.messages(token, roomId);
        assert.ok(messages.includes(`first message ${name}`));
    });

    it("goes back to one process with every message, the media and the signing key kept", async () => {
        await setConfig(testStack!, { workers: undefined, redisImage: undefined });
        assert.equal((await up(testStack!)).summary.result, "succeeded");
        const left = ownedObjects(name).containers.filter((container) => container.startsWith(`${prefix}-`) && !["db", "edge", "generate"].includes(container.slice(prefix.length + 1)));
        assert.deepEqual(left, [], "no worker and no Redis left");
        assert.ok(!ownedObjects(name).networks.includes(`${prefix}-workers`), "the worker network is gone");
        const messages = await matrix.messages(token, roomId);
        assert.ok(messages.includes("message 4") && messages.includes(`first message ${name}`), "every message is kept");
        const downloaded = await matrix.download(token, mxc);
        assert.deepEqual(downloaded.bytes, media, "main serves the media the worker stored");
        assert.equal(inVolume(`${prefix}-data`, ["sh", "-c", "cat /data/*.signing.key"]), signingKey, "the same signing key");
        await expectNoChanges(testStack!);
    });
});
