// The component as a package others install: `npm pack` of packages/synapse, installed into a copy of
// examples/private-homeserver as an ordinary dependency, deployed, then backed up and restored with the operations the
// installed package ships (compiled JavaScript, found by the stack's resource types). `after` removes everything.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import {
    cleanUp,
    createStack,
    freePort,
    keepAlive,
    Matrix,
    outputsOf,
    pulumiCommand,
    recordedImage,
    ROOT,
    runId,
    testImage,
    type TestStack,
    up,
} from "./support";

/** Runs a command, failing with its output when it fails. */
function run(command: string, args: string[], options: { cwd: string; env?: Record<string, string> }): string {
    const result = spawnSync(command, args, { cwd: options.cwd, encoding: "utf8", env: { ...process.env, ...options.env }, maxBuffer: 64 * 1024 * 1024 });
    assert.equal(result.status, 0, `${command} ${args.join(" ")}:\n${result.stdout}\n${result.stderr}`);
    return result.stdout;
}

describe("the component package, installed from its tarball", { timeout: 30 * 60_000 }, () => {
    const id = runId();
    const name = `e2e-${id}-pkg`;
    const serverName = `${name}.localhost`;
    const work = fs.mkdtempSync(path.join(os.tmpdir(), `synapse-${name}-`));
    const project = path.join(work, "private-homeserver");
    let testStack: TestStack | undefined;
    let outputs: Record<string, string>;
    let matrix: Matrix;
    let token: string;
    let roomId: string;
    let archive: string;
    let release: () => void = () => undefined;
    /** An operation of the installed package, as its user runs it: plain Node.js, in the program's folder. */
    const operation = (script: "backup" | "restore", args: string[]) =>
        spawnSync("node", [path.join(project, "node_modules", "@synapse-stack", "synapse", "bin", "ops", `${script}.js`), ...args], {
            cwd: project,
            encoding: "utf8",
            env: { ...process.env, ...testStack!.env, PATH: `${path.join(ROOT, ".tools", "bin")}:${process.env.PATH}` },
        });

    before(async () => {
        release = keepAlive();
        await pulumiCommand();
    });

    after(async () => {
        // Released whatever the clean-up meets: a pending keep-alive would hold the test process open for good.
        try {
            await cleanUp(testStack);
            fs.rmSync(work, { recursive: true, force: true });
        } finally {
            release();
        }
    });

    it("packs into a tarball of compiled JavaScript, type declarations and the scripts, and installs as a dependency", () => {
        const packed = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", work], { cwd: path.join(ROOT, "packages", "synapse") })) as { filename: string; files: { path: string }[] }[];
        const files = packed[0].files.map((file) => file.path);
        for (const expected of ["bin/index.js", "bin/index.d.ts", "bin/ops/backup.js", "bin/ops/restore.js", "scripts/configure.py", "scripts/volumes.sh", "package.json"]) {
            assert.ok(files.includes(expected), `the tarball holds ${expected}`);
        }
        assert.deepEqual(files.filter((file) => file.endsWith(".ts") && !file.endsWith(".d.ts")), [], "no TypeScript source is needed to run it");
        fs.cpSync(path.join(ROOT, "examples", "private-homeserver"), project, { recursive: true });
        run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", path.join(work, packed[0].filename)], { cwd: project });
        const installed = fs.realpathSync(path.join(project, "node_modules", "@synapse-stack", "synapse"));
        assert.ok(installed.startsWith(fs.realpathSync(project)), "an installed copy, not a link into this repository");
        assert.doesNotMatch(fs.readFileSync(path.join(project, "index.ts"), "utf8"), /from "\.\.?\//, "no relative import into the library");
    });

    it("deploys the example from the installed package: a homeserver on PostgreSQL behind its TLS edge", async () => {
        testStack = await createStack(name, {}, project, { inPlace: true });
        await testStack.stack.setAllConfig({
            "private-homeserver:serverName": { value: serverName },
            "private-homeserver:containerName": { value: `synapse-${name}` },
            "private-homeserver:volumeName": { value: `synapse-${name}-data` },
            "private-homeserver:httpsPort": { value: String(await freePort()) },
            "private-homeserver:synapseImage": { value: testImage() },
            "private-homeserver:postgresImage": { value: recordedImage("postgres") },
            "private-homeserver:caddyImage": { value: recordedImage("caddy") },
        });
        await up(testStack);
        outputs = await outputsOf(testStack);
        matrix = new Matrix(outputs.url, { ca: outputs.caCertificate, connectTo: "127.0.0.1" });
        const login = await matrix.login(outputs.adminUserId, outputs.adminPassword);
        assert.equal(login.status, 200, "the admin logs in over TLS");
        token = login.token!;
        roomId = await matrix.createRoomWithMessage(token, "before the backup");
    });

    it("backs up and restores it with the installed package's own operations, found by resource type", async () => {
        const backedUp = operation("backup", ["--stack", name]);
        assert.equal(backedUp.status, 0, backedUp.stderr);
        archive = backedUp.stdout.trim();
        assert.ok(archive.startsWith(path.join(project, "backups", `synapse-${name}`)), `into the homeserver's backup folder: ${archive}`);
        assert.match(backedUp.stderr, /dumping PostgreSQL/);

        const sent = await matrix.request("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${runId()}`, { msgtype: "m.text", body: "after the backup" }, token);
        assert.equal(sent.status, 200);
        const restored = operation("restore", ["--stack", name, "--force", archive]);
        assert.equal(restored.status, 0, restored.stderr);
        assert.match(restored.stderr, /giving the stack's admin its password again/);
        outputs = await outputsOf(testStack!);
        token = (await matrix.login(outputs.adminUserId, outputs.adminPassword)).token!;
        assert.deepEqual(await matrix.messages(token, roomId), ["before the backup"], "the restored homeserver holds what the archive held");
    });
});
