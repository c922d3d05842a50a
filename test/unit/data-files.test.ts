// What a backup takes from the data volume (packages/synapse/scripts/data_files.sh), run as backup runs it: the
// script on stdin of `sh -s`, on a data folder of the test's own.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { readScript } from "../../packages/synapse/runtime/script-files";

describe("the data files of a backup (data_files.sh)", () => {
    it("streams the config, overlays, signing key, log config and local media as tar, and nothing else", () => {
        const data = fs.mkdtempSync(path.join(os.tmpdir(), "synapse-data-"));
        try {
            const files = [
                "homeserver.yaml", "synapse-stack/config-0123456789abcdef.yaml", "example.org.signing.key", "example.org.log.config",
                "media_store/local_content/ab/cd/file", "media_store/local_thumbnails/ab/cd/thumb",
                // Not in a backup: the database (copied through SQLite's backup API), remote media, another server's key.
                "homeserver.db", "media_store/remote_content/x", "other.org.signing.key",
            ];
            for (const file of files) {
                fs.mkdirSync(path.dirname(path.join(data, file)), { recursive: true });
                fs.writeFileSync(path.join(data, file), file);
            }
            const archive = spawnSync("sh", ["-s", "--", data, "example.org"], { input: readScript("data_files.sh") });
            assert.equal(archive.status, 0, archive.stderr.toString());
            const listing = spawnSync("tar", ["-t"], { input: archive.stdout, encoding: "utf8" }).stdout.split("\n").filter((entry) => entry && !entry.endsWith("/"));
            assert.deepEqual(listing.sort(), files.slice(0, 6).sort());
        } finally {
            fs.rmSync(data, { recursive: true, force: true });
        }
    });

    it("leaves out what the volume does not have", () => {
        const data = fs.mkdtempSync(path.join(os.tmpdir(), "synapse-data-"));
        try {
            fs.writeFileSync(path.join(data, "homeserver.yaml"), "{}");
            const archive = spawnSync("sh", ["-s", "--", data, "example.org"], { input: readScript("data_files.sh") });
            assert.equal(archive.status, 0, archive.stderr.toString());
            assert.equal(spawnSync("tar", ["-t"], { input: archive.stdout, encoding: "utf8" }).stdout, "homeserver.yaml\n");
        } finally {
            fs.rmSync(data, { recursive: true, force: true });
        }
    });
});
