// The public entry point of the package: what a Pulumi program builds a homeserver from. Everything a program (the
// stack program of this repository included) may use is exported here, and nothing else is part of the interface.
export { Homeserver, HOMESERVER_HARDENING, hostForUrl } from "./homeserver/homeserver";
export {
    type BackupsArgs,
    DatabaseKind,
    type FederationArgs,
    type HomeserverArgs,
    type HomeserverImage,
    type PostgresArgs,
    type SwarmArgs,
    type WorkersArgs,
} from "./homeserver/args";
export { labelConstraint, NODE_LABEL, NODE_LABEL_FORM, Platform, SWARM_PUBLISHING, SWARM_REFUSALS, SWARM_WORKER_KINDS, swarmWorkerServices, type SwarmWorkerService } from "./swarm/placement";
export { overlayProblem } from "./swarm/networks";
export { renderOverlay, type DatabaseConfig, type OverlaySettings } from "./homeserver/overlay";
export {
    accepts,
    DEFAULTS,
    federationPortRule,
    isCidr,
    isDnsName,
    isLoopback,
    isTimeZone,
    MIN_MEMORY_MB,
    OWNED_CONFIG_KEYS,
    type OwnedConfigKey,
    TURN_CONFIG_KEYS,
    postgresMajor,
    type Rule,
    RULES,
} from "./homeserver/rules";
export { swarmProblems, validateHomeserverArgs } from "./homeserver/validate";
export { Database, type DatabaseArgs, passwordStatements, scramVerifier } from "./database/database";
export { Edge, type EdgeArgs, type EdgeOptions } from "./edge/edge";
export { type EdgeSettings, parseSize, renderCaddyfile, TlsMode, wellKnown } from "./edge/caddyfile";
export { DataVolume, type DataVolumeArgs, foreignVolumes, VolumeLedger, type VolumeLedgerArgs, type VolumeOwners } from "./storage/storage";
export { CADDY_IMAGE, POSTGRES_EXPORTER_IMAGE, POSTGRES_IMAGE, PROMETHEUS_IMAGE, REDIS_IMAGE, SYNAPSE_IMAGE, TURN_IMAGE } from "./runtime/images";
export {
    countProblems,
    MAX_WORKERS,
    RESTART_ALL_KINDS,
    SERVING_KINDS,
    sharedWorkerConfig,
    STREAM_OF,
    WORKER_KINDS,
    type WorkerCountKey,
    type WorkerCounts,
    workerConfig,
    workerCounts,
    type WorkerKind,
    type WorkerProcess,
    workerProcesses,
    WorkersPreset,
} from "./workers/kinds";
export { Balance, type Route, routeFor, ROUTES, renderRoutes } from "./workers/routes";
export { WorkerBus, type WorkerBusArgs, Workers, type WorkerProcessesArgs, workerUpstreams } from "./workers/workers";
export { Turn, type TurnArgs, type TurnCertificateSource, TURN_HARDENING, type TurnOptions } from "./turn/turn";
export {
    allowedIntoStack,
    cidrRange,
    cidrsOverlap,
    DENIED_PEER_RANGES,
    isAllowablePeerRange,
    MAX_RELAY_PORTS,
    relayPortRange,
    renderTurnConfig,
    type TurnServerSettings,
    turnUris,
} from "./turn/turnserver";
export { Monitoring, type MonitoringArgs, type MonitoredDatabase, type MonitoringOptions, PROMETHEUS_HARDENING } from "./monitoring/monitoring";
export { CONSOLE_FILES, monitoringAsset, type PrometheusSettings, prometheusFlags, renderPrometheusConfig, type SynapseTarget } from "./monitoring/prometheus";
export { LABEL_PREFIX } from "./runtime/labels";
export { argumentError, userError } from "./runtime/errors";
