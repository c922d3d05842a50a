// The CrossGuard pack in policy/ run by the real engine on previews (and one update, which alone knows the commands
// that start helper containers): the stack passes it, and a program that breaks each invariant once is refused with
// one violation per break. Resource options (deleteBeforeReplace) are visible here, unlike under mocks.
import assert from "node:assert/strict";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { dockerRuns, missingHardening } from "../../policy/docker-run";
import { cleanUp, createStack, freePort, recordedImage, ROOT, runId, testImage, type TestStack, up } from "../e2e/support";

const POLICY_PACK = path.join(ROOT, "policy");

describe("the policy pack on real previews", { timeout: 10 * 60_000 }, () => {
    const stacks: TestStack[] = [];

    after(async () => {
        for (const testStack of stacks) {
            await cleanUp(testStack);
        }
    });

    it("passes the stack as configured for dev, for the production profile (on loopback) and on a swarm", async () => {
        for (const env of ["dev", "prod", "swarm"]) {
            const config: Record<string, string> =
                env === "swarm"
                    ? {
                          // Previewed only: nothing reaches a swarm before an update.
                          platform: "swarm",
                          swarm: JSON.stringify({ dataNodeLabel: "synapse.data=true", workerNodeLabel: "synapse.workers=true" }),
                          database: "postgres",
                          postgresImage: recordedImage("postgres"),
                          tls: "internal",
                          caddyImage: recordedImage("caddy"),
                          httpsPort: String(await freePort()),
                          workers: JSON.stringify({ client: 2 }),
                          redisImage: recordedImage("redis"),
                      }
                    : env === "prod"
                    ? {
                          retainDataOnDestroy: "true",
                          uid: "991",
                          gid: "991",
                          database: "postgres",
                          postgresImage: recordedImage("postgres"),
                          tls: "internal",
                          caddyImage: recordedImage("caddy"),
                          publicHost: "matrix.prod.policy.localhost",
                          httpsPort: String(await freePort()),
                          turn: JSON.stringify({ image: recordedImage("coturn") }),
                          monitoring: JSON.stringify({ image: recordedImage("prometheus"), postgresExporterImage: recordedImage("postgres-exporter") }),
                      }
                    : {};
            const testStack = await createStack(`policy-${runId()}`, {
                serverName: `${env}.policy.localhost`,
                httpPort: String(await freePort()),
                ...config,
            });
            stacks.push(testStack);
            const preview = await testStack.stack.preview({ policyPacks: [POLICY_PACK] });
            assert.match(preview.stdout, /synapse-invariants@v0\.1\.0/, "the pack ran");
            assert.doesNotMatch(preview.stdout, /\[mandatory\]/);
        }
    });

    it("passes a deployed stack, whose helper commands only an update knows (a new stack's preview sees them unknown)", async () => {
        const testStack = await createStack(`policy-up-${runId()}`, { serverName: "up.policy.localhost", httpPort: String(await freePort()) });
        stacks.push(testStack);
        await up(testStack, { policyPacks: [POLICY_PACK] });
        assert.match(testStack.output.join(""), /synapse-invariants@v0\.1\.0/, "the pack ran");
        assert.doesNotMatch(testStack.output.join(""), /\[mandatory\]/);
        // What the rule had to read: the program's commands that start helper containers, as the state records them.
        const resources = ((await testStack.stack.exportStack()).deployment as { resources: { type: string; urn: string; inputs?: { create?: unknown } }[] }).resources;
        const helpers = resources.filter((resource) => resource.type === "command:local:Command" && dockerRuns(String(resource.inputs?.create ?? "")).length > 0);
        assert.ok(helpers.some((resource) => resource.urn.endsWith("::synapse-generate-run")), "generate starts a helper");
        for (const helper of helpers) {
            assert.deepEqual(dockerRuns(String(helper.inputs?.create)).map(missingHardening), [[]], helper.urn);
        }
    });

    it("passes the example program built from the component alone", async () => {
        const testStack = await createStack(`example-${runId()}`, {}, path.join(ROOT, "examples", "private-homeserver"), { inPlace: true });
        stacks.push(testStack);
        await testStack.stack.setAllConfig({
            "private-homeserver:synapseImage": { value: testImage() },
            "private-homeserver:postgresImage": { value: recordedImage("postgres") },
            "private-homeserver:caddyImage": { value: recordedImage("caddy") },
        });
        const preview = await testStack.stack.preview({ policyPacks: [POLICY_PACK] });
        assert.match(preview.stdout, /synapse-invariants@v0\.1\.0/, "the pack ran");
        assert.doesNotMatch(preview.stdout, /\[mandatory\]/);
        assert.match(preview.stdout, /synapse:index:Homeserver/);
        assert.match(preview.stdout, /synapse:index:Edge/);
    });

    it("refuses a program that breaks every invariant, naming each policy and resource", async () => {
        const testStack = await createStack(`violations-${runId()}`, {}, path.join(__dirname, "violations"));
        stacks.push(testStack);
        let output = "";
        await assert.rejects(testStack.stack.preview({ policyPacks: [POLICY_PACK] }), (err: Error) => {
            output = err.message; // the CLI's whole output, policy report included
            return /preview failed/.test(output);
        });
        // The error message repeats the CLI's output (stdout, then as the error), so count each violation once.
        const violations = [...output.matchAll(/\[mandatory\]\s+(\S+)\s+\((\S+): ([^)]+)\)/g)]
            .map(([, policy, type, resource]) => `${policy} ${type} ${resource}`);
        const distinct = [...new Set(violations)].sort();
        assert.deepEqual(distinct, [
            "commands-with-secrets-never-log-stdout command:local:Command chatty-secret",
            "containers-are-hardened docker:index/container:Container exposed",
            "containers-are-hardened docker:index/container:Container one-shot",
            "data-volumes-are-never-replaced docker:index/volume:Volume named-volume",
            "fixed-names-are-freed-before-replacement docker:index/container:Container exposed",
            "fixed-names-are-freed-before-replacement docker:index/volume:Volume named-volume",
            "helper-containers-are-hardened command:local:Command bare-helper",
            "images-are-pinned docker:index/remoteImage:RemoteImage unpinned",
            "images-are-pinned docker:index/service:Service bare-service",
            "ports-bind-to-allowed-addresses docker:index/container:Container exposed",
            "services-are-hardened docker:index/service:Service bare-service",
            "swarm-secrets-exist-before-their-replacement docker:index/secret:Secret deleted-secret",
        ]);
        assert.match(output, /missing init, capDrops ALL, readOnly, logDriver max-size, healthcheck, updateConfig\.failureAction rollback/);
        // Words after the image are the container's arguments: they harden nothing.
        assert.match(output, /its create command starts a container without --security-opt no-new-privileges:true, --read-only, --pids-limit;/);
    });
});
