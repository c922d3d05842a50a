// The assertions every stack's graph must satisfy; wiring-<stack>.test.ts run them per stack config.
// Over 300 lines: each assertion holds for every profile, so they stay together rather than per stack.
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import { before, describe, it } from "node:test";
import { wellKnown } from "../../packages/synapse/edge/caddyfile";
import { passwordStatements, scramVerifier } from "../../packages/synapse/database/database";
import { parseConfig, type SynapseConfig } from "../../config";
import { dockerRuns, missingHardening } from "../../policy/docker-run";
import { allStrings, byType, MOCK_DB_PASSWORD, MOCK_PASSWORD, MOCK_SIGNING_KEY_ID, type ProgramRun, type Recorded, runProgram, stackConfig } from "./harness";

type Container = {
    name: string;
    networksAdvanced?: { name: string }[];
    image: string;
    user: string;
    command: string[];
    envs: string[];
    volumes: { volumeName: string; containerPath: string }[];
    ports?: { internal: number; external: number; ip: string }[];
    uploads?: { file: string; content: string }[];
    labels: { label: string; value: string }[];
    wait?: boolean;
    healthcheck?: { tests: string[] };
    readOnly?: boolean;
    securityOpts?: string[];
    capabilities?: { drops: string[]; adds: string[] };
    tmpfs?: Record<string, string>;
    logOpts?: Record<string, string>;
    memory?: number;
    cpus?: string;
};

type Command = { create: string; update?: string; delete?: string; stdin?: string; environment?: Record<string, string>; logging?: string; triggers?: unknown[] };

function wellKnownOutputs(config: SynapseConfig): Record<string, string> {
    const documents = wellKnown(config);
    return { wellKnownServer: documents.server, wellKnownClient: documents.client };
}

export function describeStackWiring(stack: string): void {
    describe(`the ${stack} stack's resource graph`, () => {
        const config = stackConfig(stack);
        let expected: SynapseConfig;
        let run: ProgramRun;
        let homeserver: Container;
        let postgres: Container | undefined;
        let edge: Container | undefined;
        let turn: Container | undefined;
        let prometheus: Container | undefined;
        let containers: Container[];
        let commands: Recorded[];
        const command = (name: string) => {
            const found = commands.find((resource) => resource.name === name);
            assert.ok(found, `a command named ${name}`);
            return found.inputs as unknown as Command;
        };

        before(async () => {
            expected = parseConfig(
                Object.fromEntries(Object.entries(config).map(([key, value]) => [key.replace(/^synapse:/, ""), value])),
                { stack },
            );
            run = await runProgram(stack, config);
            containers = byType(run, "docker:index/container:Container").map((c) => c.inputs as unknown as Container);
            homeserver = containers.find((c) => c.name === expected.containerName)!;
            postgres = containers.find((c) => c.name === `${expected.containerName}-db`);
            edge = containers.find((c) => c.name === `${expected.containerName}-edge`);
            turn = containers.find((c) => c.name === `${expected.containerName}-turn`);
            prometheus = containers.find((c) => c.name === `${expected.containerName}-prometheus`);
            assert.ok(homeserver, "a homeserver container");
            assert.equal(postgres !== undefined, expected.database === "postgres", "a PostgreSQL container exactly with database postgres");
            assert.equal(edge !== undefined, expected.tls !== "none", "an edge container exactly with tls");
            assert.equal(turn !== undefined, expected.turn !== undefined, "a TURN container exactly with turn");
            // The TURN server behind the edge has a second container: the copier of the edge's certificate.
            const turnContainers = turn ? (edge ? 2 : 1) : 0;
            assert.equal(prometheus !== undefined, expected.monitoring !== undefined, "a Prometheus container exactly with monitoring");
            // Monitoring: Prometheus, the stack exporter and, with PostgreSQL, its exporter.
            const monitoringContainers = prometheus ? (postgres ? 3 : 2) : 0;
            assert.equal(containers.length, 1 + (postgres ? 1 : 0) + (edge ? 1 : 0) + turnContainers + monitoringContainers, "no other long-running container");
            commands = byType(run, "command:local:Command");
        });

        it("declares labelled volumes named for the stack: data, and the database's and the edge's when they exist", () => {
            const labels = (role: string) => [
                { label: "io.synapse-stack.project", value: "synapse" },
                { label: "io.synapse-stack.stack", value: stack },
                { label: "io.synapse-stack.role", value: role },
            ];
            const volumes = Object.fromEntries(byType(run, "docker:index/volume:Volume").map((volume) => [volume.inputs.name, volume.inputs.labels]));
            // The provider never deletes them; the ledger records each before it exists and removes them on destroy.
            const ledger = command("synapse-volumes-ledger");
            assert.deepEqual([ledger.create, ledger.update, ledger.delete], ["sh -s -- record", "sh -s -- record", "sh -s -- remove"]);
            assert.match(String(ledger.stdin), /The ledger of a homeserver's data volumes/, "the script travels on stdin, kept in state");
            const environment = ledger.environment ?? {};
            assert.deepEqual(environment.SYNAPSE_VOLUMES.split("\n").map((line) => line.split("\t")[0]), [
                expected.volumeName,
                ...(postgres ? [expected.databaseVolumeName] : []),
                ...(edge ? [expected.edgeVolumeName] : []),
                ...(turn ? [`${expected.containerName}-turn`] : []),
                ...(prometheus ? [expected.monitoring?.volumeName] : []),
            ]);
            assert.equal(environment.SYNAPSE_RETAIN, String(expected.retainDataOnDestroy));
            assert.deepEqual([environment.SYNAPSE_PROJECT, environment.SYNAPSE_STACK], ["synapse", stack]);
            assert.equal(command("synapse-data-removal").delete, undefined, "the removal of stacks before the ledger deletes nothing");
            assert.deepEqual(volumes, {
                [expected.volumeName]: labels("data"),
                ...(postgres ? { [expected.databaseVolumeName]: labels("database") } : {}),
                ...(edge ? { [expected.edgeVolumeName]: labels("edge") } : {}),
                ...(turn ? { [`${expected.containerName}-turn`]: labels("turn") } : {}),
                ...(turn && edge ? { [`${expected.containerName}-turn-tls`]: labels("turn-tls") } : {}),
                ...(prometheus ? { [expected.monitoring!.volumeName]: labels("metrics") } : {}),
                ...(prometheus && postgres ? { [`${expected.containerName}-db-exporter`]: labels("postgres-exporter") } : {}),
            });
        });

        it("puts PostgreSQL on an internal network shared only with the homeserver, and the edge on the stack's network", () => {
            const networks = Object.fromEntries(byType(run, "docker:index/network:Network").map((network) => [network.inputs.name, network.inputs]));
            const attached = (container?: Container) => (container?.networksAdvanced ?? []).map((network) => network.name).sort();
            const metrics = prometheus ? [`${expected.containerName}-metrics`] : [];
            if (!postgres && !edge) {
                assert.deepEqual(networks, {}, "a lone homeserver needs no network of its own");
                return;
            }
            assert.ok(networks[expected.containerName], "the stack's network");
            assert.notEqual(networks[expected.containerName].internal, true);
            if (postgres) {
                assert.equal(networks[`${expected.containerName}-db`].internal, true, "the database network reaches nothing else");
                assert.deepEqual(attached(postgres), [`${expected.containerName}-db`]);
                assert.deepEqual(attached(homeserver), [expected.containerName, `${expected.containerName}-db`, ...metrics].sort());
            }
            if (edge) {
                assert.deepEqual(attached(edge), [expected.containerName, ...metrics].sort());
            }
            for (const network of Object.values(networks) as { labels: unknown }[]) {
                assert.ok((network.labels as { label: string; value: string }[]).some((l) => l.label === "io.synapse-stack.stack" && l.value === stack));
            }
        });

        it("runs the TURN server, when configured, on its own network, published on turn.bindAddress, its config a file", () => {
            if (!turn || !expected.turn) {
                return;
            }
            assert.deepEqual((turn.networksAdvanced ?? []).map((network) => network.name), [`${expected.containerName}-turn`]);
            for (const other of [homeserver, postgres, edge]) {
                assert.ok(!(other?.networksAdvanced ?? []).some((network) => network.name === `${expected.containerName}-turn`), "no other container on it");
            }
            const [first, last] = expected.turn.relayPorts.split("-").map(Number);
            assert.deepEqual(
                turn.ports?.slice(0, edge ? 3 : 2).map(({ internal, external, ip }) => ({ internal, external, ip })),
                [
                    { internal: 3478, external: expected.turn.port, ip: expected.turn.bindAddress },
                    { internal: 3478, external: expected.turn.port, ip: expected.turn.bindAddress },
                    ...(edge ? [{ internal: 5349, external: expected.turn.tlsPort, ip: expected.turn.bindAddress }] : []),
                ],
            );
            assert.equal(turn.ports?.length, (edge ? 3 : 2) + last - first + 1, "each relay port");
            assert.equal(turn.user, "65534:65534");
            assert.deepEqual(turn.capabilities, { drops: ["ALL"], adds: ["NET_BIND_SERVICE"] });
            assert.equal(turn.readOnly, true);
            const config = String(allStrings(command("synapse-turn-config-write").stdin));
            assert.ok(config.includes(`static-auth-secret=${MOCK_PASSWORD}`), "the secret reaches coturn in its config file, from stdin");
            assert.ok(config.includes(`external-ip=${expected.turn.externalIp ?? expected.turn.bindAddress}`));
        });

        it("gives PostgreSQL its password as a file only, a UTF8/C database and a health check, hardened", () => {
            if (!postgres) {
                return;
            }
            assert.equal(postgres.user, "999:999");
            assert.deepEqual(
                postgres.envs.filter((env) => env.startsWith("POSTGRES_")).sort(),
                [
                    "POSTGRES_DB=synapse",
                    "POSTGRES_INITDB_ARGS=--encoding=UTF8 --locale=C",
                    "POSTGRES_PASSWORD_FILE=/var/lib/postgresql/data/synapse-password",
                    "POSTGRES_USER=synapse",
                ],
            );
            assert.equal(postgres.uploads, undefined, "nothing is copied into the read-only container");
            const writer = command("synapse-postgres-password-file-write");
            assert.match(writer.create, /^docker run --rm -i --network none --user 999:999 .* -v synapse-\S+-db:\/var\/lib\/postgresql\/data --entrypoint sh /);
            assert.match(writer.create, /\/var\/lib\/postgresql\/data\/synapse-password$/);
            assert.equal(String(allStrings(writer.stdin)), MOCK_DB_PASSWORD, "the password travels on stdin");
            const apply = command("synapse-postgres-password-apply");
            assert.equal(String(allStrings(apply.stdin)), passwordStatements("synapse", scramVerifier(MOCK_DB_PASSWORD)));
            assert.ok(!String(allStrings(apply.stdin)).includes(MOCK_DB_PASSWORD), "only its SCRAM verifier reaches psql");
            assert.deepEqual(postgres.ports ?? [], [], "never published on the host");
            assert.deepEqual(postgres.healthcheck?.tests.slice(0, 2), ["CMD", "pg_isready"]);
            assert.deepEqual(postgres.capabilities, { drops: ["ALL"], adds: [] });
            assert.equal(postgres.readOnly, true);
        });

        it("publishes only the edge, on the bind address, forwarding Matrix paths to the homeserver", () => {
            if (!edge) {
                return;
            }
            assert.deepEqual(
                edge.ports?.map(({ internal, external, ip }) => ({ internal, external, ip })),
                [
                    { internal: 443, external: expected.httpsPort, ip: expected.bindAddress },
                    ...(expected.federationPort ? [{ internal: 8448, external: expected.federationPort, ip: expected.bindAddress }] : []),
                ],
            );
            assert.equal(edge.uploads, undefined, "nothing is copied into the read-only container");
            const writer = command("synapse-edge-caddyfile-write");
            assert.match(writer.create, /-v synapse-\S+-edge:\/data --entrypoint sh .* \/data\/synapse-stack.Caddyfile$/);
            const caddyfile = String(allStrings(writer.stdin));
            assert.match(caddyfile, new RegExp(`https://${expected.publicHost}:443 \\{`));
            assert.match(caddyfile, new RegExp(`reverse_proxy ${expected.containerName}:8008`));
            assert.match(caddyfile, /handle \/_synapse\/admin\/\* \{\n\t\trespond "The admin API is not exposed here" 403/);
            if (expected.tls === "acme") {
                assert.match(caddyfile, new RegExp(`email ${expected.acmeEmail}`));
            }
            assert.deepEqual(edge.capabilities, { drops: ["ALL"], adds: [] });
        });

        it("runs the recipe's generate once per change, in a hardened one-shot container on the volume", () => {
            const generate = command("synapse-generate-run");
            const create = generate.create;
            for (const part of [
                `docker rm -f ${expected.containerName}-generate >/dev/null 2>&1; `,
                `export SYNAPSE_STACK_IN_USE="$(docker inspect --type container --format '{{join .Args " "}}' ${expected.containerName} 2>/dev/null)"; ` +
                    `docker run -i --name ${expected.containerName}-generate`,
                "-e SYNAPSE_STACK_IN_USE --entrypoint",
                `-v ${expected.volumeName}:/data`,
                "-e SYNAPSE_SERVER_NAME -e SYNAPSE_REPORT_STATS -e SYNAPSE_HTTP_PORT -e SYNAPSE_CONFIG_DIR -e SYNAPSE_DATA_DIR -e TZ -e UID -e GID",
                "--network none --user 0:0 --security-opt no-new-privileges:true --cap-drop ALL",
                "--cap-add CHOWN --cap-add DAC_OVERRIDE --cap-add FOWNER --cap-add SETGID --cap-add SETUID --read-only",
                "--pids-limit 64 --log-driver json-file --log-opt max-size=10m --log-opt max-file=3",
                "--entrypoint python3 sha256:mockimage -c 'import json,sys;",
            ]) {
                assert.ok(create.includes(part), `generate's command has: ${part}\n${create}`);
            }
            // The variables' values reach docker through its environment, never its arguments.
            assert.deepEqual(generate.environment, {
                SYNAPSE_SERVER_NAME: expected.serverName, SYNAPSE_REPORT_STATS: expected.reportStats ? "yes" : "no", SYNAPSE_HTTP_PORT: "8008",
                SYNAPSE_CONFIG_DIR: "/data", SYNAPSE_DATA_DIR: "/data", TZ: expected.timezone, UID: String(expected.uid), GID: String(expected.gid),
            });
            assert.doesNotMatch(create, /-e \w+=/, "no value in an argument");
            assert.equal(generate.delete, `docker rm -f ${expected.containerName}-generate >/dev/null`);
            assert.equal(generate.logging, "stderr");
            const stdin = String(allStrings(generate.stdin));
            assert.match(stdin, /"overlayPath":"\/data\/synapse-stack\/config-[0-9a-f]{16}.yaml"/, "an overlay file per config");
            assert.match(stdin, /Prepare the data volume for the homeserver/, "the script travels on stdin");
        });

        it("starts every helper container with the shared hardening the policy pack checks", () => {
            const helpers = commands.flatMap(({ name, inputs }) =>
                [inputs.create, inputs.update].flatMap((line) => dockerRuns(typeof line === "string" ? line : "")).map((options) => ({ name, options })));
            const writers = [
                ...(postgres ? ["synapse-postgres-password-file-write"] : []),
                ...(edge ? ["synapse-edge-caddyfile-write"] : []),
                ...(turn ? ["synapse-turn-config-write"] : []),
                ...(prometheus
                    ? [
                          "alerts-yml", "console_libraries-synapse-stack-lib", "consoles-processes-html", "consoles-synapse-html", "prometheus-yml",
                          ...(postgres ? ["postgres-exporter-password"] : []),
                      ].map((file) => `synapse-monitoring-${file}-write`)
                    : []),
            ];
            assert.deepEqual(helpers.map(({ name }) => name).sort(), ["synapse-generate-run", ...writers].sort(), "the rule sees every helper of the program");
            for (const { name, options } of helpers) {
                assert.deepEqual(missingHardening(options), [], `${name} starts a hardened helper`);
            }
        });

        it("runs the homeserver as UID:GID without capabilities, read-only, with log rotation and limits", () => {
            assert.equal(homeserver.user, `${expected.uid}:${expected.gid}`);
            assert.deepEqual(homeserver.envs, [`TZ=${expected.timezone}`], "no UID/GID: the image must not switch users");
            assert.deepEqual(homeserver.capabilities, { drops: ["ALL"], adds: [] });
            assert.deepEqual(homeserver.securityOpts, ["no-new-privileges:true"]);
            assert.equal(homeserver.readOnly, true);
            assert.deepEqual(Object.keys(homeserver.tmpfs ?? {}), ["/tmp"]);
            assert.deepEqual(homeserver.logOpts, { "max-size": "10m", "max-file": "3" });
            assert.equal(homeserver.memory, expected.memoryLimitMb);
            assert.equal(homeserver.cpus, expected.cpuLimit);
            assert.equal(homeserver.uploads, undefined, "nothing is copied into the read-only container");
            const pids = command("synapse-pids-update");
            assert.equal(pids.create, `docker update --pids-limit 512 ${expected.containerName} >/dev/null`);
            assert.deepEqual(pids.triggers, ["synapse-homeserver-id", pids.create]);
        });

        it("mounts the volume at /data and publishes 8008 on the configured address and port, unless behind the edge", () => {
            assert.deepEqual(homeserver.volumes, [{ volumeName: expected.volumeName, containerPath: "/data" }]);
            assert.deepEqual(
                homeserver.ports?.map(({ internal, external, ip }) => ({ internal, external, ip })),
                edge ? [] : [{ internal: 8008, external: expected.httpPort, ip: expected.bindAddress }],
            );
        });

        it("starts the homeserver on the prepared data with the generated config and the overlay; health is for monitoring", () => {
            const label = (name: string) => homeserver.labels.find((l) => l.label === `io.synapse-stack.${name}`)?.value;
            assert.deepEqual(homeserver.command, [
                "run",
                "--config-path",
                "/data/homeserver.yaml",
                "--config-path",
                `/data/synapse-stack/config-${label("config")}.yaml`,
            ], "the overlay file of its own config, which no step rewrites");
            assert.equal(label("generated"), "synapse-generate-run-id", "data flows from generate's result");
            assert.match(label("config") ?? "", /^[0-9a-f]{16}$/, "a config change restarts the homeserver");
            const overlay = String(allStrings(command("synapse-generate-run").stdin)).split("\n")[0];
            const unkeyed = crypto.createHash("sha256").update(JSON.parse(overlay).overlay).digest("hex").slice(0, 16);
            assert.notEqual(label("config"), unkeyed, "the fingerprint is keyed, not the plain SHA-256 of the overlay");
            // `up` waits in the admin step, which polls Synapse itself (wiring: it runs on the container, see below).
            assert.equal(homeserver.wait, false);
            assert.deepEqual(homeserver.healthcheck?.tests, ["CMD", "curl", "-fSs", "http://localhost:8008/health"]);
        });

        it("renders the overlay with the stack's settings, registration closed", () => {
            const stdin = String(allStrings(command("synapse-generate-run").stdin)).split("\n")[0];
            const overlay = JSON.parse(
                (JSON.parse(stdin) as { overlay: string }).overlay.split("\n").filter((line) => !line.startsWith("#")).join("\n"),
            ) as Record<string, unknown> & { listeners: { x_forwarded: boolean }[]; database?: { name: string; args: Record<string, unknown> } };
            assert.equal(overlay.public_baseurl, expected.publicBaseUrl);
            assert.equal(overlay.enable_registration, false);
            assert.equal(overlay.report_stats, expected.reportStats);
            assert.equal(overlay.listeners[0].x_forwarded, expected.tls !== "none", "X-Forwarded-For is trusted only behind the edge");
            if (postgres) {
                assert.equal(overlay.database?.name, "psycopg2");
                assert.equal(overlay.database?.args.host, `${expected.containerName}-db`);
                assert.equal(overlay.database?.args.password, MOCK_DB_PASSWORD, "the database password reaches Synapse in its secret config");
            } else {
                assert.equal(overlay.database, undefined, "the generated SQLite block stays");
            }
        });

        it("keeps the database password out of every argument and variable: a file for PostgreSQL, the secret config for Synapse", () => {
            for (const resource of run.resources) {
                const allowed = ["stdin", "result", ...(resource.name === "synapse-postgres-server" ? ["uploads"] : [])];
                const elsewhere = Object.entries(resource.inputs).filter(([key]) => !allowed.includes(key));
                for (const text of allStrings(Object.fromEntries(elsewhere))) {
                    assert.ok(!text.includes(MOCK_DB_PASSWORD), `${resource.type} ${resource.name} holds the database password`);
                }
            }
        });

        it("keeps the admin password secret and out of every command string, argument and variable", () => {
            assert.deepEqual(run.secretOutputs, ["adminPassword"]);
            assert.equal(run.outputs.adminPassword, MOCK_PASSWORD);
            const ensure = command("synapse-admin-ensure");
            assert.equal(ensure.logging, "stderr", "the script's messages, never stdout");
            assert.ok(String(allStrings(ensure.stdin)).includes(MOCK_PASSWORD), "the password travels on stdin");
            for (const resource of run.resources) {
                const elsewhere = Object.entries(resource.inputs).filter(([key]) => key !== "stdin" && key !== "result");
                for (const text of allStrings(Object.fromEntries(elsewhere))) {
                    assert.ok(!text.includes(MOCK_PASSWORD), `${resource.type} ${resource.name} holds the password outside stdin`);
                }
            }
        });

        it("ensures the admin as the homeserver's user inside its container, re-running for a new container", () => {
            const ensure = command("synapse-admin-ensure");
            assert.ok(
                ensure.create.startsWith(`docker exec -i -u ${expected.uid}:${expected.gid} ${expected.containerName} python3 -c 'import json,sys;`),
                ensure.create,
            );
            assert.ok(ensure.create.endsWith(`docker logs --tail 25 ${expected.containerName} >&2 2>&1; exit $status; }`), "a failure shows Synapse's last log lines");
            assert.equal(ensure.triggers?.[0], "synapse-homeserver-id");
            assert.match(String(ensure.triggers?.[1]), /^[0-9a-f]{16}$/);
            const password = byType(run, "random:index/randomPassword:RandomPassword").find((r) => r.name === "synapse-admin-password")!.inputs;
            assert.deepEqual(password.keepers, { version: expected.adminPasswordVersion });
            assert.equal(password.special, false);
        });

        it("exports the documented outputs", () => {
            assert.deepEqual(run.outputs, {
                url: expected.url,
                serverName: expected.serverName,
                adminUserId: `@${expected.adminUser}:${expected.serverName}`,
                adminPassword: MOCK_PASSWORD,
                volumeName: expected.volumeName,
                containerName: expected.containerName,
                image: { reference: expected.image, id: "sha256:mockimage" },
                signingKeyId: MOCK_SIGNING_KEY_ID,
                database: expected.database,
                lastBackup: "",
                ...(postgres ? { databaseVolumeName: expected.databaseVolumeName } : {}),
                ...(edge ? wellKnownOutputs(expected) : {}),
                ...(prometheus ? { prometheusUrl: `http://127.0.0.1:${expected.monitoring!.port}` } : {}),
            });
        });

        it("runs Prometheus, when configured, on 127.0.0.1 only, its targets and exporters on an internal network", () => {
            if (!prometheus || !expected.monitoring) {
                return;
            }
            const network = `${expected.containerName}-metrics`;
            const networks = Object.fromEntries(byType(run, "docker:index/network:Network").map((item) => [item.inputs.name, item.inputs]));
            assert.equal(networks[network].internal, true, "the metrics network reaches nothing else");
            assert.deepEqual(prometheus.ports?.map(({ internal, external, ip }) => ({ internal, external, ip })), [{ internal: 9090, external: expected.monitoring.port, ip: "127.0.0.1" }]);
            assert.deepEqual(prometheus.capabilities, { drops: ["ALL"], adds: [] });
            assert.equal(prometheus.readOnly, true);
            const published = containers.filter((container) => (container.ports ?? []).length > 0).map((container) => container.name);
            assert.ok(!published.some((name) => /exporter/.test(String(name))), "no exporter is published");
            const exporter = containers.find((container) => container.name === `${expected.containerName}-db-exporter`);
            if (postgres) {
                assert.ok(exporter, "the PostgreSQL exporter");
                assert.ok(exporter.envs?.includes("DATA_SOURCE_PASS_FILE=/secrets/password"), "the password as a file");
                assert.deepEqual((exporter.networksAdvanced ?? []).map((item) => item.name).sort(), [network, `${expected.containerName}-db`].sort());
            }
            const config = String(allStrings(command("synapse-monitoring-prometheus-yml-write").stdin));
            assert.match(config, new RegExp(`"${expected.containerName}:9000"`), "main's metrics listener is scraped");
            assert.match(config, /"process": "main"/);
            const stdin = String(allStrings(command("synapse-generate-run").stdin)).split("\n")[0];
            const overlay = (JSON.parse(stdin) as { overlay: string }).overlay;
            assert.match(overlay, /"enable_metrics": true/);
            assert.match(overlay, /"type": "metrics"/);
        });
    });
}
