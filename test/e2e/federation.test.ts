// Federation, proven: two production-profile stacks (PostgreSQL, TLS edge with its own CA) on one Docker network
// exchange messages through their edges, trusting each other's CA read through stack references; a third server is
// kept out by A's allow list and refused by B for its untrusted certificate; destroying B leaves A whole.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { after, before, describe, it } from "node:test";
import {
    cleanUp,
    createStack,
    docker,
    eventually,
    freePort,
    healthStatus,
    keepAlive,
    Matrix,
    outputsOf,
    pulumiCommand,
    recordedImage,
    runId,
    setConfig,
    synapseCounter,
    type SharedBackend,
    sharedBackend,
    type TestStack,
    up,
} from "./support";

interface Server {
    stack: TestStack;
    serverName: string;
    outputs: Record<string, string>;
    matrix: Matrix;
    token: string;
}

describe("federation between two stacks over TLS", { timeout: 30 * 60_000 }, () => {
    const id = runId();
    const lab = `matrix-lab-${id}`;
    const servers: Record<"a" | "b" | "c", Server | undefined> = { a: undefined, b: undefined, c: undefined };
    let backend: SharedBackend;
    let subnet: string;
    let roomId: string;
    let release: () => void = () => undefined;
    const started = Date.now();

    const serverName = (key: string) => `${key}-${id}.localhost`;
    const stackName = (key: string) => `e2e-${id}-fed-${key}`;
    /** Every server joins the lab network, where its edge answers to its server name, and may reach its subnet. */
    const federation = (extra: Record<string, unknown>) => JSON.stringify({ network: lab, allowPrivateRanges: [subnet], ...extra });
    const peer = (key: string) => `organization/synapse/${stackName(key)}`;

    /** Deploys (or updates) one server of the federation and logs its admin in over its own edge. */
    async function deploy(key: "a" | "b" | "c", config: Record<string, string>): Promise<Server> {
        let stack = servers[key]?.stack;
        if (!stack) {
            stack = await createStack(stackName(key), {}, undefined, { backend });
            await setConfig(stack, {
                serverName: serverName(key),
                tls: "internal",
                caddyImage: recordedImage("caddy"),
                httpsPort: String(await freePort()),
                federationPort: String(await freePort()),
            });
        }
        await setConfig(stack, config);
        await up(stack);
        const outputs = await outputsOf(stack);
        const matrix = new Matrix(outputs.url, { ca: outputs.caCertificate, connectTo: "127.0.0.1" });
        const login = await matrix.login(outputs.adminUserId, outputs.adminPassword);
        assert.equal(login.status, 200, `${key}'s admin logs in`);
        servers[key] = { stack, serverName: serverName(key), outputs, matrix, token: login.token! };
        return servers[key]!;
    }

    before(async () => {
        release = keepAlive();
        await pulumiCommand();
        backend = sharedBackend(`fed-${id}`);
        // A network of its own, on a subnet Synapse's default blocklist covers (10/8): allowPrivateRanges must open it.
        for (let attempt = 0; ; attempt++) {
            subnet = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}.0/24`;
            const created = spawnSync("docker", ["network", "create", "--subnet", subnet, "--label", `io.synapse-stack.test=${id}`, lab]);
            if (created.status === 0) {
                break;
            }
            assert.ok(attempt < 10, `could not create ${lab}: ${created.stderr}`);
        }
    });

    after(async () => {
        // Released whatever the clean-up meets: a pending keep-alive would hold the test process open for good.
        try {
            for (const server of Object.values(servers)) {
                await cleanUp(server?.stack);
            }
            spawnSync("docker", ["network", "rm", lab]);
            fs.rmSync(backend.stateDir, { recursive: true, force: true });
        } finally {
            release();
        }
        console.log(`    federation test: ${((Date.now() - started) / 1000).toFixed(0)} s`);
    });

    it("deploys A and B, each trusting the other's CA through a stack reference to its caCertificate output", async () => {
        const postgres = { database: "postgres", postgresImage: recordedImage("postgres") };
        // A first, trusting no one yet; B trusting A; then A trusting B: each reads the other's caCertificate output.
        await deploy("a", { ...postgres, federation: federation({ allowList: [serverName("b")] }) });
        // B federates through workers: inbound transactions to its federation reader, outbound from its sender.
        const workers = { workers: JSON.stringify({ federationReader: 1, federationSender: 1 }), redisImage: recordedImage("redis") };
        const b = await deploy("b", { ...postgres, ...workers, federation: federation({ peerStacks: [peer("a")] }) });
        const a = await deploy("a", { federation: federation({ allowList: [serverName("b")], peerStacks: [peer("b")] }) });
        const state = (await a.stack.stack.exportStack()).deployment as { resources: { type: string; urn: string; outputs?: { outputs?: { caCertificate?: string } } }[] };
        const reference = state.resources.find((resource) => resource.type === "pulumi:pulumi:StackReference" && resource.urn.endsWith(`synapse-peer-organization-synapse-${stackName("b")}`));
        assert.equal(reference?.outputs?.outputs?.caCertificate, b.outputs.caCertificate, "A reads B's CA through a stack reference");
        assert.notEqual(a.outputs.caCertificate, b.outputs.caCertificate);
    });

    it("fetches each other's server version and keys through Synapse itself", async () => {
        const a = servers.a!;
        const b = servers.b!;
        for (const [from, to] of [[a, b], [b, a]] as const) {
            // The notary endpoint, asked for a key it has not cached, makes `from`'s Synapse fetch it from `to` over
            // federation (TLS, `to`'s CA); asked for "all keys" it would answer only from its cache.
            let last = "";
            const query = await eventually(`${from.serverName} fetches ${to.serverName}'s keys`, async () => {
                const answer = await from.matrix.request("POST", "/_matrix/key/v2/query", {
                    server_keys: { [to.serverName]: { [to.outputs.signingKeyId]: { minimum_valid_until_ts: Date.now() } } },
                });
                last = `${answer.status} ${JSON.stringify(answer.json)}`;
                return answer.status === 200 && answer.json.server_keys?.length ? answer : undefined;
            }).catch((err: Error) => {
                throw new Error(`${err.message}; last answer: ${last}`);
            });
            const theirs = await to.matrix.request("GET", "/_matrix/key/v2/server");
            assert.deepEqual(Object.keys(query.json.server_keys[0].verify_keys), Object.keys(theirs.json.verify_keys));
            assert.ok(query.json.server_keys[0].verify_keys[to.outputs.signingKeyId], `${to.serverName}'s signing key, as its output says`);
            // A remote profile lookup is a federation query from `from` to `to`; the version comes from `to` too.
            const profile = await eventually(`${from.serverName} reads a profile on ${to.serverName}`, async () => {
                const answer = await from.matrix.request("GET", `/_matrix/client/v3/profile/${encodeURIComponent(to.outputs.adminUserId)}`, undefined, from.token);
                return answer.status === 200 ? answer : undefined;
            });
            assert.equal(profile.json.displayname, to.outputs.adminUserId.slice(1).split(":")[0]);
        }
        // And the raw endpoints, from inside each homeserver's container, over the lab network, trusting only the CA
        // file the stack wrote for it: the same path Synapse takes.
        for (const [from, to] of [[a, b], [b, a]] as const) {
            for (const endpoint of ["/_matrix/federation/v1/version", "/_matrix/key/v2/server"]) {
                // Python, not curl: curl answers every *.localhost name with loopback itself, Synapse asks the network's DNS.
                const fetched = docker(
                    "exec", `synapse-${from.stack.name}`, "python3", "-c",
                    "import ssl, sys, urllib.request; context = ssl.create_default_context(cafile=sys.argv[1]); " +
                        "print(urllib.request.urlopen(sys.argv[2], context=context, timeout=10).read().decode())",
                    "/data/synapse-stack-files/federation-ca-0.pem", `https://${to.serverName}:8448${endpoint}`,
                );
                const answer = JSON.parse(fetched) as { server?: { name: string }; server_name?: string };
                assert.ok(answer.server?.name === "Synapse" || answer.server_name === to.serverName, `${endpoint}: ${fetched}`);
            }
        }
    });

    it("carries a room from A to B and messages both ways", async () => {
        const a = servers.a!;
        const b = servers.b!;
        const room = await a.matrix.request("POST", "/_matrix/client/v3/createRoom", { name: "federation", preset: "public_chat", invite: [b.outputs.adminUserId] }, a.token);
        assert.equal(room.status, 200, JSON.stringify(room.json));
        roomId = room.json.room_id;
        await eventually("B sees the invite and joins", async () => {
            const joined = await b.matrix.request("POST", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}?server_name=${serverName("a")}`, {}, b.token);
            return joined.status === 200 ? joined : undefined;
        });
        const send = async (server: Server, text: string) => {
            const sent = await server.matrix.request("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${runId()}`, { msgtype: "m.text", body: text }, server.token);
            assert.equal(sent.status, 200, JSON.stringify(sent.json));
        };
        await send(a, "hello B, from A");
        await eventually("B reads A's message", async () => ((await b.matrix.messages(b.token, roomId)).includes("hello B, from A") ? true : undefined));
        await send(b, "hello A, from B");
        await eventually("A reads B's message", async () => ((await a.matrix.messages(a.token, roomId)).includes("hello A, from B") ? true : undefined));
        const bMain = `synapse-${stackName("b")}`;
        const received = (container: string) => synapseCounter(container, "synapse_http_server_requests_received_total", 'servlet="FederationSendServlet"');
        assert.ok(received(`${bMain}-federation-reader-1`) >= 1, "B's federation reader took A's transactions");
        assert.equal(received(bMain), 0, "B's main took none");
        const sent = (container: string) => synapseCounter(container, "synapse_federation_client_sent_transactions_total");
        assert.ok(sent(`${bMain}-federation-sender-1`) >= 1, "B's federation sender sent B's transactions");
        assert.equal(sent(bMain), 0, "B's main sent none");
    });

    it("keeps out a third server: not in A's allow list, it cannot join A's room; its untrusted CA is refused by B", async () => {
        const c = await deploy("c", { federation: federation({ peerStacks: [peer("a")] }) });
        const a = servers.a!;
        const b = servers.b!;
        const join = await c.matrix.request("POST", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}?server_name=${serverName("a")}`, {}, c.token);
        assert.notEqual(join.status, 200, `C joined A's room: ${JSON.stringify(join.json)}`);
        const members = await a.matrix.request("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/joined_members`, undefined, a.token);
        assert.deepEqual(Object.keys(members.json.joined).sort(), [a.outputs.adminUserId, b.outputs.adminUserId].sort());

        // B federates with anyone, but trusts only A's CA: C's certificate comes from a CA it does not know.
        const profile = await b.matrix.request("GET", `/_matrix/client/v3/profile/${encodeURIComponent(c.outputs.adminUserId)}`, undefined, b.token);
        assert.notEqual(profile.status, 200, "B reached C although it does not trust C's CA");
        const logs = spawnSync("docker", ["logs", `synapse-${stackName("b")}`], { encoding: "utf8" });
        assert.match(logs.stdout + logs.stderr, /certificate verify failed|CERTIFICATE_VERIFY_FAILED|unable to get local issuer certificate/i);
    });

    it("leaves A healthy with its room when B is destroyed", async () => {
        const a = servers.a!;
        const b = servers.b!;
        await b.stack.stack.destroy({ onOutput: (text) => b.stack.output.push(text) });
        assert.equal(await healthStatus(`synapse-${stackName("a")}`), "healthy");
        const messages = await a.matrix.messages(a.token, roomId);
        assert.ok(messages.includes("hello B, from A") && messages.includes("hello A, from B"), JSON.stringify(messages));
    });
});
