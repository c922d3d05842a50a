// The Homeserver component: one constructor that declares every part in the order data flows between them (volumes,
// networks, the worker bus, PostgreSQL, the edge, the TURN server, the overlay, the upgrade backup, generate, the port,
// the homeserver, the workers once it answers, the admin once they do).
// Over 300 lines because that order is the component's contract and reads top to bottom here; its arguments, rules
// and volume ledger live in args.ts, validate.ts and storage/, and each part is a component of its own.
import * as path from "node:path";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { Admin } from "../steps/admin";
import { EDGE_DATA, EDGE_METRICS_PORT, parseSize } from "../edge/caddyfile";
import { Database } from "../database/database";
import { Edge, type EdgeArgs } from "../edge/edge";
import { argumentError } from "../runtime/errors";
import { FILES_DIR, GenerateConfig, overlayPath } from "../steps/generate";
import { PortToPostgres, UpgradeBackup } from "../steps/operations";
import { containerHardening, type Hardening } from "../runtime/hardening";
import { imageResource } from "../runtime/images";
import { LABEL_PREFIX, labelList, ownerLabels } from "../runtime/labels";
import { PidsLimit } from "../runtime/limits";
import { DatabaseKind, type HomeserverArgs, type HomeserverImage } from "./args";
import { renderOverlay } from "./overlay";
import { validateHomeserverArgs } from "./validate";
import { mainWorkerListeners, METRICS_PORT, sharedWorkerConfig, workerCounts, workerProcesses } from "../workers/kinds";
import { awaitHealthy, StaleWorkersStop, WorkerBus, Workers, workerUpstreams } from "../workers/workers";
import { fingerprint, fingerprintKey } from "../runtime/scripts";
import { DataVolume, recordVolumes } from "../storage/storage";
import { DEFAULTS } from "./rules";
import { subnetsOf } from "../runtime/networks";
import { Turn } from "../turn/turn";
import { Monitoring } from "../monitoring/monitoring";
import { Platform, swarmWorkerServices } from "../swarm/placement";
import { sweepUnused } from "../swarm/files";
import { existingOverlayId, overlayNetwork } from "../swarm/networks";
import { dataNodeCheck } from "../swarm/service";
import { constraintsOf, SWARM_FILES, SwarmBus, SwarmDatabase, SwarmEdge, SwarmProcesses } from "../swarm/parts";

/** The config files the homeserver runs with: the generated one, then the stack's overlay, which wins key by key. */
export function configPaths(overlay: string): string[] {
    return ["/data/homeserver.yaml", overlay];
}

/**
 * Synapse runs as UID:GID from the first instruction, so it needs no capability at all; it writes only to /data and
 * to /tmp (uploads in flight, thumbnails), and runs a few dozen threads.
 */
export const HOMESERVER_HARDENING: Hardening = {
    pidsLimit: 512,
    tmpfs: { "/tmp": "rw,nosuid,nodev,size=256m" },
};

/** The host part of a URL for an address Docker publishes on; wildcard binds are reached through loopback. */
export function hostForUrl(bindAddress: string): string {
    if (bindAddress === "0.0.0.0") {
        return "127.0.0.1";
    }
    if (bindAddress === "::") {
        return "[::1]";
    }
    return bindAddress.includes(":") ? `[${bindAddress}]` : bindAddress;
}

/**
 * A Synapse homeserver on Docker: data volume, the recipe's generate step made repeatable, the long-running
 * homeserver (healthy before `up` returns, hardened) and its first admin.
 */
export class Homeserver extends pulumi.ComponentResource {
    /** The homeserver's base URL as reached from the Docker host. */
    public readonly url: pulumi.Output<string>;
    /** The Matrix server name. */
    public readonly serverName: pulumi.Output<string>;
    /** The admin's Matrix user id. */
    public readonly adminUserId: pulumi.Output<string>;
    /** The admin's password (secret). */
    public readonly adminPassword: pulumi.Output<string>;
    /** The data volume's name. */
    public readonly volumeName: pulumi.Output<string>;
    /** The homeserver container's name. */
    public readonly containerName: pulumi.Output<string>;
    /** The image the homeserver runs: the reference and the image id it resolved to. */
    public readonly image: pulumi.Output<HomeserverImage>;
    /** The id of the homeserver's signing key (its identity to other servers), e.g. ed25519:a_AbCd. */
    public readonly signingKeyId: pulumi.Output<string>;
    /** The database Synapse uses: sqlite or postgres. */
    public readonly database: pulumi.Output<DatabaseKind>;
    /** The PostgreSQL data volume's name (postgres only). */
    public readonly databaseVolumeName: pulumi.Output<string | undefined>;
    /** (edge) The exact JSON to serve at https://<serverName>/.well-known/matrix/server. Undefined without an edge. */
    public readonly wellKnownServer: pulumi.Output<string | undefined>;
    /** (edge) The JSON to serve at https://<serverName>/.well-known/matrix/client, with Access-Control-Allow-Origin: *. */
    public readonly wellKnownClient: pulumi.Output<string | undefined>;
    /** (edge, tls internal) The root certificate of the edge's CA, for clients and peers to trust. */
    public readonly caCertificate: pulumi.Output<string | undefined>;
    /** The archive taken before the last image change ("" when there was nothing to back up yet, or no backups). */
    public readonly lastBackup: pulumi.Output<string>;
    /** Where the homeserver's own backups go ("" with backups off); `backup` and `restore` default to it. */
    public readonly backupDirectory: pulumi.Output<string>;
    /** (monitoring) Prometheus's URL on this host, with the console pages at /consoles/synapse.html. */
    public readonly prometheusUrl: pulumi.Output<string | undefined>;

    constructor(name: string, args: HomeserverArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synapse:index:Homeserver", name, {}, opts);
        // The component's own rules first: a program gets the refusals the stack's config gets, before anything exists.
        const problems = validateHomeserverArgs(args);
        if (problems.length > 0) {
            throw argumentError(`invalid arguments for Homeserver ${name}:\n  ${problems.join("\n  ")}`, this);
        }

        const project = pulumi.getProject();
        const stack = pulumi.getStack();
        // On a swarm, placed by node label; validated above, so swarm is set with platform swarm.
        const placement = args.platform === Platform.Swarm && args.swarm ? constraintsOf(args.swarm) : undefined;
        const counts = args.workers ? workerCounts(args.workers.preset, args.workers) : undefined;
        // On a swarm, one replicated service per worker kind; on one engine, one container per worker.
        const workers = counts ? (placement ? swarmWorkerServices(counts) : workerProcesses(counts)) : [];
        const containerName = pulumi.output(args.containerName ?? name);
        const httpPort = pulumi.output(args.httpPort ?? DEFAULTS.httpPort);
        const bindAddress = pulumi.output(args.bindAddress ?? DEFAULTS.bindAddress);
        const uid = pulumi.output(args.uid ?? DEFAULTS.uid);
        const gid = pulumi.output(args.gid ?? DEFAULTS.gid);
        const timezone = pulumi.output(args.timezone ?? DEFAULTS.timezone);
        const reportStats = pulumi.output(args.reportStats ?? DEFAULTS.reportStats);
        const labels = { project, stack };

        // Every data volume the homeserver has, recorded before any exists: only the ledger deletes one, on destroy.
        const named = (suffix: string): pulumi.Input<string> =>
            typeof (args.containerName ?? name) === "string" ? `${args.containerName ?? name}-${suffix}` : pulumi.interpolate`${containerName}-${suffix}`;
        const volumeNames = {
            volumeName: args.volumeName ?? `${name}-data`,
            ...(args.postgres ? { "postgres.volumeName": args.postgres.volumeName ?? named("db") } : {}),
            ...(args.edge ? { "edge.volumeName": args.edge.volumeName ?? named("edge") } : {}),
            ...(args.turn ? { "turn.volumeName": args.turn.volumeName ?? named("turn") } : {}),
            ...(args.monitoring ? { "monitoring.volumeName": args.monitoring.volumeName ?? named("metrics") } : {}),
        };
        // On a swarm, the federation network is one of its overlays, which the services join by id; and nothing is made
        // until it is found and the engine Pulumi talks to is shown to be the data node.
        const federationNetworkId = placement && args.federation?.network ? existingOverlayId("federation.network", args.federation.network, this) : undefined;
        const dataNode = placement && args.swarm ? dataNodeCheck(`${name}-data-node`, args.swarm.dataNodeLabel, labels, this, federationNetworkId ? [federationNetworkId] : []) : undefined;
        const afterDataNode = dataNode ? [dataNode] : [];
        const ledger = recordVolumes(`${name}-volumes`, volumeNames, args.retainDataOnDestroy, labels, this, afterDataNode);
        const key = fingerprintKey(`${name}-fingerprint-key`, this);

        // A network of the stack's own when the homeserver has company: the edge reaches it there, and it reaches the
        // world (federation) through it. PostgreSQL gets a second, internal one, shared with the homeserver only.
        // On a swarm they are overlays, internal alike; the database's is attachable, for the port step's container.
        const network =
            placement
                ? overlayNetwork(`${name}-network`, { name: containerName, internal: false, attachable: false, labels: { project, stack, role: "network" } }, this, afterDataNode)
                : args.edge || args.postgres || args.monitoring
                ? new docker.Network(
                      `${name}-network`,
                      { name: containerName, labels: labelList(ownerLabels(project, stack, "network")) },
                      { parent: this, deleteBeforeReplace: true },
                  )
                : undefined;
        const databaseNetwork = placement
            ? overlayNetwork(`${name}-db-network`, { name: pulumi.interpolate`${containerName}-db`, internal: true, attachable: true, labels: { project, stack, role: "database-network" } }, this, afterDataNode)
            : args.postgres
            ? new docker.Network(
                  `${name}-db-network`,
                  {
                      name: pulumi.interpolate`${containerName}-db`,
                      internal: true,
                      labels: labelList(ownerLabels(project, stack, "database-network")),
                  },
                  { parent: this, deleteBeforeReplace: true },
              )
            : undefined;
        // With monitoring, every Synapse process, the edge and the exporters meet Prometheus on an internal network.
        const metricsNetwork = args.monitoring
            ? new docker.Network(
                  `${name}-metrics-network`,
                  { name: pulumi.interpolate`${containerName}-metrics`, internal: true, labels: labelList(ownerLabels(project, stack, "metrics-network")) },
                  { parent: this, deleteBeforeReplace: true },
              )
            : undefined;
        // Prometheus's port is published through a network of its own (the metrics network is internal).
        const prometheusNetwork = args.monitoring
            ? new docker.Network(
                  `${name}-prometheus-network`,
                  { name: pulumi.interpolate`${containerName}-prometheus`, labels: labelList(ownerLabels(project, stack, "prometheus-network")) },
                  { parent: this, deleteBeforeReplace: true },
              )
            : undefined;
        // Workers share Redis and a network of their own with main, made before main joins it.
        const busNetwork =
            placement && workers.length > 0
                ? overlayNetwork(`${name}-worker-bus-network`, { name: pulumi.interpolate`${containerName}-workers`, internal: true, attachable: false, labels: { project, stack, role: "workers-network" } }, this, afterDataNode)
                : undefined;
        const swarmBus =
            placement && busNetwork
                ? new SwarmBus(
                      `${name}-worker-bus`,
                      { image: args.workers?.redisImage ?? DEFAULTS.redisImage, serviceName: pulumi.interpolate`${containerName}-redis`, networkId: busNetwork.id, dataConstraint: placement.data, labels, after: [ledger] },
                      { parent: this },
                  )
                : undefined;
        const bus = workers.length > 0 && !placement ? new WorkerBus(`${name}-worker-bus`, { redisImage: args.workers?.redisImage, containerName, labels, after: [ledger] }, { parent: this }) : undefined;
        const database =
            placement && args.postgres && databaseNetwork
                ? new SwarmDatabase(
                      `${name}-postgres`,
                      {
                          image: args.postgres.image ?? DEFAULTS.postgres.image,
                          volumeName: ledger.recordedName(volumeNames["postgres.volumeName"]!),
                          serviceName: pulumi.interpolate`${containerName}-db`,
                          networkId: databaseNetwork.id,
                          dataConstraint: placement.data,
                          labels,
                          fingerprintKey: key,
                          dataNodeCheck: afterDataNode,
                      },
                      { parent: this },
                  )
                : args.postgres && databaseNetwork
                ? new Database(
                      `${name}-postgres`,
                      {
                          image: args.postgres.image,
                          volumeName: ledger.recordedName(volumeNames["postgres.volumeName"]!),
                          containerName: pulumi.interpolate`${containerName}-db`,
                          networkName: databaseNetwork.name,
                          labels,
                          fingerprintKey: key,
                      },
                      { parent: this },
                  )
                : undefined;
        const edgeArgs: EdgeArgs | undefined =
            args.edge && network
                ? {
                          ...args.edge,
                          serverName: args.serverName,
                          bindAddress,
                          upstream: pulumi.interpolate`${containerName}:8008`,
                          workerUpstreams: containerName.apply((container) => workerUpstreams(container, workers)),
                          maxBodyBytes: pulumi.output(args.extraConfig ?? {}).apply((extra) => parseSize(extra.max_upload_size, 50 * 1024 ** 2)),
                          volumeName: ledger.recordedName(volumeNames["edge.volumeName"]!),
                          containerName: args.edge.containerName ?? pulumi.interpolate`${containerName}-edge`,
                          networkName: network.name,
                          federation: args.federation?.enabled ?? DEFAULTS.federation.enabled,
                          // Peers on the federation network find the edge by the homeserver's names.
                          extraNetworks: [
                              ...(args.federation?.network ? [{ name: args.federation.network, aliases: [args.serverName, args.edge.publicHost ?? args.serverName] }] : []),
                              ...(metricsNetwork ? [{ name: metricsNetwork.name, aliases: [] }] : []),
                          ],
                          metrics: metricsNetwork !== undefined,
                          labels,
                          fingerprintKey: key,
                      }
                : undefined;
        const edge =
            edgeArgs && network
                ? placement
                    ? new SwarmEdge(
                          `${name}-edge`,
                          {
                              ...edgeArgs,
                              serviceName: edgeArgs.containerName ?? pulumi.interpolate`${containerName}-edge`,
                              volumeName: edgeArgs.volumeName ?? ledger.recordedName(volumeNames["edge.volumeName"]!),
                              networkId: network.id,
                              federationNetwork: federationNetworkId
                                  ? { id: federationNetworkId, aliases: pulumi.all([args.serverName, edgeArgs.publicHost ?? args.serverName]).apply((names) => [...new Set(names)]) }
                                  : undefined,
                              dataConstraint: placement.data,
                              fingerprintKey: key,
                          },
                          { parent: this },
                      )
                    : new Edge(`${name}-edge`, edgeArgs, { parent: this })
                : undefined;
        // The TURN server runs on a network of its own; every network the stack's processes are on stays out of its reach.
        // Networks the program does not make: the federation network, or Docker's default bridge for a lone homeserver.
        const existingSubnets = (networkName: pulumi.Input<string>) =>
            docker.getNetworkOutput({ name: networkName }, { parent: this }).apply((found) => (found.ipamConfigs ?? []).map((config) => config.subnet ?? "").filter(Boolean));
        const turn = args.turn
            ? new Turn(
                  `${name}-turn`,
                  {
                      ...args.turn,
                      realm: args.serverName,
                      volumeName: ledger.recordedName(volumeNames["turn.volumeName"]!),
                      containerName: args.turn.containerName ?? pulumi.interpolate`${containerName}-turn`,
                      // Behind the edge, clients reach it by the edge's name, which its certificate carries.
                      uriHost: args.edge ? (args.edge.publicHost ?? args.serverName) : undefined,
                      certificates: args.edge && edge ? { volumeName: edge.volumeName, edgeData: EDGE_DATA, host: args.edge.publicHost ?? args.serverName, mode: args.edge.tls } : undefined,
                      protectedSubnets: pulumi
                          .all([
                              ...[network, databaseNetwork, metricsNetwork, prometheusNetwork].filter((item): item is docker.Network => item !== undefined).map(subnetsOf),
                              network ? [] : existingSubnets("bridge"),
                              bus ? bus.subnets : [],
                              args.federation?.network ? existingSubnets(args.federation.network) : [],
                          ])
                          .apply((lists) => lists.flat()),
                      labels,
                      fingerprintKey: key,
                  },
                  { parent: this },
              )
            : undefined;
        const url = edge
            ? edge.url
            : pulumi.all([bindAddress, httpPort]).apply(([address, port]) => `http://${hostForUrl(address)}:${port}`);

        const data = new DataVolume(
            `${name}-data`,
            {
                volumeName: ledger.recordedName(volumeNames.volumeName),
                labels: ownerLabels(project, stack, "data"),
            },
            { parent: this },
        );

        const imageReference = pulumi.output(args.image ?? DEFAULTS.image);
        const image = imageResource(`${name}-image`, imageReference, this);

        const federation = pulumi.output({
            enabled: args.federation?.enabled ?? DEFAULTS.federation.enabled,
            allowList: args.federation?.allowList,
            trustedCaCertificates: args.federation?.trustedCaCertificates ?? [],
            allowPrivateRanges: args.federation?.allowPrivateRanges ?? [],
        });
        // The CA roots go into the data volume, one file each, named in the overlay; on a swarm, workers get them as
        // configs at the same paths (the rules above make them a list there, whose items may be outputs).
        const trusted = args.federation?.trustedCaCertificates;
        const caFile = (pem: string) => `${pem.trim()}\n`;
        const caPath = (index: number) => `/data/${FILES_DIR}/federation-ca-${index}.pem`;
        const caFiles = federation.apply((settings) => Object.fromEntries(settings.trustedCaCertificates.map((pem, index) => [`federation-ca-${index}.pem`, caFile(pem)])));
        // The replication secret reaches every process as a file next to the CA roots.
        const replicationSecretFile = `/data/${FILES_DIR}/replication-secret`;
        // So does the TURN server's shared secret.
        const turnSecretFile = `/data/${FILES_DIR}/turn-secret`;
        const files = pulumi
            .all([caFiles, bus?.replicationSecret, turn?.sharedSecret])
            .apply(([roots, replication, turnSecret]) => ({
                ...roots,
                ...(replication !== undefined ? { "replication-secret": replication } : {}),
                ...(turnSecret !== undefined ? { "turn-secret": `${turnSecret}\n` } : {}),
            }));
        const workerBus = bus ?? swarmBus;
        const workerSettings = workerBus
            ? pulumi.all([containerName, workerBus.redisHost]).apply(([mainHost, redisHost]) => ({
                  // On a swarm, a Swarm secret: workers on other nodes have no data volume.
                  shared: sharedWorkerConfig(workers, { mainHost, redisHost, replicationSecretPath: placement ? SWARM_FILES.replicationSecret : replicationSecretFile }),
                  listeners: mainWorkerListeners(),
              }))
            : undefined;
        // Secret as a whole: extraConfig may hold secret values (an SMTP password set with `config set --secret`).
        const overlay = pulumi.secret(
            pulumi
                .all([args.publicBaseUrl ?? url.apply((base) => `${base}/`), reportStats, args.extraConfig ?? {}, database?.synapseConfig, federation, caFiles, workerSettings, turn?.uris])
                .apply(([publicBaseUrl, stats, extraConfig, databaseConfig, federated, roots, workerConfig, turnUris]) =>
                    renderOverlay({
                        publicBaseUrl,
                        reportStats: stats,
                        extraConfig,
                        behindEdge: edge !== undefined,
                        database: databaseConfig,
                        federation: {
                            enabled: federated.enabled,
                            allowList: federated.allowList,
                            caFiles: Object.keys(roots).map((_, index) => caPath(index)),
                            allowPrivateRanges: federated.allowPrivateRanges,
                        },
                        workers: workerConfig,
                        turn: turnUris ? { uris: turnUris, sharedSecretPath: turnSecretFile } : undefined,
                        metrics: args.monitoring !== undefined,
                    }),
                ),
        );

        // Named by its keyed fingerprint: the label and the file name say "changed" or "same", nothing of the content.
        const configFingerprint = fingerprint(overlay, key);
        const overlayFile = configFingerprint.apply(overlayPath);
        const homeserverConfig = overlayFile.apply(configPaths);

        const backupsEnabled = args.backups?.enabled !== false;
        const backupDirectory =
            !backupsEnabled
                ? pulumi.output("")
                : pulumi.output(args.backups?.directory ?? containerName.apply((container) => path.join("backups", container))).apply((folder) => path.resolve(folder));
        // Before an image change the running homeserver is backed up; generate, and so everything after it, waits.
        const upgradeBackup =
            !backupsEnabled
                ? undefined
                : new UpgradeBackup(
                      `${name}-upgrade-backup`,
                      {
                          // The image actually resolved: a reference that cannot be had takes no backup.
                          image: image.imageId,
                          imageReference,
                          containerName,
                          swarm: placement !== undefined,
                          volumeName: data.volumeName,
                          serverName: args.serverName,
                          directory: backupDirectory,
                          keep: args.backups?.keep,
                          stack,
                      },
                      { parent: this },
                  );
        const generate = new GenerateConfig(
            `${name}-generate`,
            {
                image: image.imageId,
                serverName: args.serverName,
                reportStats,
                timezone,
                uid,
                gid,
                volumeName: data.volumeName,
                containerName: pulumi.interpolate`${containerName}-generate`,
                overlay,
                overlayPath: overlayFile,
                keepOverlaysOf: [containerName],
                files,
                labels: ownerLabels(project, stack, "generate"),
                fingerprintKey: key,
            },
            // The order is backup, generate, port, homeserver: the backup holds the config the old homeserver ran with.
            { parent: this, dependsOn: upgradeBackup ? [upgradeBackup] : [] },
        );

        // SQLite data moves into the new PostgreSQL database before the homeserver restarts on it.
        const port =
            database && databaseNetwork
                ? new PortToPostgres(
                      `${name}-port`,
                      {
                          image: image.imageId,
                          containerName,
                          volumeName: data.volumeName,
                          serverName: args.serverName,
                          user: pulumi.interpolate`${uid}:${gid}`,
                          networkName: databaseNetwork.name,
                          databaseConfig: database.synapseConfig,
                          needed: generate.sqliteData,
                      },
                      { parent: this, dependsOn: [database.ready] },
                  )
                : undefined;

        // Workers on another shared config stop before main restarts (StaleWorkersStop says why); with PostgreSQL,
        // where workers can run, so that going back to one process stops them too before main restarts alone.
        const staleWorkers = database && !placement ? new StaleWorkersStop(`${name}-stale-workers`, { sharedFingerprint: configFingerprint, labels }, { parent: this }) : undefined;

        const processes =
            placement && database
                ? new SwarmProcesses(
                      `${name}-processes`,
                      {
                          image: image.name,
                          mainName: containerName,
                          volumeName: data.volumeName,
                          serverName: args.serverName,
                          overlay,
                          replicationSecret: swarmBus?.replicationSecret,
                          workers: counts ? swarmWorkerServices(counts) : [],
                          federation: args.federation?.enabled ?? DEFAULTS.federation.enabled,
                          trustedCaFiles: Array.isArray(trusted) ? trusted.map((pem, index) => ({ path: caPath(index), content: pulumi.output(pem).apply(caFile) })) : [],
                          networks: [
                              ...[network, databaseNetwork, busNetwork].filter((item): item is docker.Network => item !== undefined).map((item) => ({ id: item.id })),
                              // To reach peers on the federation network by their names.
                              ...(federationNetworkId ? [{ id: federationNetworkId }] : []),
                          ],
                          dataConstraint: placement.data,
                          workerConstraints: placement.workers,
                          dataNodeCheck: afterDataNode,
                          uid,
                          gid,
                          timezone,
                          hardening: {
                              ...HOMESERVER_HARDENING,
                              memoryMb: typeof args.memoryLimitMb === "number" ? args.memoryLimitMb : undefined,
                              cpus: typeof args.cpuLimit === "string" ? args.cpuLimit : undefined,
                          },
                          sharedFingerprint: fingerprint(workerSettings ? workerSettings.apply((settings) => JSON.stringify(settings.shared)) : "{}", key),
                          prerequisites: [database.ready, ...(port ? [port.step] : [])],
                          generateRunId: generate.runId,
                          generate,
                          labels,
                          fingerprintKey: key,
                      },
                      { parent: this },
                  )
                : undefined;
        if (processes && database) {
            // The secrets and configs no service names any more, once every rollout has completed.
            const services = [processes.main, ...processes.workers];
            sweepUnused(
                `${name}-sweep`,
                { current: services.map((service) => pulumi.jsonStringify(service.taskSpec.containerSpec.apply((spec) => [spec.secrets, spec.configs]))), after: [database.ready, ...processes.ready], labels },
                this,
            );
        }

        const container = processes
            ? undefined
            : new docker.Container(
            `${name}-homeserver`,
            {
                name: containerName,
                image: image.imageId,
                // Not root at all: the image then runs Synapse directly (no UID/GID switch), so no capability is needed.
                user: pulumi.interpolate`${uid}:${gid}`,
                command: homeserverConfig.apply((paths) => ["run", ...paths.flatMap((configPath) => ["--config-path", configPath])]),
                envs: [pulumi.interpolate`TZ=${timezone}`],
                volumes: [{ volumeName: data.volumeName, containerPath: "/data" }],
                // Behind the edge, published nowhere. Else loopback unless configured otherwise: a homeserver without
                // TLS should not face the network by accident.
                ports: edge ? [] : [{ internal: 8008, external: httpPort, ip: bindAddress, protocol: "tcp" }],
                networksAdvanced: [
                    ...(network ? [{ name: network.name }] : []),
                    ...(databaseNetwork ? [{ name: databaseNetwork.name }] : []),
                    ...(bus ? [{ name: bus.networkName }] : []),
                    ...(metricsNetwork ? [{ name: metricsNetwork.name }] : []),
                    // To reach peers on a federation network by their names.
                    ...(args.federation?.network ? [{ name: args.federation.network }] : []),
                ],
                restart: "unless-stopped",
                // For `docker ps` and monitoring, as the image's own check. `up` does not wait on it: the admin step
                // polls Synapse itself every quarter second, where Docker's probe interval would add up to a whole one.
                healthcheck: {
                    tests: ["CMD", "curl", "-fSs", "http://localhost:8008/health"],
                    interval: "5s",
                    timeout: "5s",
                    startPeriod: "5s",
                    retries: 3,
                },
                wait: false,
                // Stopped with SIGTERM and time to finish requests and flush the database; unset, the provider kills it.
                destroyGraceSeconds: 30,
                ...containerHardening({ ...HOMESERVER_HARDENING, memoryMb: args.memoryLimitMb, cpus: args.cpuLimit }),
                labels: [
                    ...labelList(ownerLabels(project, stack, "homeserver")),
                    // Data flow from generate: the homeserver starts on prepared data, and restarts when its config changes.
                    { label: `${LABEL_PREFIX}.generated`, value: generate.runId },
                    { label: `${LABEL_PREFIX}.config`, value: configFingerprint },
                ],
            },
            // Fixed name and host port: the old container must go before its replacement can start. The provider
            // plans a changed healthcheck as an update it never applies: only a new container takes it.
            {
                parent: this,
                deleteBeforeReplace: true,
                replaceOnChanges: ["healthcheck"],
                // The backup of the old homeserver, PostgreSQL answering with its password, SQLite data moved.
                dependsOn: [
                    ...(upgradeBackup ? [upgradeBackup] : []),
                    ...(database ? [database.ready] : []),
                    ...(port ? [port.step] : []),
                    ...(staleWorkers ? [staleWorkers] : []),
                ],
            },
        );

        if (container) {
            new PidsLimit(`${name}-pids`, { containerName: container.name, containerId: container.id, limit: HOMESERVER_HARDENING.pidsLimit }, { parent: this });
        }
        // The running main process the admin step reaches: the container, or on a swarm its task on the data node.
        const main = container
            ? { name: container.name, id: container.id, image: container.image }
            : { name: processes!.mainContainer, id: processes!.mainContainer, image: image.imageId };

        // Workers refuse to start before main has migrated the database: they wait until main answers /health.
        const workerSet =
            workers.length > 0 && bus && container
                ? new Workers(
                `${name}-workers`,
                {
                    processes: workers,
                    image: image.imageId,
                    containerName,
                    volumeName: data.volumeName,
                    configPaths: homeserverConfig,
                    networks: [
                        ...(network ? [network.name] : []),
                        ...(databaseNetwork ? [databaseNetwork.name] : []),
                        bus.networkName,
                        ...(metricsNetwork ? [metricsNetwork.name] : []),
                        ...(args.federation?.network ? [args.federation.network] : []),
                    ],
                    federation: args.federation?.enabled ?? DEFAULTS.federation.enabled,
                    uid,
                    gid,
                    timezone,
                    hardening: HOMESERVER_HARDENING,
                    labels,
                    fingerprintKey: key,
                    sharedFingerprint: configFingerprint,
                },
                { parent: this, dependsOn: [awaitHealthy(`${name}-main-ready`, [container], 8008, this)] },
            )
                : undefined;


        const monitoring =
            args.monitoring && metricsNetwork && prometheusNetwork
                ? new Monitoring(
                      `${name}-monitoring`,
                      {
                          ...args.monitoring,
                          containerName,
                          serverName: args.serverName,
                          networkName: metricsNetwork.name,
                          publishNetworkName: prometheusNetwork.name,
                          volumeName: ledger.recordedName(volumeNames["monitoring.volumeName"]!),
                          synapse: containerName.apply((main) => [
                              { process: "main", address: `${main}:${METRICS_PORT}` },
                              ...workers.map((worker) => ({ process: worker.name, address: `${main}-${worker.name}:${METRICS_PORT}` })),
                          ]),
                          database:
                              database && databaseNetwork
                                  ? { address: pulumi.interpolate`${database.host}:5432`, networkName: databaseNetwork.name, password: database.synapseConfig.apply((config) => String(config.args.password)) }
                                  : undefined,
                          edge: edge
                              ? { metrics: pulumi.interpolate`${edge.containerName}:${EDGE_METRICS_PORT}`, tls: pulumi.interpolate`${edge.containerName}:443`, host: args.edge?.publicHost ?? args.serverName }
                              : undefined,
                          volumes: [data.volumeName, ...(database ? [database.volumeName] : []), ...(edge ? [edge.volumeName] : [])],
                          backupDirectory,
                          exporterImage: image.imageId,
                          labels,
                          fingerprintKey: key,
                      },
                      // Its targets first: a scrape of a process that is not there yet would count as one down.
                      { parent: this, dependsOn: [...(container ? [container] : []), ...(workerSet?.ready ? [workerSet.ready] : [])] },
                  )
                : undefined;

        const admin = new Admin(
            `${name}-admin`,
            {
                containerName: main.name,
                containerId: main.id,
                service: processes?.main.name,
                uid,
                gid,
                configPaths: homeserverConfig,
                adminUser: args.adminUser,
                adminUserId: pulumi.interpolate`@${args.adminUser ?? DEFAULTS.adminUser}:${args.serverName}`,
                passwordVersion: args.adminPasswordVersion,
                fingerprintKey: key,
            },
            // Main's writes of a stream a worker writes (the admin's account data, its device) wait for that worker.
            { parent: this, dependsOn: workerSet?.ready ? [workerSet.ready] : (processes?.ready ?? []) },
        );

        this.url = url;
        this.serverName = generate.serverName;
        this.adminUserId = admin.userId;
        this.adminPassword = admin.password;
        this.volumeName = data.volumeName;
        this.containerName = container ? container.name : processes!.main.name;
        this.image = pulumi.all([imageReference, main.image]).apply(([reference, id]) => ({ reference, id }));
        // As the running homeserver reads it: after a restore, the restored key.
        this.signingKeyId = admin.signingKeyId;
        this.database = pulumi.output<DatabaseKind>(database ? DatabaseKind.Postgres : DatabaseKind.Sqlite);
        this.databaseVolumeName = database ? database.volumeName : pulumi.output<string | undefined>(undefined);
        this.wellKnownServer = edge ? edge.wellKnownServer : pulumi.output<string | undefined>(undefined);
        this.wellKnownClient = edge ? edge.wellKnownClient : pulumi.output<string | undefined>(undefined);
        this.caCertificate = edge ? edge.caCertificate : pulumi.output<string | undefined>(undefined);
        this.lastBackup = upgradeBackup ? upgradeBackup.archive : pulumi.output("");
        this.backupDirectory = backupDirectory;
        this.prometheusUrl = monitoring ? monitoring.url : pulumi.output<string | undefined>(undefined);
        this.registerOutputs({
            prometheusUrl: this.prometheusUrl,
            url: this.url,
            serverName: this.serverName,
            adminUserId: this.adminUserId,
            adminPassword: this.adminPassword,
            volumeName: this.volumeName,
            containerName: this.containerName,
            image: this.image,
            signingKeyId: this.signingKeyId,
            database: this.database,
            databaseVolumeName: this.databaseVolumeName,
            lastBackup: this.lastBackup,
            backupDirectory: this.backupDirectory,
            wellKnownServer: this.wellKnownServer,
            wellKnownClient: this.wellKnownClient,
            caCertificate: this.caCertificate,
        });
    }
}
