// The CrossGuard pack in policy/ run by the real engine on previews: the stack passes it, and a program that
// breaks each invariant once is refused with one violation per break. Resource options (deleteBeforeReplace)
// are visible here, unlike under mocks.
import assert from "node:assert/strict";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { cleanUp, createStack, freePort, recordedImage, ROOT, runId, testImage, type TestStack } from "../e2e/support";

const POLICY_PACK = path.join(ROOT, "policy");

describe("the policy pack on real previews", { timeout: 10 * 60_000 }, () => {
    const stacks: TestStack[] = [];

    after(async () => {
        for (const testStack of stacks) {
            await cleanUp(testStack);
        }
    });

    it("passes the stack as configured for dev and for the production profile (on loopback)", async () => {
        for (const env of ["dev", "prod"]) {
            const config: Record<string, string> =
                env === "prod"
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
            "images-are-pinned docker:index/remoteImage:RemoteImage unpinned",
            "one-shot-containers-are-attached docker:index/container:Container one-shot",
            "ports-bind-to-allowed-addresses docker:index/container:Container exposed",
        ]);
    });
});
