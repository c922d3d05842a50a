// The component from another Pulumi language: examples/yaml-homeserver, a Pulumi YAML program with no TypeScript of
// its own, uses synapse:index:Homeserver from the component package (packages/synapse-plugin) and is reached over HTTP.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import {
    changesOf,
    cleanUp,
    createStack,
    expectNoChanges,
    freePort,
    keepAlive,
    Matrix,
    outputsOf,
    ownedObjects,
    pulumiCommand,
    ROOT,
    runId,
    send,
    testImage,
    type TestStack,
    up,
} from "./support";

describe("the component package from a Pulumi YAML program", { timeout: 20 * 60_000 }, () => {
    const id = runId();
    const name = `e2e-${id}-yaml`;
    let testStack: TestStack | undefined;
    let release: () => void = () => undefined;

    before(async () => {
        release = keepAlive();
        await pulumiCommand();
    });

    after(async () => {
        // Released whatever the clean-up meets: a pending keep-alive would hold the test process open for good.
        try {
            await cleanUp(testStack);
        } finally {
            release();
        }
    });

    it("serves the Homeserver's schema, inferred from the component's sources", () => {
        const schema = spawnSync(path.join(ROOT, ".tools", "bin", "pulumi"), ["package", "get-schema", path.join(ROOT, "packages", "synapse-plugin")], {
            encoding: "utf8",
            env: { ...process.env, PATH: `${path.join(ROOT, ".tools", "bin")}:${process.env.PATH}` },
            maxBuffer: 16 * 1024 * 1024,
        });
        assert.equal(schema.status, 0, schema.stderr);
        const parsed = JSON.parse(schema.stdout) as { name: string; resources: Record<string, { isComponent?: boolean; inputProperties: Record<string, unknown> }> };
        assert.equal(parsed.name, "synapse");
        const homeserver = parsed.resources["synapse:index:Homeserver"];
        assert.equal(homeserver.isComponent, true);
        assert.ok("serverName" in homeserver.inputProperties && "edge" in homeserver.inputProperties && "backups" in homeserver.inputProperties);
    });

    it("deploys a homeserver from YAML, reached over HTTP, with a working admin; a preview then plans nothing", async () => {
        testStack = await createStack(name, {}, path.join(ROOT, "examples", "yaml-homeserver"), { inPlace: true });
        await testStack.stack.setAllConfig({
            "yaml-homeserver:serverName": { value: `${name}.localhost` },
            "yaml-homeserver:image": { value: testImage() },
            "yaml-homeserver:httpPort": { value: String(await freePort()) },
            "yaml-homeserver:containerName": { value: `synapse-${name}` },
        });
        await up(testStack);
        const outputs = await outputsOf(testStack);
        assert.equal((await send(`${outputs.url}/health`)).body.toString(), "OK");
        const matrix = new Matrix(outputs.url);
        const versions = await matrix.request("GET", "/_matrix/client/versions");
        assert.ok((versions.json.versions as string[]).includes("v1.11"), "the client API answers");
        const login = await matrix.login(outputs.adminUserId, outputs.adminPassword);
        assert.equal(login.status, 200, "the admin the component made logs in");
        assert.equal(outputs.database, "sqlite");
        await expectNoChanges(testStack);
        assert.deepEqual(changesOf(await up(testStack)), {}, "a second up changes nothing");
    });

    it("destroys everything it made", async () => {
        await testStack!.stack.destroy({ onOutput: (text) => testStack!.output.push(text) });
        assert.deepEqual(ownedObjects(name), { containers: [], volumes: [], networks: [] });
    });
});
