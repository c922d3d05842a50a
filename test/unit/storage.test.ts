// The rules about data volumes and fingerprints that need no engine: whose volume a name is, and keyed hashes.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { keyedHash } from "../../packages/synapse/runtime/scripts";
import { foreignVolumes, type VolumeOwners } from "../../packages/synapse/storage/storage";

const owner = { project: "synapse", stack: "dev" };
const engine = (found: Record<string, { project: string; stack: string }>): VolumeOwners => (names) =>
    new Map(names.filter((name) => found[name]).map((name) => [name, found[name]]));

describe("foreignVolumes", () => {
    const cases: { name: string; found: Record<string, { project: string; stack: string }>; expected: string[] }[] = [
        { name: "a volume that does not exist yet", found: {}, expected: [] },
        { name: "the stack's own volume", found: { "synapse-dev-data": owner }, expected: [] },
        {
            name: "another stack's volume",
            found: { "synapse-dev-data": { project: "synapse", stack: "prod" } },
            expected: [
                "volumeName synapse-dev-data is the volume of stack prod (project synapse) on this Docker engine, so stack dev may not use it: " +
                    "two stacks sharing data would corrupt it, and one's destroy would delete the other's. Choose another volume name, or run that data from stack prod",
            ],
        },
        {
            name: "another project's stack of the same name",
            found: { "synapse-dev-data": { project: "chat", stack: "dev" } },
            expected: [
                "volumeName synapse-dev-data is the volume of stack dev (project chat) on this Docker engine, so stack dev may not use it: " +
                    "two stacks sharing data would corrupt it, and one's destroy would delete the other's. Choose another volume name, or run that data from stack dev",
            ],
        },
    ];
    for (const { name, found, expected } of cases) {
        it(name, () => {
            assert.deepEqual(foreignVolumes({ volumeName: "synapse-dev-data" }, owner, engine(found)), expected);
        });
    }

    it("names each argument whose volume is another stack's", () => {
        const other = { project: "synapse", stack: "prod" };
        const problems = foreignVolumes({ volumeName: "a", "postgres.volumeName": "b", "edge.volumeName": "c" }, owner, engine({ b: other, c: owner }));
        assert.deepEqual(problems.map((problem) => problem.split(" ")[0]), ["postgres.volumeName"]);
    });
});

describe("keyedHash", () => {
    it("is an HMAC-SHA-256 under the key, 16 hex characters, not the plain SHA-256", () => {
        const text = "smtp_pass: hunter2";
        assert.equal(keyedHash(text, "key"), crypto.createHmac("sha256", "key").update(text).digest("hex").slice(0, 16));
        assert.notEqual(keyedHash(text, "key"), crypto.createHash("sha256").update(text).digest("hex").slice(0, 16));
    });

    it("changes exactly when the text or the key does", () => {
        assert.equal(keyedHash("a", "k"), keyedHash("a", "k"));
        assert.notEqual(keyedHash("a", "k"), keyedHash("b", "k"));
        assert.notEqual(keyedHash("a", "k"), keyedHash("a", "l"));
    });
});

describe("the volume ledger's record (packages/synapse/scripts/volumes.sh)", () => {
    const script = fs.readFileSync(path.join(__dirname, "../../packages/synapse/scripts/volumes.sh"), "utf8");
    const record = (current: string, previous: string) =>
        spawnSync("sh", ["-s", "--", "record"], {
            input: script,
            encoding: "utf8",
            env: { PATH: process.env.PATH, SYNAPSE_VOLUMES: current, SYNAPSE_RETAIN: "false", SYNAPSE_PROJECT: "synapse", SYNAPSE_STACK: "dev", PULUMI_COMMAND_STDOUT: previous },
        });

    it("records the current volumes on create", () => {
        const created = record("synapse-dev-data\tthe data\nsynapse-dev-edge\tthe CA", "");
        assert.equal(created.status, 0, created.stderr);
        assert.equal(created.stdout, "synapse-dev-data\tthe data\nsynapse-dev-edge\tthe CA\n");
        assert.equal(created.stderr, "");
    });

    it("keeps a volume the homeserver no longer has in the ledger, and says so with how to delete it", () => {
        const updated = record("synapse-dev-data\tthe data", "synapse-dev-data\tthe data\nsynapse-dev-edge\tthe CA");
        assert.equal(updated.status, 0, updated.stderr);
        assert.equal(updated.stdout, "synapse-dev-data\tthe data\nsynapse-dev-edge\tthe CA\n", "destroy still removes it");
        assert.equal(
            updated.stderr,
            "volumes: kept volume synapse-dev-edge (the CA): this homeserver no longer uses it, and no update deletes data. " +
                "It goes with the stack on `pulumi destroy` (unless retainDataOnDestroy); to delete it now: docker volume rm synapse-dev-edge\n",
        );
    });

    it("finds a kept volume again when the homeserver has it back", () => {
        const back = record("synapse-dev-data\tthe data\nsynapse-dev-edge\tthe CA", "synapse-dev-data\tthe data\nsynapse-dev-edge\tthe CA");
        assert.equal(back.stdout, "synapse-dev-data\tthe data\nsynapse-dev-edge\tthe CA\n");
        assert.equal(back.stderr, "");
    });
});
