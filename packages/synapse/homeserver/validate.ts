// The rules about the Homeserver component's own arguments, checked before it declares anything, so a program built on
// the component gets the refusals the stack's config gets. Only values known when the program runs (not Outputs) can
// be checked here; each problem names the argument, the value (never a secret one) and the accepted form.
import * as pulumi from "@pulumi/pulumi";
import { TlsMode } from "../edge/caddyfile";
import type { HomeserverArgs } from "./args";
import { countProblems, SERVING_KINDS, workerCounts, WorkersPreset } from "../workers/kinds";
import { isWildcard, relayPortRange } from "../turn/turnserver";
import { NODE_LABEL, NODE_LABEL_FORM, Platform, SWARM_PUBLISHING, SWARM_REFUSALS } from "../swarm/placement";
import { accepts, DEFAULTS, federationPortRule, isLoopback, OWNED_CONFIG_KEYS, type Rule, RULES, TURN_CONFIG_KEYS } from "./rules";

/** A value the program gave directly (not an Output, not undefined), which can be checked now. */
function isKnown(value: unknown): boolean {
    // A list holding Outputs (certificates read from peer stacks) is the resources' to check, like an Output itself.
    return value !== undefined && !pulumi.Output.isInstance(value) && !(Array.isArray(value) && value.some((item) => pulumi.Output.isInstance(item)));
}

/** Every problem with the arguments, one line each; empty when they can be deployed. */
export function validateHomeserverArgs(args: HomeserverArgs): string[] {
    const problems: string[] = [];
    const check = (argument: string, value: unknown, rule: Rule): void => {
        if (isKnown(value) && !accepts(rule, value)) {
            problems.push(`${argument} ${JSON.stringify(value)} is not valid: expected ${rule.form}`);
        }
    };
    check("serverName", args.serverName, RULES.dnsName);
    check("image", args.image, RULES.synapseImage);
    check("httpPort", args.httpPort, RULES.port);
    check("bindAddress", args.bindAddress, RULES.address);
    check("publicBaseUrl", args.publicBaseUrl, RULES.publicBaseUrl);
    check("timezone", args.timezone, RULES.timezone);
    check("uid", args.uid, RULES.uid);
    check("gid", args.gid, RULES.gid);
    check("memoryLimitMb", args.memoryLimitMb, RULES.memoryMb);
    check("cpuLimit", args.cpuLimit, RULES.cpus);
    check("adminUser", args.adminUser, RULES.localpart);
    check("adminPasswordVersion", args.adminPasswordVersion, RULES.versionLabel);
    check("volumeName", args.volumeName, RULES.volumeName);
    check("containerName", args.containerName, RULES.containerName);
    check("backups.keep", args.backups?.keep, RULES.backupsToKeep);
    if (args.postgres) {
        check("postgres.image", args.postgres.image, RULES.postgresImage);
        if (isKnown(args.postgres.image) && accepts(RULES.postgresImage, args.postgres.image)) {
            check("postgres.image", args.postgres.image, RULES.postgresRelease);
        }
        check("postgres.volumeName", args.postgres.volumeName, RULES.volumeName);
    }
    const extraConfig = args.extraConfig;
    if (extraConfig !== undefined && !pulumi.Output.isInstance(extraConfig)) {
        for (const key of Object.keys(extraConfig).filter((item): item is keyof typeof OWNED_CONFIG_KEYS => item in OWNED_CONFIG_KEYS)) {
            problems.push(`extraConfig key "${key}" is written by the component: ${OWNED_CONFIG_KEYS[key]}`);
        }
    }
    problems.push(...workerProblems(args));
    problems.push(...turnProblems(args, check));
    problems.push(...monitoringProblems(args, check));
    problems.push(...swarmProblems(args));
    const federation = args.federation;
    if (federation) {
        check("federation.allowList", federation.allowList, RULES.serverNames);
        check("federation.trustedCaCertificates", federation.trustedCaCertificates, RULES.certificates);
        check("federation.allowPrivateRanges", federation.allowPrivateRanges, RULES.cidrs);
        check("federation.network", federation.network, RULES.networkName);
        if (federation.network !== undefined && !args.edge) {
            problems.push("federation.network needs edge: peers reach this homeserver through its TLS edge");
        }
    }
    const edge = args.edge;
    if (!edge) {
        // Synapse would tell clients and other servers to come back to a loopback URL.
        const address = args.bindAddress;
        if (typeof address === "string" && accepts(RULES.address, address) && !isLoopback(address) && args.publicBaseUrl === undefined) {
            problems.push(`bindAddress ${JSON.stringify(address)} publishes the homeserver beyond this host: set publicBaseUrl to the URL clients use`);
        }
        return problems;
    }
    check("edge.tls", edge.tls, RULES.tlsMode);
    if (edge.tls === TlsMode.Files && (edge.certificate === undefined || edge.privateKey === undefined)) {
        const missing = [edge.certificate === undefined ? "edge.certificate" : "", edge.privateKey === undefined ? "edge.privateKey" : ""].filter(Boolean);
        problems.push(`edge.tls files needs ${missing.join(" and ")}: the PEM certificate chain and its private key`);
    }
    if (edge.tls === TlsMode.Acme && edge.acmeEmail === undefined) {
        problems.push("edge.tls acme needs edge.acmeEmail: the contact address Let's Encrypt requires");
    }
    check("edge.publicHost", edge.publicHost, RULES.dnsName);
    check("edge.acmeEmail", edge.acmeEmail, RULES.email);
    check("edge.image", edge.image, RULES.caddyImage);
    check("edge.volumeName", edge.volumeName, RULES.volumeName);
    check("edge.httpsPort", edge.httpsPort, RULES.port);
    check("edge.federationPort", edge.federationPort, federationPortRule("edge.httpsPort"));
    // The defaults count too: httpsPort 8448 with federationPort left at its 8448 would publish one port twice.
    const https = edge.httpsPort ?? DEFAULTS.edge.httpsPort;
    const federationPort = edge.federationPort ?? DEFAULTS.edge.federationPort;
    if (args.federation?.enabled !== false && typeof https === "number" && federationPort === https) {
        problems.push(`edge.federationPort ${federationPort} is edge.httpsPort too: expected another port, or 0 to federate through edge.httpsPort`);
    }
    return problems;
}

/** Worker counts Synapse refuses, and workers without the parts they need. */
function workerProblems(args: HomeserverArgs): string[] {
    const workers = args.workers;
    if (workers === undefined) {
        return [];
    }
    const problems = countProblems(workers, "workers");
    if (workers.preset !== undefined && !(Object.values(WorkersPreset) as string[]).includes(workers.preset)) {
        problems.push(`workers.preset ${JSON.stringify(workers.preset)} is not valid: expected one of ${Object.values(WorkersPreset).join(", ")}`);
    }
    if (isKnown(workers.redisImage) && !accepts(RULES.redisImage, workers.redisImage)) {
        problems.push(`workers.redisImage ${JSON.stringify(workers.redisImage)} is not valid: expected ${RULES.redisImage.form}`);
    }
    if (problems.length > 0) {
        return problems;
    }
    const counts = workerCounts(workers.preset, workers);
    const total = Object.values(counts).reduce((sum, count) => sum + count, 0);
    if (total > 0 && !args.postgres) {
        problems.push("workers needs postgres: Synapse's workers share one PostgreSQL database (they do not run on SQLite)");
    }
    const serving = SERVING_KINDS.filter((kind) => counts[kind] > 0);
    if (serving.length > 0 && !args.edge) {
        problems.push(`workers.${serving.join(", workers.")} needs edge: requests reach those workers only through the edge's routing`);
    }
    return problems;
}

/** Monitoring's values, and extraConfig keys it owns. */
function monitoringProblems(args: HomeserverArgs, check: (argument: string, value: unknown, rule: Rule) => void): string[] {
    const monitoring = args.monitoring;
    if (monitoring === undefined) {
        return [];
    }
    check("monitoring.image", monitoring.image, RULES.prometheusImage);
    check("monitoring.postgresExporterImage", monitoring.postgresExporterImage, RULES.postgresExporterImage);
    check("monitoring.port", monitoring.port, RULES.port);
    check("monitoring.scrapeInterval", monitoring.scrapeInterval, RULES.scrapeInterval);
    check("monitoring.retention", monitoring.retention, RULES.retention);
    check("monitoring.backupMaxAgeHours", monitoring.backupMaxAgeHours, RULES.backupMaxAgeHours);
    check("monitoring.volumeName", monitoring.volumeName, RULES.volumeName);
    const extraConfig = args.extraConfig;
    // Prometheus needs every process's metrics listener: extraConfig may not turn them off.
    return extraConfig !== undefined && !pulumi.Output.isInstance(extraConfig) && "enable_metrics" in extraConfig
        ? ['extraConfig key "enable_metrics" is written by the component with monitoring: every Synapse process serves its metrics to Prometheus']
        : [];
}

/** The TURN server's values, and the combinations it cannot serve. */
function turnProblems(args: HomeserverArgs, check: (argument: string, value: unknown, rule: Rule) => void): string[] {
    const turn = args.turn;
    if (turn === undefined) {
        return [];
    }
    const problems: string[] = [];
    check("turn.image", turn.image, RULES.turnImage);
    check("turn.bindAddress", turn.bindAddress, RULES.address);
    check("turn.externalIp", turn.externalIp, RULES.address);
    check("turn.port", turn.port, RULES.port);
    check("turn.tlsPort", turn.tlsPort, RULES.port);
    check("turn.relayPorts", turn.relayPorts, RULES.relayPorts);
    check("turn.allowPeers", turn.allowPeers, RULES.peerRanges);
    check("turn.network", turn.network, RULES.networkName);
    check("turn.volumeName", turn.volumeName, RULES.volumeName);
    check("turn.containerName", turn.containerName, RULES.containerName);
    if (typeof turn.externalIp === "string" && isWildcard(turn.externalIp)) {
        problems.push(`turn.externalIp ${JSON.stringify(turn.externalIp)} is not an address clients can reach: expected the host's public (or LAN) address, such as 203.0.113.10`);
    }
    const bindAddress = turn.bindAddress ?? DEFAULTS.turn.bindAddress;
    if (typeof bindAddress === "string" && isWildcard(bindAddress) && turn.externalIp === undefined) {
        problems.push(`turn.bindAddress ${JSON.stringify(bindAddress)} publishes on every address, so the TURN server cannot tell clients which one reaches it: set turn.externalIp`);
    }
    // The defaults count too: the listener's port inside the relay range would be published twice.
    const port = turn.port ?? DEFAULTS.turn.port;
    const tlsPort = turn.tlsPort ?? DEFAULTS.turn.tlsPort;
    const relayText = turn.relayPorts ?? DEFAULTS.turn.relayPorts;
    const relay = typeof relayText === "string" ? relayPortRange(relayText) : undefined;
    const listeners: [string, unknown][] = [["turn.port", port], ...(args.edge ? [["turn.tlsPort", tlsPort] as [string, unknown]] : [])];
    for (const [argument, value] of listeners) {
        if (typeof value === "number" && relay && value >= relay.first && value <= relay.last) {
            problems.push(`${argument} ${value} is inside turn.relayPorts ${relay.first}-${relay.last}: expected a port outside the relay range`);
        }
    }
    if (args.edge && typeof port === "number" && port === tlsPort) {
        problems.push(`turn.tlsPort ${tlsPort} is turn.port too: expected another port for TURN over TLS`);
    }
    if (turn.tlsPort !== undefined && !args.edge) {
        problems.push("turn.tlsPort needs edge: TURN over TLS uses the edge's certificate");
    }
    if (turn.network !== undefined && turn.network === args.federation?.network) {
        problems.push(`turn.network ${JSON.stringify(turn.network)} is federation.network too: the homeserver is on it, and the relay must not be its neighbour`);
    }
    const extraConfig = args.extraConfig;
    if (extraConfig !== undefined && !pulumi.Output.isInstance(extraConfig)) {
        for (const key of Object.keys(extraConfig).filter((item): item is keyof typeof TURN_CONFIG_KEYS => item in TURN_CONFIG_KEYS)) {
            problems.push(`extraConfig key "${key}" is written by the component with turn: ${TURN_CONFIG_KEYS[key]}`);
        }
    }
    return problems;
}

/** The platform and the swarm's placement, and what the first swarm slice cannot run yet. */
export function swarmProblems(args: HomeserverArgs): string[] {
    const platform = args.platform ?? Platform.Docker;
    if (!(Object.values(Platform) as string[]).includes(platform)) {
        return [`platform ${JSON.stringify(platform)} is not valid: expected one of ${Object.values(Platform).join(", ")}`];
    }
    if (platform !== Platform.Swarm) {
        return args.swarm !== undefined ? ['swarm is set but platform is not "swarm": set platform swarm, or remove it'] : [];
    }
    const problems: string[] = [];
    if (args.swarm === undefined) {
        problems.push(`platform swarm needs swarm.dataNodeLabel: ${NODE_LABEL_FORM}, set on the manager that holds the data`);
    }
    for (const key of ["dataNodeLabel", "workerNodeLabel"] as const) {
        const label: unknown = args.swarm?.[key];
        if (label !== undefined && !(typeof label === "string" && NODE_LABEL.test(label))) {
            problems.push(`swarm.${key} ${JSON.stringify(label)} is not valid: expected ${NODE_LABEL_FORM}`);
        }
    }
    if (typeof args.bindAddress === "string" && !isWildcard(args.bindAddress)) {
        problems.push(`bindAddress ${JSON.stringify(args.bindAddress)} cannot be kept with platform swarm: ${SWARM_PUBLISHING}; leave bindAddress unset (or 0.0.0.0) and let the data node's firewall say who reaches them`);
    }
    if (!args.postgres || !args.edge) {
        problems.push("platform swarm needs postgres and edge: the main process's SQLite file and published port are single-engine features");
    }
    for (const [argument, why] of Object.entries(SWARM_REFUSALS)) {
        if (args[argument as keyof typeof SWARM_REFUSALS] !== undefined) {
            problems.push(`${argument} is not available with platform swarm: ${why}`);
        }
    }
    // Workers on other nodes get each CA root as a Swarm config of its own: their number must be known.
    const roots = args.federation?.trustedCaCertificates;
    if (args.workers !== undefined && roots !== undefined && !Array.isArray(roots)) {
        problems.push("federation.trustedCaCertificates is a single output or promise with platform swarm and workers: give a list (each item may be an output), so that each root becomes a Swarm config of its own");
    }
    return problems;
}
