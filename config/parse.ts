// Raw `synapse:` values → the typed, validated settings the stack builds its homeserver from. Pure (table-tested): no
// Pulumi, no I/O. What a value may be is the package's rule (RULES, on the component's arguments too) and each default
// the package's DEFAULTS; what is here is the stack's own part: reading text, the keys' messages, the stack's names.
import * as net from "node:net";
import * as path from "node:path";
import * as v from "valibot";
import {
    accepts,
    DatabaseKind,
    DEFAULTS,
    federationPortRule,
    hostForUrl,
    isLoopback,
    MIN_MEMORY_MB,
    type Rule,
    RULES,
    TlsMode,
} from "@synapse-stack/synapse";
import { Reader } from "./reader";
import { readTurn } from "./turn";
import { readMonitoring } from "./monitoring";
import { readWorkers } from "./workers";
import { readPlatform } from "./swarm";
import type { FederationConfig, SynapseConfig } from "./types";
import { type ConfigContext, ConfigError, FEDERATION_KEYS, NOT_SHOWN, type RawConfig, STACK_OWNED_KEYS, unknownKeys } from "./keys";

const MEMORY_SIZE = /^(\d+(?:\.\d+)?)([kmg])$/i;
/** Stack references are the stack's own way to trust its peers; the component takes their certificates. */
const PEER_STACKS: Rule = {
    schema: v.array(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+){0,2}$/))),
    form: "a list of stack names such as organization/synapse/b",
};
const TLS_MODES = ["none", ...Object.values(TlsMode)] as const;

function readIdentity(reader: Reader): Pick<SynapseConfig, "serverName"> {
    const serverName = reader.value("serverName") ?? "";
    if (!reader.isSet("serverName")) {
        reader.problems.push("synapse:serverName is required: set it with `pulumi config set synapse:serverName matrix.example.org`");
    } else if (!accepts(RULES.dnsName, serverName)) {
        reader.bad("serverName", serverName, RULES.dnsName.form);
    }
    return { serverName };
}

function readDatabase(reader: Reader, stack: string): Pick<SynapseConfig, "database" | "postgresImage" | "databaseVolumeName"> {
    const database = reader.oneOf("database", Object.values(DatabaseKind), DatabaseKind.Sqlite);
    const postgresImage = reader.text("postgresImage", DEFAULTS.postgres.image, RULES.postgresImage);
    if (database !== DatabaseKind.Postgres && reader.isSet("postgresImage")) {
        reader.problems.push('synapse:postgresImage is set but synapse:database is not "postgres": set synapse:database postgres, or remove it');
    }
    // A tag that names the major is checked; a digest or another tag cannot be, and Synapse's own refusal then shows
    // in the admin step's log lines.
    if (!accepts(RULES.postgresRelease, postgresImage)) {
        reader.bad("postgresImage", postgresImage, RULES.postgresRelease.form);
    }
    return { database, postgresImage, databaseVolumeName: `synapse-${stack}-db` };
}

type EdgeConfig = Pick<
    SynapseConfig,
    "tls" | "publicHost" | "httpsPort" | "federationPort" | "serveWellKnown" | "exposeAdminApi" | "acmeEmail" | "tlsCertificate" | "tlsKey" | "caddyImage" | "edgeVolumeName"
>;

function readEdge(reader: Reader, serverName: string, stack: string): EdgeConfig {
    const tls = reader.oneOf("tls", TLS_MODES, "none");
    const publicHost = reader.text("publicHost", serverName, RULES.dnsName);
    const httpsPort = reader.integer("httpsPort", DEFAULTS.edge.httpsPort, RULES.port);
    const federationPort = reader.integer("federationPort", DEFAULTS.edge.federationPort, federationPortRule("httpsPort"));
    if (federationPort === httpsPort) {
        // The one number is both ports' value: shown only when neither is secret.
        const port = reader.isSecret("federationPort") || reader.isSecret("httpsPort") ? NOT_SHOWN : String(federationPort);
        reader.problems.push(`synapse:federationPort ${port} is synapse:httpsPort too: set 0 to federate through httpsPort, or another port`);
    }
    const serveWellKnown = reader.boolean("serveWellKnown", DEFAULTS.edge.serveWellKnown);
    const exposeAdminApi = reader.boolean("exposeAdminApi", DEFAULTS.edge.exposeAdminApi);
    const acmeEmail = reader.value("acmeEmail");
    if (acmeEmail !== undefined && !accepts(RULES.email, acmeEmail)) {
        reader.bad("acmeEmail", acmeEmail, RULES.email.form);
    }
    if (tls === TlsMode.Acme && acmeEmail === undefined) {
        reader.problems.push("synapse:acmeEmail is required with synapse:tls acme: Let's Encrypt needs a contact address");
    }
    const tlsCertificate = reader.value("tlsCertificate");
    const tlsKey = reader.value("tlsKey");
    if (tls === TlsMode.Files && (tlsCertificate === undefined || tlsKey === undefined)) {
        reader.problems.push(
            "synapse:tls files needs synapse:tlsCertificate and synapse:tlsKey: each the PEM text or the path of a file " +
                "on this machine (set the key with `pulumi config set --secret`)",
        );
    }
    if (tls === "none") {
        for (const key of ["publicHost", "serveWellKnown", "exposeAdminApi", "acmeEmail", "tlsCertificate", "tlsKey", "caddyImage"] as const) {
            // A boolean set to its default false changes nothing, so only a true one says the user meant the edge.
            if (key === "serveWellKnown" || key === "exposeAdminApi" ? reader.value(key)?.toLowerCase() === "true" : reader.isSet(key)) {
                reader.problems.push(`synapse:${key} is a setting of the TLS edge, but synapse:tls is none: set synapse:tls, or remove it`);
            }
        }
    }
    const caddyImage = reader.text("caddyImage", DEFAULTS.edge.image, RULES.caddyImage);
    return {
        tls,
        publicHost,
        httpsPort,
        federationPort,
        serveWellKnown,
        exposeAdminApi,
        acmeEmail,
        tlsCertificate,
        tlsKey,
        caddyImage,
        edgeVolumeName: `synapse-${stack}-edge`,
    };
}

function readExposure(reader: Reader, edge: EdgeConfig): Pick<SynapseConfig, "httpPort" | "bindAddress" | "publicBaseUrl" | "url"> {
    const httpPort = reader.integer("httpPort", DEFAULTS.httpPort, RULES.port);
    const bindAddress = reader.text("bindAddress", DEFAULTS.bindAddress, RULES.address);
    const url =
        edge.tls === "none"
            ? `http://${hostForUrl(bindAddress)}:${httpPort}`
            : `https://${edge.publicHost}${edge.httpsPort === 443 ? "" : `:${edge.httpsPort}`}`;

    let publicBaseUrl = `${url}/`;
    const given = reader.value("publicBaseUrl");
    if (given !== undefined) {
        if (!accepts(RULES.publicBaseUrl, given)) {
            reader.bad("publicBaseUrl", given, RULES.publicBaseUrl.form);
        }
        publicBaseUrl = given.endsWith("/") ? given : `${given}/`;
    } else if (edge.tls === "none" && net.isIP(bindAddress) !== 0 && !isLoopback(bindAddress)) {
        // Synapse would tell clients and other servers to come back to a loopback URL.
        reader.problems.push(
            `synapse:bindAddress ${reader.shown("bindAddress", bindAddress)} publishes the homeserver beyond this host, but synapse:publicBaseUrl is unset: ` +
                "set it to the URL clients use, such as http://matrix.example.org:8008/ (or keep bindAddress 127.0.0.1)",
        );
    }
    return { httpPort, bindAddress, publicBaseUrl, url };
}

function readRuntime(reader: Reader): Pick<SynapseConfig, "timezone" | "uid" | "gid" | "memoryLimitMb" | "cpuLimit"> {
    const timezone = reader.text("timezone", DEFAULTS.timezone, RULES.timezone);
    const uid = reader.integer("uid", DEFAULTS.uid, RULES.uid);
    const gid = reader.integer("gid", DEFAULTS.gid, RULES.gid);
    let memoryLimitMb: number | undefined;
    const memory = reader.value("memoryLimit");
    if (memory !== undefined) {
        const match = MEMORY_SIZE.exec(memory);
        const factor = { k: 1 / 1024, m: 1, g: 1024 }[(match?.[2] ?? "m").toLowerCase() as "k" | "m" | "g"];
        memoryLimitMb = match ? Math.floor(Number(match[1]) * factor) : undefined;
        if (memoryLimitMb === undefined || memoryLimitMb < MIN_MEMORY_MB) {
            reader.bad("memoryLimit", memory, `a size such as 1g or 768m, at least ${MIN_MEMORY_MB}m`);
        }
    }
    const cpuLimit = reader.value("cpuLimit");
    if (cpuLimit !== undefined && !accepts(RULES.cpus, cpuLimit)) {
        reader.bad("cpuLimit", cpuLimit, RULES.cpus.form);
    }
    return { timezone, uid, gid, memoryLimitMb, cpuLimit };
}

function readHomeserverSettings(reader: Reader): Pick<SynapseConfig, "reportStats" | "extraConfig"> {
    const reportStats = reader.boolean("reportStats", DEFAULTS.reportStats);
    const extraConfig = reader.mapping("extraConfig", "a mapping of homeserver.yaml top-level keys to values") ?? {};
    for (const key of Object.keys(extraConfig)) {
        const reason = STACK_OWNED_KEYS[key as keyof typeof STACK_OWNED_KEYS];
        if (reason !== undefined) {
            reader.problems.push(`synapse:extraConfig key "${key}" is owned by the stack: ${reason}`);
        }
    }
    return { reportStats, extraConfig };
}

function readAdmin(reader: Reader): Pick<SynapseConfig, "adminUser" | "adminPasswordVersion"> {
    return {
        adminUser: reader.text("adminUser", DEFAULTS.adminUser, RULES.localpart),
        adminPasswordVersion: reader.text("adminPasswordVersion", DEFAULTS.adminPasswordVersion, RULES.versionLabel),
    };
}

function readStorage(reader: Reader, stack: string): Pick<SynapseConfig, "volumeName" | "containerName" | "retainDataOnDestroy"> {
    const prefix = `synapse-${stack}`;
    return {
        volumeName: reader.text("volumeName", `${prefix}-data`, RULES.volumeName),
        containerName: prefix,
        retainDataOnDestroy: reader.boolean("retainDataOnDestroy", DEFAULTS.retainDataOnDestroy),
    };
}

function readBackups(reader: Reader, stack: string, cwd: string): Pick<SynapseConfig, "backupDirectory" | "backupsToKeep"> {
    const backupDirectory = reader.value("backupDirectory") ?? `backups/synapse-${stack}`;
    if (backupDirectory.includes("\0")) {
        reader.bad("backupDirectory", backupDirectory, "a folder path, absolute or relative to the project");
    }
    return {
        backupDirectory: path.resolve(cwd, backupDirectory),
        backupsToKeep: reader.integer("backupsToKeep", DEFAULTS.backups.keep, RULES.backupsToKeep),
    };
}

function readFederation(reader: Reader, tls: SynapseConfig["tls"], extraConfig: Record<string, unknown>): FederationConfig {
    const federation: FederationConfig = { enabled: DEFAULTS.federation.enabled, trustedCaCertificates: [], peerStacks: [], allowPrivateRanges: [] };
    const value = reader.mapping("federation", `a mapping with the keys ${FEDERATION_KEYS.join(", ")}`);
    if (value === undefined) {
        return federation;
    }
    for (const key of Object.keys(value)) {
        if (!(FEDERATION_KEYS as readonly string[]).includes(key)) {
            reader.problems.push(`synapse:federation.${key} is not a federation setting: known keys are ${FEDERATION_KEYS.join(", ")}`);
        }
    }
    const list = (key: string, rule: Rule): string[] => {
        const items = value[key];
        if (items === undefined) {
            return [];
        }
        if (!accepts(rule, items)) {
            reader.bad(`federation.${key}`, items, rule.form);
            return [];
        }
        return items as string[];
    };
    if (value.enabled !== undefined && typeof value.enabled !== "boolean" && value.enabled !== "true" && value.enabled !== "false") {
        reader.bad("federation.enabled", value.enabled, "true or false");
    }
    federation.enabled = !(value.enabled === false || value.enabled === "false");
    if (value.allowList !== undefined) {
        federation.allowList = list("allowList", RULES.serverNames);
    }
    federation.trustedCaCertificates = list("trustedCaCertificates", RULES.certificates);
    federation.peerStacks = list("peerStacks", PEER_STACKS);
    federation.allowPrivateRanges = list("allowPrivateRanges", RULES.cidrs);
    if (value.network !== undefined) {
        if (!accepts(RULES.networkName, value.network)) {
            reader.bad("federation.network", value.network, RULES.networkName.form);
        } else {
            federation.network = value.network as string;
        }
    }
    if (federation.network !== undefined && tls === "none") {
        reader.problems.push("synapse:federation.network needs synapse:tls: peers reach this homeserver through its TLS edge");
    }
    if ((federation.trustedCaCertificates.length > 0 || federation.peerStacks.length > 0) && extraConfig.trusted_key_servers !== undefined) {
        reader.problems.push(
            'synapse:extraConfig key "trusted_key_servers" is owned by the stack when federation trusts its own CAs: it stays empty (keys come from the peers themselves)',
        );
    }
    if (!federation.enabled) {
        for (const key of FEDERATION_KEYS.filter((item) => item !== "enabled" && value[item] !== undefined)) {
            reader.problems.push(`synapse:federation.${key} has no effect with synapse:federation.enabled false: remove it`);
        }
    }
    return federation;
}

/**
 * Validates raw configuration and returns the typed result, or throws a ConfigError naming every bad key, its value
 * (never a secret one) and the accepted form.
 */
export function parseConfig(given: RawConfig, context: ConfigContext): SynapseConfig {
    const reader = new Reader(given, context.secretKeys);
    reader.problems.push(...unknownKeys(context.setKeys ?? Object.keys(given)));
    const identity = readIdentity(reader);
    const edge = readEdge(reader, identity.serverName, context.stack);
    const settings = readHomeserverSettings(reader);
    const config: SynapseConfig = {
        ...identity,
        image: reader.text("image", DEFAULTS.image, RULES.synapseImage),
        ...readExposure(reader, edge),
        ...readRuntime(reader),
        ...readAdmin(reader),
        ...readStorage(reader, context.stack),
        ...settings,
        ...readDatabase(reader, context.stack),
        ...edge,
        federation: readFederation(reader, edge.tls, settings.extraConfig),
        ...readBackups(reader, context.stack, context.cwd ?? "/"),
        ...(context.secretKeys?.length ? { secretKeys: context.secretKeys } : {}),
        platform: "docker",
    };
    Object.assign(config, readWorkers(reader, config.database, config.tls), readTurn(reader, config.tls, config.extraConfig, config.federation.network), readMonitoring(reader, context.stack, config.extraConfig));
    Object.assign(config, readPlatform(reader, config));
    if (reader.problems.length > 0) {
        throw new ConfigError(reader.problems);
    }
    return config;
}
