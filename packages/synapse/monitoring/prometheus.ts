// What Prometheus runs on: its config (every target by its container's name on the internal metrics network, each
// Synapse process labelled by `process`), the alert rules and the console pages the package ships. Pure: the
// Monitoring component writes these files; the unit tests read them.
import * as fs from "node:fs";
import * as path from "node:path";
import { PACKAGE_ROOT } from "../runtime/script-files";

/** Where Prometheus keeps its data (the image's VOLUME), and where the stack's files go inside that volume. */
export const PROMETHEUS_DATA = "/prometheus";
export const PROMETHEUS_FILES = `${PROMETHEUS_DATA}/synapse-stack`;
export const PROMETHEUS_PORT = 9090;
/** The ports of the exporters the stack runs, on the metrics network only. */
export const POSTGRES_EXPORTER_PORT = 9187;
export const STACK_EXPORTER_PORT = 9101;

/** A Synapse process Prometheus scrapes: its name as the `process` label, and host:port. */
export interface SynapseTarget {
    process: string;
    address: string;
}

/** Everything prometheus.yml depends on; plain values. */
export interface PrometheusSettings {
    /** How often every target is scraped and the rules evaluated, e.g. "15s". */
    scrapeInterval: string;
    /** The Matrix server name, as the `server_name` external label. */
    serverName: string;
    /** Main and every worker. */
    synapse: SynapseTarget[];
    /** postgres_exporter's host:port, with PostgreSQL. */
    postgres?: string;
    /** The edge's metrics host:port, with the edge. */
    edge?: string;
    /** The stack exporter's host:port. */
    stack: string;
}

/** The files of the package's console pages and their library, by the name they get in Prometheus's folders. */
export const CONSOLE_FILES = { consoles: ["synapse.html", "processes.html"], libraries: ["synapse-stack.lib"] } as const;

/** The text of a file the package ships in monitoring/ (the rules, console pages and their library). */
export function monitoringAsset(...parts: string[]): string {
    return fs.readFileSync(path.join(PACKAGE_ROOT, "monitoring", ...parts), "utf8");
}

/** prometheus.yml. JSON is valid YAML, and the key order is fixed, so the same settings give the same bytes. */
export function renderPrometheusConfig(settings: PrometheusSettings): string {
    const job = (name: string, targets: { targets: string[]; labels?: Record<string, string> }[]) => ({ job_name: name, static_configs: targets });
    const config = {
        global: { scrape_interval: settings.scrapeInterval, evaluation_interval: settings.scrapeInterval, external_labels: { server_name: settings.serverName } },
        rule_files: [`${PROMETHEUS_FILES}/alerts.yml`],
        scrape_configs: [
            // Synapse serves its metrics at /_synapse/metrics on a metrics listener.
            { ...job("synapse", settings.synapse.map((target) => ({ targets: [target.address], labels: { process: target.process } }))), metrics_path: "/_synapse/metrics" },
            ...(settings.postgres ? [job("postgres", [{ targets: [settings.postgres] }])] : []),
            ...(settings.edge ? [job("edge", [{ targets: [settings.edge] }])] : []),
            job("stack", [{ targets: [settings.stack] }]),
            job("prometheus", [{ targets: [`localhost:${PROMETHEUS_PORT}`] }]),
        ],
    };
    return ["# Managed by the synapse Pulumi stack: edits here are replaced on the next `pulumi up`.", JSON.stringify(config, null, 2), ""].join("\n");
}

/** Prometheus's flags: the stack's files, the retention, and every address of the container (the port is loopback's). */
export function prometheusFlags(retention: string): string[] {
    return [
        `--config.file=${PROMETHEUS_FILES}/prometheus.yml`,
        `--storage.tsdb.path=${PROMETHEUS_DATA}`,
        `--storage.tsdb.retention.time=${retention}`,
        `--web.console.libraries=${PROMETHEUS_FILES}/console_libraries`,
        `--web.console.templates=${PROMETHEUS_FILES}/consoles`,
        `--web.listen-address=0.0.0.0:${PROMETHEUS_PORT}`,
    ];
}
