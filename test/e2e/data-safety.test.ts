// Safe with real data (issue "Safe with real data"): a homeserver made by the manual recipe is adopted and then put
// through refresh, transient failures, failed steps, refused settings, a uid change, an admin rename, secrets and
// destroy with retention. One stack serves every check, with Synapse's default login rate limits; the checks run in
// order and `after` removes everything even when one fails.
// Over 300 lines for that reason: the checks share one stack (each new stack costs CI minutes), so they share a file.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
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
    healthStatus,
    inVolume,
    keepAlive,
    Matrix,
    outputsOf,
    pulumiCommand,
    refresh,
    runId,
    setConfig,
    stateFiles,
    testImage,
    type TestStack,
    up,
    urnOf,
} from "./support";

type Inspect = {
    Id: string;
    Image: string;
    State: { StartedAt: string; Health?: { Status: string } };
    Config: { User: string; Env: string[]; Labels: Record<string, string>; Cmd: string[] };
    Args: string[];
    HostConfig: {
        CapDrop: string[] | null;
        CapAdd: string[] | null;
        SecurityOpt: string[] | null;
        ReadonlyRootfs: boolean;
        Tmpfs: Record<string, string> | null;
        PidsLimit: number | null;
        LogConfig: { Type: string; Config: Record<string, string> };
        Memory: number;
        NanoCpus: number;
        NetworkMode: string;
    };
};

const inspect = (name: string) => (JSON.parse(docker("inspect", name)) as Inspect[])[0];

/** The password hash Synapse stores for a user, read straight from the SQLite database (a proof, not a login). */
function passwordHash(volume: string, userId: string): string {
    return inVolume(volume, [
        "python3",
        "-c",
        "import sqlite3,sys; print(sqlite3.connect('file:/data/homeserver.db?mode=ro', uri=True).execute(" +
            "'select password_hash from users where name=?', (sys.argv[1],)).fetchone()[0])",
        userId,
    ]);
}

describe("a manual deployment adopted and kept safe", { timeout: 30 * 60_000 }, () => {
    const id = runId();
    const name = `e2e-${id}-adopt`;
    const serverName = `${name}.localhost`;
    const volume = `synapse-data-e2e-${id}`;
    const manual = `synapse-manual-${id}`;
    const marker = `marker ${crypto.randomBytes(8).toString("hex")}`;
    const alicePassword = crypto.randomBytes(12).toString("hex");
    const message = `a message from before the stack, ${id}`;
    const media = crypto.randomBytes(2048);
    let testStack: TestStack | undefined;
    let matrix: Matrix;
    let signingKeys: string;
    let roomId: string;
    let mediaUri: string;
    let aliceToken: string;
    let outputs: Record<string, string>;
    let release: () => void = () => undefined;

    const keysNow = async () => JSON.stringify((await matrix.request("GET", "/_matrix/key/v2/server")).json.verify_keys);
    const markerNow = () => inVolume(volume, ["cat", "/data/marker.txt"]);
    const expectDataIntact = async () => {
        assert.equal(markerNow(), marker, "the marker file written before adoption is still in the volume");
        assert.equal(await keysNow(), signingKeys, "the signing key is unchanged");
        assert.deepEqual(await matrix.messages(aliceToken, roomId), [message]);
    };
    const rejects = async (promise: Promise<unknown>, pattern: RegExp) => {
        let message = "";
        await assert.rejects(promise, (err: Error) => {
            message = err.message;
            return pattern.test(err.message);
        });
        return message;
    };

    before(async () => {
        release = keepAlive();
        await pulumiCommand(); // fails loudly without CLI or engine
        const image = testImage();
        const port = await freePort();
        // The app-store recipe, step by step, with plain docker commands and the official image's defaults (991).
        docker("volume", "create", volume);
        docker(
            "run", "--rm", "-v", `${volume}:/data`,
            "-e", `SYNAPSE_SERVER_NAME=${serverName}`, "-e", "SYNAPSE_REPORT_STATS=no", "-e", "SYNAPSE_HTTP_PORT=8008",
            "-e", "SYNAPSE_CONFIG_DIR=/data", "-e", "SYNAPSE_DATA_DIR=/data", "-e", "TZ=UTC", "-e", "UID=991", "-e", "GID=991",
            image, "generate",
        );
        docker("run", "-d", "--name", manual, "-v", `${volume}:/data`, "-p", `127.0.0.1:${port}:8008`, "-e", "UID=991", "-e", "GID=991", image);
        matrix = new Matrix(`http://127.0.0.1:${port}`);
        for (let attempt = 0; ; attempt++) {
            const ok = await fetch(`${matrix.baseUrl}/health`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
            if (ok) {
                break;
            }
            assert.ok(attempt < 600, "the manual homeserver became healthy");
            await new Promise((resolve) => setTimeout(resolve, 100));
        }
        const register = spawnSync(
            "docker",
            ["exec", "-i", manual, "register_new_matrix_user", "-c", "/data/homeserver.yaml", "--no-admin", "-u", "alice",
                "--password-file", "/dev/stdin", "http://localhost:8008"],
            { input: alicePassword, encoding: "utf8" },
        );
        assert.equal(register.status, 0, register.stderr);
        const login = await matrix.login(`@alice:${serverName}`, alicePassword);
        assert.equal(login.status, 200);
        aliceToken = login.token!;
        roomId = await matrix.createRoomWithMessage(aliceToken, message);
        mediaUri = await matrix.upload(aliceToken, media, "application/octet-stream");
        signingKeys = await keysNow();
        inVolume(volume, ["sh", "-c", `printf '%s' '${marker}' > /data/marker.txt`], { writable: true });
        docker("rm", "-f", manual);
    });

    after(async () => {
        // Released whatever the clean-up meets: a pending keep-alive would hold the test process open for good.
        try {
            spawnSync("docker", ["rm", "-f", manual]);
            await cleanUp(testStack);
            spawnSync("docker", ["volume", "rm", "-f", volume]);
        } finally {
            release();
        }
    });

    it("refuses to run another server's data, and the next plain up after the fix succeeds", async () => {
        testStack = await createStack(name, { serverName: `other-${serverName}`, volumeName: volume, httpPort: String(await freePort()) });
        const failure = await rejects(up(testStack), /holds the homeserver of/);
        assert.match(
            failure,
            new RegExp(`volume ${volume} holds the homeserver of ${serverName}, but synapse:serverName is other-${serverName}: a Matrix server name is permanent`),
        );
        assert.equal(markerNow(), marker);
        assert.match(inVolume(volume, ["cat", "/data/homeserver.yaml"]), new RegExp(`server_name: "${serverName}"`));

        await setConfig(testStack, { serverName });
        const result = await up(testStack);
        assert.equal(result.summary.result, "succeeded");
        outputs = await outputsOf(testStack);
        matrix = new Matrix(outputs.url);
    });

    it("adopts it: users, rooms, messages, media and the signing key are there, re-owned to the stack's uid, with an admin", async () => {
        await expectDataIntact();
        const download = await matrix.download(aliceToken, mediaUri);
        assert.equal(download.status, 200);
        assert.ok(download.bytes.equals(media), "the uploaded media came back byte for byte");
        assert.equal(outputs.volumeName, volume);
        assert.deepEqual(JSON.parse(docker("volume", "inspect", "--format", "{{json .Labels}}", volume)) ?? {}, {}, "the volume is the manual one");
        assert.equal(inVolume(volume, ["sh", "-c", "find /data ! -user 1000 -o ! -group 1000 | wc -l"]), "0", "every file re-owned to 1000:1000");
        const admin = await matrix.login(outputs.adminUserId, outputs.adminPassword);
        assert.equal(admin.status, 200);
        const adminCheck = await matrix.request("GET", `/_synapse/admin/v2/users/${encodeURIComponent(`@alice:${serverName}`)}`, undefined, admin.token);
        assert.equal(adminCheck.status, 200);
        assert.equal(adminCheck.json.admin, false, "alice is untouched");
        assert.equal(outputs.signingKeyId, Object.keys(JSON.parse(signingKeys))[0]);
    });

    it("survives refresh: preview then plans nothing, an up changes nothing, the data stays", async () => {
        await refresh(testStack!);
        await expectNoChanges(testStack!);
        assert.deepEqual(changesOf(await up(testStack!)), {});
        await refresh(testStack!);
        assert.deepEqual(changesOf(await up(testStack!)), {}, "the next up after a refresh does not plan the volume's replacement");
        await expectDataIntact();
    });

    it("never logs the admin out on a rate-limited login: the token keeps working, the password stays", async () => {
        const first = await matrix.login(outputs.adminUserId, outputs.adminPassword);
        assert.equal(first.status, 200);
        const token = first.token!;
        const hashBefore = passwordHash(volume, outputs.adminUserId);
        let limited = false;
        for (let attempt = 0; attempt < 20 && !limited; attempt++) {
            limited = (await matrix.login(outputs.adminUserId, outputs.adminPassword)).status === 429;
        }
        assert.ok(limited, "Synapse's default rc_login limits the admin account");
        const homeserverBefore = inspect(outputs.containerName).Id;

        // The same running Synapse (its rate limiter is in memory): only the ensure step runs again.
        const ensure = await urnOf(testStack!, "synapse-admin-ensure");
        const outcome = await up(testStack!, { replace: [ensure] }).then(
            () => "ensured after waiting",
            (err: Error) => err.message,
        );
        if (outcome !== "ensured after waiting") {
            assert.match(outcome, /POST \/_matrix\/client\/v3\/login .*HTTP 429 M_LIMIT_EXCEEDED \(rate limited\).*; the admin was left as it was/);
            assert.ok(!outcome.includes(outputs.adminPassword));
        }
        console.log(`    rate-limited ensure: ${outcome.split("\n").find((line) => line.includes("ensure_admin")) ?? outcome}`);
        assert.equal(inspect(outputs.containerName).Id, homeserverBefore, "Synapse was not restarted");
        assert.equal((await matrix.whoami(token)).status, 200, "the admin's session survived");
        assert.equal(passwordHash(volume, outputs.adminUserId), hashBefore, "the password was not reset");
    });

    it("shows the admin step's own error: a stopped homeserver is named, not hidden", async () => {
        docker("stop", outputs.containerName);
        const ensure = await urnOf(testStack!, "synapse-admin-ensure");
        const failure = await rejects(up(testStack!, { replace: [ensure] }), /is not running/);
        assert.ok(!failure.includes(outputs.adminPassword));
        docker("start", outputs.containerName);
    });

    it("re-owns the data on a uid/gid change and runs under memory and CPU limits, healthy", async () => {
        await setConfig(testStack!, { uid: "1001", gid: "1001", memoryLimit: "1g", cpuLimit: "1.5" });
        await up(testStack!);
        assert.equal(inVolume(volume, ["sh", "-c", "find /data ! -user 1001 -o ! -group 1001 | wc -l"]), "0", "every file re-owned to 1001:1001");
        const homeserver = inspect(outputs.containerName);
        assert.equal(homeserver.Config.User, "1001:1001");
        assert.equal(await healthStatus(outputs.containerName), "healthy");
        assert.equal(homeserver.HostConfig.Memory, 1024 * 1024 * 1024);
        assert.equal(homeserver.HostConfig.NanoCpus, 1.5e9);
        aliceToken = (await matrix.login(`@alice:${serverName}`, alicePassword)).token!;
        await expectDataIntact();
    });

    it("runs every container hardened: no new privileges, capabilities dropped, read-only root, pids limit, rotated logs", () => {
        const homeserver = inspect(outputs.containerName).HostConfig;
        const generate = inspect(`${outputs.containerName}-generate`).HostConfig;
        for (const [role, host] of [["homeserver", homeserver], ["generate", generate]] as const) {
            assert.deepEqual(host.SecurityOpt, ["no-new-privileges:true"], role);
            assert.deepEqual(host.CapDrop, ["ALL"], role);
            assert.equal(host.ReadonlyRootfs, true, role);
            assert.ok(host.Tmpfs && "/tmp" in host.Tmpfs, `${role} has a tmpfs /tmp`);
            assert.ok((host.PidsLimit ?? 0) > 0, `${role} has a pids limit`);
            assert.deepEqual(host.LogConfig, { Type: "json-file", Config: { "max-file": "3", "max-size": "10m" } }, role);
        }
        assert.equal(homeserver.CapAdd, null, "the homeserver keeps no capability");
        assert.equal(homeserver.PidsLimit, 512);
        assert.deepEqual(
            (generate.CapAdd ?? []).map((capability) => capability.replace(/^CAP_/, "")).sort(),
            ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"],
            "generate keeps only what re-owning and the switch to UID:GID need",
        );
        assert.equal(generate.NetworkMode, "none");
        // The admin step runs as the homeserver's user: the record it writes belongs to it.
        assert.equal(inVolume(volume, ["stat", "-c", "%u:%g", "/data/synapse-stack-admin"]), "1001:1001");
    });

    it("survives `docker container prune` of the exited helper: nothing is planned, the homeserver stays", async () => {
        const before = inspect(outputs.containerName).Id;
        docker("container", "prune", "-f", "--filter", `label=io.synapse-stack.stack=${name}`);
        assert.throws(() => docker("inspect", `${outputs.containerName}-generate`), "the exited generate container is gone");
        await refresh(testStack!);
        await expectNoChanges(testStack!);
        assert.deepEqual(changesOf(await up(testStack!)), {});
        assert.equal(inspect(outputs.containerName).Id, before);
    });

    it("re-runs a changed admin script without restarting Synapse", async () => {
        const before = inspect(outputs.containerName);
        // As a new release of the installed package would bring it.
        fs.appendFileSync(path.join(testStack!.workDir, "node_modules", "@synapse-stack", "synapse", "scripts", "ensure_admin.py"), "\n# a harmless edit\n");
        const result = await up(testStack!);
        assert.deepEqual(changesOf(result), { replace: 1 }, "only the ensure step");
        const after = inspect(outputs.containerName);
        assert.equal(after.Id, before.Id);
        assert.equal(after.State.StartedAt, before.State.StartedAt);
    });

    it("refuses a new server name, an unknown key and a new volume name before anything changes", async () => {
        const before = inspect(outputs.containerName).Id;
        await setConfig(testStack!, { serverName: `renamed-${serverName}` });
        await rejects(testStack!.stack.preview(), /synapse:serverName changed from .* a Matrix server name is permanent/);
        await rejects(up(testStack!), /synapse:serverName changed from/);
        await setConfig(testStack!, { serverName, servername: "typo.example.org" });
        await rejects(up(testStack!), /synapse:servername is not a setting of this stack: did you mean synapse:serverName\?/);
        await setConfig(testStack!, { servername: undefined, volumeName: `${volume}-new` });
        const failure = await rejects(up(testStack!), /synapse:volumeName changed from/);
        assert.match(failure, new RegExp(`this would replace the data volume ${volume}`));
        assert.throws(() => docker("volume", "inspect", `${volume}-new`), "no new volume was made");
        await setConfig(testStack!, { volumeName: volume });
        await setConfig(testStack!, { bindAddress: "0.0.0.0" });
        await rejects(up(testStack!), /synapse:bindAddress "0.0.0.0" publishes the homeserver beyond this host, but synapse:publicBaseUrl is unset/);
        await setConfig(testStack!, { bindAddress: undefined });
        assert.equal(inspect(outputs.containerName).Id, before, "nothing changed");
        await expectNoChanges(testStack!);
    });

    it("names a missing local image and how to get it, and exports the image it runs", async () => {
        const running = JSON.parse(outputs.image) as { reference: string; id: string };
        assert.equal(running.reference, testImage());
        assert.equal(running.id, inspect(outputs.containerName).Image);
        await setConfig(testStack!, { image: "synapse-local:v0.0.1" });
        await rejects(
            up(testStack!),
            /image "synapse-local:v0.0.1" is not on this machine's Docker engine: it is a local build, which no registry serves: build it on this machine with `npm run setup -- image 0.0.1`/,
        );
        await setConfig(testStack!, { image: testImage() });
        await expectNoChanges(testStack!);
    });

    it("retries a generate that failed once its cause is fixed, with a plain up", async () => {
        inVolume(volume, ["sh", "-c", "cp -p /data/homeserver.yaml /data/homeserver.yaml.good && printf '\\nserver_name: [\\n' >> /data/homeserver.yaml"], { writable: true });
        await setConfig(testStack!, { timezone: "Europe/Berlin" });
        await rejects(up(testStack!), /configure|yaml/i);
        inVolume(volume, ["sh", "-c", "mv /data/homeserver.yaml.good /data/homeserver.yaml"], { writable: true });
        const result = await up(testStack!);
        assert.equal(result.summary.result, "succeeded");
        await expectDataIntact();
    });

    it("deactivates the previous admin when adminUser changes, touching no one else", async () => {
        const previous = outputs.adminUserId;
        await setConfig(testStack!, { adminUser: "ops" });
        await up(testStack!);
        outputs = await outputsOf(testStack!);
        assert.equal(outputs.adminUserId, `@ops:${serverName}`);
        const ops = await matrix.login(outputs.adminUserId, outputs.adminPassword);
        assert.equal(ops.status, 200);
        const old = await matrix.request("GET", `/_synapse/admin/v2/users/${encodeURIComponent(previous)}`, undefined, ops.token);
        assert.equal(old.json.deactivated, true, `${previous} is deactivated`);
        const alice = await matrix.request("GET", `/_synapse/admin/v2/users/${encodeURIComponent(`@alice:${serverName}`)}`, undefined, ops.token);
        assert.equal(alice.json.deactivated, false);
    });

    it("keeps a value set with `config set --secret` encrypted: not in state, labels, env, args or logs", async () => {
        const secret = `smtp-${crypto.randomBytes(12).toString("hex")}`;
        await testStack!.stack.setConfig("synapse:extraConfig.email.smtp_host", { value: "localhost" }, true);
        await testStack!.stack.setConfig("synapse:extraConfig.email.notif_from", { value: `Synapse <noreply@${serverName}>` }, true);
        await testStack!.stack.setConfig("synapse:extraConfig.email.smtp_pass", { value: secret, secret: true }, true);
        await up(testStack!);
        assert.equal(await healthStatus(outputs.containerName), "healthy");
        const overlay = inspect(outputs.containerName).Args.at(-1)!;
        assert.equal(inVolume(volume, ["sh", "-c", `grep -c '${secret}' ${overlay}`]), "1", "Synapse gets it, in the overlay it runs with");
        const files = stateFiles(testStack!);
        assert.ok(files.length > 0);
        assert.deepEqual(files.filter((file) => fs.readFileSync(file, "utf8").includes(secret)), [], "not in any state file");
        for (const container of [outputs.containerName, `${outputs.containerName}-generate`]) {
            const details = inspect(container);
            assert.ok(!JSON.stringify([details.Args, details.Config]).includes(secret), `not in ${container}'s args, env or labels`);
            assert.ok(!docker("logs", container).includes(secret), `not in ${container}'s logs`);
        }
        assert.ok(!testStack!.output.join("").includes(secret), "not in the CLI's output");
        assert.ok(!testStack!.output.join("").includes(outputs.adminPassword), "nor the admin password");
    });

    it("keeps the adopted volume on destroy with retainDataOnDestroy", async () => {
        await setConfig(testStack!, { retainDataOnDestroy: "true" });
        await up(testStack!);
        await testStack!.stack.destroy({ onOutput: (text) => testStack!.output.push(text) });
        assert.equal(markerNow(), marker);
        assert.throws(() => docker("inspect", outputs.containerName), "the homeserver is gone");
        assert.match(inVolume(volume, ["cat", "/data/homeserver.yaml"]), new RegExp(`server_name: "${serverName}"`));
    });
});
