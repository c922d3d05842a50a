// Survives what hosts do (issue 20): on one stack of the production profile (PostgreSQL, the TLS edge, a client
// worker and an event persister with Redis), each fault is injected on the real engine while a client writes through
// the edge, and what the server acknowledged is counted in the room afterwards: SIGKILL of each process as the OOM
// killer does it (and of the client worker in the middle of a send), a full disk under PostgreSQL's volume, a backup
// into a full folder, two `up`s at once, `up` interrupted by SIGINT and by SIGKILL, a soak with restarts, and a
// restart of the Docker engine.
// Over 300 lines on purpose: one stack serves every fault, in order (each new stack costs CI minutes); the engine
// restart stops every container on the engine, so run this file alone.
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import {
    cleanUp,
    createStack,
    docker,
    expectNoChanges,
    freePort,
    inVolume,
    keepAlive,
    Matrix,
    outputsOf,
    pulumiCommand,
    ROOT,
    runId,
    setConfig,
    type TestStack,
    up,
} from "./support";
import { REPLICATION_PORT } from "../../packages/synapse/workers/kinds";
import { countAcknowledged, faultProfile, roomMessages, soak, Traffic } from "./traffic";

/** One row of the README's table: what a fault did to the writes, and what the user had to type. */
interface FaultRow {
    fault: string;
    acknowledged?: number;
    found?: number;
    recoverySeconds?: number;
    command: string;
}

const pause = (seconds: number) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));
const lastLogLines = (container: string, tail = "30") => {
    const logs = spawnSync("docker", ["logs", "--tail", tail, container], { encoding: "utf8", maxBuffer: 256 * 2 ** 20 });
    return `${logs.stdout}${logs.stderr}`;
};
const restartCount = (container: string) => Number(docker("inspect", "--format", "{{.RestartCount}}", container));
/** Bytes that arrived on a container's listener `port` and lie unread (its process frozen, say), from its network namespace. */
const unreadBytes = (container: string, port: number) =>
    execFileSync("nsenter", ["-t", docker("inspect", "--format", "{{.State.Pid}}", container), "-n", "ss", "-Htn", "state", "established", `( sport = :${port} )`], { encoding: "utf8" })
        .split("\n")
        .filter(Boolean)
        .reduce((sum, line) => sum + Number(line.trim().split(/\s+/)[0]), 0);
// A client's retries: every half second for two minutes, each send with its transaction id.
const PATIENT = { tries: 240, retryPauseMs: 500 };
const SOAK_SECONDS = Number(process.env.FAULTS_SOAK_SECONDS || 45);

/**
 * Whether a container has passed a health probe since it last started (or has no health check). Docker keeps the
 * status it had before a restart until the first probe after it: "unhealthy" (a probe failed as it was killed) or
 * "healthy" would both say nothing of the restarted process.
 */
function healthySinceStart(container: string): boolean {
    const [startedAt, health] = docker("inspect", "--format", "{{.State.StartedAt}}|{{json .State.Health}}", container).split("|");
    const probes = (JSON.parse(health) as { Log?: { Start: string; ExitCode: number }[] } | null)?.Log;
    if (probes === undefined) {
        return true;
    }
    const last = probes.at(-1);
    return last !== undefined && Date.parse(last.Start) > Date.parse(startedAt) && last.ExitCode === 0;
}

/** Until `check` holds (polled every half second), or fails with `what` after `seconds`. */
async function until(what: string, seconds: number, check: () => boolean | Promise<boolean>): Promise<void> {
    const deadline = Date.now() + seconds * 1000;
    while (!(await Promise.resolve(check()).catch(() => false))) {
        if (Date.now() > deadline) {
            throw new Error(`${what}: not within ${seconds} s`);
        }
        await pause(0.5);
    }
}

/** The Pulumi CLI run as a user types it, in the stack's folder, stopped with `signal` once its event log shows `when`. */
function interruptedUp(testStack: TestStack, signal: NodeJS.Signals, when: (events: Record<string, unknown>[]) => boolean): Promise<{ code: number | null; output: string; signalled: boolean }> {
    const cli = fs.existsSync(path.join(ROOT, ".tools", "bin", "pulumi")) ? path.join(ROOT, ".tools", "bin", "pulumi") : "pulumi";
    const eventLog = path.join(testStack.workDir, `events-${runId()}.jsonl`);
    const child = spawn(cli, ["up", "--yes", "--skip-preview", "--non-interactive", "--stack", testStack.name, "--event-log", eventLog], {
        cwd: testStack.workDir,
        // The event log is a debug command's flag.
        env: { ...process.env, ...testStack.env, PULUMI_DEBUG_COMMANDS: "true" },
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    let signalled = false;
    const watcher = setInterval(() => {
        const events = fs.existsSync(eventLog) ? fs.readFileSync(eventLog, "utf8").split("\n").filter(Boolean) : [];
        // The CLI may be writing the last line: only whole ones count.
        const parsed = events.flatMap((line) => {
            try {
                return [JSON.parse(line) as Record<string, unknown>];
            } catch {
                return [];
            }
        });
        if (!signalled && when(parsed)) {
            signalled = true;
            child.kill(signal);
        }
    }, 100);
    return new Promise((resolve) =>
        child.on("close", (code) => {
            clearInterval(watcher);
            resolve({ code, output, signalled });
        }),
    );
}

/** Whether the engine's events announce step `op` of a resource whose name ends with `suffix`. */
const stepStarted = (op: string, suffix: string) => (events: Record<string, unknown>[]) =>
    events.some((event) => {
        const metadata = (event.resourcePreEvent as { metadata?: { op: string; urn: string } } | undefined)?.metadata;
        return metadata?.op === op && metadata.urn.endsWith(suffix);
    });

describe("survives what hosts do", { timeout: 45 * 60_000 }, () => {
    const name = `e2e-${runId()}-faults`;
    const serverName = `${name}.localhost`;
    const prefix = `synapse-${name}`;
    // PostgreSQL's volume lives on a filesystem of this size, which the full-disk fault fills.
    const databaseDisk = fs.mkdtempSync(path.join(os.tmpdir(), `synapse-${name}-db-`));
    const fullFolders: string[] = [];
    const rows: FaultRow[] = [];
    /** Every room the faults wrote into, with what the server acknowledged there. */
    const written: { roomId: string; traffic: Traffic }[] = [];
    const marker = `marker ${runId()}${runId()}`;
    const release = keepAlive();
    let testStack: TestStack | undefined;
    let matrix: Matrix;
    let token: string;
    let outputs: Record<string, string>;
    let signingKey: string;
    let rcMessage = 100;

    /** Every client traffic started, stopped in `after` too: one left running after a failed check would keep this file alive. */
    const traffics: Traffic[] = [];
    const writing = (roomId: string, label: string, options = {}) => {
        const traffic = new Traffic(matrix, token, roomId, label, options);
        traffics.push(traffic);
        return traffic;
    };
    const newRoom = async (label: string) => {
        const room = await matrix.request("POST", "/_matrix/client/v3/createRoom", { name: label }, token);
        assert.equal(room.status, 200, JSON.stringify(room.json));
        return room.json.room_id as string;
    };
    /** Counts what `traffic` got acknowledged in its room, asserts each is there once, and adds the README's row. */
    const expectEveryWrite = async (fault: string, roomId: string, traffic: Traffic, since: number, command: string) => {
        written.push({ roomId, traffic });
        const count = await countAcknowledged(matrix, token, roomId, traffic.acknowledged);
        const row = { fault, acknowledged: traffic.acknowledged.length, found: count.found, recoverySeconds: traffic.recoverySeconds(since), command };
        rows.push(row);
        console.log(
            `${fault}: ${row.acknowledged} writes acknowledged, ${row.found} found afterwards, recovery ${row.recoverySeconds?.toFixed(1) ?? "-"} s, ` +
                `${traffic.requests} requests, ${traffic.failedAttempts} attempts failed and were tried again; command: ${command}` +
                `${traffic.firstFailures.length ? `\n  ${traffic.firstFailures.slice(0, 8).join("\n  ")}${traffic.firstFailures.length > 8 ? "\n  …" : ""}` : ""}`,
        );
        assert.deepEqual(count.missing, [], "every acknowledged write is in the room");
        assert.deepEqual(count.twice, [], "and each once");
        assert.deepEqual(traffic.failures, [], "every write was acknowledged in the end, its retries with the same transaction id");
        assert.ok(row.recoverySeconds !== undefined, "a write sent after the fault was acknowledged");
    };
    /** Writes through the edge for a few seconds, `fault` (which returns its moment, in ms), then until writes succeed again. */
    const underWrites = async (label: string, fault: (traffic: Traffic) => number | Promise<number>, recovered: () => Promise<void>, options = {}) => {
        const roomId = await newRoom(label);
        const traffic = writing(roomId, label, { ...PATIENT, ...options });
        await pause(3);
        const since = await fault(traffic);
        await recovered();
        await until(`${label}: writes acknowledged again`, 180, () => traffic.acknowledged.filter((write) => write.attemptedAt > since).length >= 3);
        await traffic.stop();
        return { roomId, traffic, since };
    };
    const dataIntact = async () => {
        assert.equal(inVolume(`${prefix}-data`, ["cat", "/data/fault-marker"]), marker, "the marker in the data volume is still there");
        assert.equal(fs.readFileSync(path.join(databaseDisk, "fault-marker"), "utf8"), marker, "and the one in PostgreSQL's volume");
        assert.equal(inVolume(`${prefix}-data`, ["sh", "-c", "cat /data/*.signing.key"]), signingKey, "the signing key is unchanged");
    };
    /** Whether an update holds the stack's lock: a file in the state backend's locks folder. */
    const locked = () => {
        const locks = path.join(testStack!.stateDir, ".pulumi", "locks");
        return fs.existsSync(locks) && fs.readdirSync(locks, { recursive: true }).some((entry) => String(entry).endsWith(".json"));
    };
    /** A change that restarts every Synapse process: main's overlay changes. */
    const restartingChange = async () => {
        rcMessage += 1;
        await setConfig(testStack!, { extraConfig: faultProfile(serverName, 0, rcMessage).extraConfig });
    };

    before(async () => {
        await pulumiCommand();
        // A size-limited filesystem that outlives container and engine restarts; the volume binds it, with the stack's
        // labels, so the stack adopts it by name.
        execFileSync("mount", ["-t", "tmpfs", "-o", "size=384m,uid=999,gid=999,mode=0700", "tmpfs", databaseDisk]);
        docker(
            "volume", "create", "--driver", "local", "--opt", "type=none", "--opt", "o=bind", "--opt", `device=${databaseDisk}`,
            "--label", "io.synapse-stack.project=synapse", "--label", `io.synapse-stack.stack=${name}`, "--label", "io.synapse-stack.role=database",
            `${prefix}-db`,
        );
    });

    after(async () => {
        // Released whatever the clean-up meets: a pending keep-alive would hold the test process open for good.
        try {
            await Promise.all(traffics.map((traffic) => traffic.stop()));
            await cleanUp(testStack);
            for (const folder of [databaseDisk, ...fullFolders]) {
                spawnSync("umount", [folder]);
                fs.rmSync(folder, { recursive: true, force: true });
            }
            console.log(["", "| fault | writes acknowledged | found afterwards | recovery (s) | command needed |", "| --- | ---: | ---: | ---: | --- |",
                ...rows.map((row) => `| ${row.fault} | ${row.acknowledged ?? "—"} | ${row.found ?? "—"} | ${row.recoverySeconds?.toFixed(1) ?? "—"} | ${row.command} |`)].join("\n"));
        } finally {
            release();
        }
    });

    it("comes up on the production profile with a client worker, an event persister and Redis", async () => {
        testStack = await createStack(name, faultProfile(serverName, await freePort(), rcMessage));
        assert.equal((await up(testStack)).summary.result, "succeeded");
        // PostgreSQL's volume was made with options (a bind of the small filesystem): adopted as it is, not replaced.
        await expectNoChanges(testStack);
        outputs = await outputsOf(testStack);
        // The edge holds a request up to a minute while no process of its row answers: wait longer than that.
        matrix = new Matrix(outputs.url, { ca: outputs.caCertificate, connectTo: "127.0.0.1", timeoutSeconds: 120 });
        token = (await matrix.login(outputs.adminUserId, outputs.adminPassword)).token ?? "";
        assert.ok(token, "the admin logs in");
        assert.equal(docker("volume", "inspect", "--format", "{{.Options.device}}", `${prefix}-db`), databaseDisk, "PostgreSQL's data is on the small filesystem");
        inVolume(`${prefix}-data`, ["sh", "-c", `printf '%s' '${marker}' > /data/fault-marker`], { writable: true });
        fs.writeFileSync(path.join(databaseDisk, "fault-marker"), marker);
        signingKey = inVolume(`${prefix}-data`, ["sh", "-c", "cat /data/*.signing.key"]);
    });

    for (const role of ["main", "event-persister-1", "client-1", "db", "redis", "edge"]) {
        it(`SIGKILL of ${role} during a burst of writes: nothing acknowledged is lost, its restart policy brings it back`, async () => {
            const container = role === "main" ? prefix : `${prefix}-${role}`;
            const restartsBefore = restartCount(container);
            let running = 0;
            let healthy = 0;
            const { roomId, traffic, since } = await underWrites(
                `kill ${role}`,
                () => {
                    // The OOM killer's way: SIGKILL from the host (`docker kill` would count as a manual stop).
                    process.kill(Number(docker("inspect", "--format", "{{.State.Pid}}", container)), "SIGKILL");
                    return Date.now();
                },
                async () => {
                    await until(`${container} restarted by its policy`, 120, () => restartCount(container) > restartsBefore && docker("inspect", "--format", "{{.State.Running}}", container) === "true");
                    running = Date.now();
                    await until(`${container} healthy again (its last log lines:\n${lastLogLines(container)})`, 120, () => healthySinceStart(container));
                    healthy = Date.now();
                },
            );
            console.log(`${container}: running again ${((running - since) / 1000).toFixed(1)} s after the kill, healthy after ${((healthy - since) / 1000).toFixed(1)} s`);
            await expectEveryWrite(`SIGKILL of ${role === "main" ? "Synapse main" : role === "db" ? "PostgreSQL" : role}`, roomId, traffic, since, "none");
        });
    }

    it("SIGKILL of the client worker while it handles a send: the edge answers that send at once, the client's repeat is stored once", async () => {
        const container = `${prefix}-client-1`;
        const persister = `${prefix}-event-persister-1`;
        const roomId = await newRoom("in flight");
        const restartsBefore = restartCount(container);
        const content = { msgtype: "m.text", body: `in flight ${runId()}` };
        const sendPath = `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${runId()}`;
        const sendOnce = () => matrix.request("PUT", sendPath, content, token).catch((error: Error) => ({ status: 0, json: { error: error.message } }));
        let answeredAt = 0;
        let acknowledgedAt = 0;
        let repeats = 0;
        // The send waits in the client worker, whole, for the frozen event persister when the worker is killed.
        docker("pause", persister);
        const inFlight = sendOnce().then((answer) => ((answeredAt = Date.now()), answer));
        // Then the client repeats it as Traffic does: every half second, with its transaction id.
        const repeated = inFlight.then(async () => {
            let answer: Awaited<ReturnType<typeof sendOnce>> | undefined;
            while (answer?.status !== 200 && repeats < PATIENT.tries) {
                repeats++;
                await pause(PATIENT.retryPauseMs / 1000);
                answer = await sendOnce();
            }
            acknowledgedAt = Date.now();
            return answer;
        });
        let killedAt = 0;
        let healthyAt = 0;
        try {
            // The worker's request to the persister lies unread in the persister's replication socket.
            await until("the send waits in the client worker", 30, () => unreadBytes(persister, REPLICATION_PORT) > 0);
            assert.equal(answeredAt, 0, "the send is not answered yet");
            process.kill(Number(docker("inspect", "--format", "{{.State.Pid}}", container)), "SIGKILL");
            killedAt = Date.now();
            docker("unpause", persister);
            await until(`${container} restarted by its policy`, 120, () => restartCount(container) > restartsBefore && docker("inspect", "--format", "{{.State.Running}}", container) === "true");
            await until(`${container} healthy again`, 120, () => healthySinceStart(container));
            healthyAt = Date.now();
        } finally {
            spawnSync("docker", ["unpause", persister]);
        }
        const answer = await inFlight;
        const after = (at: number) => `${((at - killedAt) / 1000).toFixed(1)} s`;
        console.log(`send in flight: answered ${answer.status} ${after(answeredAt)} after the kill; the worker healthy again after ${after(healthyAt)}`);
        assert.equal(answer.status, 502, `the edge says the process failed: ${JSON.stringify(answer.json)}`);
        // Caddy 2.6 cannot send a body twice: tried again, the send failed at once each time and kept the worker marked
        // failed until the edge gave up on it, a minute later, and every request of the worker's rows waited with it.
        assert.ok(answeredAt < healthyAt, "the send is answered when its process dies, before the restarted worker is healthy, not once the edge gives up trying it again");
        const repeat = await repeated;
        console.log(`its repeat: acknowledged ${after(acknowledgedAt)} after the kill, at try ${repeats}`);
        assert.equal(repeat?.status, 200, `the client's repeat is acknowledged: ${JSON.stringify(repeat?.json)}`);
        const stored = (await roomMessages(matrix, token, roomId)).filter((message) => message.body === content.body);
        assert.equal(stored.length, 1, "and stored once");
        rows.push({ fault: "SIGKILL of client-1 while it handles a send", acknowledged: 1, found: stored.length, recoverySeconds: (acknowledgedAt - killedAt) / 1000, command: "none (the client repeats the send)" });
    });

    it("a full disk under PostgreSQL's volume: writes refused with errors; once space is freed, it serves every acknowledged write", async () => {
        const filler = path.join(databaseDisk, "filler");
        let filled = 0;
        const { roomId, traffic, since } = await underWrites(
            "full disk",
            async (during) => {
                // dd stops at the end of the space (ENOSPC); each message then needs pages PostgreSQL cannot get.
                spawnSync("dd", ["if=/dev/zero", `of=${filler}`, "bs=1M"]);
                spawnSync("dd", ["if=/dev/zero", `of=${filler}-tail`, "bs=4k"]);
                filled = Date.now();
                await until("writes refused on the full disk", 120, () => during.firstFailures.some((failure) => Date.parse(failure.slice(0, 24)) > filled));
                await pause(5);
                fs.rmSync(filler);
                fs.rmSync(`${filler}-tail`);
                return Date.now();
            },
            async () => undefined,
            // Bodies that do not compress, so that each message needs new pages.
            { padding: 16_000 },
        );
        const refused = traffic.firstFailures.filter((failure) => Date.parse(failure.slice(0, 24)) > filled && Date.parse(failure.slice(0, 24)) < since);
        console.log(`full disk: ${refused.length} attempts refused while full, e.g. ${refused[0]?.slice(0, 200)}`);
        assert.ok(refused.length > 0, "writes were refused while the disk was full");
        const said = lastLogLines(`${prefix}-db`, "400").split("\n").filter((line) => line.includes("No space left on device"));
        console.log(`PostgreSQL said, ${said.length} times: ${said[0]}`);
        assert.ok(said.length > 0, "PostgreSQL says why");
        await expectEveryWrite("full disk under PostgreSQL's volume (freed after 5 s)", roomId, traffic, since, "none (free the space)");
        assert.equal(docker("exec", `${prefix}-db`, "psql", "--username=synapse", "--dbname=synapse", "--tuples-only", "--no-align", "--command", "SELECT count(*) > 0 FROM events"), "t");
    });

    it("a backup into a full folder fails cleanly and leaves no partial archive, at the dump and at the archive", async () => {
        const backup = (out: string) => spawnSync("npm", ["run", "-s", "backup", "--", "--stack", name, "--out", out], { cwd: ROOT, encoding: "utf8", env: { ...process.env, ...testStack!.env } });
        const roomy = fs.mkdtempSync(path.join(os.tmpdir(), `synapse-${name}-backup-`));
        fullFolders.push(roomy);
        fs.chmodSync(roomy, 0o700);
        const whole = backup(roomy);
        assert.equal(whole.status, 0, whole.stderr);
        const archive = whole.stdout.trim();
        const members = (JSON.parse(execFileSync("tar", ["-xzOf", archive, "manifest.json"], { encoding: "utf8" })) as { members: Record<string, { bytes: number }> }).members;
        const staged = Object.values(members).reduce((sum, member) => sum + member.bytes, 0);
        // Too small for the dump; then room for the staged members (and a page each to spare) but not for the archive beside them.
        for (const kiB of [16, Math.ceil((staged + fs.statSync(archive).size / 2) / 1024) + 16]) {
            const full = fs.mkdtempSync(path.join(os.tmpdir(), `synapse-${name}-full-`));
            fullFolders.push(full);
            execFileSync("mount", ["-t", "tmpfs", "-o", `size=${kiB}k,mode=0700`, "tmpfs", full]);
            const failed = backup(full);
            console.log(`backup into a ${kiB} KiB folder: exit ${failed.status}, ${failed.stderr.trim().split("\n").slice(-2).join(" / ")}`);
            assert.notEqual(failed.status, 0, "the backup fails");
            assert.match(failed.stderr, /the backup failed, and left nothing in .*: .*(no space left on device|ENOSPC)/i, "and says why, in a line");
            assert.doesNotMatch(failed.stderr, /^\s+at /m, "not with a stack trace");
            assert.deepEqual(fs.readdirSync(full), [], "nothing is left in the folder: no partial archive, no staging");
        }
        rows.push({ fault: "backup into a full folder (at the dump, and at the archive)", command: "none: it fails in one line, leaving nothing; free space and run it again" });
    });

    it("two ups at once: the second is refused by the state lock, nothing is half-applied", async () => {
        await restartingChange();
        const roomId = await newRoom("two ups");
        const traffic = writing(roomId, "two ups", PATIENT);
        const first = up(testStack!);
        await until("the first up holds the lock", 60, locked);
        const second = await up(testStack!).then(() => "succeeded", (error: Error) => error.message);
        assert.equal((await first).summary.result, "succeeded");
        assert.match(second, /the stack is currently locked by 1 lock\(s\)/, "the second up is refused by the lock");
        await expectNoChanges(testStack!);
        const login = await matrix.login(outputs.adminUserId, outputs.adminPassword);
        assert.ok(login.token, `the admin logs in (answered ${login.status} ${login.errcode ?? ""})`);
        const since = Date.now();
        await until("writes acknowledged after both ups", 180, () => traffic.acknowledged.filter((write) => write.attemptedAt > since).length >= 3);
        await traffic.stop();
        await expectEveryWrite("two `up`s at once (a change that restarts every Synapse process)", roomId, traffic, since, "none: the second is refused (`the stack is currently locked`); run it again afterwards");
    });

    /** Main's container id, or "" while there is none. */
    const mainId = () => docker("ps", "-aq", "--no-trunc", "--filter", `name=^/${prefix}$`);
    const pendingOperations = async () => ((await testStack!.stack.exportStack()).deployment as { pending_operations?: unknown[] }).pending_operations ?? [];
    for (const { signal, point, when } of [
        { signal: "SIGINT", point: "as it starts replacing the client worker", when: () => stepStarted("delete-replaced", "-client-1") },
        { signal: "SIGKILL", point: "as it starts creating main's new container", when: () => stepStarted("create-replacement", "-homeserver") },
        {
            signal: "SIGKILL",
            point: "once main's new container exists, before the step is recorded",
            when: (old: string) => (events: Record<string, unknown>[]) => stepStarted("create-replacement", "-homeserver")(events) && ![old, ""].includes(mainId()),
        },
    ] as const) {
        it(`${signal} of pulumi up ${point}: the next up completes without editing state, no data volume touched`, async () => {
            await restartingChange();
            const roomId = await newRoom(`interrupted ${signal}`);
            const traffic = writing(roomId, `interrupted ${signal}`, PATIENT);
            await pause(2);
            const interrupted = await interruptedUp(testStack!, signal, when(mainId()));
            const since = Date.now();
            assert.ok(interrupted.signalled, `the update reached the point (${point}):\n${interrupted.output.slice(-3000)}`);
            assert.notEqual(interrupted.code, 0, "the interrupted up did not succeed");
            // What the README says to do after an interrupted up, step by step, each only when the last answer asks for it.
            const commands: string[] = [];
            const nextUp = () => up(testStack!).then((result) => result.summary.result, (error: Error) => error.message);
            if (locked()) {
                // A killed CLI cannot remove its lock: `pulumi cancel` does (with a file backend it only deletes the lock).
                commands.push("pulumi cancel --yes");
                await testStack!.stack.cancel();
            }
            const pending = await pendingOperations();
            if (pending.length > 0) {
                // The steps in flight stay in the state, which `up` keeps (warning each time): dropped, they run again.
                commands.push("pulumi refresh --clear-pending-creates --yes");
                await testStack!.stack.refresh({ clearPendingCreates: true, onOutput: (text) => testStack!.output.push(text) });
                assert.deepEqual(await pendingOperations(), [], "no pending operation left");
            }
            commands.push("pulumi up");
            let next = await nextUp();
            const orphan = /is already in use by container \\?"([0-9a-f]{64})/.exec(next)?.[1];
            if (orphan) {
                // Killed after Docker made the container and before the state recorded it: it runs from the volumes and
                // holds nothing of its own, and the up makes it again.
                commands.push("docker rm -f <the container the error names>", "pulumi up");
                docker("rm", "-f", orphan);
                next = await nextUp();
            }
            assert.equal(next, "succeeded", `the next up completes after ${commands.join(", ")}`);
            await expectNoChanges(testStack!);
            await dataIntact();
            await until("writes acknowledged again", 180, () => traffic.acknowledged.filter((write) => write.attemptedAt > since).length >= 3);
            await traffic.stop();
            console.log(
                `${signal} ${point}: the CLI exited ${interrupted.code ?? signal}; pending operations afterwards: ${JSON.stringify(pending).slice(0, 300)}; ` +
                    `then ${commands.join(", ")}\n${interrupted.output.split("\n").filter((line) => /warning|error|cancel|pending/i.test(line)).slice(0, 12).join("\n")}`,
            );
            await expectEveryWrite(`\`pulumi up\` ${signal === "SIGINT" ? "interrupted (SIGINT)" : "killed (SIGKILL)"} ${point}`, roomId, traffic, since, commands.join(", then "));
        });
    }

    it(`a soak: ${SOAK_SECONDS} s of writes while a Synapse process is restarted every 15 s, nothing lost`, async () => {
        const roomId = await newRoom("soak");
        const figures = await soak(matrix, token, roomId, [prefix, `${prefix}-event-persister-1`, `${prefix}-client-1`], SOAK_SECONDS, 15);
        console.log(
            `soak: ${figures.seconds.toFixed(0)} s, restarts ${figures.restarts.map((container) => container.slice(prefix.length + 1) || "main").join(", ")}; ` +
                `${figures.requests} requests, ${figures.failedAttempts} attempts failed (${((100 * figures.failedAttempts) / figures.requests).toFixed(1)} %) and were tried again; ` +
                `${figures.acknowledged} writes acknowledged, ${figures.found} found, ${figures.missing.length} lost, ${figures.twice.length} twice`,
        );
        rows.push({ fault: `soak, ${figures.seconds.toFixed(0)} s, ${figures.restarts.length} restarts (error rate ${((100 * figures.failedAttempts) / figures.requests).toFixed(1)} % of attempts)`, acknowledged: figures.acknowledged, found: figures.found, command: "none" });
        assert.ok(figures.restarts.length >= 2, "processes were restarted");
        assert.deepEqual(figures.missing, [], "nothing acknowledged was lost");
        assert.deepEqual(figures.twice, [], "nothing stored twice");
        assert.deepEqual(figures.failures, [], "every write acknowledged in the end");
    });

    it("a restart of the Docker engine: every container comes back by its policy, the admin logs in, up changes nothing", async () => {
        const containers = docker("ps", "--filter", `label=io.synapse-stack.stack=${name}`, "--format", "{{.Names}}").split("\n").sort();
        const { roomId, traffic, since } = await underWrites(
            "engine restart",
            async () => {
                const dockerd = execFileSync("pgrep", ["-x", "-o", "dockerd"], { encoding: "utf8" }).trim();
                const commandLine = fs.readFileSync(`/proc/${dockerd}/cmdline`, "utf8").split("\0").filter(Boolean);
                const at = Date.now();
                process.kill(Number(dockerd), "SIGTERM");
                await until("dockerd stopped", 180, () => !fs.existsSync(`/proc/${dockerd}`));
                // As setup starts it, in a session of its own: it must outlive this test's process group.
                const log = fs.openSync(path.join(fs.existsSync(path.join(ROOT, ".state")) ? path.join(ROOT, ".state") : os.tmpdir(), "dockerd.log"), "a");
                spawn(commandLine[0], commandLine.slice(1), { detached: true, stdio: ["ignore", log, log] }).unref();
                fs.closeSync(log);
                await until("the engine answers", 120, () => spawnSync("docker", ["info"]).status === 0);
                return at;
            },
            async () => {
                await until("every container of the stack running", 180, () => docker("ps", "--filter", `label=io.synapse-stack.stack=${name}`, "--format", "{{.Names}}").split("\n").sort().join() === containers.join());
            },
        );
        const login = await matrix.login(outputs.adminUserId, outputs.adminPassword);
        assert.ok(login.token, `the admin logs in (answered ${login.status} ${login.errcode ?? ""})`);
        await expectNoChanges(testStack!);
        await expectEveryWrite("restart of the Docker engine", roomId, traffic, since, "none");
    });

    it("keeps every write acknowledged during every fault, once, and the data volume's marker and signing key", async () => {
        for (const { roomId, traffic } of written) {
            const count = await countAcknowledged(matrix, token, roomId, traffic.acknowledged);
            assert.deepEqual([count.missing, count.twice], [[], []], `every write in ${roomId}, once`);
        }
        await dataIntact();
    });
});
