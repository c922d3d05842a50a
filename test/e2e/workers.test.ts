// Synapse workers on the real engine: PostgreSQL, the TLS edge routing to one worker of each kind (the stream writers
// included), Redis. Over 300 lines on purpose: one stack serves every check, in order, each building on the state the
// last one left: a real client over TLS, each worker's own metrics, a count change that leaves main running, a worker
// killed as the OOM killer would under client traffic, a change that restarts every process under traffic, 2 → 0 → 2
// with every message kept, and the replication secret found nowhere in plaintext.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
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
    productionConfig,
    pulumiCommand,
    recordedImage,
    runId,
    setConfig,
    synapseCounter,
    type TestStack,
    up,
    whereSecretShows,
} from "./support";
import { Traffic } from "./traffic";

/** A process's count of requests its servlet `servlet` received. */
const requestsReceived = (container: string, servlet: string) => synapseCounter(container, "synapse_http_server_requests_received_total", `servlet="${servlet}"`);

const lastLogLines = (container: string, tail = "30") => {
    const logs = spawnSync("docker", ["logs", "--tail", tail, container], { encoding: "utf8", maxBuffer: 256 * 2 ** 20 });
    return `${logs.stdout}${logs.stderr}`;
};

const containerId = (name: string) => docker("inspect", "--format", "{{.Id}}", name);

/**
 * The container events (start, die) of a stack from now until `stop`, oldest first: the order processes restarted in.
 * Followed as they happen: the engine keeps only its last few hundred events, and health checks alone fill that.
 */
function followContainerEvents(stackName: string): { stop: () => Promise<{ action: string; name: string; time: number }[]> } {
    const child = spawn("docker", [
        "events", "--filter", `label=io.synapse-stack.stack=${stackName}`, "--filter", "type=container", "--filter", "event=start", "--filter", "event=die",
        "--format", "{{.Action}} {{.Actor.Attributes.name}} {{.TimeNano}}",
    ]);
    let text = "";
    child.stdout.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
    return {
        stop: async () => {
            // The engine sends an event as it happens; a moment more lets the last ones arrive.
            await new Promise((resolve) => setTimeout(resolve, 1000));
            child.kill();
            return text.split("\n").filter(Boolean).map((line) => {
                const [action, name, time] = line.split(" ");
                return { action, name, time: Number(time) };
            });
        },
    };
}

describe("Synapse workers behind the edge", { timeout: 30 * 60_000 }, () => {
    const name = `e2e-${runId()}-workers`;
    const serverName = `${name}.localhost`;
    const prefix = `synapse-${name}`;
    const kinds = [
        "client-1", "sync-1", "federation-reader-1", "federation-sender-1", "pusher-1", "media-1", "background-1", "event-persister-1", "typing-1",
        "to-device-1", "account-data-1", "receipts-1", "presence-1", "push-rules-1", "device-lists-1",
    ];
    let testStack: TestStack | undefined;
    let httpsPort: number;
    let matrix: Matrix;
    let token: string;
    let roomId: string;
    let mxc: string;
    let mainId: string;
    let signingKey: string;
    let loadRoom: string;
    let adminUserId: string;
    /** Every message the test has seen accepted, in every room. */
    const accepted: { roomId: string; body: string }[] = [];
    const release = keepAlive();
    const media = Buffer.from(`media through the media worker ${name}`);

    before(async () => {
        await pulumiCommand();
        httpsPort = await freePort();
    });

    after(async () => {
        // Released whatever the clean-up meets: a pending keep-alive would hold the test process open for good.
        try {
            await cleanUp(testStack);
        } finally {
            release();
        }
    });

    it("comes up with one worker of each kind and Redis, each healthy, none published", async () => {
        testStack = await createStack(name, {
            serverName,
            ...productionConfig(),
            httpsPort: String(httpsPort),
            federationPort: "0",
            workers: JSON.stringify({ preset: "one-of-each" }),
            redisImage: recordedImage("redis"),
            // The test sends faster than Synapse's default message rate limit allows.
            extraConfig: JSON.stringify({ rc_message: { per_second: 100, burst_count: 100 } }),
        });
        assert.equal((await up(testStack)).summary.result, "succeeded");
        const outputs = await outputsOf(testStack);
        // The edge holds a request up to its try duration while no process of its row answers: wait longer than that.
        matrix = new Matrix(`https://${serverName}:${httpsPort}`, { ca: outputs.caCertificate, connectTo: "127.0.0.1", timeoutSeconds: 120 });
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
        adminUserId = outputs.adminUserId;
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
        accepted.push(...[`first message ${name}`, "message 0", "message 1", "message 2", "message 3", "message 4"].map((body) => ({ roomId, body })));
        assert.ok(requestsReceived(`${prefix}-sync-1`, "SyncRestServlet") >= syncBefore + 2, "the sync worker served both syncs");
        assert.equal(requestsReceived(prefix, "SyncRestServlet"), mainBefore, "main served no sync");
        assert.ok(requestsReceived(`${prefix}-client-1`, "RoomSendEventRestServlet") >= 5, "the client worker served the sends");
        const persisted = (container: string) => synapseCounter(container, "synapse_storage_events_persisted_events_total");
        assert.ok(persisted(`${prefix}-event-persister-1`) >= 6, "the event persister wrote the events");
        assert.equal(persisted(prefix), 0, "main persisted none");
    });

    it("sends each stream's writes to its writer, not to main", async () => {
        const room = encodeURIComponent(roomId);
        const user = encodeURIComponent(adminUserId);
        const eventId = (await matrix.request("GET", `/_matrix/client/v3/rooms/${room}/messages?dir=b&limit=1`, undefined, token)).json.chunk[0].event_id as string;
        const writes: [string, string, string, unknown, string][] = [
            ["typing-1", "PUT", `/_matrix/client/v3/rooms/${room}/typing/${user}`, { typing: true, timeout: 5000 }, "RoomTypingRestServlet"],
            ["to-device-1", "PUT", `/_matrix/client/v3/sendToDevice/m.test/${runId()}`, { messages: {} }, "SendToDeviceRestServlet"],
            ["account-data-1", "PUT", `/_matrix/client/v3/user/${user}/account_data/org.example.e2e`, { value: 1 }, "AccountDataServlet"],
            ["receipts-1", "POST", `/_matrix/client/v3/rooms/${room}/receipt/m.read/${encodeURIComponent(eventId)}`, {}, "ReceiptRestServlet"],
            ["presence-1", "PUT", `/_matrix/client/v3/presence/${user}/status`, { presence: "online" }, "PresenceStatusRestServlet"],
            ["push-rules-1", "PUT", "/_matrix/client/v3/pushrules/global/override/org.example.e2e", { actions: ["dont_notify"], conditions: [] }, "PushRuleRestServlet"],
            ["device-lists-1", "POST", "/_matrix/client/v3/keys/upload", { one_time_keys: {} }, "KeyUploadServlet"],
        ];
        for (const [writer, method, path, body, servlet] of writes) {
            const answer = await matrix.request(method, path, body, token);
            assert.equal(answer.status, 200, `${method} ${path} answered ${answer.status}: ${JSON.stringify(answer.json)}`);
            assert.ok(requestsReceived(`${prefix}-${writer}`, servlet) >= 1, `${writer} served ${servlet}`);
            assert.equal(requestsReceived(prefix, servlet), 0, `main served no ${servlet}`);
        }
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

    it("survives a worker killed as the OOM killer would: requests keep succeeding, the restart policy brings it back", async () => {
        loadRoom = await matrix.createRoomWithMessage(token, `load room ${name}`);
        accepted.push({ roomId: loadRoom, body: `load room ${name}` });
        const worker = `${prefix}-client-1`;
        const before = docker("inspect", "--format", "{{.Id}} {{.RestartCount}}", worker).split(" ");
        const traffic = new Traffic(matrix, token, loadRoom, "during the kill");
        await new Promise((resolve) => setTimeout(resolve, 3000));
        // SIGKILL from the host to the worker's process (not `docker kill`, which counts as a manual stop).
        process.kill(Number(docker("inspect", "--format", "{{.State.Pid}}", worker)), "SIGKILL");
        const sentBeforeKill = traffic.sent.length;
        await new Promise((resolve) => setTimeout(resolve, 3000));
        assert.equal(await healthStatus(worker, 120), "healthy", `the worker came back; its last log lines:\n${lastLogLines(worker)}`);
        await new Promise((resolve) => setTimeout(resolve, 3000));
        await traffic.stop();
        accepted.push(...traffic.sent.map((body) => ({ roomId: loadRoom, body })));
        const after = docker("inspect", "--format", "{{.Id}} {{.RestartCount}}", worker).split(" ");
        assert.equal(after[0], before[0], "the same container, restarted by its policy");
        assert.ok(Number(after[1]) > Number(before[1]), `restarted (restart count ${before[1]} → ${after[1]})`);
        console.log(`kill: ${traffic.requests} requests, ${traffic.firstFailures.length} needed a retry${traffic.firstFailures.length ? `:\n  ${traffic.firstFailures.join("\n  ")}` : ""}`);
        assert.deepEqual(traffic.failures, [], "every request succeeded, a retry at most");
        assert.deepEqual(traffic.firstFailures.filter((failure) => failure.includes(": 503 ")), [], "none refused for want of a process");
        assert.ok(traffic.sent.length >= sentBeforeKill + 2, `messages kept flowing after the kill (${sentBeforeKill} before it, ${traffic.sent.length} in all)`);
    });

    it("restarts every process for a second event persister, workers stopped first and started last, losing no message", async () => {
        const followed = followContainerEvents(name);
        const before = Object.fromEntries([prefix, ...kinds.map((worker) => `${prefix}-${worker}`)].map((container) => [container, containerId(container)]));
        // A client's patience with a send: repeated up to three times, half a second apart (see below).
        const traffic = new Traffic(matrix, token, loadRoom, "during the restart", { tries: 4, retryPauseMs: 500 });
        await new Promise((resolve) => setTimeout(resolve, 2000));
        await setConfig(testStack!, { workers: JSON.stringify({ preset: "one-of-each", client: 2, eventPersister: 2 }) });
        const events = await up(testStack!).then(
            async (result) => {
                assert.equal(result.summary.result, "succeeded");
                return (await followed.stop()).filter((event) => event.name === prefix || kinds.some((worker) => event.name === `${prefix}-${worker}`));
            },
            async (error: unknown) => {
                await followed.stop();
                throw error;
            },
        );
        for (const worker of [...kinds, "client-2", "event-persister-2"]) {
            assert.equal(await healthStatus(`${prefix}-${worker}`, 120), "healthy", `${worker}; its last log lines:\n${lastLogLines(`${prefix}-${worker}`)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 3000));
        await traffic.stop();
        accepted.push(...traffic.sent.map((body) => ({ roomId: loadRoom, body })));
        for (const [container, id] of Object.entries(before)) {
            assert.notEqual(containerId(container), id, `${container} restarted on the new stream writers`);
        }
        const mainStart = events.find((event) => event.name === prefix && event.action === "start")!.time;
        const lastWorkerDie = Math.max(...events.filter((event) => event.name !== prefix && event.action === "die").map((event) => event.time));
        const firstWorkerStart = Math.min(...events.filter((event) => event.name !== prefix && event.action === "start").map((event) => event.time));
        assert.ok(lastWorkerDie < mainStart, "every old worker stopped before the new main started");
        assert.ok(firstWorkerStart > mainStart, "every new worker started after the new main");
        console.log(`restart: ${traffic.requests} requests, ${traffic.firstFailures.length} needed a retry${traffic.firstFailures.length ? `:\n  ${traffic.firstFailures.join("\n  ")}` : ""}`);
        // Held by the edge while no process of its row answers; a request in flight when its process stopped is sent
        // again by the edge (GET) or by the client: Caddy 2.6 cannot send a body twice, so a send that met a process
        // as it went away (in flight, or a refused connection just before the edge's check noticed) is answered 502,
        // and as processes stop and start in turn that can happen to one send's repeat again.
        const edgeErrors = () => lastLogLines(`${prefix}-edge`, "300").split("\n").filter((line) => line.includes('"level":"error"')).map((line) => line.slice(0, 400)).join("\n");
        assert.deepEqual(traffic.failures, [], `every request succeeded, repeated three times at most; the edge's errors:\n${edgeErrors()}`);
        assert.deepEqual(traffic.firstFailures.filter((failure) => failure.includes(": 503 ")), [], "none refused for want of a process: the edge held them");
        const messages = await matrix.messages(token, loadRoom, 1000);
        assert.deepEqual(traffic.sent.filter((body) => !messages.includes(body)), [], "every accepted message is in the room");
        assert.equal(new Set(messages).size, messages.length, "and each once");
    });

    it("goes back to one process with every message, the media and the signing key kept", async () => {
        await setConfig(testStack!, { workers: undefined, redisImage: undefined });
        assert.equal((await up(testStack!)).summary.result, "succeeded");
        const left = ownedObjects(name).containers.filter((container) => container.startsWith(`${prefix}-`) && !["db", "edge", "generate"].includes(container.slice(prefix.length + 1)));
        assert.deepEqual(left, [], "no worker and no Redis left");
        assert.ok(!ownedObjects(name).networks.includes(`${prefix}-workers`), "the worker network is gone");
        await expectEveryMessage();
        const downloaded = await matrix.download(token, mxc);
        assert.deepEqual(downloaded.bytes, media, "main serves the media the worker stored");
        assert.equal(inVolume(`${prefix}-data`, ["sh", "-c", "cat /data/*.signing.key"]), signingKey, "the same signing key");
        await expectNoChanges(testStack!);
    });

    it("scales back to two event persisters and two client workers with every message kept", async () => {
        await setConfig(testStack!, { workers: JSON.stringify({ client: 2, eventPersister: 2 }), redisImage: recordedImage("redis") });
        assert.equal((await up(testStack!)).summary.result, "succeeded");
        for (const worker of ["client-1", "client-2", "event-persister-1", "event-persister-2"]) {
            assert.equal(await healthStatus(`${prefix}-${worker}`, 120), "healthy", `${worker}; its last log lines:\n${lastLogLines(`${prefix}-${worker}`)}`);
        }
        const sent = await matrix.request("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${runId()}`, { msgtype: "m.text", body: "after 2 → 0 → 2" }, token);
        assert.equal(sent.status, 200);
        accepted.push({ roomId, body: "after 2 → 0 → 2" });
        await expectEveryMessage();
        assert.equal(inVolume(`${prefix}-data`, ["sh", "-c", "cat /data/*.signing.key"]), signingKey, "the same signing key");
        await expectNoChanges(testStack!);
    });

    it("shows the replication secret nowhere: not in state, args, env, labels, logs or CLI output", () => {
        const secret = inVolume(`${prefix}-data`, ["cat", "/data/synapse-stack-files/replication-secret"]).trim();
        assert.equal(secret.length, 40);
        assert.deepEqual(whereSecretShows(testStack!, secret), [], "nowhere but its file");
    });

    /** Every message the test saw accepted is in its room, once. */
    async function expectEveryMessage(): Promise<void> {
        for (const room of new Set(accepted.map((message) => message.roomId))) {
            const messages = await matrix.messages(token, room, 1000);
            assert.deepEqual(accepted.filter((message) => message.roomId === room && !messages.includes(message.body)), [], `every message in ${room}`);
        }
    }
});
