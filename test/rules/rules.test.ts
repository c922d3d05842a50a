// The alert rules (packages/synapse/monitoring/alerts.yml) against promtool from the Prometheus image setup recorded:
// `check rules`, then `test rules` with the cases in alerts.test.yml. Every alert must have a case where it fires and
// one where it stays silent, so a new rule without tests breaks the build.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as yaml from "js-yaml";

const ROOT = path.resolve(__dirname, "../..");
const RULES_DIR = path.join(ROOT, "packages", "synapse", "monitoring");
const TESTS_DIR = __dirname;

interface AlertRule {
    alert?: string;
    expr: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
}

interface RuleFile {
    groups: { name: string; rules: AlertRule[] }[];
}

interface RuleTestFile {
    tests: { name: string; alert_rule_test?: { eval_time: string; alertname: string; exp_alerts?: unknown[] | null }[] }[];
}

/** The Prometheus image `npm run setup` recorded, as test/e2e/support.ts's recordedImage reads it. */
function prometheusImage(): string {
    const recorded = path.join(ROOT, ".tools", "images", "prometheus");
    if (!fs.existsSync(recorded)) {
        throw new Error("no prometheus image recorded in .tools/images: run `npm run setup -- image`");
    }
    return fs.readFileSync(recorded, "utf8").trim();
}

/** promtool's output; a failure carries all of it, which names the case and what it got. */
function promtool(...args: string[]): string {
    const user = `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`;
    const result = spawnSync(
        "docker",
        [
            "run", "--rm", "--pull", "never", "--network", "none", "--user", user,
            "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true",
            "-v", `${RULES_DIR}:/rules:ro`, "-v", `${TESTS_DIR}:/tests:ro`,
            "--entrypoint", "promtool", prometheusImage(), ...args,
        ],
        { encoding: "utf8" },
    );
    if (result.error) {
        throw result.error;
    }
    assert.equal(result.status, 0, `promtool ${args.join(" ")} failed (exit ${result.status}):\n${result.stdout}${result.stderr}`);
    return result.stdout;
}

function readYaml<T>(file: string): T {
    return yaml.load(fs.readFileSync(file, "utf8")) as T;
}

const rules = readYaml<RuleFile>(path.join(RULES_DIR, "alerts.yml"));
const alerts = rules.groups.flatMap((group) => group.rules).filter((rule): rule is AlertRule & { alert: string } => rule.alert !== undefined);
const cases = readYaml<RuleTestFile>(path.join(TESTS_DIR, "alerts.test.yml")).tests.flatMap((test) => test.alert_rule_test ?? []);

describe("alert rules", () => {
    it("pass promtool check rules", () => {
        const output = promtool("check", "rules", "/rules/alerts.yml");
        assert.match(output, new RegExp(`SUCCESS: ${alerts.length} rules found`), output);
    });

    it("pass their promtool unit tests (alerts.test.yml)", () => {
        promtool("test", "rules", "/tests/alerts.test.yml");
    });

    it("are one group of alerts, each with a severity, a summary and a description", () => {
        assert.deepEqual(rules.groups.map((group) => group.name), ["synapse-stack"]);
        assert.ok(alerts.length > 0, "alerts.yml has no alert");
        for (const alert of alerts) {
            assert.match(alert.labels?.severity ?? "", /^(critical|warning)$/, `${alert.alert}: severity`);
            assert.ok(alert.annotations?.summary && alert.annotations.description, `${alert.alert}: summary and description`);
        }
    });

    it("each have a case where they fire and one where they stay silent, and every case names one of them", () => {
        const names = alerts.map((alert) => alert.alert);
        assert.deepEqual(names.filter((name, index) => names.indexOf(name) !== index), [], "alert names used twice");
        const firing = new Set(cases.filter((test) => (test.exp_alerts ?? []).length > 0).map((test) => test.alertname));
        const silent = new Set(cases.filter((test) => (test.exp_alerts ?? []).length === 0).map((test) => test.alertname));
        assert.deepEqual(names.filter((name) => !firing.has(name)), [], "alerts with no case in alerts.test.yml where they fire");
        assert.deepEqual(names.filter((name) => !silent.has(name)), [], "alerts with no case in alerts.test.yml where they stay silent");
        // promtool passes an `exp_alerts: []` for a misspelt name, which would then test nothing.
        assert.deepEqual(cases.map((test) => test.alertname).filter((name) => !names.includes(name)), [], "cases naming no alert in alerts.yml");
    });
});
