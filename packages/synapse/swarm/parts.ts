// A homeserver's long-running parts as Docker Swarm services: PostgreSQL, Redis, the edge, main and each worker kind.
// The data node is the manager the provider talks to, so the volumes, the files written into them and the one-shot
// steps are the single-engine code's, run there; what a task on another node reads comes as Swarm secrets and configs.
// Over 300 lines: the swarm counterparts of four single-engine components, kept side by side so that the one rule they
// share (the data node is the manager) reads in one place; each is short, and a file each would import the same ten.
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { DATABASE_HARDENING, PGDATA, passwordStep, synapseDatabaseConfig, VOLUME_PATH } from "../database/database";
import { CA_ROOT_PATH, CADDYFILE_PATH, EDGE_DATA, HEALTH_PORT, wellKnown } from "../edge/caddyfile";
import { EDGE_HARDENING, type EdgeArgs, edgeCaddyfile, edgeFiles } from "../edge/edge";
import type { DatabaseConfig } from "../homeserver/overlay";
import { DEFAULTS } from "../homeserver/rules";
import type { Hardening } from "../runtime/hardening";
import { helperCommand } from "../runtime/helper";
import { imageResource } from "../runtime/images";
import { fingerprint, shellQuote } from "../runtime/scripts";
import { WORKER_HTTP_PORT, workerConfig } from "../workers/kinds";
import { REDIS_COMMAND, REDIS_HARDENING, SHARED_LABEL } from "../workers/workers";
import { labelConstraint, type SwarmWorkerService } from "./placement";
import { contentConfig, contentSecret, serviceFile, type ServiceFile } from "./files";
import { rolloutWait, staleWorkersStop, swarmService, type SwarmNetwork, taskContainer } from "./service";

type Owner = { project: string; stack: string };

/** Where the secrets every Synapse process reads are, in its tasks. */
export const SWARM_FILES = {
    overlay: "/run/secrets/synapse-overlay.yaml",
    replicationSecret: "/run/secrets/synapse-replication-secret",
    homeserverYaml: "/run/secrets/synapse-homeserver.yaml",
    signingKey: "/run/secrets/synapse-signing.key",
    workerFile: "/synapse-stack-worker.yaml",
    databasePassword: "/run/secrets/postgres-password",
} as const;

const fileName = (path: string) => path.slice("/run/secrets/".length);

export interface SwarmDatabaseArgs {
    image: pulumi.Input<string>;
    /** The data volume (on the data node), recorded by the homeserver's ledger. */
    volumeName: pulumi.Input<string>;
    serviceName: pulumi.Input<string>;
    networkId: pulumi.Input<string>;
    dataConstraint: string;
    labels: Owner;
    fingerprintKey: pulumi.Input<string>;
    /** The data node check, which its password secret waits for. */
    dataNodeCheck: pulumi.Resource[];
}

/** PostgreSQL as a service pinned to the data node, its password a Swarm secret read by initdb and set on every start. */
export class SwarmDatabase extends pulumi.ComponentResource {
    public readonly synapseConfig: pulumi.Output<DatabaseConfig>;
    public readonly host: pulumi.Output<string>;
    public readonly volumeName: pulumi.Output<string>;
    /** Done once the server answers with the password set. */
    public readonly ready: command.local.Command;

    constructor(name: string, args: SwarmDatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synapse:swarm:Database", name, {}, opts);
        const password = new random.RandomPassword(`${name}-password`, { length: 32, special: false }, { parent: this });
        const image = imageResource(`${name}-image`, args.image, this);
        const secret = contentSecret(`${name}-password-secret`, { prefix: pulumi.interpolate`${args.serviceName}-password`, content: password.result, fingerprintKey: args.fingerprintKey, labels: { ...args.labels, role: "database" } }, this, args.dataNodeCheck);
        const service = swarmService(
            `${name}-service`,
            {
                name: args.serviceName,
                image: image.name,
                user: "999:999",
                env: {
                    POSTGRES_USER: "synapse",
                    POSTGRES_DB: "synapse",
                    POSTGRES_PASSWORD_FILE: SWARM_FILES.databasePassword,
                    // Synapse refuses any other encoding or locale; initdb in a bare Debian root would pick SQL_ASCII.
                    POSTGRES_INITDB_ARGS: "--encoding=UTF8 --locale=C",
                    PGDATA,
                },
                volumes: [{ source: args.volumeName, target: VOLUME_PATH }],
                secrets: [serviceFile(secret, fileName(SWARM_FILES.databasePassword))],
                fileOwner: { uid: 999, gid: 999 },
                networks: [{ id: args.networkId }],
                health: { tests: ["pg_isready", "--host=127.0.0.1", "--username=synapse", "--dbname=synapse"] },
                hardening: DATABASE_HARDENING,
                constraints: [args.dataConstraint],
                order: "stop-first",
                stopGracePeriod: "1m",
                stopSignal: "SIGINT",
                labels: { ...args.labels, role: "database" },
            },
            { parent: this },
        );
        const server = taskContainer(`${name}-task`, service, this, [rolloutWait(`${name}-rollout`, service, this)]);
        this.ready = passwordStep(`${name}-password-apply`, { server, password: password.result, fingerprintKey: args.fingerprintKey, trigger: server }, this);
        this.synapseConfig = synapseDatabaseConfig(args.serviceName, password.result);
        this.host = service.name;
        this.volumeName = pulumi.output(args.volumeName);
        this.registerOutputs({});
    }
}

export interface SwarmBusArgs {
    image: pulumi.Input<string>;
    serviceName: pulumi.Input<string>;
    networkId: pulumi.Input<string>;
    dataConstraint: string;
    labels: Owner;
    /** What Redis is made after and deleted before, as WorkerBus's `after` (the volume ledger). */
    after: pulumi.Resource[];
}

/** Redis for the workers, pinned to the data node (it holds nothing worth keeping), and the replication secret. */
export class SwarmBus extends pulumi.ComponentResource {
    public readonly redisHost: pulumi.Output<string>;
    public readonly replicationSecret: pulumi.Output<string>;
    public readonly service: docker.Service;

    constructor(name: string, args: SwarmBusArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synapse:swarm:WorkerBus", name, {}, opts);
        const image = imageResource(`${name}-redis-image`, args.image, this);
        this.service = swarmService(
            `${name}-redis`,
            {
                name: args.serviceName,
                image: image.name,
                user: "999:999",
                args: REDIS_COMMAND,
                networks: [{ id: args.networkId }],
                health: { tests: ["redis-cli", "ping"] },
                hardening: REDIS_HARDENING,
                constraints: [args.dataConstraint],
                order: "stop-first",
                stopGracePeriod: "10s",
                labels: { ...args.labels, role: "redis" },
            },
            { parent: this, dependsOn: args.after },
        );
        rolloutWait(`${name}-redis-rollout`, this.service, this);
        this.redisHost = this.service.name;
        this.replicationSecret = new random.RandomPassword(`${name}-replication-secret`, { length: 40, special: false }, { parent: this }).result;
        this.registerOutputs({});
    }
}

export interface SwarmEdgeArgs extends EdgeArgs {
    serviceName: pulumi.Input<string>;
    volumeName: pulumi.Input<string>;
    networkId: pulumi.Input<string>;
    /** The federation network, where peers find the edge by the homeserver's names (its aliases). */
    federationNetwork?: SwarmNetwork;
    dataConstraint: string;
    fingerprintKey: pulumi.Input<string>;
}

/** The edge as a service on the data node, its ports published there in host mode, its files in its volume there. */
export class SwarmEdge extends pulumi.ComponentResource {
    public readonly url: pulumi.Output<string>;
    public readonly wellKnownServer: pulumi.Output<string>;
    public readonly wellKnownClient: pulumi.Output<string>;
    public readonly caCertificate: pulumi.Output<string | undefined>;
    public readonly service: docker.Service;
    /** The service's name (what a single engine's edge container name is). */
    public readonly containerName: pulumi.Output<string>;
    public readonly volumeName: pulumi.Output<string>;

    constructor(name: string, args: SwarmEdgeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synapse:swarm:Edge", name, {}, opts);
        const image = imageResource(`${name}-image`, args.image ?? DEFAULTS.edge.image, this);
        const files = edgeFiles(name, { ...args, caddyfile: edgeCaddyfile(args), image: image.imageId, volumeName: args.volumeName, fingerprintKey: args.fingerprintKey }, this);
        const publicHost = pulumi.output(args.publicHost ?? args.serverName);
        const httpsPort = pulumi.output(args.httpsPort ?? DEFAULTS.edge.httpsPort);
        const federationPort = pulumi.output(args.federationPort ?? DEFAULTS.edge.federationPort);
        this.service = swarmService(
            `${name}-service`,
            {
                name: args.serviceName,
                image: image.name,
                args: ["caddy", "run", "--config", CADDYFILE_PATH, "--adapter", "caddyfile"],
                env: {
                    // Data flow from the written files: Caddy starts on them, and rolls when they change.
                    SYNAPSE_STACK_FILES: fingerprint(pulumi.concat(...files.map((file) => file.fingerprint)), args.fingerprintKey),
                },
                volumes: [{ source: args.volumeName, target: EDGE_DATA }],
                networks: [{ id: args.networkId }, ...(args.federationNetwork ? [args.federationNetwork] : [])],
                health: { tests: ["wget", "-q", "-O", "/dev/null", `http://127.0.0.1:${HEALTH_PORT}/health`] },
                hardening: EDGE_HARDENING,
                constraints: [args.dataConstraint],
                ports: pulumi.all([httpsPort, federationPort]).apply(([https, federation]) => [
                    { target: 443, published: https },
                    ...(federation && args.federation !== false ? [{ target: 8448, published: federation }] : []),
                ]),
                // Its ports are on the data node: the old task must free them first.
                order: "stop-first",
                stopGracePeriod: "10s",
                labels: { ...args.labels, role: "edge" },
            },
            { parent: this },
        );
        const rollout = rolloutWait(`${name}-rollout`, this.service, this);
        if (args.tls === "internal") {
            const edge = taskContainer(`${name}-task`, this.service, this, [rollout]);
            const root = new command.local.Command(`${name}-ca`, { create: pulumi.interpolate`docker exec ${edge.apply(shellQuote)} cat ${CA_ROOT_PATH}`, triggers: [edge] }, { parent: this });
            this.caCertificate = root.stdout.apply((pem) => `${pem.trim()}\n`);
        } else {
            this.caCertificate = pulumi.output<string | undefined>(undefined);
        }
        const documents = pulumi.all([publicHost, httpsPort, federationPort]).apply(([host, https, federation]) => wellKnown({ publicHost: host, httpsPort: https, federationPort: federation }));
        this.url = pulumi.all([publicHost, httpsPort]).apply(([host, port]) => `https://${host}${port === 443 ? "" : `:${port}`}`);
        this.wellKnownServer = documents.server;
        this.wellKnownClient = documents.client;
        this.containerName = this.service.name;
        this.volumeName = pulumi.output(args.volumeName);
        this.registerOutputs({ url: this.url });
    }
}

export interface SwarmProcessesArgs {
    /** The Synapse image reference (resolved on the data node first). */
    image: pulumi.Input<string>;
    mainName: pulumi.Input<string>;
    volumeName: pulumi.Input<string>;
    serverName: pulumi.Input<string>;
    overlay: pulumi.Input<string>;
    /** The replication secret, with workers. */
    replicationSecret?: pulumi.Input<string>;
    workers: readonly SwarmWorkerService[];
    federation: boolean;
    /**
     * The CA roots federation trusts, by the path the overlay names them at (in the data volume): workers on other
     * nodes have no data volume, so theirs come as Swarm configs at the same paths.
     */
    trustedCaFiles: { path: string; content: pulumi.Input<string> }[];
    networks: SwarmNetwork[];
    dataConstraint: string;
    workerConstraints: string[];
    uid: pulumi.Input<number>;
    gid: pulumi.Input<number>;
    timezone: pulumi.Input<string>;
    hardening: Hardening;
    /** The keyed fingerprint of the worker keys every process shares: a change stops the workers before main rolls. */
    sharedFingerprint: pulumi.Input<string>;
    /**
     * What main starts after besides generate (the database's password, the port), which stopping the workers waits
     * for too; main's tasks carry their ids with generate's run, so main rolls when generate ran again.
     */
    prerequisites: pulumi.CustomResource[];
    /** generate's run id, the one output of generate main takes. */
    generateRunId: pulumi.Input<string>;
    /**
     * The generate step, after which the generated config and key are read (once per data volume). Only ordered after
     * it, taking none of its outputs: generate is replaced delete-first whenever it runs again, and Pulumi would then
     * delete first whatever takes its outputs, the secrets a running service uses included, which Docker refuses.
     */
    generate: pulumi.Resource;
    labels: Owner;
    fingerprintKey: pulumi.Input<string>;
    /** The data node check, which its secrets and configs wait for. */
    dataNodeCheck: pulumi.Resource[];
}

/** Main (pinned to the data node with the data volume) and one replicated service per worker kind. */
export class SwarmProcesses extends pulumi.ComponentResource {
    public readonly main: docker.Service;
    /** main's running task container, for the admin step. */
    public readonly mainContainer: pulumi.Output<string>;
    public readonly workers: docker.Service[];
    /** Main's rollout and each worker service's, completed. */
    public readonly ready: pulumi.Resource[];

    constructor(name: string, args: SwarmProcessesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synapse:swarm:Processes", name, {}, opts);
        const secret = (role: string, content: pulumi.Input<string>) =>
            contentSecret(`${name}-${role}`, { prefix: pulumi.interpolate`${args.mainName}-${role}`, content, fingerprintKey: args.fingerprintKey, labels: { ...args.labels, role } }, this, args.dataNodeCheck);
        const overlay = serviceFile(secret("overlay", args.overlay), fileName(SWARM_FILES.overlay));
        const replication = args.replicationSecret === undefined ? [] : [serviceFile(secret("replication", args.replicationSecret), fileName(SWARM_FILES.replicationSecret))];
        const owner = { uid: args.uid, gid: args.gid };
        const user = pulumi.interpolate`${args.uid}:${args.gid}`;
        const after = pulumi.all([args.generateRunId, ...args.prerequisites.map((step) => step.id)]).apply((ids) => ids.join(" "));
        const run = (paths: string[], module?: string) => ["run", ...(module ? ["-m", module] : []), ...paths.flatMap((path) => ["--config-path", path])];
        // After what main waits for (the upgrade backup, generate, the database, the port): a step failing before main's
        // rollout leaves the workers running.
        const stale = staleWorkersStop(`${name}-stale-workers`, { sharedFingerprint: args.sharedFingerprint, mainName: args.mainName, labels: args.labels }, this, [
            ...args.dataNodeCheck,
            args.generate,
            ...args.prerequisites,
        ]);
        this.main = swarmService(
            `${name}-main`,
            {
                name: args.mainName,
                image: args.image,
                user,
                args: run(["/data/homeserver.yaml", SWARM_FILES.overlay]),
                env: { TZ: args.timezone, SYNAPSE_STACK_AFTER: after },
                volumes: [{ source: args.volumeName, target: "/data" }],
                secrets: [overlay, ...replication],
                fileOwner: owner,
                networks: args.networks,
                // Swarm kills a task whose check fails past its start period, and a rollout then rolls back: main's
                // start (migrations first) may take minutes on a busy host. A passing check ends the period at once.
                // Written as the provider reads it back (its shortDur: "5m", not "300s"), or every preview would differ.
                health: { tests: ["curl", "-fSs", "http://localhost:8008/health"], startPeriod: "5m" },
                hardening: args.hardening,
                constraints: [args.dataConstraint],
                order: "stop-first",
                stopGracePeriod: "30s",
                labels: { ...args.labels, role: "homeserver" },
            },
            { parent: this, dependsOn: [stale] },
        );
        const mainRollout = rolloutWait(`${name}-main-rollout`, this.main, this);
        this.mainContainer = taskContainer(`${name}-main-task`, this.main, this, [mainRollout]);

        // What workers on other nodes read of the data volume: the generated config and the signing key, as secrets.
        const generated = (role: string, path: pulumi.Input<string>) =>
            new command.local.Command(
                `${name}-read-${role}`,
                {
                    create: pulumi.all([args.image, args.volumeName, path, user]).apply(([image, volume, file, runAs]) =>
                        helperCommand({ image, entrypoint: "cat", args: [file], user: runAs, hardening: { pidsLimit: 16, tmpfs: {} }, mounts: [{ volume, target: "/data" }] }),
                    ),
                    logging: "stderr",
                    triggers: [args.volumeName],
                },
                { parent: this, additionalSecretOutputs: ["stdout"], dependsOn: [args.generate] },
            ).stdout;
        const workerSecrets: ServiceFile[] =
            args.workers.length === 0
                ? []
                : [
                      overlay,
                      ...replication,
                      serviceFile(secret("homeserver-yaml", generated("homeserver-yaml", "/data/homeserver.yaml")), fileName(SWARM_FILES.homeserverYaml)),
                      serviceFile(secret("signing-key", generated("signing-key", pulumi.interpolate`/data/${args.serverName}.signing.key`)), fileName(SWARM_FILES.signingKey)),
                  ];
        const caRoots =
            args.workers.length === 0
                ? []
                : args.trustedCaFiles.map((file, index) =>
                      serviceFile(
                          contentConfig(`${name}-federation-ca-${index}`, { prefix: pulumi.interpolate`${args.mainName}-federation-ca-${index}`, content: file.content, fingerprintKey: args.fingerprintKey, labels: { ...args.labels, role: "federation-ca" } }, this, args.dataNodeCheck),
                          file.path,
                      ),
                  );
        this.workers = args.workers.map((worker) => {
            // The media worker writes the media store in the data volume: on the data node, with it.
            const media = worker.kind === "media";
            const file = contentConfig(
                `${name}-${worker.name}-config`,
                {
                    prefix: pulumi.interpolate`${args.mainName}-${worker.name}`,
                    // The key and logs are not in the data volume on a worker's node: the secret's key, logs to stderr.
                    content: JSON.stringify({ ...workerConfig(worker, args.federation), signing_key_path: SWARM_FILES.signingKey, log_config: null }, null, 2),
                    fingerprintKey: args.fingerprintKey,
                    labels: { ...args.labels, role: "worker" },
                },
                this,
                args.dataNodeCheck,
            );
            return swarmService(
                `${name}-${worker.name}`,
                {
                    name: pulumi.interpolate`${args.mainName}-${worker.name}`,
                    image: args.image,
                    user,
                    args: run([SWARM_FILES.homeserverYaml, SWARM_FILES.overlay, SWARM_FILES.workerFile], "synapse.app.generic_worker"),
                    env: { TZ: args.timezone },
                    secrets: workerSecrets,
                    // The media worker reads the CA roots where main does, in the data volume.
                    configs: [serviceFile(file, SWARM_FILES.workerFile), ...(media ? [] : caRoots)],
                    fileOwner: owner,
                    networks: args.networks,
                    health: { tests: ["curl", "-fSs", `http://localhost:${WORKER_HTTP_PORT}/health`], startPeriod: "45s" },
                    volumes: media ? [{ source: args.volumeName, target: "/data" }] : [],
                    // Else no data volume: the media store path Synapse makes at start is scratch. The memory and
                    // CPU limits are main's, as on one engine.
                    hardening: { ...args.hardening, memoryMb: undefined, cpus: undefined, tmpfs: media ? args.hardening.tmpfs : { ...args.hardening.tmpfs, "/data": "rw,nosuid,nodev,size=16m" } },
                    constraints: media ? [args.dataConstraint] : args.workerConstraints,
                    replicas: worker.replicas,
                    order: worker.order,
                    stopGracePeriod: "30s",
                    labels: { ...args.labels, role: "worker" },
                    serviceLabels: { [SHARED_LABEL]: args.sharedFingerprint },
                },
                // Workers refuse to start before main has migrated the database.
                { parent: this, dependsOn: [mainRollout] },
            );
        });
        this.ready = [mainRollout, ...this.workers.map((worker, i) => rolloutWait(`${name}-${args.workers[i].name}-rollout`, worker, this))];
        this.registerOutputs({});
    }
}

/** The data node's constraint and the workers', from the placement labels. */
export function constraintsOf(swarm: { dataNodeLabel: string; workerNodeLabel?: string }): { data: string; workers: string[] } {
    return { data: labelConstraint(swarm.dataNodeLabel), workers: swarm.workerNodeLabel ? [labelConstraint(swarm.workerNodeLabel)] : [] };
}
