// The production profile on a two-node Docker Swarm (test/e2e/swarm-cluster.ts: two engines in containers, the host
// engine joins no swarm). One stack serves every check, in order: first on the manager's engine alone, refusing to
// move in place, then moved onto the swarm with every byte (destroyed keeping its volumes, adopted by the services);
// services placed by node label, a real client over TLS to the edge's host-mode port on the manager, served by client
// workers and an event persister on the second node, media by the media worker on the manager; federation with a
// second stack on the swarm, over an overlay network both edges answer on by their server names; a killed worker task
// replaced while requests keep succeeding; a second up that changes nothing; scaling that changes only the client
// workers; a second event persister, every worker stopped before main rolls to it; a changed config rolled out as a
// new secret, the old one removed; a failed rollout rolled back; draining the second node, which moves its workers
// and never the data services; npm run backup and restore; no secret in plaintext anywhere; destroy leaving both
// inner engines clean.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import {
    changesOf,
    cleanUp,
    createStack,
    docker,
    eventually,
    expectNoChanges,
    inVolume,
    keepAlive,
    Matrix,
    outputsOf,
    pulumiCommand,
    recordedImage,
    ROOT,
    runId,
    setConfig,
    type TestStack,
    up,
    whereSecretShows,
} from "./support";
import { DATA_LABEL, SwarmCluster, WORKERS_LABEL } from "./swarm-cluster";

const seconds = (since: number) => ((Date.now() - since) / 1000).toFixed(1);

describe("the production profile on a two-node Docker Swarm", { timeout: 20 * 60_000 }, () => {
    const id = runId();
    const name = `e2e-${id}-swarm`;
    const serverName = `${name}.localhost`;
    const prefix = `synapse-${name}`;
    const httpsPort = 8443;
    const images = { synapse: recordedImage("synapse"), postgres: recordedImage("postgres"), caddy: recordedImage("caddy"), redis: recordedImage("redis") };
    const cluster = new SwarmCluster(id, 5999);
    const dockerHost = process.env.DOCKER_HOST;
    const started = Date.now();
    let testStack: TestStack | undefined;
    let matrix: Matrix;
    let token: string;
    let roomId: string;
    /** What the data volume held on the single engine: a marker file and the signing key. */
    let marker: string;
    let signingKey: string;
    let volumeName: string;
    const release = keepAlive();
    const tag = (image: string) => cluster.tagOf(image);
    const settings = {
        serverName,
        image: tag(images.synapse),
        database: "postgres",
        postgresImage: tag(images.postgres),
        tls: "internal",
        caddyImage: tag(images.caddy),
        httpsPort: String(httpsPort),
        // Peers on the federation network reach the edge's federation listener, 8448 in its task, by the server name.
        federationPort: "8448",
    };
    /** The swarm's federation network (an overlay made by the test), and its subnet, which Synapse must be let reach. */
    const lab = `matrix-lab-${id}`;
    let subnet: string;
    const federation = (extra: Record<string, unknown> = {}) => JSON.stringify({ network: lab, allowPrivateRanges: [subnet], ...extra });
    /** A second stack on the swarm, which federates with the first. */
    const peerName = `${name}-peer`;
    const peerServer = `${peerName}.localhost`;
    let peer: TestStack | undefined;
    /** Client replicas and event persisters, and the media worker, which runs on the data node with the media store. */
    const workers = (client: number, eventPersister: number) => ({ client, eventPersister, media: 1 });
    const onSwarm = {
        platform: "swarm",
        swarm: JSON.stringify({ dataNodeLabel: DATA_LABEL, workerNodeLabel: WORKERS_LABEL }),
    };
    /** The main service's overlay secrets on the manager. */
    const overlays = () => docker("secret", "ls", "--filter", `name=${prefix}-overlay-`, "--format", "{{.Name}}").split("\n").filter(Boolean);
    /** npm run backup / restore, as a user runs them, against the test's stack on the manager. */
    const npm = (script: "backup" | "restore", args: string[]) => spawnSync("npm", ["run", "-s", script, "--", ...args], { cwd: ROOT, encoding: "utf8", env: { ...process.env, ...testStack!.env } });
    const login = async () => {
        const outputs = await outputsOf(testStack!);
        matrix = new Matrix(`https://${serverName}:${httpsPort}`, { ca: outputs.caCertificate, connectTo: cluster.managerAddress, timeoutSeconds: 60 });
        token = (await matrix.login(outputs.adminUserId, outputs.adminPassword)).token ?? "";
        assert.ok(token, "the admin logs in");
    };

    /** The node and container of each running task of a service, on the manager's view. */
    const tasks = (service: string) =>
        docker("service", "ps", "--filter", "desired-state=running", "--format", "{{.Node}} {{.Name}}.{{.ID}} {{.CurrentState}}", "--no-trunc", service)
            .split("\n")
            .filter((line) => line.includes("Running"))
            .map((line) => {
                const [node, container] = line.split(" ");
                return { node, container };
            });
    /** A service's running task containers, once it has `count` of them on `nodes`, each healthy. */
    const settled = async (service: string, count: number, nodes: string[], timeoutSeconds = 180) => {
        const deadline = Date.now() + timeoutSeconds * 1000;
        for (;;) {
            const running = tasks(service);
            if (running.length === count && running.every((task) => nodes.includes(task.node))) {
                const healthy = running.every((task) => cluster.exec(task.node, "inspect", "--format", "{{.State.Health.Status}}", task.container) === "healthy");
                if (healthy) {
                    return running;
                }
            }
            assert.ok(Date.now() < deadline, `${service}: not ${count} healthy tasks on ${nodes.join(", ")} within ${timeoutSeconds} s: ${JSON.stringify(running)}`);
            await new Promise((resolve) => setTimeout(resolve, 1000));
        }
    };
    /** The sum of a counter's samples whose labels include `labels`, from a task's own metrics (synapseCounter's). */
    const counter = (task: { node: string; container: string }, metric: string, labels = "") =>
        cluster
            .exec(task.node, "exec", task.container, "curl", "-fsS", "http://localhost:9000/_synapse/metrics")
            .split("\n")
            .filter((line) => line.startsWith(`${metric}{`) && line.includes(labels))
            .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
    /** Requests of one servlet a task served. */
    const servedBy = (task: { node: string; container: string }, servlet: string) => counter(task, "synapse_http_server_requests_received_total", `servlet="${servlet}"`);
    /** Events a task persisted. */
    const persisted = (task: { node: string; container: string }) => counter(task, "synapse_storage_events_persisted_events_total");
    const send = async (body: string) =>
        (await matrix.request("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${runId()}`, { msgtype: "m.text", body }, token)).status;

    before(async () => {
        await pulumiCommand();
        await cluster.start(Object.values(images), [images.synapse]);
        // Everything the test and the stack do from here talks to the manager: the provider, the steps' docker CLI.
        process.env.DOCKER_HOST = cluster.dockerHost;
        docker("network", "create", "--driver", "overlay", lab);
        subnet = docker("network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", lab);
    });

    after(async () => {
        // Released whatever the clean-up meets: a pending keep-alive would hold the test process open for good.
        try {
            await cleanUp(peer);
            await cleanUp(testStack);
            if (dockerHost === undefined) {
                delete process.env.DOCKER_HOST;
            } else {
                process.env.DOCKER_HOST = dockerHost;
            }
            cluster.stop();
            assert.deepEqual(cluster.hostLeftovers(), [], "the host engine is left as the test found it");
            console.log(`# swarm e2e: ${seconds(started)} s in all`);
        } finally {
            release();
        }
    });

    it("runs first on the manager's engine alone, and refuses to move onto the swarm in place", async () => {
        const deploying = Date.now();
        // Published on every address of the manager's engine, which only the test's bridge reaches.
        testStack = await createStack(name, { ...settings, bindAddress: "0.0.0.0", retainDataOnDestroy: "true" });
        assert.equal((await up(testStack)).summary.result, "succeeded");
        console.log(`# swarm: the single-engine stack up in ${seconds(deploying)} s`);
        await login();
        roomId = await matrix.createRoomWithMessage(token, `first message ${name}`);
        volumeName = (await outputsOf(testStack)).volumeName;
        marker = runId();
        docker("exec", prefix, "sh", "-c", `echo ${marker} > /data/moved-marker`);
        signingKey = docker("exec", prefix, "cat", `/data/${serverName}.signing.key`);
        await setConfig(testStack, onSwarm);
        await assert.rejects(testStack.stack.preview(), /synapse:platform changed from docker to swarm: not in place.*synapse:retainDataOnDestroy to true/s);
    });

    it("moves onto the swarm with every byte: destroyed keeping its volumes, then adopted by the services", async () => {
        const moving = Date.now();
        await testStack!.stack.destroy({ onOutput: (text) => testStack!.output.push(text) });
        assert.equal(inVolume(volumeName, ["cat", "/data/moved-marker"]), marker, "destroy kept the data volume");
        // An engine whose node lacks the data label is refused before any volume, network or service is made.
        await setConfig(testStack!, { swarm: JSON.stringify({ dataNodeLabel: WORKERS_LABEL }), bindAddress: undefined });
        await assert.rejects(up(testStack!), /node \(swarm-e2e-[a-z0-9]+-manager\) has no label synapse\.workers=true, which swarm\.dataNodeLabel names/);
        assert.deepEqual(cluster.leftovers(cluster.manager).filter((line) => !line.startsWith("volume ") && line !== `network ${lab}`), [], "no service, secret, network or container was made");
        await setConfig(testStack!, {
            ...onSwarm,
            retainDataOnDestroy: undefined,
            workers: JSON.stringify(workers(2, 1)),
            federation: federation(),
            redisImage: tag(images.redis),
            extraConfig: JSON.stringify({ rc_message: { per_second: 100, burst_count: 100 } }),
        });
        assert.equal((await up(testStack!)).summary.result, "succeeded");
        console.log(`# swarm: destroyed and up on the swarm in ${seconds(moving)} s`);
        assert.equal(inVolume(volumeName, ["cat", "/data/moved-marker"]), marker, "the services run on the same data volume");
        assert.equal(inVolume(volumeName, ["cat", `/data/${serverName}.signing.key`]), signingKey, "with the same signing key");
    });

    it("comes up as services: the data and the media worker on the manager, the client workers and an event persister on the second node", async () => {
        for (const service of [prefix, `${prefix}-db`, `${prefix}-redis`, `${prefix}-edge`]) {
            assert.deepEqual((await settled(service, 1, [cluster.manager])).map((task) => task.node), [cluster.manager], `${service} runs on the data node`);
        }
        await settled(`${prefix}-client`, 2, [cluster.worker]);
        // A named process (a stream writer) is a service of one replica, on a worker node; the media worker runs with
        // the data volume.
        await settled(`${prefix}-event-persister-1`, 1, [cluster.worker]);
        await settled(`${prefix}-media-1`, 1, [cluster.manager]);
        assert.equal(docker("service", "inspect", "--format", "{{.Spec.EndpointSpec.Mode}}", `${prefix}-client`), "dnsrr");
        assert.equal(docker("network", "inspect", "--format", "{{.Driver}} {{.Internal}} {{.Attachable}}", `${prefix}-workers`), "overlay true false");
        assert.equal(docker("network", "inspect", "--format", "{{.Driver}} {{.Internal}} {{.Attachable}}", `${prefix}-db`), "overlay true true");
    });

    it("serves a real client over TLS through the workers on the second node, with the single engine's messages", async () => {
        await login();
        for (let i = 0; i < 6; i++) {
            assert.equal(await send(`message ${i}`), 200);
        }
        assert.deepEqual((await matrix.messages(token, roomId)).slice(0, 7).reverse(), [`first message ${name}`, ...[0, 1, 2, 3, 4, 5].map((i) => `message ${i}`)]);
        const clients = tasks(`${prefix}-client`);
        assert.ok(clients.every((task) => task.node === cluster.worker));
        const served = clients.reduce((sum, task) => sum + servedBy(task, "RoomSendEventRestServlet"), 0);
        assert.ok(served >= 6, `the worker tasks on ${cluster.worker} served the sends (${served})`);
        assert.ok(persisted(tasks(`${prefix}-event-persister-1`)[0]) >= 6, "the event persister on the second node wrote the events");
        assert.equal(persisted(tasks(prefix)[0]), 0, "main persisted none");
        const media = Buffer.from(`media through the media worker ${name}`);
        const downloaded = await matrix.download(token, await matrix.upload(token, media, "text/plain"));
        assert.deepEqual(downloaded.bytes, media);
        assert.ok(servedBy(tasks(`${prefix}-media-1`)[0], "UploadServlet") >= 1, "the media worker served the upload");
    });

    it("federates with a second stack on the swarm, client workers on the second node inviting over the federation network", async () => {
        const deploying = Date.now();
        const a = await outputsOf(testStack!);
        peer = await createStack(peerName, {
            ...settings,
            ...onSwarm,
            serverName: peerServer,
            swarm: JSON.stringify({ dataNodeLabel: DATA_LABEL }),
            httpsPort: "8444",
            federationPort: "8449",
            federation: federation({ trustedCaCertificates: [a.caCertificate] }),
        });
        assert.equal((await up(peer)).summary.result, "succeeded");
        console.log(`# swarm: the second stack up in ${seconds(deploying)} s`);
        const b = await outputsOf(peer);
        const peerMatrix = new Matrix(`https://${peerServer}:8444`, { ca: b.caCertificate, connectTo: cluster.managerAddress, timeoutSeconds: 60 });
        const peerToken = (await peerMatrix.login(b.adminUserId, b.adminPassword)).token ?? "";
        assert.ok(peerToken, "the second stack's admin logs in");

        // The first trusts the second's CA: a changed config, and the root as a config in the workers' tasks.
        const trusting = Date.now();
        await setConfig(testStack!, { federation: federation({ trustedCaCertificates: [b.caCertificate] }) });
        assert.equal((await up(testStack!)).summary.result, "succeeded");
        console.log(`# swarm: the first stack rolled to trust the second's CA in ${seconds(trusting)} s`);
        for (const task of await settled(`${prefix}-client`, 2, [cluster.worker])) {
            assert.equal(cluster.exec(task.node, "exec", task.container, "cat", "/data/synapse-stack-files/federation-ca-0.pem").trim(), b.caCertificate.trim(), `${task.container} has the root`);
        }

        const ok = async (answer: ReturnType<Matrix["request"]>, what: string) => {
            const { status, json } = await answer;
            if (status !== 200) {
                throw new Error(`${what}: ${status} ${JSON.stringify(json)}`);
            }
            return json;
        };
        // Each Synapse fetches the other's signing key over federation (the notary endpoint asks the other server).
        for (const [from, to, server] of [[matrix, b, peerServer], [peerMatrix, a, serverName]] as const) {
            await eventually(`${server}'s key fetched`, async () => {
                const json = await ok(from.request("POST", "/_matrix/key/v2/query", { server_keys: { [server]: { [to.signingKeyId]: { minimum_valid_until_ts: Date.now() } } } }), "key query");
                return json.server_keys?.[0]?.verify_keys?.[to.signingKeyId] ? true : undefined;
            });
        }
        // Created and the invite sent by a client worker on the second node; joined, and messages both ways.
        const room = await ok(matrix.request("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", invite: [b.adminUserId] }, token), "createRoom");
        const federated = String(room.room_id);
        await eventually("the second stack's admin joins", () => ok(peerMatrix.request("POST", `/_matrix/client/v3/join/${encodeURIComponent(federated)}?server_name=${serverName}`, {}, peerToken), "join"));
        await ok(matrix.request("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(federated)}/send/m.room.message/${runId()}`, { msgtype: "m.text", body: "hello from the first" }, token), "send");
        await eventually("the second reads the first's message", async () => ((await peerMatrix.messages(peerToken, federated)).includes("hello from the first") ? true : undefined));
        await ok(peerMatrix.request("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(federated)}/send/m.room.message/${runId()}`, { msgtype: "m.text", body: "hello from the second" }, peerToken), "send");
        await eventually("the first reads the second's message", async () => ((await matrix.messages(token, federated)).includes("hello from the second") ? true : undefined));
        const invites = tasks(`${prefix}-client`).reduce((sum, task) => sum + servedBy(task, "RoomCreateRestServlet"), 0);
        assert.equal(invites, 1, "a client worker on the second node created the room and sent the invite");

        await peer.stack.destroy({ onOutput: (text) => peer!.output.push(text) });
        const peerPrefix = `synapse-${peerName}`;
        const left = () => cluster.leftovers(cluster.manager).filter((line) => line.includes(peerPrefix));
        for (let i = 0; i < 30 && left().length > 0; i++) {
            await new Promise((resolve) => setTimeout(resolve, 1000));
        }
        assert.deepEqual(left(), [], "the second stack's destroy left nothing of it");
        assert.equal(await send("after the second stack's destroy"), 200);
    });

    it("changes nothing on a second up", async () => {
        await expectNoChanges(testStack!).catch(async (error: unknown) => {
            // What differs, property by property: the provider's read-back of a service spec is the usual suspect.
            const preview = await testStack!.stack.preview({ diff: true });
            console.log(preview.stdout.split("\n").filter((line) => /^\s+[~+-] /.test(line) && !/verification warning/.test(line)).join("\n"));
            throw error;
        });
        const result = await up(testStack!);
        assert.deepEqual(changesOf(result), {});
    });

    it("replaces a killed worker task while requests keep succeeding", async () => {
        const [victim] = tasks(`${prefix}-client`);
        const killed = Date.now();
        cluster.exec(victim.node, "kill", victim.container);
        for (let i = 0; i < 10; i++) {
            assert.equal(await send(`during the replacement ${i}`), 200, `request ${i} after the kill`);
        }
        const replaced = await settled(`${prefix}-client`, 2, [cluster.worker]);
        assert.ok(!replaced.some((task) => task.container === victim.container), "the killed task was replaced");
        console.log(`# swarm: killed task replaced and healthy in ${seconds(killed)} s`);
    });

    it("scales the client workers and changes nothing else", async () => {
        const main = tasks(prefix)[0].container;
        await setConfig(testStack!, { workers: JSON.stringify(workers(1, 1)) });
        const result = await up(testStack!);
        assert.deepEqual(changesOf(result), { update: 1, replace: 1 }, "only the client workers' service changed, and the wait for its rollout ran again");
        await settled(`${prefix}-client`, 1, [cluster.worker]);
        assert.equal(tasks(prefix)[0].container, main, "main kept running");
    });

    it("stops every worker before main rolls to a second event persister, then runs them all on the new config", async () => {
        const adding = Date.now();
        await setConfig(testStack!, { workers: JSON.stringify(workers(1, 2)) });
        assert.equal((await up(testStack!)).summary.result, "succeeded");
        console.log(`# swarm: a second event persister added in ${seconds(adding)} s`);
        const said = testStack!.output.join("");
        for (const service of ["client", "event-persister-1", "media-1"]) {
            assert.match(said, new RegExp(`stopping service ${prefix}-${service}: the shared worker config changes`));
        }
        await settled(`${prefix}-event-persister-2`, 1, [cluster.worker]);
        await settled(`${prefix}-client`, 1, [cluster.worker]);
        const before = ["event-persister-1", "event-persister-2"].map((writer) => persisted(tasks(`${prefix}-${writer}`)[0]));
        for (let i = 0; i < 6; i++) {
            assert.equal(await send(`to the persisters ${i}`), 200);
        }
        const after = ["event-persister-1", "event-persister-2"].map((writer) => persisted(tasks(`${prefix}-${writer}`)[0]));
        assert.ok(after[0] + after[1] >= before[0] + before[1] + 6, `the two persisters wrote the events (${before} then ${after})`);
    });

    it("rolls every process to a changed config as a new secret, and removes the old one", async () => {
        const [before] = overlays();
        const main = tasks(prefix)[0].container;
        const rolling = Date.now();
        const said = testStack!.output.length;
        await setConfig(testStack!, { extraConfig: JSON.stringify({ rc_message: { per_second: 100, burst_count: 101 } }) });
        assert.equal((await up(testStack!)).summary.result, "succeeded");
        console.log(`# swarm: config change rolled out in ${seconds(rolling)} s`);
        assert.doesNotMatch(testStack!.output.slice(said).join(""), /the shared worker config changes/, "no worker was stopped first: the shared worker keys are as they were");
        const after = overlays();
        assert.equal(after.length, 1, `one overlay secret: ${after.join(" ")}`);
        assert.notEqual(after[0], before, "a changed config is a new secret");
        assert.notEqual(tasks(prefix)[0].container, main, "main rolled to it");
        assert.ok(docker("service", "inspect", "--format", "{{json .Spec.TaskTemplate.ContainerSpec.Secrets}}", `${prefix}-client`).includes(after[0]), "the workers rolled to it");
        await settled(`${prefix}-client`, 1, [cluster.worker]);
        assert.equal(await send("after the config change"), 200);
        // Each rollout has ended, and every secret a service's spec names (or would roll back to) still exists.
        const existing = docker("secret", "ls", "--format", "{{.ID}}").split("\n");
        for (const service of docker("service", "ls", "--format", "{{.Name}}").split("\n")) {
            const inspect = () => JSON.parse(docker("service", "inspect", service))[0] as { UpdateStatus?: { State: string; Message: string }; Spec: Spec };
            type Spec = { TaskTemplate: { ContainerSpec: { Secrets?: { SecretID: string; SecretName: string }[] } } };
            for (let i = 0; i < 60 && inspect().UpdateStatus?.State === "updating"; i++) {
                await new Promise((resolve) => setTimeout(resolve, 1000));
            }
            const { UpdateStatus, Spec } = inspect();
            assert.ok(UpdateStatus === undefined || UpdateStatus.State === "completed", `${service}'s rollout: ${JSON.stringify(UpdateStatus)}`);
            for (const secret of Spec.TaskTemplate.ContainerSpec.Secrets ?? []) {
                assert.ok(existing.includes(secret.SecretID), `${service} names the secret ${secret.SecretName}, which exists`);
            }
        }
    });

    it("rolls back a rollout that fails, up failing with the task's own error; the next up with a good config rolls out", async () => {
        const good = JSON.stringify({ rc_message: { per_second: 100, burst_count: 101 } });
        const rolling = Date.now();
        // A value only Synapse refuses, when it starts: the new main task exits.
        await setConfig(testStack!, { extraConfig: JSON.stringify({ rc_message: { per_second: 100, burst_count: 101 }, default_room_version: "99" }) });
        await assert.rejects(up(testStack!), (error: Error) => {
            assert.match(error.message, new RegExp(`service ${prefix}: the rollout ended rollback_completed`));
            assert.match(error.message, /non-zero exit \(1\)/);
            assert.match(error.message, /Unknown default_room_version: 99/);
            return true;
        });
        console.log(`# swarm: failed rollout rolled back in ${seconds(rolling)} s`);
        await settled(prefix, 1, [cluster.manager]);
        assert.equal(await send("after the rollback"), 200, "main runs again on the config it had");
        assert.equal(inVolume(volumeName, ["cat", "/data/moved-marker"]), marker, "the data volume is untouched");
        await setConfig(testStack!, { extraConfig: good });
        assert.equal((await up(testStack!)).summary.result, "succeeded");
        console.log(`# swarm: failed rollout rolled back, then a good config rolled out, in ${seconds(rolling)} s`);
        assert.equal(overlays().length, 1, `the failed rollout's secrets are swept: ${overlays().join(" ")}`);
        await settled(`${prefix}-client`, 1, [cluster.worker]);
        assert.equal(await send("after the good config"), 200);
        await expectNoChanges(testStack!);
    });

    it("moves the workers off a drained node and never the data services", async () => {
        const data = [prefix, `${prefix}-db`, `${prefix}-redis`, `${prefix}-edge`].map((service) => tasks(service)[0].container);
        // The operator lets the manager run workers too, then drains the second node.
        cluster.exec(cluster.manager, "node", "update", "--label-add", WORKERS_LABEL, cluster.manager);
        const draining = Date.now();
        cluster.exec(cluster.manager, "node", "update", "--availability", "drain", cluster.worker);
        await settled(`${prefix}-client`, 1, [cluster.manager]);
        console.log(`# swarm: workers moved off the drained node in ${seconds(draining)} s`);
        assert.deepEqual([prefix, `${prefix}-db`, `${prefix}-redis`, `${prefix}-edge`].map((service) => tasks(service)[0].container), data, "the data services kept their tasks");
        assert.equal(await send("after the drain"), 200);
        assert.equal((await matrix.messages(token, roomId))[0], "after the drain");
    });

    it("backs up and restores with npm run backup and restore, the services stopped and started again", async () => {
        const backups = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-backups-`));
        try {
            const backedUp = npm("backup", ["--stack", name, "--out", backups]);
            assert.equal(backedUp.status, 0, backedUp.stderr);
            const archive = backedUp.stdout.trim();
            assert.ok(fs.existsSync(archive), `the archive ${archive}`);
            assert.equal(await send("after the backup"), 200);
            const main = tasks(prefix)[0].container;
            const restoring = Date.now();
            const restored = npm("restore", ["--stack", name, "--force", archive]);
            assert.equal(restored.status, 0, restored.stderr);
            console.log(`# swarm: restore in ${seconds(restoring)} s`);
            assert.match(restored.stderr, new RegExp(`stopping service ${prefix}-client \\(1 to 0 replicas\\)`));
            assert.notEqual(tasks(prefix)[0].container, main, "main was stopped and started again");
            await settled(`${prefix}-client`, 1, [cluster.manager]);
            await login();
            assert.equal((await matrix.messages(token, roomId))[0], "after the drain", "the message sent after the backup is gone");
            assert.equal(await send("after the restore"), 200);
            assert.equal(inVolume(volumeName, ["cat", `/data/${serverName}.signing.key`]), signingKey);
            await expectNoChanges(testStack!);
        } finally {
            fs.rmSync(backups, { recursive: true, force: true });
        }
    });

    it("shows no secret in service specs, tasks, logs, state or output", async () => {
        const outputs = await outputsOf(testStack!);
        const main = tasks(prefix)[0].container;
        const overlay = docker("exec", main, "cat", "/run/secrets/synapse-overlay.yaml");
        const databasePassword = /"password": ?"([A-Za-z0-9]+)"/.exec(overlay)?.[1] ?? /password: ([A-Za-z0-9]+)/.exec(overlay)?.[1];
        const replicationSecret = docker("exec", main, "cat", "/run/secrets/synapse-replication-secret").trim();
        assert.ok(databasePassword && databasePassword.length >= 32, "the database password was read from the overlay secret");
        assert.ok(replicationSecret.length >= 40);
        const specs = docker("service", "inspect", ...docker("service", "ls", "-q").split("\n"));
        const workerNode = cluster.exec(cluster.worker, "ps", "-aq").split("\n").filter(Boolean);
        const workerTexts = workerNode.flatMap((container) => [cluster.exec(cluster.worker, "inspect", container), cluster.exec(cluster.worker, "logs", container)]);
        for (const [what, secret] of [["the admin password", outputs.adminPassword], ["the database password", databasePassword], ["the replication secret", replicationSecret]] as const) {
            assert.deepEqual(whereSecretShows(testStack!, secret), [], `${what} shows nowhere on the manager, in state or output`);
            assert.ok(!specs.includes(secret), `${what} is in no service spec`);
            assert.ok(!workerTexts.some((text) => text.includes(secret)), `${what} is in no task of the second node`);
        }
    });

    it("destroys every service, secret, network and volume on both engines", async () => {
        const destroying = Date.now();
        await testStack!.stack.destroy({ onOutput: (text) => testStack!.output.push(text) });
        console.log(`# swarm: destroy in ${seconds(destroying)} s`);
        // Swarm removes a service's tasks on the other nodes a moment after the service.
        for (let i = 0; i < 30 && cluster.leftovers(cluster.worker).length > 0; i++) {
            await new Promise((resolve) => setTimeout(resolve, 1000));
        }
        // The test's federation network, once no task is on it any more.
        for (let i = 0; i < 30 && spawnSync("docker", ["network", "rm", lab]).status !== 0; i++) {
            await new Promise((resolve) => setTimeout(resolve, 1000));
        }
        const kept = testStack!.output.join("").split("\n").filter((line) => line.includes("volumes: kept"));
        assert.deepEqual(cluster.leftovers(cluster.manager), [], `the manager's engine is clean ${kept.join("\n")}`);
        assert.deepEqual(cluster.leftovers(cluster.worker), [], "the second node's engine is clean");
    });
});
