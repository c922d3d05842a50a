// Monitoring on the real engine: the production profile with a client worker and Prometheus. One stack serves every
// check, in order: every target up (each Synapse process by name), the alert rules loaded, the stack exporter's
// figures, the console pages in a real browser with data in every graph (the screenshots are kept), a worker killed
// with `docker kill` firing the down alert within its `for`, the database password nowhere in plaintext, and a
// destroy that leaves nothing.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import * as yaml from "js-yaml";
import {
    cleanUp,
    createStack,
    docker,
    expectNoChanges,
    freePort,
    healthStatus,
    keepAlive,
    Matrix,
    outputsOf,
    ownedObjects,
    productionConfig,
    pulumiCommand,
    recordedImage,
    refresh,
    ROOT,
    runId,
    send,
    setConfig,
    type TestStack,
    up,
    volumeNames,
    volumesLeft,
    whereSecretShows,
} from "./support";

/** Where the console pages' screenshots are kept (the README's comes from here). */
const SCREENSHOTS = process.env.MONITORING_SCREENSHOTS ?? path.join(os.tmpdir(), "synapse-stack-screenshots");

interface Target {
    labels: Record<string, string>;
    health: string;
    lastError: string;
}

interface Alert {
    labels: Record<string, string>;
    state: string;
    activeAt: string;
}

describe("monitoring: Prometheus, alerts and console pages", { timeout: 20 * 60_000 }, () => {
    const name = `e2e-${runId()}-monitoring`;
    const serverName = `${name}.localhost`;
    const prefix = `synapse-${name}`;
    const release = keepAlive();
    let testStack: TestStack | undefined;
    let prometheus = "";
    let httpsPort = 0;
    let volumesBefore: Set<string>;

    const api = async (query: string) => {
        const answer = await send(`${prometheus}/api/v1/${query}`);
        assert.equal(answer.status, 200, `${query}: ${answer.body.toString().slice(0, 300)}`);
        return (JSON.parse(answer.body.toString()) as { data: unknown }).data;
    };
    const targets = async () => ((await api("targets?state=active")) as { activeTargets: Target[] }).activeTargets;
    const value = async (expression: string) => {
        const result = (await api(`query?query=${encodeURIComponent(expression)}`)) as { result: { metric: Record<string, string>; value: [number, string] }[] };
        return result.result;
    };
    /** Polls until `check` holds, every second, up to `seconds`; returns how long it took. */
    const waitFor = async (what: string, seconds: number, check: () => Promise<boolean>): Promise<number> => {
        const started = Date.now();
        while (!(await check())) {
            assert.ok(Date.now() - started < seconds * 1000, `${what}: not within ${seconds} s`);
            await new Promise((resolve) => setTimeout(resolve, 1000));
        }
        return (Date.now() - started) / 1000;
    };

    before(async () => {
        volumesBefore = volumeNames();
        await pulumiCommand();
        fs.mkdirSync(SCREENSHOTS, { recursive: true });
    });

    after(async () => {
        // Released whatever the clean-up meets: a pending keep-alive would hold the test process open for good.
        try {
            await cleanUp(testStack);
        } finally {
            release();
        }
    });

    it("comes up with Prometheus on loopback only, every target up and each Synapse process by name; up and refresh change nothing", async () => {
        httpsPort = await freePort();
        const prometheusPort = await freePort();
        testStack = await createStack(name, {
            serverName,
            ...productionConfig(),
            httpsPort: String(httpsPort),
            federationPort: "0",
            workers: JSON.stringify({ client: 1 }),
            redisImage: recordedImage("redis"),
            // The test sends faster than Synapse's default message rate limit allows.
            extraConfig: JSON.stringify({ rc_message: { per_second: 100, burst_count: 100 } }),
            monitoring: JSON.stringify({
                port: prometheusPort,
                // Quicker than the default 15s, so the down alert fires within a test's patience; the rule's `for` is the same.
                scrapeInterval: "5s",
                image: recordedImage("prometheus"),
                postgresExporterImage: recordedImage("postgres-exporter"),
            }),
        });
        const started = Date.now();
        assert.equal((await up(testStack)).summary.result, "succeeded");
        console.log(`# cold up with monitoring: ${((Date.now() - started) / 1000).toFixed(1)} s`);
        const outputs = await outputsOf(testStack);
        prometheus = outputs.prometheusUrl;
        assert.equal(prometheus, `http://127.0.0.1:${prometheusPort}`);
        const container = JSON.parse(docker("inspect", `${prefix}-prometheus`))[0];
        const bound = Object.values(container.HostConfig.PortBindings as Record<string, { HostIp: string }[]>).flat().map((binding) => binding.HostIp);
        assert.deepEqual(bound, ["127.0.0.1"], "published on loopback only");
        assert.deepEqual([container.HostConfig.ReadonlyRootfs, container.HostConfig.CapDrop, container.Config.User], [true, ["ALL"], "65534:65534"]);
        for (const exporter of ["db-exporter", "stack-exporter"]) {
            const details = JSON.parse(docker("inspect", `${prefix}-${exporter}`))[0];
            assert.deepEqual(details.HostConfig.PortBindings ?? {}, {}, `${exporter} is published nowhere`);
        }
        const metricsNetwork = JSON.parse(docker("network", "inspect", `${prefix}-metrics`))[0];
        assert.equal(metricsNetwork.Internal, true, "the metrics network is internal");

        const took = await waitFor("every target up", 90, async () => (await targets()).every((target) => target.health === "up"));
        const found = await targets();
        const summary = found.map((target) => `${target.labels.job}${target.labels.process ? `/${target.labels.process}` : ""} ${target.health}`).sort();
        console.log(`# targets after ${took.toFixed(0)} s: ${summary.join(", ")}`);
        assert.deepEqual(summary, ["edge up", "postgres up", "prometheus up", "stack up", "synapse/client-1 up", "synapse/main up"]);
        const pg = await value("pg_up");
        assert.equal(pg[0]?.value[1], "1", "the exporter reaches PostgreSQL");
        // A second `up` changes nothing, and neither does a refresh (what the engine reports of each container).
        await expectNoChanges(testStack);
        await refresh(testStack);
        await expectNoChanges(testStack);
    });

    it("loads every alert rule the package ships, none firing on a healthy stack", async () => {
        const shipped = (yaml.load(fs.readFileSync(path.join(ROOT, "packages/synapse/monitoring/alerts.yml"), "utf8")) as { groups: { rules: { alert?: string }[] }[] }).groups
            .flatMap((group) => group.rules)
            .map((rule) => rule.alert)
            .filter((alert): alert is string => alert !== undefined)
            .sort();
        const groups = ((await api("rules")) as { groups: { rules: { name: string; health: string }[] }[] }).groups;
        const loaded = groups.flatMap((group) => group.rules);
        assert.deepEqual(loaded.map((rule) => rule.name).sort(), shipped);
        assert.ok(loaded.every((rule) => rule.health !== "err"), JSON.stringify(loaded.filter((rule) => rule.health === "err")));
        const firing = ((await api("alerts")) as { alerts: Alert[] }).alerts.filter((alert) => alert.state === "firing").map((alert) => alert.labels.alertname);
        console.log(`# ${loaded.length} rules loaded; firing on the new stack: ${firing.join(", ") || "none"}`);
        // A new stack has no backup yet: that alert is the only one allowed (it waits an hour before firing anyway).
        assert.deepEqual(firing.filter((alert) => alert !== "SynapseBackupMissing"), []);
    });

    it("reads every data volume's free space, the edge's certificate and the backups through the stack exporter", async () => {
        const volumes = (await value("synapse_stack_volume_free_bytes")).map((sample) => sample.metric.volume).sort();
        assert.deepEqual(volumes, [`${prefix}-data`, `${prefix}-db`, `${prefix}-edge`, `${prefix}-metrics`].sort());
        const notAfter = Number((await value("synapse_stack_certificate_not_after_timestamp_seconds"))[0]?.value[1]);
        const notBefore = Number((await value("synapse_stack_certificate_not_before_timestamp_seconds"))[0]?.value[1]);
        assert.ok(notAfter > Date.now() / 1000 && notBefore < Date.now() / 1000, `the certificate is valid now: ${notBefore}–${notAfter}`);
        const backups = await value("synapse_stack_backups");
        assert.equal(backups[0]?.value[1], "0", "no backup yet");
        console.log(`# stack exporter: ${volumes.length} volumes; the edge's certificate lives ${((notAfter - notBefore) / 3600).toFixed(1)} h; backups 0`);
    });

    it("shows the console pages in a real browser, every graph with data", async () => {
        // Traffic for the graphs: a user sending messages through the edge.
        const outputs = await outputsOf(testStack!);
        const matrix = new Matrix(`https://${serverName}:${httpsPort}`, { ca: outputs.caCertificate, connectTo: "127.0.0.1", timeoutSeconds: 60 });
        const login = await matrix.login(outputs.adminUserId, outputs.adminPassword);
        assert.equal(login.status, 200);
        const room = await matrix.createRoomWithMessage(login.token!, "monitoring 0");
        // Synapse exports the persisted-events counter from its first event on (it is labelled by server name), so
        // Prometheus must scrape it once before the rest of the traffic: a series whose every sample shows the same
        // total has no rate, however much that total grew before its first scrape.
        await waitFor("the persisted-events counter in Prometheus", 60, async () => (await value("synapse_storage_events_persisted_events_total")).length > 0);
        for (let n = 1; n <= 20; n++) {
            const answer = await matrix.request("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/send/m.room.message/monitoring-${n}-${runId()}`, { msgtype: "m.text", body: `monitoring ${n}` }, login.token);
            assert.equal(answer.status, 200);
        }
        // Two scrapes after the traffic: every rate has two samples to work from.
        const persisted = async () => (await value("sum(rate(synapse_storage_events_persisted_events_total[1m])) > 0")).length > 0;
        await waitFor("events persisted in Prometheus", 120, persisted).catch(async (error: Error) => {
            const states = (await targets()).map((target) => `${target.labels.job}/${target.labels.process ?? ""} ${target.health} ${target.lastError}`);
            const samples = await value("synapse_storage_events_persisted_events_total");
            throw new Error(`${error.message}; targets: ${states.join("; ")}; samples: ${JSON.stringify(samples)}`);
        });
        for (const page of ["synapse", "processes"]) {
            // The last three minutes: the stack is new.
            const url = `${prometheus}/consoles/${page}.html?range=180`;
            const screenshot = path.join(SCREENSHOTS, `${page}.png`);
            const browser = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,1800", "--virtual-time-budget=15000"];
            const dom = spawnSync("chromium", [...browser, "--dump-dom", url], { encoding: "utf8", timeout: 120_000 });
            assert.equal(dom.status, 0, dom.stderr.slice(-1000));
            const graphs = dom.stdout.split('class="synapse-stack-graph"').slice(1);
            assert.ok(graphs.length >= 4, `${page}: ${graphs.length} graphs`);
            const empty = graphs.map((graph, index) => ({ index, graph })).filter(({ graph }) => !/<path[^>]* d="M/.test(graph.split("synapse-stack-graph")[0]) || /prom_graph_error/.test(graph.split("</table>")[0]));
            assert.deepEqual(empty.map(({ index }) => index), [], `${page}: graphs without data (by position)`);
            assert.ok(!/>down</.test(dom.stdout), `${page}: no process shown down`);
            const shot = spawnSync("chromium", [...browser, `--screenshot=${screenshot}`, url], { encoding: "utf8", timeout: 120_000 });
            assert.equal(shot.status, 0, shot.stderr.slice(-1000));
            assert.ok(fs.statSync(screenshot).size > 20_000, `${screenshot} is a real picture`);
            console.log(`# ${page}.html: ${graphs.length} graphs, each with data; screenshot ${screenshot} (${(fs.statSync(screenshot).size / 1024).toFixed(0)} KiB)`);
        }
    });

    it("fires SynapseProcessDown for a worker stopped with docker kill, within its `for`", async () => {
        const worker = `${prefix}-client-1`;
        docker("kill", worker);
        const killed = Date.now();
        let pendingAfter = 0;
        const took = await waitFor("SynapseProcessDown firing for client-1", 120, async () => {
            const alerts = ((await api("alerts")) as { alerts: Alert[] }).alerts.filter((alert) => alert.labels.alertname === "SynapseProcessDown" && alert.labels.process === "client-1");
            if (!pendingAfter && alerts.some((alert) => alert.state === "pending")) {
                pendingAfter = (Date.now() - killed) / 1000;
            }
            return alerts.some((alert) => alert.state === "firing");
        });
        console.log(`# docker kill of client-1: pending after ${pendingAfter.toFixed(0)} s, firing after ${took.toFixed(0)} s (for: 1m, scrape and evaluation every 5 s)`);
        // Down for a minute, plus up to a scrape and an evaluation on each side.
        assert.ok(took >= 60, "not before its `for`");
        docker("start", worker);
        assert.equal(await healthStatus(worker, 120), "healthy");
        await waitFor("client-1 up again", 60, async () => (await targets()).some((target) => target.labels.process === "client-1" && target.health === "up"));
    });

    it("keeps the database password out of the exporter's arguments, variables, labels and logs, and out of state", () => {
        const password = docker("run", "--rm", "-v", `${prefix}-db-exporter:/secrets:ro`, "--user", "65534:65534", "--entrypoint", "cat", recordedImage("postgres-exporter"), "/secrets/password");
        assert.ok(password.length >= 32, "the exporter's password file");
        assert.deepEqual(whereSecretShows(testStack!, password), [], "nowhere but its file");
        console.log(`# database password (${password.length} characters) found in: the exporter's password file; nowhere else`);
    });

    it("turns monitoring off again: its containers and networks go, the homeserver keeps serving, nothing left to change", async () => {
        const volume = `${prefix}-metrics`;
        await setConfig(testStack!, { monitoring: undefined });
        assert.equal((await up(testStack!)).summary.result, "succeeded");
        const left = ownedObjects(name);
        assert.deepEqual(left.containers.filter((container) => /prometheus|exporter/.test(container)), [], "no monitoring container");
        assert.deepEqual(left.networks.filter((network) => /metrics|prometheus/.test(network)), [], "no monitoring network");
        const outputs = await outputsOf(testStack!);
        const matrix = new Matrix(`https://${serverName}:${httpsPort}`, { ca: outputs.caCertificate, connectTo: "127.0.0.1", timeoutSeconds: 60 });
        assert.equal((await matrix.login(outputs.adminUserId, outputs.adminPassword)).status, 200, "the homeserver serves");
        await expectNoChanges(testStack!);
        console.log(`# monitoring off: no monitoring container or network left; its volume ${left.volumes.includes(volume) ? "kept" : "deleted"}`);
    });

    it("destroys everything it made, Prometheus's volume included (retention off)", async () => {
        await testStack!.stack.destroy({ onOutput: (text) => testStack!.output.push(text) });
        assert.deepEqual(ownedObjects(name), { containers: [], volumes: [], networks: [] });
        // Anonymous volumes (an image's VOLUME nothing was mounted over) have no name to tell whose they are.
        assert.deepEqual(volumesLeft(volumesBefore, prefix), [], "no volume left, anonymous ones included");
    });
});
