// The one module that builds throwaway helper containers (packages/synapse/runtime/helper.ts): the exact argv of a
// few helpers, the shared hardening in every one, no way to put a variable's value in an argument, and a shipped
// script run from stdin as a helper runs it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { dockerRuns, missingHardening, shellWords } from "../../policy/docker-run";
import { helperArgs, helperCommand, type HelperSpec, pythonScript, shellLine } from "../../packages/synapse/runtime/helper";
import { pythonFromStdin, scriptStdin } from "../../packages/synapse/runtime/script-files";
import { HELPER_HARDENING } from "../../packages/synapse/ops/helpers";

const HARDENED = [
    "--security-opt", "no-new-privileges:true", "--cap-drop", "ALL", "--read-only",
    "--tmpfs", "/tmp:rw,nosuid,nodev,size=64m", "--pids-limit", "256",
    "--log-driver", "json-file", "--log-opt", "max-size=10m", "--log-opt", "max-file=3", "--memory", "1024m", "--memory-swap", "1024m",
];

const backupHelper: HelperSpec = {
    image: "sha256:synapse",
    ...pythonScript("sqlite_backup.py"),
    user: "991:991",
    hardening: HELPER_HARDENING,
    mounts: [{ volume: "synapse-dev-data", target: "/data", writable: true }],
};

describe("helperArgs", () => {
    it("starts an operation's script: removed on exit, stdin, no network, the user, the hardening, the volume", () => {
        assert.deepEqual(helperArgs(backupHelper), [
            "run", "--rm", "-i", "--network", "none", "--user", "991:991", ...HARDENED,
            "-v", "synapse-dev-data:/data", "--entrypoint", "python3", "sha256:synapse", "-c", pythonFromStdin("sqlite_backup.py"),
        ]);
    });

    it("mounts read-only unless the helper writes, and passes stdin only when asked", () => {
        assert.deepEqual(
            helperArgs({ image: "img", entrypoint: "sh", args: ["-s"], user: "0:0", hardening: { pidsLimit: 8, tmpfs: {} }, mounts: [{ volume: "v", target: "/data" }] }),
            [
                "run", "--rm", "--network", "none", "--user", "0:0", "--security-opt", "no-new-privileges:true", "--cap-drop", "ALL", "--read-only",
                "--pids-limit", "8", "--log-driver", "json-file", "--log-opt", "max-size=10m", "--log-opt", "max-file=3",
                "-v", "v:/data:ro", "--entrypoint", "sh", "img", "-s",
            ],
        );
    });

    it("keeps a named helper for docker logs, with its labels, capabilities, network and variables by name", () => {
        const argv = helperArgs({
            image: "img", entrypoint: "python3", args: ["-c", "pass"], user: "0:0", stdin: true, name: "synapse-generate", keep: true,
            labels: { "io.synapse-stack.stack": "dev" }, network: "synapse-db",
            hardening: { capabilities: ["CHOWN", "SETUID"], pidsLimit: 64, tmpfs: { "/tmp": "rw,size=16m" }, memoryMb: 512, cpus: "0.5" },
            env: ["SYNAPSE_SERVER_NAME", "UID"],
        });
        assert.deepEqual(argv, [
            "run", "-i", "--name", "synapse-generate", "--label", "io.synapse-stack.stack=dev", "--network", "synapse-db", "--user", "0:0",
            "--security-opt", "no-new-privileges:true", "--cap-drop", "ALL", "--cap-add", "CHOWN", "--cap-add", "SETUID", "--read-only",
            "--tmpfs", "/tmp:rw,size=16m", "--pids-limit", "64", "--log-driver", "json-file", "--log-opt", "max-size=10m", "--log-opt", "max-file=3",
            "--memory", "512m", "--memory-swap", "512m", "--cpus", "0.5",
            "-e", "SYNAPSE_SERVER_NAME", "-e", "UID", "--entrypoint", "python3", "img", "-c", "pass",
        ]);
    });

    it("refuses a variable with a value, and never repeats the value, even in its error", () => {
        for (const entry of ["PGPASSWORD=hunter2", "TOKEN=", "1NAME", "NAME WITH SPACE"]) {
            assert.throws(() => helperArgs({ ...backupHelper, env: [entry] }), (err: Error) => {
                assert.match(err.message, /a helper gets variables by name, their values from the environment of docker; not a name/);
                assert.ok(!err.message.includes("hunter2"), err.message);
                return true;
            });
        }
    });

    it("puts no value of the parent's environment in an argument", () => {
        process.env.SYNAPSE_TEST_SECRET = "s3cr3t-value";
        try {
            const argv = helperArgs({ ...backupHelper, env: ["SYNAPSE_TEST_SECRET"] });
            assert.deepEqual(argv.slice(argv.indexOf("-e"), argv.indexOf("-e") + 2), ["-e", "SYNAPSE_TEST_SECRET"]);
            assert.ok(!argv.some((word) => word.includes("s3cr3t-value")));
        } finally {
            delete process.env.SYNAPSE_TEST_SECRET;
        }
    });

    it("always has the hardening the policy pack requires", () => {
        for (const spec of [backupHelper, { ...backupHelper, hardening: { pidsLimit: 1, tmpfs: {} }, network: "db", mounts: [] }]) {
            const [options] = dockerRuns(helperCommand(spec));
            assert.deepEqual(missingHardening(options), []);
        }
    });
});

describe("helperCommand and shellLine", () => {
    it("render argv for /bin/sh, quoting only what needs it, and read back as the same words", () => {
        const argv = ["docker", "run", "--label", "note=it's here", "img", "-c", 'umask 077 && cat > "$0.tmp"', "/data/a b"];
        assert.equal(shellLine(argv), `docker run --label 'note=it'\\''s here' img -c 'umask 077 && cat > "$0.tmp"' '/data/a b'`);
        assert.deepEqual(shellWords(shellLine(argv)), argv);
        const echoed = spawnSync("sh", ["-c", `printf '%s\\n' ${shellLine(argv.slice(2))}`], { encoding: "utf8" });
        assert.deepEqual(echoed.stdout.trimEnd().split("\n"), argv.slice(2));
    });

    it("is docker followed by helperArgs", () => {
        assert.deepEqual(shellWords(helperCommand(backupHelper)), ["docker", ...helperArgs(backupHelper)]);
    });
});

describe("a shipped script run from stdin, as a helper runs it", () => {
    it("gets its request from the first line and prints its answer", () => {
        const folder = fs.mkdtempSync(path.join(os.tmpdir(), "synapse-helper-"));
        try {
            const overlay = path.join(folder, "config.yaml");
            fs.writeFileSync(overlay, '{"database": {"name": "psycopg2"}}');
            const program = pythonScript("running_database.py");
            const run = spawnSync(program.entrypoint, program.args!, { input: scriptStdin("running_database.py", { overlay }), encoding: "utf8" });
            assert.equal(run.status, 0, run.stderr);
            assert.equal(run.stdout, "psycopg2\n");
        } finally {
            fs.rmSync(folder, { recursive: true, force: true });
        }
    });

    it("runs a script whose request is empty", () => {
        const folder = fs.mkdtempSync(path.join(os.tmpdir(), "synapse-helper-"));
        try {
            fs.mkdirSync(path.join(folder, "synapse", "storage"), { recursive: true });
            fs.writeFileSync(path.join(folder, "synapse", "__init__.py"), '__version__ = "1.163.2"\n');
            fs.writeFileSync(path.join(folder, "synapse", "storage", "__init__.py"), "");
            fs.writeFileSync(path.join(folder, "synapse", "storage", "schema.py"), "SCHEMA_VERSION = 94\n");
            const program = pythonScript("synapse_release.py");
            const run = spawnSync(program.entrypoint, program.args!, {
                input: scriptStdin("synapse_release.py", {}),
                encoding: "utf8",
                env: { ...process.env, PYTHONPATH: folder },
            });
            assert.equal(run.status, 0, run.stderr);
            assert.deepEqual(JSON.parse(run.stdout), { version: "1.163.2", schema: 94 });
        } finally {
            fs.rmSync(folder, { recursive: true, force: true });
        }
    });
});
