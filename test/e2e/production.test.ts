// The production profile on the real engine: PostgreSQL, the TLS edge with its own CA and delegation, the
// homeserver published nowhere else. One stack serves every check, in order; `after` removes everything.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { renderCaddyfile } from "../../packages/synapse/edge/caddyfile";
import { passwordStatements, scramVerifier } from "../../packages/synapse/database/database";
import {
    changesOf,
    cleanUp,
    createStack,
    docker,
    expectNoChanges,
    freePort,
    keepAlive,
    Matrix,
    outputsOf,
    ownedObjects,
    pulumiCommand,
    recordedImage,
    runId,
    send,
    setConfig,
    stateFiles,
    type TestStack,
    up,
} from "./support";

type Inspect = {
    Id: string;
    Config: { Env: string[]; Labels: Record<string, string>; Cmd: string[] | null };
    Args: string[];
    HostConfig: { PortBindings: Record<string, { HostIp: string; HostPort: string }[]> | null };
    NetworkSettings: { Ports: Record<string, unknown> | null };
};
const inspect = (name: string) => (JSON.parse(docker("inspect", name)) as Inspect[])[0];

/** psql inside the database container, as the stack's database user; tab-separated rows. */
function sql(container: string, query: string): string {
    return docker("exec", container, "psql", "--username=synapse", "--dbname=synapse", "--no-align", "--tuples-only", "--field-separator=\t", "--command", query);
}

describe("the production profile: PostgreSQL behind a TLS edge", { timeout: 30 * 60_000 }, () => {
    const id = runId();
    const name = `e2e-${id}-prod`;
    const serverName = `${name}.localhost`;
    const publicHost = `matrix.${serverName}`;
    let testStack: TestStack | undefined;
    let httpsPort: number;
    let federationPort: number;
    let outputs: Record<string, string>;
    let matrix: Matrix;
    let adminToken: string;
    let roomId: string;
    let release: () => void = () => undefined;
    const message = `hello over TLS from ${name}`;
    const containers = { homeserver: `synapse-${name}`, database: `synapse-${name}-db`, edge: `synapse-${name}-edge` };
    const volumes = { data: `synapse-${name}-data`, database: `synapse-${name}-db`, edge: `synapse-${name}-edge` };

    /** A client of the public URL that trusts only the stack's CA and finds publicHost on loopback, as DNS would. */
    const client = (port = httpsPort, ca = outputs.caCertificate) => new Matrix(`https://${publicHost}:${port}`, { ca, connectTo: "127.0.0.1" });

    before(async () => {
        release = keepAlive();
        await pulumiCommand();
        httpsPort = await freePort();
        federationPort = await freePort();
    });

    after(async () => {
        // Released whatever the clean-up meets: a pending keep-alive would hold the test process open for good.
        try {
            await cleanUp(testStack);
        } finally {
            release();
        }
    });

    it("comes up cold: PostgreSQL, the homeserver and the edge, healthy, with the documented outputs", async () => {
        testStack = await createStack(name, {
            serverName,
            publicHost,
            database: "postgres",
            postgresImage: recordedImage("postgres"),
            tls: "internal",
            caddyImage: recordedImage("caddy"),
            httpsPort: String(httpsPort),
            federationPort: String(federationPort),
            serveWellKnown: "true",
        });
        const result = await up(testStack);
        assert.equal(result.summary.result, "succeeded");
        outputs = await outputsOf(testStack);
        assert.deepEqual(Object.keys(outputs).sort(), [
            "adminPassword", "adminUserId", "caCertificate", "containerName", "database", "databaseVolumeName", "image",
            "lastBackup", "serverName", "signingKeyId", "url", "volumeName", "wellKnownClient", "wellKnownServer",
        ]);
        assert.equal(outputs.url, `https://${publicHost}:${httpsPort}`);
        assert.equal(outputs.database, "postgres");
        assert.match(outputs.caCertificate, /^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n$/);
        matrix = client();
    });

    it("runs Synapse on PostgreSQL: its tables are there, in a UTF8 database with C collation and ctype", () => {
        assert.equal(sql(containers.database, "SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database WHERE datname = 'synapse'"), "UTF8\tC\tC");
        const tables = Number(sql(containers.database, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"));
        assert.ok(tables > 100, `Synapse's schema is in PostgreSQL (${tables} tables)`);
        assert.match(sql(containers.database, "SELECT count(*) FROM users"), /^[1-9]\d*$/, "the admin is a row in PostgreSQL's users table");
        assert.deepEqual(inspect(containers.database).HostConfig.PortBindings ?? {}, {}, "PostgreSQL is never published");
    });

    it("answers only over TLS: a client trusting the CA output gets through, one that does not is refused", async () => {
        const versions = await matrix.request("GET", "/_matrix/client/versions");
        assert.equal(versions.status, 200);
        assert.ok(versions.json.versions.length > 0);
        await assert.rejects(send(`https://${publicHost}:${httpsPort}/_matrix/client/versions`, { connectTo: "127.0.0.1" }), (err: Error) =>
            /self[- ]signed|unable to get local issuer|certificate/i.test(err.message),
        );
        const plain = await send(`http://127.0.0.1:${httpsPort}/_matrix/client/versions`);
        assert.equal(plain.status, 400, "plain HTTP on the TLS port is refused");
        assert.deepEqual(inspect(containers.homeserver).HostConfig.PortBindings ?? {}, {}, "the homeserver is published nowhere");
        const edgePorts = inspect(containers.edge).HostConfig.PortBindings ?? {};
        assert.deepEqual(Object.values(edgePorts).flat().map((binding) => binding.HostIp), ["127.0.0.1", "127.0.0.1"]);
    });

    it("serves the delegation documents, with CORS on the client one, on the public host and the server name", async () => {
        for (const host of [publicHost, serverName]) {
            const transport = { ca: outputs.caCertificate, connectTo: "127.0.0.1" };
            const server = await send(`https://${host}:${httpsPort}/.well-known/matrix/server`, transport);
            assert.equal(server.status, 200);
            assert.deepEqual(JSON.parse(server.body.toString()), { "m.server": `${publicHost}:${federationPort}` });
            assert.equal(server.body.toString(), outputs.wellKnownServer);
            const wellKnownClient = await send(`https://${host}:${httpsPort}/.well-known/matrix/client`, transport);
            assert.deepEqual(JSON.parse(wellKnownClient.body.toString()), { "m.homeserver": { base_url: `https://${publicHost}:${httpsPort}` } });
            assert.equal(wellKnownClient.headers["access-control-allow-origin"], "*");
        }
    });

    it("refuses the admin API through the edge, however the path is spelled, and serves federation on its port", async () => {
        for (const spelling of ["/_synapse/admin/v1/server_version", "/_synapse/%61dmin/v1/server_version", "/_synapse/admin/../admin/v1/server_version"]) {
            const answer = await send(`https://${publicHost}:${httpsPort}${spelling}`, { ca: outputs.caCertificate, connectTo: "127.0.0.1" });
            assert.ok([403, 404].includes(answer.status), `${spelling} answered ${answer.status}`);
        }
        const federation = client(federationPort);
        const version = await federation.request("GET", "/_matrix/federation/v1/version");
        assert.equal(version.status, 200);
        assert.equal(version.json.server.name, "Synapse");
        const keys = await federation.request("GET", "/_matrix/key/v2/server");
        assert.equal(keys.json.server_name, serverName);
        assert.ok(keys.json.verify_keys[outputs.signingKeyId], "the signing key output is the one federation sees");
    });

    it("carries an admin's room and message over TLS, and a second up changes nothing", async () => {
        const login = await matrix.login(outputs.adminUserId, outputs.adminPassword);
        assert.equal(login.status, 200);
        adminToken = login.token!;
        roomId = await matrix.createRoomWithMessage(adminToken, message);
        assert.deepEqual(await matrix.messages(adminToken, roomId), [message]);
        await expectNoChanges(testStack!);
        assert.deepEqual(changesOf(await up(testStack!)), {});
    });

    it("keeps the data and the CA when the homeserver and the edge are replaced", async () => {
        const before = { homeserver: inspect(containers.homeserver).Id, edge: inspect(containers.edge).Id, ca: outputs.caCertificate };
        await setConfig(testStack!, { timezone: "Europe/Berlin", exposeAdminApi: "true" });
        await up(testStack!);
        outputs = await outputsOf(testStack!);
        assert.notEqual(inspect(containers.homeserver).Id, before.homeserver, "the homeserver was replaced");
        assert.notEqual(inspect(containers.edge).Id, before.edge, "the edge was replaced");
        assert.equal(outputs.caCertificate, before.ca, "the CA is the same");
        assert.deepEqual(await matrix.messages(adminToken, roomId), [message], "the old session and the message survived");
        const admin = await send(`https://${publicHost}:${httpsPort}/_synapse/admin/v1/server_version`, { ca: outputs.caCertificate, connectTo: "127.0.0.1" });
        assert.equal(admin.status, 200, "exposeAdminApi forwards the admin API");
        await setConfig(testStack!, { exposeAdminApi: undefined });
        await up(testStack!);
    });

    it("never shows the database or admin password: not in state, env, args, labels, logs or CLI output", () => {
        const databasePassword = docker("exec", containers.database, "cat", "/var/lib/postgresql/data/synapse-password");
        assert.equal(databasePassword.length, 32);
        const files = stateFiles(testStack!);
        const owned = ownedObjects(name).containers;
        assert.ok(owned.length >= 4, "homeserver, database, edge and the generate helper");
        for (const secret of [databasePassword, outputs.adminPassword]) {
            assert.deepEqual(files.filter((file) => fs.readFileSync(file, "utf8").includes(secret)), [], "not in the state's plaintext");
            for (const container of owned) {
                const details = inspect(container);
                assert.ok(!JSON.stringify([details.Args, details.Config.Env, details.Config.Cmd, details.Config.Labels]).includes(secret), `not in ${container}`);
                assert.ok(!docker("logs", container).includes(secret), `not in ${container}'s logs`);
            }
            assert.ok(!testStack!.output.join("").includes(secret), "not in the CLI's output");
        }
    });

    it("keeps a failing password statement, and its SCRAM verifier, out of PostgreSQL's log", async () => {
        const verifier = scramVerifier(`not the password of ${name}`);
        const storedKey = verifier.split("$")[2].split(":")[0];
        // Exactly as the password step runs psql, for a role that does not exist, so the ALTER ROLE fails.
        const psql = spawnSync(
            "docker",
            ["exec", "-i", containers.database, "psql", "--no-psqlrc", "--quiet", "-v", "ON_ERROR_STOP=1", "--host=127.0.0.1", "--username=synapse", "--dbname=synapse"],
            { input: passwordStatements("no_such_role", verifier), encoding: "utf8" },
        );
        assert.notEqual(psql.status, 0, "the statement fails");
        assert.match(psql.stderr, /role "no_such_role" does not exist/);
        // Both streams: PostgreSQL logs to stderr. The failure itself is logged, so this is the log that would show it.
        let log = "";
        for (let attempt = 0; attempt < 50 && !/role "no_such_role" does not exist/.test(log); attempt++) {
            await new Promise((resolve) => setTimeout(resolve, 100));
            const logs = spawnSync("docker", ["logs", containers.database], { encoding: "utf8" });
            assert.equal(logs.status, 0, logs.stderr);
            log = logs.stdout + logs.stderr;
        }
        assert.match(log, /role "no_such_role" does not exist/, "the server logged the error");
        for (const secret of [verifier, storedKey]) {
            assert.ok(!log.includes(secret), `the server's log shows ${secret === verifier ? "the verifier" : "its stored key"}`);
            assert.ok(!(psql.stdout + psql.stderr).includes(secret), "psql's output does not show it");
        }
    });

    it("labels every container, volume and network it creates", () => {
        const owned = ownedObjects(name);
        assert.deepEqual(owned.volumes.sort(), Object.values(volumes).sort());
        assert.deepEqual(owned.networks.sort(), [`synapse-${name}`, `synapse-${name}-db`]);
        for (const container of Object.values(containers)) {
            assert.ok(owned.containers.includes(container), container);
        }
    });

    it("keeps the edge's volume and its CA when tls is turned off, says so, and has the same CA when tls is back", async () => {
        const caKey = () => crypto.createHash("sha256").update(execFileSync("docker", ["run", "--rm", "--network", "none", "-v", `${volumes.edge}:/data:ro`,
            "--entrypoint", "cat", recordedImage("caddy"), "/data/caddy/pki/authorities/local/root.key"])).digest("hex");
        const before = { key: caKey(), ca: outputs.caCertificate };
        const edgeSettings = { publicHost, tls: "internal", caddyImage: recordedImage("caddy"), httpsPort: String(httpsPort), federationPort: String(federationPort), serveWellKnown: "true" };
        await setConfig(testStack!, { ...Object.fromEntries(Object.keys(edgeSettings).map((key) => [key, undefined])), tls: "none", httpPort: String(await freePort()) });
        const printed = testStack!.output.length;
        await up(testStack!);
        assert.deepEqual(ownedObjects(name).containers.filter((c) => c === containers.edge), [], "the edge is gone");
        assert.equal(caKey(), before.key, "its volume, with the CA's key, stays");
        assert.match(testStack!.output.slice(printed).join(""),
            new RegExp(`kept volume ${volumes.edge} \\(the edge's certificates and local CA\\).*docker volume rm ${volumes.edge}`), "and the up says so");
        await setConfig(testStack!, { ...edgeSettings, httpPort: undefined });
        await up(testStack!);
        outputs = await outputsOf(testStack!);
        assert.equal(outputs.caCertificate, before.ca, "the same CA is back: clients and peers that trust it still do");
        matrix = client();
        const login = await matrix.login(outputs.adminUserId, outputs.adminPassword);
        assert.deepEqual(await matrix.messages(login.token!, roomId), [message]);
    });

    it("keeps all three volumes on destroy with retention, and a new up finds the same data and CA", async () => {
        const ca = outputs.caCertificate;
        await setConfig(testStack!, { retainDataOnDestroy: "true" });
        await up(testStack!);
        await testStack!.stack.destroy({ onOutput: (text) => testStack!.output.push(text) });
        assert.deepEqual(ownedObjects(name), { containers: [], volumes: Object.values(volumes).sort(), networks: [] });
        await up(testStack!);
        outputs = await outputsOf(testStack!);
        assert.equal(outputs.caCertificate, ca);
        matrix = client();
        const login = await matrix.login(outputs.adminUserId, outputs.adminPassword);
        assert.deepEqual(await matrix.messages(login.token!, roomId), [message]);
    });

    it("destroys everything without retention: containers, all three volumes and both networks", async () => {
        await setConfig(testStack!, { retainDataOnDestroy: "false" });
        await up(testStack!);
        await testStack!.stack.destroy({ onOutput: (text) => testStack!.output.push(text) });
        assert.deepEqual(ownedObjects(name), { containers: [], volumes: [], networks: [] });
    });

    it("renders configs Caddy itself accepts for acme and for certificate files", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "caddyfile-"));
        try {
            const key = path.join(dir, "private-key.pem");
            const certificate = path.join(dir, "certificate.pem");
            const made = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
                "-subj", `/CN=${publicHost}`, "-keyout", key, "-out", certificate], { encoding: "utf8" });
            assert.equal(made.status, 0, made.stderr);
            fs.mkdirSync(path.join(dir, "tls"));
            fs.renameSync(key, path.join(dir, "tls", "private-key.pem"));
            fs.renameSync(certificate, path.join(dir, "tls", "certificate.pem"));
            const common = { serverName, publicHost, httpsPort: 443, federationPort: 8448, serveWellKnown: true, exposeAdminApi: false, upstream: "synapse:8008", maxBodyBytes: 50 * 1024 ** 2 };
            for (const settings of [{ ...common, tls: "acme" as const, acmeEmail: "admin@example.org" }, { ...common, tls: "files" as const }]) {
                fs.writeFileSync(path.join(dir, "synapse-stack.Caddyfile"), renderCaddyfile(settings));
                const validated = spawnSync("docker", ["run", "--rm", "--network", "none", "-v", `${dir}:/data`, recordedImage("caddy"),
                    "caddy", "validate", "--config", "/data/synapse-stack.Caddyfile", "--adapter", "caddyfile"], { encoding: "utf8" });
                assert.equal(validated.status, 0, `${settings.tls}: ${validated.stderr}`);
                assert.match(validated.stdout + validated.stderr, /Valid configuration/);
            }
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
