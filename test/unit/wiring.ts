// The assertions every stack's graph must satisfy; wiring-<stack>.test.ts run them per stack config.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { parseConfig, type SynapseConfig } from "../../config";
import { allStrings, byType, MOCK_PASSWORD, MOCK_SIGNING_KEY_ID, type ProgramRun, type Recorded, runProgram, stackConfig } from "./harness";

type Container = {
    name: string;
    image: string;
    user: string;
    command: string[];
    envs: string[];
    volumes: { volumeName: string; containerPath: string }[];
    ports?: { internal: number; external: number; ip: string }[];
    uploads?: unknown[];
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

type Command = { create: string; delete?: string; stdin?: string; logging?: string; triggers?: unknown[] };

export function describeStackWiring(stack: string): void {
    describe(`the ${stack} stack's resource graph`, () => {
        const config = stackConfig(stack);
        let expected: SynapseConfig;
        let run: ProgramRun;
        let homeserver: Container;
        let commands: Recorded[];
        const command = (suffix: string) => {
            const found = commands.find((resource) => resource.name.endsWith(suffix));
            assert.ok(found, `a command named *${suffix}`);
            return found.inputs as unknown as Command;
        };

        before(async () => {
            expected = parseConfig(
                Object.fromEntries(Object.entries(config).map(([key, value]) => [key.replace(/^synapse:/, ""), value])),
                { stack },
            );
            run = await runProgram(stack, config);
            const containers = byType(run, "docker:index/container:Container").map((c) => c.inputs as unknown as Container);
            assert.equal(containers.length, 1, "one long-running container: the homeserver");
            homeserver = containers[0];
            commands = byType(run, "command:local:Command");
        });

        it("declares one labelled data volume named for the stack", () => {
            const volumes = byType(run, "docker:index/volume:Volume");
            assert.equal(volumes.length, 1);
            assert.equal(volumes[0].inputs.name, expected.volumeName);
            assert.deepEqual(volumes[0].inputs.labels, [
                { label: "io.synapse-stack.project", value: "synapse" },
                { label: "io.synapse-stack.stack", value: stack },
                { label: "io.synapse-stack.role", value: "data" },
            ]);
        });

        it("runs the recipe's generate once per change, in a hardened one-shot container on the volume", () => {
            const generate = command("-generate-run");
            const create = generate.create;
            for (const part of [
                `docker rm -f ${expected.containerName}-generate >/dev/null 2>&1; docker run -i --name ${expected.containerName}-generate`,
                `-v ${expected.volumeName}:/data`,
                `-e SYNAPSE_SERVER_NAME=${expected.serverName} -e SYNAPSE_REPORT_STATS=${expected.reportStats ? "yes" : "no"} ` +
                    `-e SYNAPSE_HTTP_PORT=8008 -e SYNAPSE_CONFIG_DIR=/data -e SYNAPSE_DATA_DIR=/data -e TZ=${expected.timezone} ` +
                    `-e UID=${expected.uid} -e GID=${expected.gid}`,
                "--network none --user 0:0 --security-opt no-new-privileges:true --cap-drop ALL",
                "--cap-add CHOWN --cap-add DAC_OVERRIDE --cap-add FOWNER --cap-add SETGID --cap-add SETUID --read-only",
                "--pids-limit 64 --log-driver json-file --log-opt max-size=10m --log-opt max-file=3",
                "--entrypoint python3 sha256:mockimage -c 'import json,sys;",
            ]) {
                assert.ok(create.includes(part), `generate's command has: ${part}\n${create}`);
            }
            assert.equal(generate.delete, `docker rm -f ${expected.containerName}-generate >/dev/null`);
            assert.equal(generate.logging, "stderr");
            const stdin = String(allStrings(generate.stdin));
            assert.match(stdin, /"overlayPath":"\/data\/synapse-stack.yaml"/);
            assert.match(stdin, /Prepare the data volume for the homeserver/, "the script travels on stdin");
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
            const pids = command("-pids-update");
            assert.equal(pids.create, `docker update --pids-limit 512 ${expected.containerName} >/dev/null`);
            assert.deepEqual(pids.triggers, ["synapse-homeserver-id", pids.create]);
        });

        it("mounts the volume at /data and publishes 8008 on the configured address and port only", () => {
            assert.deepEqual(homeserver.volumes, [{ volumeName: expected.volumeName, containerPath: "/data" }]);
            assert.deepEqual(
                homeserver.ports?.map(({ internal, external, ip }) => ({ internal, external, ip })),
                [{ internal: 8008, external: expected.httpPort, ip: expected.bindAddress }],
            );
        });

        it("starts the homeserver on the prepared data with the generated config and the overlay, and waits for health", () => {
            assert.deepEqual(homeserver.command, [
                "run",
                "--config-path",
                "/data/homeserver.yaml",
                "--config-path",
                "/data/synapse-stack.yaml",
            ]);
            const label = (name: string) => homeserver.labels.find((l) => l.label === `io.synapse-stack.${name}`)?.value;
            assert.equal(label("signing-key"), MOCK_SIGNING_KEY_ID, "data flows from generate's result");
            assert.match(label("config") ?? "", /^[0-9a-f]{16}$/, "a config change restarts the homeserver");
            assert.equal(homeserver.wait, true);
            assert.deepEqual(homeserver.healthcheck?.tests, ["CMD", "curl", "-fSs", "http://localhost:8008/health"]);
        });

        it("renders the overlay with the stack's settings, registration closed", () => {
            const stdin = String(allStrings(command("-generate-run").stdin)).split("\n")[0];
            const overlay = (JSON.parse(stdin) as { overlay: string }).overlay;
            assert.match(overlay, new RegExp(`"public_baseurl": "${expected.publicBaseUrl}"`));
            assert.match(overlay, /"enable_registration": false/);
            assert.match(overlay, new RegExp(`"report_stats": ${expected.reportStats}`));
        });

        it("keeps the admin password secret and out of every command string, argument and variable", () => {
            assert.deepEqual(run.secretOutputs, ["adminPassword"]);
            assert.equal(run.outputs.adminPassword, MOCK_PASSWORD);
            const ensure = command("-admin-ensure");
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
            const ensure = command("-admin-ensure");
            assert.ok(
                ensure.create.startsWith(`docker exec -i -u ${expected.uid}:${expected.gid} ${expected.containerName} python3 -c 'import json,sys;`),
                ensure.create,
            );
            assert.equal(ensure.triggers?.[0], "synapse-homeserver-id");
            assert.match(String(ensure.triggers?.[1]), /^[0-9a-f]{16}$/);
            const password = byType(run, "random:index/randomPassword:RandomPassword")[0].inputs;
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
            });
        });
    });
}
