// TURN for calls on the real engine, in the production profile (PostgreSQL, the TLS edge with its own CA): a logged-in
// client gets credentials from Synapse; coturn's own test client allocates relays with them over UDP, TCP and TLS and
// exchanges data with a peer the test runs on a network of its own, allowed by turn.allowPeers; TLS serves the edge's
// certificate, and a renewed one after a reload in place; relays toward the stack's own containers (PostgreSQL first) and
// loopback are refused, as are expired and forged credentials; the shared secret is nowhere in plaintext; an allowPeers
// range over the stack's own networks is refused; a second `up` changes nothing; destroy leaves nothing behind.
// Over 300 lines on purpose: one stack serves every check, each needing the one before it (the credentials, the peer).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as dgram from "node:dgram";
import * as tls from "node:tls";
import { after, before, describe, it } from "node:test";
import {
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
    type TestStack,
    up,
    volumeNames,
    volumesLeft,
    whereSecretShows,
} from "./support";

/** What coturn's test client printed, and whether it exited cleanly. */
interface ClientRun {
    status: number | null;
    output: string;
    sent: number;
    received: number;
}

const RELAY_PORTS = 64;

/** The hardened flags of every container the test itself runs. */
const HARDENED = ["--read-only", "--tmpfs", "/var/lib/coturn", "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true", "--pids-limit", "64", "--memory", "128m"];

/**
 * coturn's own test client (turnutils_uclient, from the TURN image itself) as a real TURN client on the host's network,
 * where the TURN ports are published: allocate a relay with the given credentials, then send `messages` packets to the
 * peer through it and count the echoes that come back. The image's entrypoint would eat `-e` (it expands arguments
 * with `echo`), so the tool is the entrypoint.
 */
function turnClient(options: { user: string; password: string; port: number; peer: string; flags?: string[]; messages?: number }): ClientRun {
    const result = spawnSync(
        "docker",
        [
            "run", "--rm", "--network", "host", ...HARDENED, "--entrypoint", "turnutils_uclient", recordedImage("coturn"),
            ...(options.flags ?? []), "-c", "-n", String(options.messages ?? 20), "-l", "120", "-e", options.peer, "-r", "3480",
            "-u", options.user, "-w", options.password, "-p", String(options.port), "127.0.0.1",
        ],
        { encoding: "utf8", timeout: 60_000 },
    );
    const output = `${result.stdout}${result.stderr}`;
    const totals = [...output.matchAll(/tot_send_msgs=(\d+), tot_recv_msgs=(\d+)/g)].at(-1);
    return { status: result.status, output, sent: Number(totals?.[1] ?? 0), received: Number(totals?.[2] ?? 0) };
}

/** The REST-API credentials coturn accepts: `<expiry>:<user>` and the base64 HMAC-SHA1 of it under the shared secret. */
function credentials(secret: string, expiry: number, user: string): { user: string; password: string } {
    const name = `${expiry}:${user}`;
    return { user: name, password: crypto.createHmac("sha1", secret).update(name).digest("base64") };
}

/** `count` consecutive ports free for UDP on loopback, below Linux's ephemeral range. */
async function freeUdpRange(count: number): Promise<number> {
    const free = (port: number) =>
        new Promise<boolean>((resolve) => {
            const socket = dgram.createSocket("udp4");
            socket.once("error", () => resolve(false));
            socket.bind(port, "127.0.0.1", () => socket.close(() => resolve(true)));
        });
    for (let attempt = 0; attempt < 50; attempt++) {
        const first = 20000 + Math.floor(Math.random() * 12000);
        const answers = await Promise.all(Array.from({ length: count }, (_, offset) => free(first + offset)));
        if (answers.every(Boolean)) {
            return first;
        }
    }
    throw new Error(`no ${count} free UDP ports in a row between 20000 and 32000`);
}

/** A container's address on a network. */
const addressOn = (container: string, network: string) => docker("inspect", "--format", `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container);

/** The certificate a TLS server shows for `servername`, verified against `ca`. */
function peerCertificate(port: number, servername: string, ca: string): Promise<{ authorized: boolean; fingerprint: string; error?: string }> {
    return new Promise((resolve, reject) => {
        const socket = tls.connect({ host: "127.0.0.1", port, servername, ca, rejectUnauthorized: false }, () => {
            const answer = { authorized: socket.authorized, fingerprint: socket.getPeerCertificate().fingerprint256, error: socket.authorizationError?.message };
            socket.end();
            resolve(answer);
        });
        socket.setTimeout(10_000, () => socket.destroy(new Error(`no TLS answer on ${port}`)));
        socket.on("error", reject);
    });
}

describe("TURN for calls", { timeout: 20 * 60_000 }, () => {
    const name = `e2e-${runId()}-turn`;
    const serverName = `${name}.localhost`;
    const prefix = `synapse-${name}`;
    const peerNetwork = `${prefix}-peers`;
    const peerContainer = `${prefix}-peer`;
    const strangerContainer = `${prefix}-stranger`;
    let subnet = "";
    let peer = "";
    /** A second echo server on the same network, whose address allowPeers does not name. */
    let stranger = "";
    let testStack: TestStack | undefined;
    let ports: { https: number; turn: number; tls: number; relay: number };
    let outputs: Record<string, string>;
    let turnServer: { username: string; password: string; ttl: number; uris: string[] };
    const release = keepAlive();
    /** synapse:turn as the test deploys it. */
    const turnSettings = () => ({
        image: recordedImage("coturn"),
        port: ports.turn,
        tlsPort: ports.tls,
        relayPorts: `${ports.relay}-${ports.relay + RELAY_PORTS - 1}`,
        network: peerNetwork,
        // The peer alone: the rest of its network (the TURN server's own address there included) stays denied.
        allowPeers: [`${peer}/32`],
    });
    /** The shared secret, as coturn's config in its volume holds it. */
    const sharedSecret = () => inVolume(`${prefix}-turn`, ["cat", "/data/turnserver.conf"], { image: recordedImage("coturn") }).match(/^static-auth-secret=(.+)$/m)?.[1] ?? "";
    /**
     * Valid credentials of a user of its own, made as Synapse makes them: coturn allows each user 12 relays at once
     * (user-quota), and coturn's test client leaves its relays to time out.
     */
    let probes = 0;
    const probeCredentials = (secret: string) => credentials(secret, Math.floor(Date.now() / 1000) + 600, `@probe-${++probes}:${serverName}`);

    /** The engine's volumes before the stack: an anonymous one left after destroy has no label to find it by. */
    let volumesBefore: Set<string>;

    before(async () => {
        volumesBefore = volumeNames();
        await pulumiCommand();
        // coturn's test client leaves each relay to time out: room for every allocation the test makes (about 25).
        const relay = await freeUdpRange(RELAY_PORTS);
        ports = { https: await freePort(), turn: await freePort(), tls: await freePort(), relay };
        // The peer's own network, in a range no other network on the engine has.
        for (let attempt = 0; attempt < 20 && !subnet; attempt++) {
            const candidate = `10.213.${Math.floor(Math.random() * 256)}.0/24`;
            const created = spawnSync("docker", ["network", "create", "--subnet", candidate, peerNetwork], { encoding: "utf8" });
            subnet = created.status === 0 ? candidate : "";
        }
        assert.ok(subnet, "a network for the peer");
        peer = subnet.replace(/0\/24$/, "50");
        stranger = subnet.replace(/0\/24$/, "51");
        // coturn's own test peer: an echo server for whatever the relay sends it.
        for (const [container, address] of [[peerContainer, peer], [strangerContainer, stranger]]) {
            docker("run", "-d", "--name", container, "--network", peerNetwork, "--ip", address, ...HARDENED, "--entrypoint", "turnutils_peer", recordedImage("coturn"), "-L", address, "-p", "3480");
        }
    });

    after(async () => {
        // Released whatever the clean-up meets: a pending keep-alive would hold the test process open for good.
        try {
            await cleanUp(testStack);
            spawnSync("docker", ["rm", "-f", "-v", peerContainer, strangerContainer]);
            spawnSync("docker", ["network", "rm", peerNetwork]);
        } finally {
            release();
        }
    });

    it("comes up with coturn and the certificate copier, hardened, and a second up changes nothing", async () => {
        testStack = await createStack(name, {
            serverName,
            ...productionConfig(),
            httpsPort: String(ports.https),
            federationPort: "0",
            turn: JSON.stringify(turnSettings()),
        });
        const started = Date.now();
        assert.equal((await up(testStack)).summary.result, "succeeded");
        console.log(`# cold up with TURN: ${((Date.now() - started) / 1000).toFixed(1)} s`);
        outputs = await outputsOf(testStack);
        assert.equal(await healthStatus(`${prefix}-turn`, 60), "healthy", docker("logs", "--tail", "30", `${prefix}-turn`));
        const turn = JSON.parse(docker("inspect", `${prefix}-turn`))[0];
        assert.equal(turn.Config.User, "65534:65534");
        assert.deepEqual([turn.HostConfig.ReadonlyRootfs, turn.HostConfig.CapDrop, turn.HostConfig.CapAdd, turn.HostConfig.SecurityOpt], [true, ["ALL"], ["CAP_NET_BIND_SERVICE"], ["no-new-privileges:true"]]);
        assert.equal(turn.HostConfig.PidsLimit, 64);
        assert.deepEqual(Object.keys(turn.NetworkSettings.Networks), [peerNetwork], "on the peers' network alone, none of the stack's");
        const bound = Object.values(turn.HostConfig.PortBindings as Record<string, { HostIp: string }[]>).flat().map((binding) => binding.HostIp);
        assert.deepEqual([...new Set(bound)], ["127.0.0.1"], "published on the bind address only");
        assert.equal(Object.keys(turn.HostConfig.PortBindings).length, 3 + RELAY_PORTS, "UDP and TCP, TLS, and each relay port");
        const copier = JSON.parse(docker("inspect", `${prefix}-turn-certificates`))[0];
        assert.equal(copier.HostConfig.NetworkMode, "none");
        assert.deepEqual([copier.HostConfig.ReadonlyRootfs, copier.HostConfig.CapDrop, copier.HostConfig.CapAdd ?? []], [true, ["ALL"], []]);
        for (const stackNetwork of [prefix, `${prefix}-db`]) {
            assert.ok(!Object.keys(JSON.parse(docker("network", "inspect", stackNetwork))[0].Containers).includes(turn.Id), `not on ${stackNetwork}`);
        }
        await expectNoChanges(testStack);
    });

    it("gives a logged-in client credentials and the URIs from /_matrix/client/v3/voip/turnServer", async () => {
        const matrix = new Matrix(`https://${serverName}:${ports.https}`, { ca: outputs.caCertificate, connectTo: "127.0.0.1" });
        const token = (await matrix.login(outputs.adminUserId, outputs.adminPassword)).token ?? "";
        assert.ok(token, "the admin logs in");
        assert.equal((await matrix.request("GET", "/_matrix/client/v3/voip/turnServer")).status, 401, "not without logging in");
        const answer = await matrix.request("GET", "/_matrix/client/v3/voip/turnServer", undefined, token);
        assert.equal(answer.status, 200, JSON.stringify(answer.json));
        turnServer = answer.json;
        console.log(`# turnServer: ${JSON.stringify({ ...turnServer, password: "(not shown)" })}`);
        assert.deepEqual(turnServer.uris, [
            `turn:${serverName}:${ports.turn}?transport=udp`,
            `turn:${serverName}:${ports.turn}?transport=tcp`,
            `turns:${serverName}:${ports.tls}?transport=tcp`,
        ]);
        assert.equal(turnServer.ttl, 3600);
        assert.match(turnServer.username, new RegExp(`^\\d+:${outputs.adminUserId.replace(/[.]/g, "\\.")}$`));
    });

    it("relays data to and from the allowed peer over UDP, TCP and TLS with those credentials", () => {
        for (const [transport, port, flags] of [["UDP", ports.turn, []], ["TCP", ports.turn, ["-t"]], ["TLS", ports.tls, ["-t", "-S"]]] as const) {
            const run = turnClient({ user: turnServer.username, password: turnServer.password, port, peer, flags: [...flags] });
            console.log(`# ${transport}: sent ${run.sent}, echoed back ${run.received}`);
            assert.equal(run.status, 0, run.output.slice(-2000));
            assert.equal(run.sent, 20, run.output.slice(-2000));
            assert.equal(run.received, 20, `every packet came back from the peer over ${transport}:\n${run.output.slice(-2000)}`);
        }
    });

    it("serves TURN over TLS with the edge's certificate", async () => {
        const edge = await peerCertificate(ports.https, serverName, outputs.caCertificate);
        const turn = await peerCertificate(ports.tls, serverName, outputs.caCertificate);
        console.log(`# certificates: edge ${edge.fingerprint}, TURN ${turn.fingerprint}`);
        assert.equal(turn.authorized, true, turn.error);
        assert.equal(turn.fingerprint, edge.fingerprint, "the same certificate as the edge's");
    });

    it("serves a renewed certificate within half a minute, reloaded in place", async () => {
        const edge = await peerCertificate(ports.https, serverName, outputs.caCertificate);
        const startedAt = docker("inspect", "--format", "{{.State.StartedAt}}", `${prefix}-turn`);
        // A renewal as the copier sees it: another certificate for the host in Caddy's files, put back afterwards (Caddy
        // itself reads them only when it renews). Made by openssl in the TURN image, with no network.
        const leaf = `/data/caddy/certificates/local/${serverName}/${serverName}`;
        const made = docker(
            "run", "--rm", "--network", "none", ...HARDENED, "--entrypoint", "openssl", recordedImage("coturn"), "req", "-x509", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "/dev/stdout", "-out", "/dev/stdout", "-days", "1", "-subj", `/CN=${serverName}`,
            "-addext", `subjectAltName=DNS:${serverName}`,
        );
        const pem = (kind: string) => `${made.match(new RegExp(`-----BEGIN ${kind}-----[\\s\\S]+?-----END ${kind}-----`))?.[0] ?? ""}\n`;
        const edgeShell = (script: string, input = "") => {
            const result = spawnSync("docker", ["exec", "-i", `${prefix}-edge`, "sh", "-c", script], { input, encoding: "utf8" });
            assert.equal(result.status, 0, result.stderr);
        };
        const served = async (want: (fingerprint: string) => boolean, seconds: number): Promise<number> => {
            const started = Date.now();
            while (Date.now() - started < seconds * 1000) {
                if (want((await peerCertificate(ports.tls, serverName, outputs.caCertificate)).fingerprint)) {
                    return Math.round((Date.now() - started) / 1000);
                }
                await new Promise((resolve) => setTimeout(resolve, 1000));
            }
            throw new Error(`the TURN server did not serve the certificate expected within ${seconds} s`);
        };
        edgeShell(`cp -p ${leaf}.crt ${leaf}.crt.saved && cp -p ${leaf}.key ${leaf}.key.saved && cat >${leaf}.key`, pem("PRIVATE KEY"));
        edgeShell(`cat >${leaf}.crt`, pem("CERTIFICATE"));
        let renewed: number;
        try {
            renewed = await served((fingerprint) => fingerprint !== edge.fingerprint, 60);
        } finally {
            edgeShell(`mv -f ${leaf}.crt.saved ${leaf}.crt && mv -f ${leaf}.key.saved ${leaf}.key`);
        }
        const back = await served((fingerprint) => fingerprint === edge.fingerprint, 60);
        console.log(`# certificate renewal: the new one served after ${renewed} s, the edge's again ${back} s after it came back, coturn not restarted`);
        assert.equal(docker("inspect", "--format", "{{.State.StartedAt}}", `${prefix}-turn`), startedAt, "coturn reloaded in place");
        const reloads = spawnSync("docker", ["logs", `${prefix}-turn`], { encoding: "utf8" }).stdout.match(/Reloading TLS certificates/g)?.length ?? 0;
        assert.equal(reloads, 2, "coturn reloaded twice");
    });

    it("refuses relays toward the stack's own containers, PostgreSQL first, loopback, and a neighbour allowPeers does not name", () => {
        const targets: [string, string][] = [
            ["PostgreSQL", addressOn(`${prefix}-db`, `${prefix}-db`)],
            ["the homeserver (database network)", addressOn(prefix, `${prefix}-db`)],
            ["the homeserver", addressOn(prefix, prefix)],
            ["the edge", addressOn(`${prefix}-edge`, prefix)],
            // coturn maps its external address (here 127.0.0.1) to its own address, which is denied.
            ["loopback", "127.0.0.1"],
            ["the TURN server itself", addressOn(`${prefix}-turn`, peerNetwork)],
            ["an echo server beside the allowed peer", stranger],
        ];
        const secret = sharedSecret();
        for (const [what, address] of targets) {
            assert.ok(address, `${what} has an address`);
            const run = turnClient({ ...probeCredentials(secret), port: ports.turn, peer: address, messages: 5 });
            console.log(`# relay toward ${what} (${address}): ${/error 403 \(Forbidden IP\)/.test(run.output) ? "403 Forbidden IP" : "NOT refused"}, echoed back ${run.received}`);
            assert.match(run.output, /error 403 \(Forbidden IP\)/, `${what} refused:\n${run.output.slice(-2000)}`);
            assert.notEqual(run.status, 0);
            assert.equal(run.received, 0);
        }
        const logs = docker("logs", `${prefix}-turn`);
        const postgres = targets[0][1];
        assert.ok(logs.includes(`A peer IP ${postgres} denied in the range`), "coturn's own log says why");
    });

    it("refuses expired and forged credentials", () => {
        const secret = sharedSecret();
        assert.equal(secret.length, 64);
        const now = Math.floor(Date.now() / 1000);
        const cases: [string, { user: string; password: string }][] = [
            ["expired a minute ago (correctly signed)", credentials(secret, now - 60, outputs.adminUserId)],
            ["signed with another secret", credentials(crypto.randomBytes(32).toString("hex"), now + 3600, outputs.adminUserId)],
            ["Synapse's password for a later expiry", { user: `${now + 7200}:${outputs.adminUserId}`, password: turnServer.password }],
            ["Synapse's username with a password altered", { user: turnServer.username, password: `${turnServer.password.slice(0, -2)}x=` }],
        ];
        for (const [what, forged] of cases) {
            const run = turnClient({ ...forged, port: ports.turn, peer, messages: 5 });
            console.log(`# credentials ${what}: ${/Cannot complete Allocation/.test(run.output) ? "allocation refused" : "NOT refused"}, echoed back ${run.received}`);
            assert.match(run.output, /Cannot complete Allocation/, `${what}:\n${run.output.slice(-1500)}`);
            assert.equal(run.received, 0);
        }
        const valid = turnClient({ ...probeCredentials(secret), port: ports.turn, peer, messages: 5 });
        assert.equal(valid.received, 5, `the same secret, correctly used, works: the refusals above are the credentials'\n${valid.output.slice(-1500)}`);
    });

    it("allows one user 12 relays at once", () => {
        const run = turnClient({ ...probeCredentials(sharedSecret()), port: ports.turn, peer, messages: 1, flags: ["-m", "13"] });
        const refused = run.output.match(/error 486 \(Allocation Quota Reached\)/g)?.length ?? 0;
        console.log(`# 13 relays for one user at once: ${refused > 0 ? "the 13th refused (486 Allocation Quota Reached)" : "none refused"}`);
        assert.ok(refused > 0, run.output.slice(-1500));
    });

    it("keeps the shared secret in its two files only: not in state, arguments, variables, labels, logs or CLI output", () => {
        const config = inVolume(`${prefix}-turn`, ["sh", "-c", "stat -c '%a %u:%g' /data/turnserver.conf && cat /data/turnserver.conf"], { image: recordedImage("coturn") });
        const secret = config.match(/^static-auth-secret=(.+)$/m)?.[1] ?? "";
        assert.equal(config.split("\n")[0], "600 65534:65534", "coturn's config: its user's alone");
        const synapseFile = inVolume(`${prefix}-data`, ["sh", "-c", "stat -c '%a' /data/synapse-stack-files/turn-secret && cat /data/synapse-stack-files/turn-secret"]);
        assert.deepEqual(synapseFile.split("\n"), ["600", secret], "Synapse's copy: the same secret, mode 0600");
        assert.deepEqual(whereSecretShows(testStack!, secret), [], "nowhere but its two files");
        console.log(`# shared secret (${secret.length} characters) found in: coturn's config (600), Synapse's secret file (600); nowhere else`);
    });

    it("refuses an allowPeers range that overlaps the stack's own networks, changing nothing", async () => {
        const turnId = docker("inspect", "--format", "{{.Id}}", `${prefix}-turn`);
        const databaseSubnet = docker("network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", `${prefix}-db`);
        await setConfig(testStack!, { turn: JSON.stringify({ ...turnSettings(), allowPeers: [`${peer}/32`, databaseSubnet] }) });
        const refused = await up(testStack!).then(() => "", (error: Error) => error.message);
        const reason = refused.match(/turn\.allowPeers [^\n]*/)?.[0] ?? "";
        console.log(`# allowPeers with the database network's ${databaseSubnet}: ${reason || "NOT refused"}`);
        assert.match(reason, new RegExp(`turn\\.allowPeers ${databaseSubnet.replace(/[./]/g, "\\$&")} overlaps the stack's own Docker networks`));
        assert.equal(docker("inspect", "--format", "{{.Id}}", `${prefix}-turn`), turnId, "the TURN server kept its config");
        await setConfig(testStack!, { turn: JSON.stringify(turnSettings()) });
        await expectNoChanges(testStack!);
    });

    it("destroys everything it made, the certificates' memory volume included", async () => {
        await testStack!.stack.destroy({ onOutput: (text) => testStack!.output.push(text) });
        assert.deepEqual(ownedObjects(name), { containers: [], volumes: [], networks: [] });
        assert.equal(docker("volume", "ls", "--quiet", "--filter", `name=${prefix}`), "", "no volume of the stack's name");
        assert.deepEqual(volumesLeft(volumesBefore, prefix), [], "no anonymous volume either (the image's VOLUME, where nothing is mounted over it)");
    });
});
