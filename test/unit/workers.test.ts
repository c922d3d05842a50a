// Synapse workers: the routing table (one test per row), the kinds and their counts, the shared config, and a
// Homeserver with workers under Pulumi's mocks.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import {
    countProblems,
    Homeserver,
    renderRoutes,
    routeFor,
    ROUTES,
    sharedWorkerConfig,
    validateHomeserverArgs,
    WORKER_KINDS,
    workerConfig,
    workerCounts,
    type WorkerKind,
    workerProcesses,
} from "@synapse-stack/synapse";
import { parseConfig } from "../../config";
import { allStrings, configProblems, declared, installMocks } from "./harness";

const ALL: ReadonlySet<WorkerKind> = new Set(WORKER_KINDS);

describe("the routing table, row by row", () => {
    const rows: { method: string; path: string; row: string | undefined; kind: WorkerKind }[] = [
        { method: "GET", path: "/_matrix/client/v3/sync", row: "sync", kind: "sync" },
        { method: "GET", path: "/_matrix/client/r0/events", row: "sync", kind: "sync" },
        { method: "GET", path: "/_matrix/client/v3/rooms/!a:b/initialSync", row: "sync", kind: "sync" },
        { method: "PUT", path: "/_matrix/federation/v1/send/1234", row: "inbound federation transactions", kind: "federationReader" },
        { method: "POST", path: "/_matrix/media/v3/upload", row: "media", kind: "media" },
        { method: "GET", path: "/_matrix/client/v1/media/download/a.org/xyz", row: "media", kind: "media" },
        { method: "GET", path: "/_matrix/federation/v1/media/download/xyz", row: "media", kind: "media" },
        { method: "GET", path: "/_matrix/federation/v1/query/profile", row: "federation requests", kind: "federationReader" },
        { method: "GET", path: "/_matrix/key/v2/query", row: "federation requests", kind: "federationReader" },
        { method: "PUT", path: "/_matrix/client/v3/rooms/!a:b/typing/@u:b", row: "typing (the typing stream's writer)", kind: "typing" },
        { method: "PUT", path: "/_matrix/client/v3/sendToDevice/m.room_key/1", row: "to-device messages (the to_device stream's writer)", kind: "toDevice" },
        { method: "POST", path: "/_matrix/client/v3/rooms/!a:b/receipt/m.read/$e", row: "receipts and read markers (the receipts stream's writers)", kind: "receipts" },
        { method: "POST", path: "/_matrix/client/v3/rooms/!a:b/read_markers", row: "receipts and read markers (the receipts stream's writers)", kind: "receipts" },
        { method: "GET", path: "/_matrix/client/v3/rooms/!a:b/messages", row: "room pagination (one instance per room)", kind: "client" },
        { method: "GET", path: "/_matrix/client/v3/pushrules/", row: "reads of the account data, presence and push rules streams (any worker reads them)", kind: "client" },
        { method: "GET", path: "/_matrix/client/v3/presence/@u:b/status", row: "reads of the account data, presence and push rules streams (any worker reads them)", kind: "client" },
        { method: "PUT", path: "/_matrix/client/v3/pushrules/global/override/r", row: "push rule writes (the push_rules stream's writer)", kind: "pushRules" },
        { method: "PUT", path: "/_matrix/client/v3/user/@u:b/account_data/m.direct", row: "tag and account data writes (the account_data stream's writer)", kind: "accountData" },
        { method: "PUT", path: "/_matrix/client/v3/user/@u:b/rooms/!a:b/tags/u.work", row: "tag and account data writes (the account_data stream's writer)", kind: "accountData" },
        { method: "PUT", path: "/_matrix/client/v3/presence/@u:b/status", row: "presence writes (the presence stream's writer)", kind: "presence" },
        { method: "PUT", path: "/_synapse/admin/v2/users/@u:b", row: "user admin writes", kind: "main" },
        { method: "POST", path: "/_matrix/client/v3/keys/upload", row: "device and key changes (the device_lists stream's writers)", kind: "deviceLists" },
        { method: "PUT", path: "/_matrix/client/v3/devices/ABC", row: "device and key changes (the device_lists stream's writers)", kind: "deviceLists" },
        { method: "PUT", path: "/_matrix/client/v3/rooms/!a:b/send/m.room.message/1", row: "client API", kind: "client" },
        { method: "POST", path: "/_matrix/client/v3/login", row: "client API", kind: "client" },
        { method: "POST", path: "/_matrix/client/v3/keys/query", row: "client API", kind: "client" },
        { method: "GET", path: "/_matrix/client/versions", row: "client API", kind: "client" },
        { method: "GET", path: "/_matrix/client/v3/login/sso/redirect", row: undefined, kind: "main" },
        { method: "GET", path: "/_synapse/admin/v1/server_version", row: undefined, kind: "main" },
    ];
    for (const { method, path, row, kind } of rows) {
        it(`${method} ${path} → ${kind}${row ? ` (${row})` : " (no row: main)"}`, () => {
            const routed = routeFor(method, path, ALL);
            assert.equal(routed.route?.name, row);
            assert.equal(routed.kind, kind);
        });
    }

    it("every row of the table is tested above", () => {
        const tested = new Set(rows.map((row) => row.row));
        assert.deepEqual(ROUTES.map((route) => route.name).filter((name) => !tested.has(name)), []);
    });

    it("sends a row to main when the homeserver runs no worker of its kind, or to its fallback", () => {
        assert.equal(routeFor("GET", "/_matrix/client/v3/sync", new Set(["client"])).kind, "main");
        assert.equal(routeFor("POST", "/_matrix/media/v3/upload", new Set()).kind, "main");
        assert.equal(routeFor("PUT", "/_matrix/client/v3/rooms/!a:b/typing/@u:b", new Set(["client"])).kind, "main", "only the typing writer or main serves typing");
        assert.equal(routeFor("POST", "/_matrix/client/v3/keys/upload", new Set(["client"])).kind, "client", "any worker serves key uploads");
        assert.equal(routeFor("POST", "/_matrix/client/v3/keys/upload", new Set()).kind, "main");
    });

    it("renders each row in order, balanced and health-checked, with main as the last resort", () => {
        const routes = renderRoutes({ sync: ["s-1:8083", "s-2:8083"], client: ["c-1:8083"] }, "main:8008");
        assert.match(routes, /^route \{/);
        assert.match(routes, /reverse_proxy @route0 s-1:8083 s-2:8083 \{\n\t\tlb_policy header Authorization\n/);
        assert.match(routes, /health_uri \/health/);
        assert.match(routes, /reverse_proxy @route2 main:8008 \{\n\t\tlb_try_duration 60s\n/, "no media worker: media to main, held while main restarts");
        assert.match(routes, /\t\tlb_retry_match method GET HEAD OPTIONS\n/, "a request without a body is tried again whatever the error");
        // Caddy 2.6 cannot send a body twice: any other request is held only until its first attempt.
        assert.match(routes, /\t\tlb_retry_match \{\n\t\t\texpression \{http\.reverse_proxy\.upstream\.address\} == null\n\t\t\}\n/);
        assert.doesNotMatch(routes, /lb_retry_match method [^\n]*(PUT|POST|DELETE)/, "never a method whose request has a body, whatever the error");
        const mainRow = routes.slice(routes.indexOf("reverse_proxy @route2 main:8008"), routes.indexOf("@route3"));
        assert.match(mainRow, /\n\t\thealth_uri \/health\n/, "main's rows are health-checked too");
        assert.doesNotMatch(mainRow, /fail_duration/, "no passive check of main: a client's broken upload must not take it out");
        assert.match(routes.slice(routes.indexOf("reverse_proxy @route0"), routes.indexOf("@route1")), /\n\t\tfail_duration 5s\n/, "a worker's failed request keeps it out 5 s");
        assert.ok(routes.indexOf("@route0") < routes.indexOf("@route8"), "first match wins in table order");
        assert.match(routes, /\treverse_proxy main:8008 \{\n\t\tlb_try_duration 60s/);
    });
});

describe("worker kinds and counts", () => {
    it("one-of-each is one of every kind, and a count overrides it", () => {
        assert.deepEqual(workerCounts("one-of-each", { client: 2 }), {
            ...Object.fromEntries(WORKER_KINDS.map((kind) => [kind, 1])),
            client: 2,
        });
        assert.deepEqual(Object.values(workerCounts(undefined, {})), WORKER_KINDS.map(() => 0));
    });

    it("refuses counts Synapse refuses, saying why", () => {
        assert.deepEqual(countProblems({ media: 2, background: 2, client: -1, sync: 1.5, typing: 2, eventPersister: 3, receipts: 2 }, "workers"), [
            "workers.client -1 is not valid: expected a whole number from 0 to 16",
            "workers.sync 1.5 is not valid: expected a whole number from 0 to 16",
            "workers.media 2 is not valid: expected a whole number from 0 to 1 (several media workers need one media store and one of them running its background jobs)",
            "workers.background 2 is not valid: expected a whole number from 0 to 1 (Synapse runs background tasks on exactly one process (run_background_tasks_on))",
            "workers.typing 2 is not valid: expected a whole number from 0 to 1 (Synapse allows one writer of the typing stream)",
        ]);
        for (const kind of ["toDevice", "accountData", "presence", "pushRules"] as const) {
            assert.equal(countProblems({ [kind]: 2 }, "workers").length, 1, `one ${kind} writer at most`);
        }
    });

    it("names each worker by kind and number, as Synapse's worker_name", () => {
        assert.deepEqual(workerProcesses(workerCounts(undefined, { client: 2, federationSender: 1 })).map((worker) => worker.name), ["client-1", "client-2", "federation-sender-1"]);
    });

    it("shares Redis, the instance map and each role's instances; client workers change none of it", () => {
        const settings = { mainHost: "hs", redisHost: "hs-redis", replicationSecretPath: "/data/s" };
        const shared = sharedWorkerConfig(workerProcesses(workerCounts("one-of-each", { eventPersister: 2 })), settings);
        const writers = ["event-persister-1", "event-persister-2", "typing-1", "to-device-1", "account-data-1", "receipts-1", "presence-1", "push-rules-1", "device-lists-1"];
        assert.deepEqual(shared, {
            redis: { enabled: true, host: "hs-redis", port: 6379 },
            worker_replication_secret_path: "/data/s",
            instance_map: { main: { host: "hs", port: 9093 }, ...Object.fromEntries(writers.map((writer) => [writer, { host: `hs-${writer}`, port: 9093 }])) },
            stream_writers: {
                events: ["event-persister-1", "event-persister-2"],
                typing: ["typing-1"],
                to_device: ["to-device-1"],
                account_data: ["account-data-1"],
                receipts: ["receipts-1"],
                presence: ["presence-1"],
                push_rules: ["push-rules-1"],
                device_lists: ["device-lists-1"],
            },
            enable_metrics: true,
            federation_sender_instances: ["federation-sender-1"],
            pusher_instances: ["pusher-1"],
            run_background_tasks_on: "background-1",
            enable_media_repo: false,
            media_instance_running_background_jobs: "media-1",
        });
        const more = sharedWorkerConfig(workerProcesses(workerCounts("one-of-each", { eventPersister: 2, client: 3, sync: 2, federationReader: 2 })), settings);
        assert.deepEqual(more, shared);
        assert.deepEqual(sharedWorkerConfig([], settings), {}, "no workers: nothing shared, one process as before");
    });

    it("gives each worker its listener, its metrics, and the media worker the media repository", () => {
        const [media] = workerProcesses(workerCounts(undefined, { media: 1 }));
        const config = workerConfig(media, true) as { worker_listeners: { resources?: { names: string[] }[]; type: string }[]; enable_media_repo?: boolean };
        assert.deepEqual(config.worker_listeners.map((listener) => listener.type), ["http", "metrics"]);
        assert.deepEqual(config.worker_listeners[0].resources?.[0].names, ["media"]);
        assert.equal(config.enable_media_repo, true);
        const [pusher] = workerProcesses(workerCounts(undefined, { pusher: 1 }));
        assert.deepEqual((workerConfig(pusher, true) as typeof config).worker_listeners[0].resources?.[0].names, ["health"]);
        const [persister, typing] = workerProcesses(workerCounts(undefined, { typing: 1, eventPersister: 1 }));
        const typingConfig = workerConfig(typing, true) as typeof config;
        assert.deepEqual(typingConfig.worker_listeners.map((listener) => [listener.type, listener.resources?.[0].names]), [["http", ["client"]], ["http", ["replication"]], ["metrics", undefined]]);
        assert.deepEqual((workerConfig(persister, true) as typeof config).worker_listeners.map((listener) => listener.resources?.[0].names), [["health"], ["replication"], undefined]);
    });
});

describe("the rules about workers", () => {
    it("refuses workers without PostgreSQL, serving workers without the edge, and counts Synapse refuses", () => {
        assert.deepEqual(validateHomeserverArgs({ serverName: "chat.example.org", workers: { preset: "one-of-each" } }), [
            "workers needs postgres: Synapse's workers share one PostgreSQL database (they do not run on SQLite)",
            "workers.client, workers.sync, workers.federationReader, workers.media, workers.typing, workers.toDevice, workers.accountData, workers.receipts, workers.presence, workers.pushRules, workers.deviceLists needs edge: requests reach those workers only through the edge's routing",
        ]);
        assert.deepEqual(validateHomeserverArgs({ serverName: "chat.example.org", postgres: {}, workers: { pusher: 2, federationSender: 1 } }), [], "background kinds need no edge");
        assert.deepEqual(validateHomeserverArgs({ serverName: "chat.example.org", postgres: {}, workers: { media: 2, preset: "many" as "none" } }), [
            "workers.media 2 is not valid: expected a whole number from 0 to 1 (several media workers need one media store and one of them running its background jobs)",
            'workers.preset "many" is not valid: expected one of none, one-of-each',
        ]);
    });

    it("the stack refuses the same in synapse:* terms", () => {
        assert.deepEqual(configProblems({ workers: JSON.stringify({ preset: "one-of-each", media: 2, colour: 1 }) }), [
            "synapse:workers.colour is not a worker setting: known keys are preset, client, sync, federationReader, federationSender, pusher, media, background, eventPersister, typing, toDevice, accountData, receipts, presence, pushRules, deviceLists",
            "synapse:workers.media 2 is not valid: expected a whole number from 0 to 1 (several media workers need one media store and one of them running its background jobs)",
        ]);
        assert.deepEqual(configProblems({ workers: JSON.stringify({ sync: 1 }) }), [
            "synapse:workers needs synapse:database postgres: Synapse's workers share one PostgreSQL database (they do not run on SQLite)",
            "synapse:workers.sync needs synapse:tls: requests reach those workers only through the edge's routing",
        ]);
        assert.deepEqual(configProblems({ redisImage: "redis:8.0" }), ["synapse:redisImage is set but synapse:workers is not: Redis runs only with workers; set synapse:workers, or remove it"]);
        const config = parseConfig({ serverName: "matrix.example.org", database: "postgres", tls: "internal", workers: JSON.stringify({ preset: "one-of-each", client: "2" }) }, { stack: "dev" });
        assert.deepEqual(config.workers, { preset: "one-of-each", client: 2 });
    });
});

describe("a Homeserver with workers", () => {
    type Container = { name: string; user: string; command: string[]; ports?: unknown[]; volumes?: { volumeName: string; readOnly?: boolean }[]; networksAdvanced?: { name: string }[] };
    let containers: Record<string, Container>;

    before(async () => {
        await installMocks("lib", "chat.example.org");
        new Homeserver("chat", { serverName: "chat.example.org", postgres: {}, edge: { tls: "internal" }, workers: { preset: "one-of-each" } });
        await new Promise((resolve) => setTimeout(resolve, 500));
        containers = Object.fromEntries(declared.filter((r) => r.type === "docker:index/container:Container").map((r) => [String(r.inputs.name), r.inputs as unknown as Container]));
    });

    it("runs main, Redis and one container per worker, none of them published but the edge", () => {
        const workers = workerProcesses(workerCounts("one-of-each", {})).map((worker) => `chat-${worker.name}`);
        assert.equal(workers.length, WORKER_KINDS.length);
        assert.deepEqual(Object.keys(containers).sort(), ["chat", "chat-db", "chat-edge", "chat-redis", ...workers].sort());
        for (const [name, container] of Object.entries(containers).filter(([name]) => name !== "chat-edge")) {
            assert.deepEqual(container.ports ?? [], [], `${name} is published nowhere`);
        }
    });

    it("puts Redis on the internal worker network alone, and every Synapse process on it", () => {
        const network = declared.find((r) => r.type === "docker:index/network:Network" && r.inputs.name === "chat-workers");
        assert.equal(network?.inputs.internal, true);
        assert.deepEqual(containers["chat-redis"].networksAdvanced?.map((n) => n.name), ["chat-workers"]);
        for (const name of ["chat", "chat-client-1", "chat-media-1"]) {
            assert.ok(containers[name].networksAdvanced?.some((n) => n.name === "chat-workers"), `${name} joins the worker network`);
        }
    });

    it("runs each worker as the homeserver's user, on its own file, mounting the data read-only but for media", () => {
        const client = containers["chat-client-1"];
        assert.equal(client.user, "1000:1000");
        assert.deepEqual(client.command.slice(0, 3), ["run", "-m", "synapse.app.generic_worker"]);
        assert.equal(client.command.at(-1), "/data/synapse-stack-worker-client-1.yaml");
        assert.equal(client.volumes?.[0].readOnly, true);
        assert.equal(containers["chat-media-1"].volumes?.[0].readOnly, false);
        assert.deepEqual(containers.chat.command.slice(0, 3), ["run", "--config-path", "/data/homeserver.yaml"], "main runs as before");
    });

    it("waits for every worker's /health before the admin step, and fails when one does not answer", () => {
        const ready = declared.find((r) => r.type === "command:local:Command" && r.name === "chat-workers-ready");
        const script = String(ready?.inputs.create ?? "");
        assert.match(script, /chat-client-1/);
        // The script under `sh` (dash here, as the command provider runs it), with a docker that answers slowly, and
        // not at all for the sync worker.
        const bin = fs.mkdtempSync(path.join(os.tmpdir(), "ready-"));
        fs.writeFileSync(path.join(bin, "docker"), '#!/bin/sh\nsleep 1\ncase "$*" in *chat-sync-1*curl*) exit 7;; esac\n', { mode: 0o755 });
        const started = Date.now();
        const run = spawnSync("sh", ["-c", script], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, encoding: "utf8" });
        fs.rmSync(bin, { recursive: true, force: true });
        assert.ok(Date.now() - started >= 1000, "it waited for the checks");
        assert.equal(run.status, 1, "one check failing fails the step");
        assert.match(run.stderr, /chat-sync-1 did not answer \/health/);
    });

    it("shares Redis and the roles through the overlay, the secret as a file, and routes the edge to the workers", () => {
        const strings = allStrings(declared.map((r) => r.inputs));
        // The generate step's request (its stdin's first line) carries the overlay.
        const request = strings.filter((text) => text.startsWith('{"serverName"')).map((text) => JSON.parse(text.split("\n")[0]) as { overlay: string; files: Record<string, string> })[0];
        const overlay = request?.overlay;
        assert.ok(request?.files["replication-secret"], "the replication secret is a file written by generate");
        assert.ok(overlay?.includes('"host": "chat-redis"'), "Redis by its name on the worker network");
        assert.ok(overlay?.includes('"worker_replication_secret_path": "/data/synapse-stack-files/replication-secret"'), "the secret by its path, never its value");
        assert.match(overlay ?? "", /"names": \[\s*"replication"\s*\]/, "main's replication listener");
        const caddyfile = strings.find((text) => text.includes("path_regexp"));
        assert.ok(caddyfile?.includes("reverse_proxy @route0 chat-sync-1:8083"), "sync to the sync worker");
        assert.ok(caddyfile?.includes("reverse_proxy @route2 chat-media-1:8083"), "media to the media worker");
    });
});
