// Docker Swarm: the synapse:platform and synapse:swarm keys, the component's swarm rules, and a Homeserver on a swarm
// under Pulumi's mocks (services, their placement, rollout order, secrets and networks).
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { Homeserver, labelConstraint, overlayProblem, swarmProblems, swarmWorkerServices, validateHomeserverArgs, workerCounts } from "@synapse-stack/synapse";
import * as pulumi from "@pulumi/pulumi";
import { parseConfig } from "../../config";
import { allStrings, configProblems, declared, installMocks, MOCK_DB_PASSWORD, MOCK_PASSWORD, unwrapSecret } from "./harness";

const production = { database: "postgres", tls: "internal" };
const PEM = "-----BEGIN CERTIFICATE-----\nMIIBnjCCAUWgAwIBAgIQ\n-----END CERTIFICATE-----\n";
const placed = { platform: "swarm", swarm: JSON.stringify({ dataNodeLabel: "synapse.data=true", workerNodeLabel: "synapse.workers=true" }) };

describe("synapse:platform and synapse:swarm", () => {
    it("default to one Docker engine", () => {
        const parsed = parseConfig({ serverName: "matrix.example.org" }, { stack: "dev" });
        assert.equal(parsed.platform, "docker");
        assert.equal(parsed.swarm, undefined);
    });

    it("take every worker kind on a swarm", () => {
        assert.deepEqual(configProblems({ serverName: "matrix.example.org", ...production, ...placed, workers: '{"preset":"one-of-each","client":2}' }), []);
    });

    it("take a swarm with its placement labels", () => {
        const parsed = parseConfig({ serverName: "matrix.example.org", ...production, ...placed, workers: '{"client":2}' }, { stack: "dev" });
        assert.equal(parsed.platform, "swarm");
        assert.deepEqual(parsed.swarm, { dataNodeLabel: "synapse.data=true", workerNodeLabel: "synapse.workers=true" });
    });

    const refusals: [string, Record<string, string>, string][] = [
        ["an unknown platform", { platform: "kubernetes" }, 'synapse:platform "kubernetes" is not valid: expected one of docker, swarm'],
        ["swarm settings without the swarm", { swarm: '{"dataNodeLabel":"a=b"}' }, 'synapse:swarm is set but synapse:platform is not "swarm": set synapse:platform swarm, or remove it'],
        [
            "a swarm without a data node",
            { ...production, platform: "swarm" },
            "synapse:platform swarm needs synapse:swarm.dataNodeLabel: a node label key=value, such as synapse.data=true, set on the manager the stack's Docker endpoint talks to (it holds the data)",
        ],
        ["a label without a value", { ...production, platform: "swarm", swarm: '{"dataNodeLabel":"synapse.data"}' }, 'synapse:swarm.dataNodeLabel "synapse.data" is not valid: expected a node label key=value, such as synapse.data=true'],
        ["an unknown swarm key", { ...production, ...placed, swarm: '{"dataNodeLabel":"a=b","dataNode":"x"}' }, "synapse:swarm.dataNode is not a swarm setting: known keys are dataNodeLabel, workerNodeLabel"],
        ["SQLite on a swarm", { ...placed, tls: "internal" }, "synapse:platform swarm needs synapse:database postgres and synapse:tls: SQLite and a published homeserver port are single-engine features"],
        ["TURN on a swarm", { ...production, ...placed, turn: "{}" }, "synapse:turn is not available with synapse:platform swarm: the TURN server does not run on Docker Swarm yet"],
        ["monitoring on a swarm", { ...production, ...placed, monitoring: "{}" }, "synapse:monitoring is not available with synapse:platform swarm: monitoring does not run on Docker Swarm yet"],
        [
            "a bind address on a swarm",
            { ...production, ...placed, bindAddress: "127.0.0.1" },
            'synapse:bindAddress "127.0.0.1" cannot be kept with synapse:platform swarm: the edge publishes its ports in host mode on every address of the data node; leave synapse:bindAddress unset (or 0.0.0.0) and let the data node\'s firewall say who reaches them',
        ],
    ];
    for (const [title, raw, message] of refusals) {
        it(`refuses ${title}`, () => {
            assert.ok(configProblems(raw).includes(message), JSON.stringify(configProblems(raw), null, 2));
        });
    }
});

describe("the component's swarm rules", () => {
    const base = { serverName: "chat.example.org", postgres: {}, edge: { tls: "internal" as const } };
    const table: [string, Parameters<typeof swarmProblems>[0], string[]][] = [
        ["one engine, no swarm", base, []],
        ["a placed swarm", { ...base, platform: "swarm", swarm: { dataNodeLabel: "a=b" } }, []],
        ["a swarm without placement", { ...base, platform: "swarm" }, ["platform swarm needs swarm.dataNodeLabel: a node label key=value, such as synapse.data=true, set on the manager that holds the data"]],
        ["a bad worker label", { ...base, platform: "swarm", swarm: { dataNodeLabel: "a=b", workerNodeLabel: "=x" } }, ['swarm.workerNodeLabel "=x" is not valid: expected a node label key=value, such as synapse.data=true']],
        ["a swarm on every address", { ...base, platform: "swarm", swarm: { dataNodeLabel: "a=b" }, bindAddress: "0.0.0.0" }, []],
        [
            "a swarm with a bind address",
            { ...base, platform: "swarm", swarm: { dataNodeLabel: "a=b" }, bindAddress: "127.0.0.1" },
            ['bindAddress "127.0.0.1" cannot be kept with platform swarm: the edge publishes its ports in host mode on every address of the data node; leave bindAddress unset (or 0.0.0.0) and let the data node\'s firewall say who reaches them'],
        ],
        ["placement on one engine", { ...base, swarm: { dataNodeLabel: "a=b" } }, ['swarm is set but platform is not "swarm": set platform swarm, or remove it']],
    ];
    for (const [title, args, problems] of table) {
        it(title, () => assert.deepEqual(swarmProblems(args), problems));
    }

    it("takes as the federation network only an overlay of the swarm, naming the setting and how to make one", () => {
        assert.equal(overlayProblem("federation.network", { name: "matrix-lab", driver: "overlay", scope: "swarm" }), undefined);
        assert.equal(
            overlayProblem("federation.network", { name: "matrix-lab", driver: "bridge", scope: "local" }),
            'federation.network "matrix-lab" is a bridge network of scope local: on a swarm it must be an overlay network, which services on every node can join; make it on the manager with docker network create --driver overlay --subnet <a CIDR> matrix-lab',
        );
    });

    it("refuses CA roots given as one output or promise with workers: each becomes a Swarm config, so their number must be known", () => {
        const swarm = { ...base, platform: "swarm" as const, swarm: { dataNodeLabel: "a=b" }, workers: { client: 1 } };
        const message =
            "federation.trustedCaCertificates is a single output or promise with platform swarm and workers: give a list (each item may be an output), so that each root becomes a Swarm config of its own";
        assert.ok(validateHomeserverArgs({ ...swarm, federation: { trustedCaCertificates: pulumi.output([PEM]) } }).includes(message));
        assert.ok(validateHomeserverArgs({ ...swarm, federation: { trustedCaCertificates: Promise.resolve([PEM]) } }).includes(message));
        assert.ok(!validateHomeserverArgs({ ...swarm, federation: { trustedCaCertificates: [pulumi.output(PEM)] } }).includes(message));
    });

    it("makes one service per worker kind, its replicas the count, and constraints from labels", () => {
        assert.deepEqual(swarmWorkerServices(workerCounts(undefined, { client: 2, federationReader: 1, eventPersister: 2, media: 1 })), [
            { kind: "client", name: "client", replicas: 2, order: "start-first" },
            { kind: "federationReader", name: "federation-reader", replicas: 1, order: "start-first" },
            { kind: "media", name: "media-1", replicas: 1, order: "stop-first" },
            { kind: "eventPersister", name: "event-persister-1", replicas: 1, order: "stop-first" },
            { kind: "eventPersister", name: "event-persister-2", replicas: 1, order: "stop-first" },
        ]);
        assert.equal(labelConstraint("synapse.data=true"), "node.labels.synapse.data==true");
    });
});

describe("a Homeserver on a swarm, under mocks", () => {
    type Service = {
        name: string;
        mode: { replicated: { replicas: number } };
        endpointSpec: { mode: string; ports: { publishMode: string; publishedPort: number }[] };
        updateConfig: { order: string; failureAction: string };
        convergeConfig?: unknown;
        taskSpec: {
            containerSpec: {
                init: boolean;
                readOnly: boolean;
                capDrops: string[];
                env?: Record<string, string>;
                args?: string[];
                secrets?: { secretName: string; fileName: string }[];
                configs?: { configName: string; fileName: string }[];
                mounts: { type: string; source?: string; target: string }[];
                healthcheck?: unknown;
            };
            placement: { constraints: string[] };
            resources?: { limits: { memoryBytes?: number; nanoCpus?: number } };
            networksAdvanceds: { id: string; aliases?: string[] }[];
        };
    };
    let services: Record<string, Service>;
    let image: { reference: string; id: string };

    before(async () => {
        await installMocks("lib", "chat.example.org");
        const homeserver = new Homeserver("chat", {
            serverName: "chat.example.org",
            postgres: {},
            edge: { tls: "internal", httpsPort: 8443 },
            workers: { client: 2, eventPersister: 1, media: 1 },
            platform: "swarm",
            swarm: { dataNodeLabel: "synapse.data=true", workerNodeLabel: "synapse.workers=true" },
            memoryLimitMb: 1024,
            cpuLimit: "1.5",
            federation: { network: "matrix-lab", trustedCaCertificates: [PEM] },
        });
        await new Promise((resolve) => setTimeout(resolve, 500));
        image = await new Promise((resolve) => homeserver.image.apply(resolve));
        services = Object.fromEntries(declared.filter((r) => r.type === "docker:index/service:Service").map((r) => [String(r.inputs.name), r.inputs as unknown as Service]));
    });

    it("names in its image output the image id it resolved on the data node, as on one engine", () => {
        assert.equal(image.id, "sha256:mockimage");
    });

    it("runs every long-running part as a service and no container", () => {
        assert.deepEqual(Object.keys(services).sort(), ["chat", "chat-client", "chat-db", "chat-edge", "chat-event-persister-1", "chat-media-1", "chat-redis"]);
        assert.equal(declared.filter((r) => r.type === "docker:index/container:Container").length, 0);
    });

    it("pins the stateful parts to the data node, stop-first, and the workers to theirs, start-first", () => {
        // The media worker writes the media store in the data volume, so it runs with it.
        for (const name of ["chat", "chat-db", "chat-edge", "chat-redis", "chat-media-1"]) {
            assert.deepEqual(services[name].taskSpec.placement.constraints, ["node.labels.synapse.data==true"], name);
            assert.equal(services[name].updateConfig.order, "stop-first", name);
        }
        assert.deepEqual(services["chat-media-1"].taskSpec.containerSpec.mounts.filter((mount) => mount.type === "volume"), [{ type: "volume", source: "chat-data", target: "/data" }]);
        assert.deepEqual(services["chat-client"].taskSpec.placement.constraints, ["node.labels.synapse.workers==true"]);
        assert.equal(services["chat-client"].updateConfig.order, "start-first");
        assert.equal(services["chat-client"].mode.replicated.replicas, 2);
        // A named process: one task at a time, or there would be two writers of its stream.
        assert.deepEqual(services["chat-event-persister-1"].taskSpec.placement.constraints, ["node.labels.synapse.workers==true"]);
        assert.equal(services["chat-event-persister-1"].updateConfig.order, "stop-first");
        assert.equal(services["chat-event-persister-1"].mode.replicated.replicas, 1);
        for (const name of ["chat-client", "chat-event-persister-1"]) {
            assert.ok(!services[name].taskSpec.containerSpec.mounts.some((mount) => mount.type === "volume"), `${name} mounts no data volume`);
        }
    });

    it("has main carry generate's run, the database's password step and the port's, so that it rolls when one ran again", () => {
        assert.equal(services["chat"].taskSpec.containerSpec.env?.SYNAPSE_STACK_AFTER, "chat-generate-run-id chat-postgres-password-apply-id chat-port-run-id");
    });

    it("gives main's tasks minutes to start before a failing check counts: Swarm would kill a slow start and roll back", () => {
        assert.equal((services["chat"].taskSpec.containerSpec.healthcheck as { startPeriod?: string }).startPeriod, "5m", "as the provider reads it back");
    });

    it("gives every service DNS round robin, an init, a health check, rollback and convergence", () => {
        for (const [name, service] of Object.entries(services)) {
            assert.equal(service.endpointSpec.mode, "dnsrr", name);
            assert.equal(service.taskSpec.containerSpec.init, true, name);
            assert.equal(service.taskSpec.containerSpec.readOnly, true, name);
            assert.deepEqual(service.taskSpec.containerSpec.capDrops, ["ALL"], name);
            assert.ok(service.taskSpec.containerSpec.healthcheck, name);
            assert.equal(service.updateConfig.failureAction, "rollback", name);
            // The provider's wait ends before Swarm's: the stack waits for Swarm itself.
            assert.equal(service.convergeConfig, undefined, name);
        }
    });

    it("waits for each service's rollout as Swarm reports it, failing with the failed tasks' errors and logs", () => {
        const waits = declared.filter((r) => r.type === "command:local:Command" && r.name.endsWith("-rollout"));
        assert.deepEqual(waits.map((r) => r.name).sort(), [
            "chat-edge-rollout",
            "chat-postgres-rollout",
            "chat-processes-client-rollout",
            "chat-processes-event-persister-1-rollout",
            "chat-processes-main-rollout",
            "chat-processes-media-1-rollout",
            "chat-worker-bus-redis-rollout",
        ]);
        const script = String(waits[0].inputs.create);
        assert.match(script, /\.UpdateStatus\.State/);
        assert.match(script, /""\|completed\) want=/);
        assert.match(script, /report "the rollout ended \$state/);
        assert.match(script, /docker service ps --no-trunc --filter desired-state=shutdown --format '\{\{\.Name\}\} on \{\{\.Node\}\}: \{\{\.CurrentState\}\} \{\{\.Error\}\}'/);
        assert.match(script, /docker service logs --raw --tail 20/);
    });

    it("first checks that the engine it talks to is the swarm manager with the data node's label", () => {
        const check = declared.find((r) => r.type === "command:local:Command" && r.name === "chat-data-node");
        assert.ok(check, "a data node check");
        assert.match(String(check.inputs.create), /docker node inspect self --format '\{\{index \.Spec\.Labels "synapse\.data"\}\}'\)" = true \]/);
        assert.match(String(check.inputs.create), /has no label synapse\.data=true, which swarm\.dataNodeLabel names/);
    });

    it("sweeps the secrets and configs no service names, after the rollouts and on destroy, by the stack's labels", () => {
        const command = (name: string) => declared.find((r) => r.type === "command:local:Command" && r.name === name)!.inputs;
        const sweep = command("chat-sweep");
        assert.equal(sweep.create, sweep.update);
        assert.match(String(sweep.create), /docker \$kind ls --filter "label=io\.synapse-stack\.project=\$SYNAPSE_PROJECT" --filter "label=io\.synapse-stack\.stack=\$SYNAPSE_STACK"/);
        assert.match(String(sweep.create), /case " \$used " in \*" \$id "\*\) ;; \*\) docker \$kind rm "\$id"/);
        // The data node check is made first and deleted last: after the services, on destroy.
        assert.equal(command("chat-data-node").delete, sweep.create);
        const configs = declared.filter((r) => r.type === "docker:index/serviceConfig:ServiceConfig");
        assert.ok(configs.length > 0);
        assert.ok(configs.every((r) => (r.inputs.labels as { label: string; value: string }[]).some((label) => label.label === "io.synapse-stack.stack" && label.value === "lib")));
    });

    it("limits main's memory and CPUs as on one engine, and no worker's", () => {
        assert.deepEqual(services.chat.taskSpec.resources, { limits: { memoryBytes: 1024 * 1024 ** 2, nanoCpus: 1_500_000_000 } });
        assert.equal(services["chat-client"].taskSpec.resources, undefined);
    });

    it("publishes only the edge, in host mode", () => {
        for (const [name, service] of Object.entries(services)) {
            const ports = service.endpointSpec.ports ?? [];
            assert.deepEqual(ports.map((port) => [port.publishMode, port.publishedPort]), name === "chat-edge" ? [["host", 8443], ["host", 8448]] : [], name);
        }
    });

    it("hands secrets over as Swarm secrets, named afresh for each content, never in env or arguments", () => {
        const secrets = declared.filter((r) => r.type === "docker:index/secret:Secret").map((r) => String(r.inputs.name));
        assert.ok(secrets.some((name) => /^chat-overlay-[0-9a-f]{16}$/.test(name)), secrets.join(" "));
        assert.ok(secrets.some((name) => /^chat-replication-[0-9a-f]{16}$/.test(name)), secrets.join(" "));
        assert.ok(secrets.some((name) => /^chat-db-password-[0-9a-f]{16}$/.test(name)), secrets.join(" "));
        for (const [name, service] of Object.entries(services)) {
            const text = allStrings([service.taskSpec.containerSpec.env, service.taskSpec.containerSpec.args]).join(" ");
            assert.ok(!text.includes(MOCK_PASSWORD) && !text.includes(MOCK_DB_PASSWORD), `${name} has no secret in env or arguments`);
        }
        assert.deepEqual(services["chat-client"].taskSpec.containerSpec.secrets?.map((secret) => secret.fileName).sort(), [
            "synapse-homeserver.yaml",
            "synapse-overlay.yaml",
            "synapse-replication-secret",
            "synapse-signing.key",
        ]);
    });

    it("backs up the main service before an image change, and reaches main's task when the admin step runs", () => {
        const commands = declared.filter((r) => r.type === "command:local:Command");
        const create = (suffix: string) => String(commands.find((r) => r.name.endsWith(suffix))?.inputs.create);
        const backup = create("-upgrade-backup-run");
        assert.match(backup, /^docker service inspect chat >\/dev\/null 2>&1 \|\| exit 0; node \S+backup\.js --stack \S+ --service chat /);
        assert.doesNotMatch(backup, /--container/);
        // Found when the step runs, not when main's task was last looked up: a restore or a restart replaces it.
        assert.match(create("-admin-ensure"), /^task=\$\(docker ps --filter label=com\.docker\.swarm\.service\.name=chat --filter status=running .*docker exec -i -u 1000:1000 "\$task" python3/);
    });

    it("makes overlay networks, internal but the edge's, attachable only the database's", () => {
        const networks = Object.fromEntries(declared.filter((r) => r.type === "docker:index/network:Network").map((r) => [String(r.inputs.name), r.inputs]));
        assert.deepEqual(
            Object.fromEntries(Object.entries(networks).map(([name, network]) => [name, [network.driver, network.internal, network.attachable]])),
            { chat: ["overlay", false, false], "chat-db": ["overlay", true, true], "chat-workers": ["overlay", true, false] },
        );
    });

    it("joins the federation network: the edge by the homeserver's names, main and the workers to reach peers", () => {
        const on = (service: string) => services[service].taskSpec.networksAdvanceds.filter((network) => network.id === "matrix-lab-id");
        assert.deepEqual(on("chat-edge"), [{ id: "matrix-lab-id", aliases: ["chat.example.org"] }]);
        assert.deepEqual(on("chat"), [{ id: "matrix-lab-id" }]);
        assert.deepEqual(on("chat-client"), [{ id: "matrix-lab-id" }]);
        assert.deepEqual(on("chat-db"), []);
    });

    it("gives workers on other nodes each CA root federation trusts as a config, at the path the overlay names", async () => {
        const configs = Object.fromEntries(declared.filter((r) => r.type === "docker:index/serviceConfig:ServiceConfig").map((r) => [String(r.inputs.name), r.inputs]));
        const mounted = services["chat-client"].taskSpec.containerSpec.configs ?? [];
        const root = mounted.find((config) => config.fileName === "/data/synapse-stack-files/federation-ca-0.pem");
        assert.ok(root, JSON.stringify(mounted));
        assert.equal(Buffer.from(String(configs[root.configName].data), "base64").toString(), PEM);
        // Under the workers' scratch /data, which holds no data volume.
        assert.ok(services["chat-client"].taskSpec.containerSpec.mounts.some((mount) => mount.type === "tmpfs" && mount.target === "/data"));
        const overlay = declared.find((r) => r.type === "docker:index/secret:Secret" && String(r.inputs.name).startsWith("chat-overlay-"));
        const rendered = Buffer.from(String(unwrapSecret(overlay?.inputs.data)), "base64").toString();
        assert.deepEqual(JSON.parse(rendered.slice(rendered.indexOf("{"))).federation_custom_ca_list, ["/data/synapse-stack-files/federation-ca-0.pem"]);
    });

    it("names each stream writer in the shared config by its service, and stops the workers before main rolls to a new one", () => {
        const overlay = declared.find((r) => r.type === "docker:index/secret:Secret" && String(r.inputs.name).startsWith("chat-overlay-"));
        const rendered = Buffer.from(String(unwrapSecret(overlay?.inputs.data)), "base64").toString();
        const config = JSON.parse(rendered.slice(rendered.indexOf("{"))) as { instance_map: Record<string, { host: string }>; stream_writers: Record<string, string[]>; media_instance_running_background_jobs: string };
        assert.deepEqual(config.instance_map["event-persister-1"], { host: "chat-event-persister-1", port: 9093 });
        assert.deepEqual(config.stream_writers, { events: ["event-persister-1"] });
        assert.equal(config.media_instance_running_background_jobs, "media-1");
        const stop = declared.find((r) => r.type === "command:local:Command" && r.name === "chat-processes-stale-workers");
        assert.ok(stop, "a stop of the stale workers");
        const script = String(stop.inputs.create);
        assert.equal(stop.inputs.update, script);
        assert.match(script, /docker service ls --filter label=io\.synapse-stack\.project=synapse --filter label=io\.synapse-stack\.stack=lib --filter label=io\.synapse-stack\.role=worker /);
        // Only this homeserver's services whose label names other shared keys than the ones main rolls to.
        assert.match(script, /case "\$service" in "\$MAIN"-\*\) ;; \*\) continue ;; esac; \[ "\$\(docker service inspect --format '\{\{index \.Spec\.Labels "io\.synapse-stack\.shared"\}\}' "\$service"\)" = "\$SHARED" \] && continue; docker service scale --detach "\$service=0"/);
        const environment = stop.inputs.environment as Record<string, string>;
        assert.equal(environment.MAIN, "chat");
        for (const name of ["chat-client", "chat-event-persister-1", "chat-media-1"]) {
            const labels = (declared.find((r) => r.type === "docker:index/service:Service" && r.inputs.name === name)?.inputs.labels ?? []) as { label: string; value: string }[];
            assert.equal(labels.find((label) => label.label === "io.synapse-stack.shared")?.value, environment.SHARED, `${name} carries the shared keys' fingerprint`);
        }
        // On the service only: a task's container keeps its labels, so a new fingerprint restarts no task by itself.
        assert.ok(!(services["chat-client"].taskSpec.containerSpec as { labels?: { label: string }[] }).labels?.some((label) => label.label === "io.synapse-stack.shared"));
    });
});
