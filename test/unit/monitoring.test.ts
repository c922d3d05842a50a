// Monitoring: Prometheus's rendered config (every target, each Synapse process by name), its flags, the edge's and the
// overlay's metrics listeners, and the rules about `monitoring` in the component's and the stack's terms (exact
// messages).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CONSOLE_FILES, DEFAULTS, monitoringAsset, prometheusFlags, renderCaddyfile, renderOverlay, renderPrometheusConfig, validateHomeserverArgs } from "@synapse-stack/synapse";
import { configProblems } from "./harness";

const parse = (text: string) => JSON.parse(text.split("\n").filter((line) => !line.startsWith("#")).join("\n")) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- rendered YAML, checked field by field

describe("Prometheus's config", () => {
    const config = parse(
        renderPrometheusConfig({
            scrapeInterval: "15s",
            serverName: "example.org",
            synapse: [
                { process: "main", address: "synapse-prod:9000" },
                { process: "client-1", address: "synapse-prod-client-1:9000" },
            ],
            postgres: "synapse-prod-db-exporter:9187",
            edge: "synapse-prod-edge:9180",
            stack: "synapse-prod-stack-exporter:9101",
        }),
    );

    it("scrapes every Synapse process at its metrics path, labelled by process", () => {
        const synapse = config.scrape_configs.find((job: { job_name: string }) => job.job_name === "synapse");
        assert.equal(synapse.metrics_path, "/_synapse/metrics");
        assert.deepEqual(synapse.static_configs, [
            { targets: ["synapse-prod:9000"], labels: { process: "main" } },
            { targets: ["synapse-prod-client-1:9000"], labels: { process: "client-1" } },
        ]);
    });

    it("scrapes the exporters, the edge and itself, evaluates the shipped rules at the scrape interval", () => {
        assert.deepEqual(
            config.scrape_configs.map((job: { job_name: string; static_configs: { targets: string[] }[] }) => [job.job_name, job.static_configs.flatMap((item) => item.targets)]),
            [
                ["synapse", ["synapse-prod:9000", "synapse-prod-client-1:9000"]],
                ["postgres", ["synapse-prod-db-exporter:9187"]],
                ["edge", ["synapse-prod-edge:9180"]],
                ["stack", ["synapse-prod-stack-exporter:9101"]],
                ["prometheus", ["localhost:9090"]],
            ],
        );
        assert.deepEqual(config.global, { scrape_interval: "15s", evaluation_interval: "15s", external_labels: { server_name: "example.org" } });
        assert.deepEqual(config.rule_files, ["/prometheus/synapse-stack/alerts.yml"]);
    });

    it("leaves out the jobs of parts the homeserver does not have", () => {
        const lone = parse(renderPrometheusConfig({ scrapeInterval: "5s", serverName: "a.example", synapse: [{ process: "main", address: "a:9000" }], stack: "a-stack-exporter:9101" }));
        assert.deepEqual(lone.scrape_configs.map((job: { job_name: string }) => job.job_name), ["synapse", "stack", "prometheus"]);
    });

    it("runs on the stack's files in its volume, listening on every address of its container", () => {
        assert.deepEqual(prometheusFlags("30d"), [
            "--config.file=/prometheus/synapse-stack/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
            "--storage.tsdb.retention.time=30d",
            "--web.console.libraries=/prometheus/synapse-stack/console_libraries",
            "--web.console.templates=/prometheus/synapse-stack/consoles",
            "--web.listen-address=0.0.0.0:9090",
        ]);
    });

    it("ships every console page and its library, each using only the library's templates", () => {
        const library = monitoringAsset("consoles", CONSOLE_FILES.libraries[0]);
        for (const page of CONSOLE_FILES.consoles) {
            const text = monitoringAsset("consoles", page);
            const used = [...text.matchAll(/\{\{ template "([^"]+)"/g)].map((match) => match[1]);
            assert.ok(used.length > 0, page);
            for (const name of used) {
                assert.match(library, new RegExp(`\\{\\{ define "${name}" \\}\\}`), `${page} uses ${name}, which the library defines`);
            }
        }
    });
});

describe("metrics listeners", () => {
    const overlay = (settings: Partial<Parameters<typeof renderOverlay>[0]>) => parse(renderOverlay({ publicBaseUrl: "https://a.example/", reportStats: false, extraConfig: {}, ...settings }));

    it("gives a lone main process a metrics listener with monitoring, and none without", () => {
        const monitored = overlay({ metrics: true });
        assert.equal(monitored.enable_metrics, true);
        assert.deepEqual(monitored.listeners[1], { port: 9000, type: "metrics", bind_addresses: ["0.0.0.0"] });
        const plain = overlay({});
        assert.equal(plain.enable_metrics, undefined);
        assert.equal(plain.listeners.length, 1);
    });

    it("adds no second metrics listener where workers already give main one", () => {
        const monitored = overlay({ metrics: true, workers: { shared: { enable_metrics: true }, listeners: [{ port: 9000, type: "metrics", bind_addresses: ["0.0.0.0"] }] } });
        assert.equal(monitored.listeners.filter((listener: { type: string }) => listener.type === "metrics").length, 1);
    });

    it("serves the edge's metrics on a port of their own, only with monitoring", () => {
        const base = { tls: "internal", serverName: "a.example", publicHost: "a.example", httpsPort: 443, federationPort: 0, serveWellKnown: false, exposeAdminApi: false, upstream: "a:8008", maxBodyBytes: 1024 } as const;
        assert.match(renderCaddyfile({ ...base, metrics: true }), /\nhttp:\/\/:9180 \{\n\tmetrics \/metrics\n\}\n/);
        assert.doesNotMatch(renderCaddyfile(base), /metrics/);
    });
});

describe("the rules about monitoring", () => {
    it("refuses bad values in the component's terms, naming the argument, the value and the form", () => {
        assert.deepEqual(
            validateHomeserverArgs({ serverName: "a.example", monitoring: { port: 0, scrapeInterval: "15", retention: "forever", backupMaxAgeHours: 0.5, image: "prom/prometheus" } }),
            [
                'monitoring.image "prom/prometheus" is not valid: expected an image reference with a tag or digest, such as prom/prometheus:v2.53.3',
                "monitoring.port 0 is not valid: expected a port number from 1 to 65535",
                'monitoring.scrapeInterval "15" is not valid: expected a duration from 1s to 30s such as 15s (the pages\' and alerts\' rates look back a minute)',
                'monitoring.retention "forever" is not valid: expected a duration such as 15d, 12w or 1y',
                "monitoring.backupMaxAgeHours 0.5 is not valid: expected a whole number of hours from 1 to 8784, such as 192 (8 days)",
            ],
        );
        assert.deepEqual(validateHomeserverArgs({ serverName: "a.example", monitoring: {}, extraConfig: { enable_metrics: false } }), [
            'extraConfig key "enable_metrics" is written by the component with monitoring: every Synapse process serves its metrics to Prometheus',
        ]);
        assert.deepEqual(validateHomeserverArgs({ serverName: "a.example", monitoring: { ...DEFAULTS.monitoring } }), []);
    });

    it("refuses bad values in the stack's terms, and keys that do nothing", () => {
        assert.deepEqual(configProblems({ monitoring: JSON.stringify({ port: "x", scrapeInterval: "1h", colour: "red" }) }), [
            "synapse:monitoring.colour is not a monitoring setting: known keys are enabled, port, scrapeInterval, retention, backupMaxAgeHours, image, postgresExporterImage",
            'synapse:monitoring.port "x" is not valid: expected a port number from 1 to 65535',
            'synapse:monitoring.scrapeInterval "1h" is not valid: expected a duration from 1s to 30s such as 15s (the pages\' and alerts\' rates look back a minute)',
        ]);
        assert.deepEqual(configProblems({ monitoring: JSON.stringify({ enabled: false, port: 9091 }) }), [
            "synapse:monitoring.port has no effect with synapse:monitoring.enabled false: remove it",
        ]);
        assert.deepEqual(configProblems({ monitoring: JSON.stringify({ enabled: true }), extraConfig: JSON.stringify({ enable_metrics: true }) }), [
            'synapse:extraConfig key "enable_metrics" is owned by the stack with synapse:monitoring: every Synapse process serves its metrics to Prometheus',
        ]);
        assert.deepEqual(configProblems({ monitoring: JSON.stringify({ port: "9091", backupMaxAgeHours: 24 }) }), []);
        for (const [interval, accepted] of [["1s", true], ["30s", true], ["31s", false], ["1m", false], ["0s", false]] as const) {
            assert.equal(configProblems({ monitoring: JSON.stringify({ scrapeInterval: interval }) }).length === 0, accepted, interval);
        }
    });
});
