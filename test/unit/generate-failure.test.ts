import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, it } from "node:test";

describe("a failing generate run", () => {
    it("fails the program with the container's exit code and output, before the homeserver is declared", () => {
        // A program that dies of an unhandled rejection is what the language host reports as a failed deployment,
        // so run it in a process of its own, as the host would.
        const child = spawnSync(process.execPath, ["--import", "tsx", path.join(__dirname, "run-failing-generate.ts")], {
            encoding: "utf8",
            timeout: 60_000,
        });
        assert.equal(child.status, 1, child.stderr);
        const report = JSON.parse(child.stdout) as { error: string; declared: string[] };
        assert.match(report.error, /synapse-dev-generate exited with code 3; its output:\nGenerating config file/);
        const containers = report.declared.filter((name) => name.startsWith("docker:index/container:Container"));
        assert.deepEqual(containers, ["docker:index/container:Container synapse-generate-run"]);
        assert.ok(!report.declared.some((name) => name.startsWith("command:local:Command")), "no admin command was declared");
    });
});
