// synapse:monitoring: Prometheus, its exporters, alert rules and console pages as a mapping, refused in synapse:* terms
// with the package's rules.
import { accepts, DEFAULTS, RULES, type Rule } from "@synapse-stack/synapse";
import type { Reader } from "./reader";
import type { MonitoringSetting, SynapseConfig } from "./types";

export const MONITORING_KEYS = ["enabled", "port", "scrapeInterval", "retention", "backupMaxAgeHours", "image", "postgresExporterImage"] as const;

export function readMonitoring(reader: Reader, stack: string, extraConfig: Record<string, unknown>): Pick<SynapseConfig, "monitoring"> {
    const value = reader.partMapping("monitoring", MONITORING_KEYS);
    if (value === undefined) {
        return {};
    }
    const given = <T>(key: string, fallback: T, rule: Rule, parse: (raw: unknown) => unknown = (raw) => raw): T => {
        const raw = value[key];
        if (raw === undefined) {
            return fallback;
        }
        const parsed = parse(raw);
        if (!accepts(rule, parsed)) {
            reader.bad(`monitoring.${key}`, raw, rule.form);
            return fallback;
        }
        return parsed as T;
    };
    // A number may come as YAML's number or as text (pulumi config set --path).
    const number = (raw: unknown) => (typeof raw === "string" && /^\d+$/.test(raw) ? Number(raw) : raw);
    if ("enable_metrics" in extraConfig) {
        reader.problems.push('synapse:extraConfig key "enable_metrics" is owned by the stack with synapse:monitoring: every Synapse process serves its metrics to Prometheus');
    }
    const monitoring: MonitoringSetting = {
        port: given("port", DEFAULTS.monitoring.port, RULES.port, number),
        scrapeInterval: given("scrapeInterval", DEFAULTS.monitoring.scrapeInterval, RULES.scrapeInterval),
        retention: given("retention", DEFAULTS.monitoring.retention, RULES.retention),
        backupMaxAgeHours: given("backupMaxAgeHours", DEFAULTS.monitoring.backupMaxAgeHours, RULES.backupMaxAgeHours, number),
        image: given("image", DEFAULTS.monitoring.image, RULES.prometheusImage),
        postgresExporterImage: given("postgresExporterImage", DEFAULTS.monitoring.postgresExporterImage, RULES.postgresExporterImage),
        volumeName: `synapse-${stack}-metrics`,
    };
    return { monitoring };
}
