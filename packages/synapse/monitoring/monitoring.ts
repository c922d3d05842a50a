// Monitoring: Prometheus with the package's alert rules and console pages, the PostgreSQL exporter and the stack's own
// exporter, all on the internal metrics network the Synapse processes and the edge join; only Prometheus is published,
// on loopback.
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULTS } from "../homeserver/rules";
import { containerHardening, type Hardening } from "../runtime/hardening";
import { imageResource } from "../runtime/images";
import { LABEL_PREFIX, labelList, ownerLabels } from "../runtime/labels";
import { PidsLimit } from "../runtime/limits";
import { fingerprint, readScript, shellQuote } from "../runtime/scripts";
import { VolumeFile } from "../storage/files";
import { DataVolume } from "../storage/storage";
import {
    CONSOLE_FILES,
    monitoringAsset,
    POSTGRES_EXPORTER_PORT,
    PROMETHEUS_DATA,
    PROMETHEUS_FILES,
    PROMETHEUS_PORT,
    prometheusFlags,
    renderPrometheusConfig,
    STACK_EXPORTER_PORT,
    type SynapseTarget,
} from "./prometheus";

/** The official image's user, nobody, which owns /prometheus. */
const NOBODY = "65534:65534";

/** Prometheus writes only its volume; the Go runtime and the rule and scrape loops need a few dozen threads. */
export const PROMETHEUS_HARDENING: Hardening = { pidsLimit: 128, tmpfs: { "/tmp": "rw,noexec,nosuid,nodev,size=16m" }, memoryMb: 512 };
/** The exporters read and answer, nothing more. */
const EXPORTER_HARDENING: Hardening = { pidsLimit: 32, tmpfs: { "/tmp": "rw,noexec,nosuid,nodev,size=8m" }, memoryMb: 96 };

/** The monitoring settings that are its user's to choose (a Homeserver's `monitoring` argument). */
export interface MonitoringOptions {
    /** Host port Prometheus is published on, on 127.0.0.1 only (it has no authentication). Default 9090. */
    port?: pulumi.Input<number>;
    /** How often every target is scraped and the alert rules are evaluated, e.g. "15s". Default 15s. */
    scrapeInterval?: pulumi.Input<string>;
    /** How long Prometheus keeps samples, e.g. "15d". Default 15d. */
    retention?: pulumi.Input<string>;
    /** Age in hours after which the newest backup is too old (an alert). Default 192 (8 days). */
    backupMaxAgeHours?: pulumi.Input<number>;
    /** Prometheus image (official or with its interface). Default PROMETHEUS_IMAGE. */
    image?: pulumi.Input<string>;
    /** postgres_exporter image (official or with its interface). Default POSTGRES_EXPORTER_IMAGE. */
    postgresExporterImage?: pulumi.Input<string>;
    /** Name of Prometheus's volume (its samples), recorded by the homeserver's VolumeLedger. Default `<name>-metrics`. */
    volumeName?: pulumi.Input<string>;
}

/** The database the PostgreSQL exporter reads its statistics from. */
export interface MonitoredDatabase {
    /** host:port on the database network. */
    address: pulumi.Input<string>;
    /** The database network. */
    networkName: pulumi.Input<string>;
    /** The password of the `synapse` role (secret). */
    password: pulumi.Input<string>;
}

/** Everything the Monitoring component takes: the user's options and what the homeserver wires in. */
export interface MonitoringArgs extends MonitoringOptions {
    /** The homeserver's container name: the monitoring containers are named after it. */
    containerName: pulumi.Input<string>;
    /** The Matrix server name (an external label). */
    serverName: pulumi.Input<string>;
    /** The internal network every target is on. */
    networkName: pulumi.Input<string>;
    /** The network Prometheus's port is published through (not internal; nothing else joins it). */
    publishNetworkName: pulumi.Input<string>;
    /** Main and every worker, by process name. */
    synapse: pulumi.Input<SynapseTarget[]>;
    /** With PostgreSQL. */
    database?: MonitoredDatabase;
    /** With the edge: its metrics host:port, and where its certificate is served (host:port on this network, SNI). */
    edge?: { metrics: pulumi.Input<string>; tls: pulumi.Input<string>; host: pulumi.Input<string> };
    /** The data volumes whose free space is watched. */
    volumes: pulumi.Input<pulumi.Input<string>[]>;
    /** The backup folder on the host ("" without backups). */
    backupDirectory: pulumi.Input<string>;
    /** The image the stack exporter runs on (the homeserver's: its Python and `cryptography`). */
    exporterImage: pulumi.Input<string>;
    /** Owner labels; the role is added. */
    labels: { project: string; stack: string };
    /** The secret key of the stack's fingerprints. */
    fingerprintKey: pulumi.Input<string>;
}

/**
 * Prometheus scraping every Synapse process, PostgreSQL (through postgres_exporter), the edge, the stack exporter
 * (volumes' free space, the newest backup, the edge's certificate) and itself, evaluating the package's alert rules
 * and serving its console pages on 127.0.0.1.
 */
export class Monitoring extends pulumi.ComponentResource {
    /** Prometheus's URL on this host. */
    public readonly url: pulumi.Output<string>;
    /** The Prometheus container's name. */
    public readonly containerName: pulumi.Output<string>;

    constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synapse:index:Monitoring", name, {}, opts);
        const { project, stack } = args.labels;
        const base = pulumi.output(args.containerName);
        const port = pulumi.output(args.port ?? DEFAULTS.monitoring.port);
        const child = { parent: this };

        // Prometheus's volume: the samples, kept like the other data volumes.
        const image = imageResource(`${name}-prometheus-image`, args.image ?? DEFAULTS.monitoring.image, this);
        const volumeName = new DataVolume(`${name}-data`, { volumeName: args.volumeName ?? `${name}-metrics`, labels: ownerLabels(project, stack, "metrics") }, child).volumeName;

        // postgres_exporter: the role's password as a file in a volume of its own, never in its environment. Written with
        // Prometheus's image at its /prometheus, which is nobody's in it: so is the new volume's root, and nobody writes.
        const database = args.database;
        const postgresExporter = database
            ? (() => {
                  const exporterImage = imageResource(`${name}-postgres-exporter-image`, args.postgresExporterImage ?? DEFAULTS.monitoring.postgresExporterImage, this);
                  // Its content is the password file alone, which the next `up` writes again: never replaced in place.
                  const secrets = new docker.Volume(
                      `${name}-postgres-exporter-secret`,
                      { name: pulumi.interpolate`${base}-db-exporter`, labels: labelList(ownerLabels(project, stack, "postgres-exporter")) },
                      { parent: this, ignoreChanges: ["*"], deleteBeforeReplace: true },
                  );
                  const passwordFile = new VolumeFile(
                      `${name}-postgres-exporter-password`,
                      { image: image.imageId, volumeName: secrets.name, mountPath: PROMETHEUS_DATA, path: "password", content: pulumi.secret(database.password), user: NOBODY, fingerprintKey: args.fingerprintKey },
                      child,
                  );
                  const container = new docker.Container(
                      `${name}-postgres-exporter`,
                      {
                          name: pulumi.interpolate`${base}-db-exporter`,
                          image: exporterImage.imageId,
                          user: NOBODY,
                          envs: [pulumi.interpolate`DATA_SOURCE_URI=${database.address}/synapse?sslmode=disable`, "DATA_SOURCE_USER=synapse", "DATA_SOURCE_PASS_FILE=/secrets/password"],
                          volumes: [{ volumeName: secrets.name, containerPath: "/secrets", readOnly: true }],
                          networksAdvanced: [{ name: args.networkName }, { name: database.networkName }],
                          restart: "unless-stopped",
                          wait: false,
                          destroyGraceSeconds: 5,
                          ...containerHardening(EXPORTER_HARDENING),
                          labels: [...labelList(ownerLabels(project, stack, "postgres-exporter")), { label: `${LABEL_PREFIX}.config`, value: passwordFile.fingerprint }],
                      },
                      { parent: this, deleteBeforeReplace: true },
                  );
                  new PidsLimit(`${name}-postgres-exporter-pids`, { containerName: container.name, containerId: container.id, limit: EXPORTER_HARDENING.pidsLimit }, child);
                  return container;
              })()
            : undefined;

        // The stack exporter, as the backup folder's owner (this program's user), with every volume read-only.
        const user = `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`;
        const backupMaxAge = pulumi.output(args.backupMaxAgeHours ?? DEFAULTS.monitoring.backupMaxAgeHours).apply((hours) => String(Math.round(hours * 3600)));
        const backupDirectory = pulumi.output(args.backupDirectory);
        // Made private before Docker would make it (root's, readable by all), which `backup` would then refuse.
        const backupFolder = new command.local.Command(
            `${name}-backup-folder`,
            {
                create: backupDirectory.apply((folder) => (folder ? `[ -d ${shellQuote(folder)} ] || (umask 077 && mkdir -p ${shellQuote(folder)})` : "true")),
                // Only if it is still empty: a folder with archives is the user's.
                delete: backupDirectory.apply((folder) => (folder ? `rmdir ${shellQuote(folder)} 2>/dev/null || true` : "true")),
            },
            child,
        );
        const stackExporter = new docker.Container(
            `${name}-stack-exporter`,
            {
                name: pulumi.interpolate`${base}-stack-exporter`,
                image: args.exporterImage,
                user,
                entrypoints: ["python", "-c", readScript("stack_exporter.py"), String(STACK_EXPORTER_PORT)],
                command: pulumi.all([backupDirectory, backupMaxAge, args.edge?.tls, args.edge?.host]).apply(([folder, maxAge, tls, host]) => [
                    ...(folder ? ["--backups", maxAge] : []),
                    ...(tls && host ? ["--certificate", tls, host] : []),
                ]),
                volumes: pulumi.all([pulumi.output(args.volumes), volumeName]).apply(([volumes, own]) =>
                    [...volumes, own].map((volume) => ({ volumeName: volume, containerPath: `/volumes/${volume}`, readOnly: true })),
                ),
                // A bind mount, not a volume's host path: Docker fails on a missing folder instead of making it root's.
                mounts: backupDirectory.apply((folder) => (folder ? [{ type: "bind", source: folder, target: "/backups", readOnly: true }] : [])),
                networksAdvanced: [{ name: args.networkName }],
                // Python as PID 1 would ignore SIGTERM. The health check has every field set: Docker fills an unset one
                // from the image's own check (Synapse's), and every refresh would then show a difference.
                init: true,
                restart: "unless-stopped",
                healthcheck: { tests: ["CMD", "curl", "-fsS", "-o", "/dev/null", `http://127.0.0.1:${STACK_EXPORTER_PORT}/health`], interval: "10s", timeout: "3s", startPeriod: "5s", retries: 3 },
                wait: false,
                destroyGraceSeconds: 5,
                ...containerHardening(EXPORTER_HARDENING),
                labels: labelList(ownerLabels(project, stack, "stack-exporter")),
            },
            { parent: this, deleteBeforeReplace: true, replaceOnChanges: ["healthcheck"], dependsOn: [backupFolder] },
        );
        new PidsLimit(`${name}-stack-exporter-pids`, { containerName: stackExporter.name, containerId: stackExporter.id, limit: EXPORTER_HARDENING.pidsLimit }, child);

        // Prometheus's files go into its volume, beside the samples.
        const config = pulumi
            .all([args.scrapeInterval ?? DEFAULTS.monitoring.scrapeInterval, args.serverName, args.synapse, postgresExporter?.name, args.edge?.metrics, stackExporter.name])
            .apply(([scrapeInterval, serverName, synapse, exporter, edge, stackName]) =>
                renderPrometheusConfig({
                    scrapeInterval,
                    serverName,
                    synapse,
                    postgres: exporter ? `${exporter}:${POSTGRES_EXPORTER_PORT}` : undefined,
                    edge,
                    stack: `${stackName}:${STACK_EXPORTER_PORT}`,
                }),
            );
        const files = [
            { path: "prometheus.yml", content: config },
            { path: "alerts.yml", content: pulumi.output(monitoringAsset("alerts.yml")) },
            ...CONSOLE_FILES.consoles.map((file) => ({ path: `consoles/${file}`, content: pulumi.output(monitoringAsset("consoles", file)) })),
            ...CONSOLE_FILES.libraries.map((file) => ({ path: `console_libraries/${file}`, content: pulumi.output(monitoringAsset("consoles", file)) })),
        ].map(
            (file) =>
                new VolumeFile(
                    `${name}-${file.path.replace(/[/.]/g, "-")}`,
                    { image: image.imageId, volumeName, mountPath: PROMETHEUS_DATA, path: `${PROMETHEUS_FILES.slice(PROMETHEUS_DATA.length + 1)}/${file.path}`, content: file.content, user: NOBODY, fingerprintKey: args.fingerprintKey },
                    child,
                ),
        );
        const container = new docker.Container(
            `${name}-prometheus`,
            {
                name: pulumi.interpolate`${base}-prometheus`,
                image: image.imageId,
                user: NOBODY,
                command: pulumi.output(args.retention ?? DEFAULTS.monitoring.retention).apply(prometheusFlags),
                volumes: [{ volumeName, containerPath: PROMETHEUS_DATA }],
                ports: [{ internal: PROMETHEUS_PORT, external: port, ip: "127.0.0.1", protocol: "tcp" }],
                networksAdvanced: [{ name: args.publishNetworkName }, { name: args.networkName }],
                restart: "unless-stopped",
                healthcheck: { tests: ["CMD", "promtool", "check", "healthy", `--url=http://127.0.0.1:${PROMETHEUS_PORT}`], interval: "5s", timeout: "3s", retries: 3 },
                wait: true,
                waitTimeout: 120,
                // Time to write its head block on the way down: the next start then replays less.
                destroyGraceSeconds: 30,
                ...containerHardening(PROMETHEUS_HARDENING),
                labels: [
                    ...labelList(ownerLabels(project, stack, "prometheus")),
                    // Data flow from the written files: Prometheus starts on them, and restarts when one changes.
                    { label: `${LABEL_PREFIX}.config`, value: fingerprint(pulumi.concat(...files.map((file) => file.fingerprint)), args.fingerprintKey) },
                ],
            },
            // Its exporters first: a target that is not there yet would count as down.
            { parent: this, deleteBeforeReplace: true, replaceOnChanges: ["healthcheck"], dependsOn: [stackExporter, ...(postgresExporter ? [postgresExporter] : [])] },
        );
        new PidsLimit(`${name}-prometheus-pids`, { containerName: container.name, containerId: container.id, limit: PROMETHEUS_HARDENING.pidsLimit }, child);

        // Known once Prometheus answers: the container waits for its health check.
        this.url = pulumi.all([container.id, port]).apply(([, published]) => `http://127.0.0.1:${published}`);
        this.containerName = container.name;
        this.registerOutputs({ url: this.url, containerName: this.containerName });
    }
}
