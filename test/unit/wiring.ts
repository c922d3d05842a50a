// The assertions every stack's graph must satisfy; wiring-<stack>.test.ts run them per stack config.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { parseConfig, type SynapseConfig } from "../../config";
import { allStrings, byType, MOCK_PASSWORD, type ProgramRun, runProgram, stackConfig } from "./harness";

type Container = {
    name: string;
    command: string[];
    envs: string[];
    volumes: { volumeName: string; containerPath: string }[];
    ports?: { internal: number; external: number; ip: string }[];
    uploads?: { file: string; content: string }[];
    labels: { label: string; value: string }[];
    attach?: boolean;
    mustRun?: boolean;
    wait?: boolean;
    healthcheck?: { tests: string[] };
};

export function describeStackWiring(stack: string): void {
    describe(`the ${stack} stack's resource graph`, () => {
        const config = stackConfig(stack);
        let expected: SynapseConfig;
        let run: ProgramRun;
        let generate: Container;
        let homeserver: Container;

        before(async () => {
            expected = parseConfig(
                Object.fromEntries(Object.entries(config).map(([key, value]) => [key.replace(/^synapse:/, ""), value])),
                { stack },
            );
            run = await runProgram(stack, config);
            const containers = byType(run, "docker:index/container:Container").map((c) => c.inputs as unknown as Container);
            assert.equal(containers.length, 2, "a generate container and a homeserver container");
            generate = containers.find((c) => c.command[0] === "generate")!;
            homeserver = containers.find((c) => c.command[0] === "run")!;
            assert.ok(generate && homeserver);
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

        it("mounts the volume at /data in both containers", () => {
            for (const container of [generate, homeserver]) {
                assert.deepEqual(container.volumes, [{ volumeName: expected.volumeName, containerPath: "/data" }]);
            }
        });

        it("runs generate once, attached, with the recipe's variables and the homeserver's ids", () => {
            assert.deepEqual(generate.command, ["generate"]);
            assert.equal(generate.attach, true);
            assert.equal(generate.mustRun, false);
            assert.deepEqual(generate.envs, [
                `SYNAPSE_SERVER_NAME=${expected.serverName}`,
                `SYNAPSE_REPORT_STATS=${expected.reportStats ? "yes" : "no"}`,
                "SYNAPSE_HTTP_PORT=8008",
                "SYNAPSE_CONFIG_DIR=/data",
                "SYNAPSE_DATA_DIR=/data",
                `TZ=${expected.timezone}`,
                `UID=${expected.uid}`,
                `GID=${expected.gid}`,
            ]);
            for (const id of [`UID=${expected.uid}`, `GID=${expected.gid}`, `TZ=${expected.timezone}`]) {
                assert.ok(homeserver.envs.includes(id), `homeserver has ${id}`);
            }
        });

        it("publishes 8008 on the configured address and port only", () => {
            assert.deepEqual(
                homeserver.ports?.map(({ internal, external, ip }) => ({ internal, external, ip })),
                [{ internal: 8008, external: expected.httpPort, ip: expected.bindAddress }],
            );
            assert.equal(generate.ports, undefined);
        });

        it("starts the homeserver with the generated config and the stack's overlay, and waits for health", () => {
            assert.deepEqual(homeserver.command, [
                "run",
                "--config-path",
                "/data/homeserver.yaml",
                "--config-path",
                "/stack/overlay.yaml",
            ]);
            const overlay = homeserver.uploads?.find((upload) => upload.file === "/stack/overlay.yaml");
            assert.ok(overlay, "the overlay is uploaded");
            assert.match(overlay.content, new RegExp(`"public_baseurl": "${expected.publicBaseUrl}"`));
            assert.match(overlay.content, /"enable_registration": false/);
            assert.match(overlay.content, new RegExp(`"report_stats": ${expected.reportStats}`));
            assert.equal(homeserver.wait, true);
            assert.deepEqual(homeserver.healthcheck?.tests, ["CMD", "curl", "-fSs", "http://localhost:8008/health"]);
        });

        it("starts the homeserver only after generate succeeded (data flows from the exit-code check)", () => {
            assert.ok(
                homeserver.labels.some((l) => l.label === "io.synapse-stack.generated-by" && l.value.endsWith("-generate-run-id")),
                "the homeserver carries the checked generate container's id",
            );
        });

        it("keeps the admin password secret and out of every command string, argument and variable", () => {
            assert.deepEqual(run.secretOutputs, ["adminPassword"]);
            assert.equal(run.outputs.adminPassword, MOCK_PASSWORD);
            const commands = byType(run, "command:local:Command");
            assert.equal(commands.length, 1);
            const ensure = commands[0].inputs;
            assert.equal(ensure.logging, "none");
            assert.ok(String(allStrings(ensure.stdin)).includes(MOCK_PASSWORD), "the password travels on stdin");
            for (const resource of run.resources) {
                const elsewhere = Object.entries(resource.inputs).filter(([key]) => key !== "stdin" && key !== "result");
                for (const text of allStrings(Object.fromEntries(elsewhere))) {
                    assert.ok(!text.includes(MOCK_PASSWORD), `${resource.type} ${resource.name} holds the password outside stdin`);
                }
            }
        });

        it("ensures the admin through the running, healthy homeserver container, re-running for a new container", () => {
            const ensure = byType(run, "command:local:Command")[0].inputs;
            assert.equal(
                ensure.create,
                `docker exec -i ${expected.containerName} python3 /stack/ensure_admin.py /data/homeserver.yaml /stack/overlay.yaml`,
            );
            assert.equal(ensure.update, ensure.create);
            assert.deepEqual(ensure.triggers, ["synapse-homeserver-id"]);
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
            });
        });
    });
}
