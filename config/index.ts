// Stack configuration → typed, validated settings. `parseConfig` is pure (table-tested); `readConfig` is the only part
// that talks to Pulumi: it reads the `synapse:` namespace and the stack's previous outputs, and refuses before any
// resource exists.
// Over 300 lines: it still holds the key table, its own small validation helpers, every key's rule with its exact
// message, the transition checks and the mapping onto the component's arguments. Splitting it by those concerns (and
// a schema library for the rules) is the rest of issue 16's third part; until then each section reads on its own.
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { CADDY_IMAGE, foreignVolumes, type HomeserverArgs, hostForUrl, POSTGRES_IMAGE, SYNAPSE_IMAGE, type TlsMode, userError } from "@synapse-stack/synapse";

/** The official Synapse image, pinned to a release (the default of synapse:image). */
export const OFFICIAL_IMAGE = SYNAPSE_IMAGE;

/** Top-level homeserver.yaml keys the stack sets itself; `extraConfig` may not override them. */
export const STACK_OWNED_KEYS: Readonly<Record<string, string>> = {
    server_name: "set synapse:serverName instead (it is permanent once the homeserver has data)",
    public_baseurl: "set synapse:publicBaseUrl instead",
    report_stats: "set synapse:reportStats instead",
    enable_registration: "registration stays closed; create users through the admin API",
    listeners: "the stack publishes the generated listener on port 8008",
    federation_domain_whitelist: "set synapse:federation.allowList instead",
    federation_custom_ca_list: "set synapse:federation.trustedCaCertificates instead",
    ip_range_whitelist: "set synapse:federation.allowPrivateRanges instead",
    database: "set synapse:database instead",
};

/** Every key of the `synapse:` namespace, each validated below; any other key is refused as unknown. */
export const CONFIG_KEYS = [
    "serverName",
    "image",
    "httpPort",
    "bindAddress",
    "publicBaseUrl",
    "timezone",
    "uid",
    "gid",
    "memoryLimit",
    "cpuLimit",
    "reportStats",
    "adminUser",
    "adminPasswordVersion",
    "volumeName",
    "retainDataOnDestroy",
    "extraConfig",
    "database",
    "postgresImage",
    "tls",
    "publicHost",
    "httpsPort",
    "federationPort",
    "serveWellKnown",
    "exposeAdminApi",
    "acmeEmail",
    "tlsCertificate",
    "tlsKey",
    "caddyImage",
    "federation",
    "backupDirectory",
    "backupsToKeep",
] as const;

export type ConfigKey = (typeof CONFIG_KEYS)[number];

/** Configuration values exactly as Pulumi hands them over: strings (`extraConfig` as JSON text). */
export type RawConfig = Partial<Record<ConfigKey, string>>;

/** Where the program runs. */
export interface ConfigContext {
    /** Pulumi stack name; names the volume and containers. */
    stack: string;
    /** Every key set in the stack's `synapse:` namespace (unknown ones are refused); default: the keys of the raw config. */
    setKeys?: readonly string[];
    /** The project folder relative paths are resolved against. Default /. */
    cwd?: string;
    /** Keys set with `pulumi config set --secret`: no message shows their values (nor those of ALWAYS_SECRET_KEYS). */
    secretKeys?: readonly string[];
}

/** Keys whose values are secret however they were set: a private key, and homeserver.yaml settings such as smtp_pass. */
export const ALWAYS_SECRET_KEYS: readonly ConfigKey[] = ["tlsKey", "extraConfig"];

/** What a message says in place of a secret value. */
const NOT_SHOWN = "(secret, value not shown)";

/** Whether `key`, or the mapping it is part of (`federation` for `federation.allowList`), holds a secret value. */
function isSecretKey(key: string, secretKeys: readonly string[]): boolean {
    const top = key.split(".")[0];
    return (ALWAYS_SECRET_KEYS as readonly string[]).includes(top) || secretKeys.includes(top);
}

/** The validated, typed configuration the stack builds its homeserver from. */
export interface SynapseConfig {
    serverName: string;
    image: string;
    httpPort: number;
    bindAddress: string;
    publicBaseUrl: string;
    timezone: string;
    uid: number;
    gid: number;
    /** Memory limit of the homeserver container in MiB; undefined: no limit. */
    memoryLimitMb?: number;
    /** CPU limit of the homeserver container in CPUs (e.g. "1.5"); undefined: no limit. */
    cpuLimit?: string;
    reportStats: boolean;
    adminUser: string;
    adminPasswordVersion: string;
    volumeName: string;
    containerName: string;
    retainDataOnDestroy: boolean;
    extraConfig: Record<string, unknown>;
    /** sqlite (a file in the data volume) or postgres (a server of its own). */
    database: "sqlite" | "postgres";
    postgresImage: string;
    databaseVolumeName: string;
    /** none (the homeserver's port is published) or how the TLS edge gets certificates. */
    tls: "none" | TlsMode;
    publicHost: string;
    httpsPort: number;
    federationPort: number;
    serveWellKnown: boolean;
    exposeAdminApi: boolean;
    acmeEmail?: string;
    /** tls files: the certificate chain and key, each as PEM text or the path of a file on this machine. */
    tlsCertificate?: string;
    tlsKey?: string;
    caddyImage: string;
    edgeVolumeName: string;
    federation: FederationConfig;
    /** Where the backups before an image change go (absolute); `npm run backup` uses it too. */
    backupDirectory: string;
    backupsToKeep: number;
    /** The homeserver's base URL: the edge's public URL, or the published port as reached from the Docker host. */
    url: string;
}

/** synapse:federation: who this homeserver federates with, and how it trusts them. */
export interface FederationConfig {
    /** false: an island, no federation listener, no outbound federation. Default true. */
    enabled: boolean;
    /** Synapse's federation_domain_whitelist; undefined: everyone. */
    allowList?: string[];
    /** PEM roots trusted for federation instead of the system store (federation_custom_ca_list). */
    trustedCaCertificates: string[];
    /** Stacks (org/project/stack) whose caCertificate output is trusted too, read through stack references. */
    peerStacks: string[];
    /** CIDRs taken out of Synapse's outbound IP blocklist (ip_range_whitelist), e.g. a Docker network's subnet. */
    allowPrivateRanges: string[];
    /** An existing Docker network: the edge joins it with the server name as alias, the homeserver to reach peers. */
    network?: string;
}

export const FEDERATION_KEYS = ["enabled", "allowList", "trustedCaCertificates", "peerStacks", "allowPrivateRanges", "network"] as const;

/** What the last deployment of this stack recorded (its outputs); absent on a new stack. */
export interface PreviousSettings {
    serverName?: string;
    volumeName?: string;
    database?: string;
    databaseVolumeName?: string;
}

/** Thrown when one or more keys are invalid; the message has one line per bad key. */
export class ConfigError extends Error {
    constructor(public readonly problems: string[]) {
        super(`invalid configuration:\n  ${problems.join("\n  ")}`);
        this.name = "ConfigError";
    }
}

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
const LOCALPART = /^[a-z0-9._=\-/+]+$/;
const TZ_NAME = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/;
const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const VERSION_TAG = /^[a-zA-Z0-9._-]{1,64}$/;
// Docker's reference grammar: [host[:port]/]path[:tag][@sha256:hex], with a tag or digest required.
const IMAGE_REF =
    /^(?:(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?)\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$/;
const MEMORY_SIZE = /^(\d+(?:\.\d+)?)([kmg])$/i;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const TLS_MODES = ["none", "internal", "acme", "files"] as const;
const PEM_CERTIFICATE = /^-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\s*$/;
const STACK_NAME = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+){0,2}$/;
const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/** An IPv4 or IPv6 CIDR such as 172.18.0.0/16 or fd00::/8. */
export function isCidr(value: string): boolean {
    const [address, bits, ...rest] = value.split("/");
    const version = net.isIP(address ?? "");
    return rest.length === 0 && version !== 0 && /^\d{1,3}$/.test(bits ?? "") && Number(bits) <= (version === 4 ? 32 : 128);
}
const MIN_MEMORY_MB = 256;

export function isDnsName(value: string): boolean {
    return value.length <= 253 && value.split(".").every((label) => DNS_LABEL.test(label));
}

export function isTimeZone(value: string): boolean {
    if (!TZ_NAME.test(value)) {
        return false;
    }
    try {
        new Intl.DateTimeFormat("en", { timeZone: value });
        return true;
    } catch {
        return false;
    }
}

export function isLoopback(address: string): boolean {
    return address === "::1" || (net.isIPv4(address) && address.startsWith("127."));
}

function hasTagOrDigest(image: string): boolean {
    const lastSegment = image.slice(image.lastIndexOf("/") + 1);
    return lastSegment.includes(":") || image.includes("@sha256:");
}

/** Levenshtein distance, case-insensitive: how far a typo is from a known key. */
function distance(a: string, b: string): number {
    const x = a.toLowerCase();
    const y = b.toLowerCase();
    let row = Array.from({ length: y.length + 1 }, (_, j) => j);
    for (let i = 1; i <= x.length; i++) {
        const next = [i];
        for (let j = 1; j <= y.length; j++) {
            next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1));
        }
        row = next;
    }
    return row[y.length];
}

/** The known key nearest to `key`, if it is near enough to be a typo. */
export function closestKey(key: string): ConfigKey | undefined {
    const prefixed = CONFIG_KEYS.find((known) => key.length >= 4 && known.toLowerCase().startsWith(key.toLowerCase()));
    if (prefixed) {
        return prefixed;
    }
    const [best] = [...CONFIG_KEYS].sort((a, b) => distance(key, a) - distance(key, b));
    return distance(key, best) <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

/** Reads raw values and collects one problem line per bad key, so the user sees every mistake at once. */
class Reader {
    readonly problems: string[] = [];
    private readonly raw: RawConfig;

    constructor(
        given: RawConfig,
        private readonly secretKeys: readonly string[] = [],
    ) {
        // Pulumi.yaml declares derived defaults as "": an empty value means "work it out".
        this.raw = Object.fromEntries(
            Object.entries(given).filter(([, value]) => value !== undefined && value.trim() !== ""),
        );
    }

    isSet(key: ConfigKey): boolean {
        return this.raw[key] !== undefined;
    }

    value(key: ConfigKey): string | undefined {
        return this.raw[key]?.trim();
    }

    /** The value as a message shows it: JSON-quoted, or not at all when it is secret. */
    shown(key: string, value: unknown): string {
        return isSecretKey(key, this.secretKeys) ? NOT_SHOWN : JSON.stringify(value);
    }

    isSecret(key: string): boolean {
        return isSecretKey(key, this.secretKeys);
    }

    bad(key: string, value: unknown, expected: string): void {
        this.problems.push(`synapse:${key} ${this.shown(key, value)} is not valid: expected ${expected}`);
    }

    string(key: ConfigKey, fallback: string, valid: (value: string) => boolean, expected: string): string {
        const value = this.value(key);
        if (value === undefined) {
            return fallback;
        }
        if (!valid(value)) {
            this.bad(key, this.raw[key], expected);
        }
        return value;
    }

    integer(key: ConfigKey, fallback: number, min: number, max: number, expected: string): number {
        const text = this.value(key);
        if (text === undefined) {
            return fallback;
        }
        const parsed = Number(text);
        if (!/^-?\d+$/.test(text) || parsed < min || parsed > max) {
            this.bad(key, this.raw[key], expected);
            return fallback;
        }
        return parsed;
    }

    /** An object value (YAML mapping, or JSON text): undefined when unset, or refused as `expected` when not a mapping. */
    mapping(key: ConfigKey, expected: string): Record<string, unknown> | undefined {
        const text = this.value(key);
        if (text === undefined) {
            return undefined;
        }
        let value: unknown;
        try {
            value = JSON.parse(text);
        } catch {
            value = text;
        }
        if (typeof value !== "object" || value === null || Array.isArray(value)) {
            this.bad(key, text, expected);
            return undefined;
        }
        return value as Record<string, unknown>;
    }

    boolean(key: ConfigKey, fallback: boolean): boolean {
        const text = this.value(key)?.toLowerCase();
        if (text === undefined) {
            return fallback;
        }
        if (text !== "true" && text !== "false") {
            this.bad(key, this.raw[key], "true or false");
            return fallback;
        }
        return text === "true";
    }
}

function readIdentity(reader: Reader): Pick<SynapseConfig, "serverName"> {
    const serverName = reader.value("serverName") ?? "";
    if (!reader.isSet("serverName")) {
        reader.problems.push(
            "synapse:serverName is required: set it with `pulumi config set synapse:serverName matrix.example.org`",
        );
    } else if (!isDnsName(serverName)) {
        reader.bad("serverName", serverName, "a DNS name such as matrix.example.org");
    }
    return { serverName };
}

function readImage(reader: Reader): Pick<SynapseConfig, "image"> {
    const image = reader.string(
        "image",
        OFFICIAL_IMAGE,
        (value) => IMAGE_REF.test(value) && hasTagOrDigest(value),
        "an image reference with a tag or digest, such as matrixdotorg/synapse:v1.163.2 or registry.example.org/synapse@sha256:<64 hex>",
    );
    return { image };
}

function oneOf<T extends string>(reader: Reader, key: ConfigKey, values: readonly T[], fallback: T): T {
    const value = reader.value(key);
    if (value === undefined) {
        return fallback;
    }
    if (!(values as readonly string[]).includes(value)) {
        reader.bad(key, value, `one of ${values.join(", ")}`);
        return fallback;
    }
    return value as T;
}

function readDatabase(reader: Reader, stack: string): Pick<SynapseConfig, "database" | "postgresImage" | "databaseVolumeName"> {
    const database = oneOf(reader, "database", ["sqlite", "postgres"] as const, "sqlite");
    const postgresImage = reader.string("postgresImage", POSTGRES_IMAGE, (value) => IMAGE_REF.test(value) && hasTagOrDigest(value), "an image reference with a tag or digest, such as postgres:17");
    if (database !== "postgres" && reader.isSet("postgresImage")) {
        reader.problems.push('synapse:postgresImage is set but synapse:database is not "postgres": set synapse:database postgres, or remove it');
    }
    // Synapse refuses PostgreSQL before 14. A tag that names the major (17, 16.4, 15-alpine) is checked; a digest or
    // another tag cannot be, and Synapse's own refusal then shows in the admin step's log lines.
    const reference = postgresImage.split("@")[0];
    const major = /:(\d+)(?:[.-].*)?$/.exec(reference.slice(reference.lastIndexOf("/") + 1));
    if (major && Number(major[1]) < 14) {
        reader.bad("postgresImage", postgresImage, "PostgreSQL 14 or newer (Synapse refuses older), such as postgres:17");
    }
    return { database, postgresImage, databaseVolumeName: `synapse-${stack}-db` };
}

type EdgeConfig = Pick<
    SynapseConfig,
    "tls" | "publicHost" | "httpsPort" | "federationPort" | "serveWellKnown" | "exposeAdminApi" | "acmeEmail" | "tlsCertificate" | "tlsKey" | "caddyImage" | "edgeVolumeName"
>;

function readEdge(reader: Reader, serverName: string, stack: string): EdgeConfig {
    const tls = oneOf(reader, "tls", TLS_MODES, "none");
    const publicHost = reader.string("publicHost", serverName, isDnsName, "a DNS name such as matrix.example.org");
    const httpsPort = reader.integer("httpsPort", 443, 1, 65535, "a port number from 1 to 65535");
    const federationPort = reader.integer("federationPort", 8448, 0, 65535, "a port number from 1 to 65535, or 0 to federate through httpsPort");
    if (federationPort === httpsPort) {
        // The one number is both ports' value: shown only when neither is secret.
        const port = reader.isSecret("federationPort") || reader.isSecret("httpsPort") ? NOT_SHOWN : String(federationPort);
        reader.problems.push(`synapse:federationPort ${port} is synapse:httpsPort too: set 0 to federate through httpsPort, or another port`);
    }
    const serveWellKnown = reader.boolean("serveWellKnown", false);
    const exposeAdminApi = reader.boolean("exposeAdminApi", false);
    const acmeEmail = reader.value("acmeEmail");
    if (acmeEmail !== undefined && !EMAIL.test(acmeEmail)) {
        reader.bad("acmeEmail", acmeEmail, "an email address such as admin@example.org");
    }
    if (tls === "acme" && acmeEmail === undefined) {
        reader.problems.push("synapse:acmeEmail is required with synapse:tls acme: Let's Encrypt needs a contact address");
    }
    const tlsCertificate = reader.value("tlsCertificate");
    const tlsKey = reader.value("tlsKey");
    if (tls === "files" && (tlsCertificate === undefined || tlsKey === undefined)) {
        reader.problems.push(
            "synapse:tls files needs synapse:tlsCertificate and synapse:tlsKey: each the PEM text or the path of a file " +
                "on this machine (set the key with `pulumi config set --secret`)",
        );
    }
    if (tls === "none") {
        // Pulumi.yaml declares the booleans' defaults, so only a true one says the user meant it.
        const given = (key: ConfigKey) => (key === "serveWellKnown" || key === "exposeAdminApi" ? reader.value(key) === "true" : reader.isSet(key));
        for (const key of ["publicHost", "serveWellKnown", "exposeAdminApi", "acmeEmail", "tlsCertificate", "tlsKey", "caddyImage"] as const) {
            if (given(key)) {
                reader.problems.push(`synapse:${key} is a setting of the TLS edge, but synapse:tls is none: set synapse:tls, or remove it`);
            }
        }
    }
    const caddyImage = reader.string("caddyImage", CADDY_IMAGE, (value) => IMAGE_REF.test(value) && hasTagOrDigest(value), "an image reference with a tag or digest, such as caddy:2.6.2");
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
    const httpPort = reader.integer("httpPort", 8008, 1, 65535, "a port number from 1 to 65535");
    const bindAddress = reader.string(
        "bindAddress",
        "127.0.0.1",
        (value) => net.isIP(value) !== 0,
        "an IPv4 or IPv6 address such as 127.0.0.1 or 0.0.0.0",
    );
    const url =
        edge.tls === "none"
            ? `http://${hostForUrl(bindAddress)}:${httpPort}`
            : `https://${edge.publicHost}${edge.httpsPort === 443 ? "" : `:${edge.httpsPort}`}`;

    let publicBaseUrl = `${url}/`;
    const given = reader.value("publicBaseUrl");
    if (given !== undefined) {
        let parsed: URL | undefined;
        try {
            parsed = new URL(given);
        } catch {
            parsed = undefined;
        }
        if (!parsed || !["http:", "https:"].includes(parsed.protocol) || parsed.search || parsed.hash) {
            reader.bad("publicBaseUrl", given, "an http(s) URL such as https://matrix.example.org/");
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
    const timezone = reader.string("timezone", "UTC", isTimeZone, "an IANA time zone name such as UTC or Europe/Berlin");
    const idForm = "a whole number from 1 to 2147483647 (a non-root user id)";
    const uid = reader.integer("uid", 1000, 1, 2147483647, idForm);
    const gid = reader.integer("gid", 1000, 1, 2147483647, idForm.replace("user", "group"));

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
    if (cpuLimit !== undefined && !(/^\d+(\.\d{1,2})?$/.test(cpuLimit) && Number(cpuLimit) >= 0.1 && Number(cpuLimit) <= 1024)) {
        reader.bad("cpuLimit", cpuLimit, "a number of CPUs such as 1 or 1.5, at least 0.1");
    }
    return { timezone, uid, gid, memoryLimitMb, cpuLimit };
}

function readAdmin(reader: Reader): Pick<SynapseConfig, "adminUser" | "adminPasswordVersion"> {
    const adminUser = reader.string(
        "adminUser",
        "admin",
        (value) => LOCALPART.test(value) && value.length <= 200,
        "a Matrix localpart of lowercase letters, digits and . _ = - / +",
    );
    const adminPasswordVersion = reader.string(
        "adminPasswordVersion",
        "1",
        (value) => VERSION_TAG.test(value),
        "a short label of letters, digits, . _ or -, such as 2",
    );
    return { adminUser, adminPasswordVersion };
}

function readStorage(reader: Reader, stack: string): Pick<SynapseConfig, "volumeName" | "containerName" | "retainDataOnDestroy"> {
    const prefix = `synapse-${stack}`;
    const volumeName = reader.string(
        "volumeName",
        `${prefix}-data`,
        (value) => VOLUME_NAME.test(value),
        "a Docker volume name of letters, digits, _ . - (starting with a letter or digit)",
    );
    return { volumeName, containerName: prefix, retainDataOnDestroy: reader.boolean("retainDataOnDestroy", false) };
}

function readBackups(reader: Reader, stack: string, cwd: string): Pick<SynapseConfig, "backupDirectory" | "backupsToKeep"> {
    const backupDirectory = reader.string(
        "backupDirectory",
        `backups/synapse-${stack}`,
        (value) => !value.includes("\0"),
        "a folder path, absolute or relative to the project",
    );
    return {
        backupDirectory: path.resolve(cwd, backupDirectory),
        backupsToKeep: reader.integer("backupsToKeep", 5, 1, 1000, "a whole number of archives from 1 to 1000"),
    };
}

function readHomeserverSettings(reader: Reader): Pick<SynapseConfig, "reportStats" | "extraConfig"> {
    const reportStats = reader.boolean("reportStats", false);
    const extraConfig = reader.mapping("extraConfig", "a mapping of homeserver.yaml top-level keys to values") ?? {};
    for (const key of Object.keys(extraConfig)) {
        const reason = STACK_OWNED_KEYS[key];
        if (reason !== undefined) {
            reader.problems.push(`synapse:extraConfig key "${key}" is owned by the stack: ${reason}`);
        }
    }
    return { reportStats, extraConfig };
}

function readFederation(reader: Reader, tls: SynapseConfig["tls"], extraConfig: Record<string, unknown>): FederationConfig {
    const federation: FederationConfig = { enabled: true, trustedCaCertificates: [], peerStacks: [], allowPrivateRanges: [] };
    const value = reader.mapping("federation", `a mapping with the keys ${FEDERATION_KEYS.join(", ")}`);
    if (value === undefined) {
        return federation;
    }
    for (const key of Object.keys(value)) {
        if (!(FEDERATION_KEYS as readonly string[]).includes(key)) {
            reader.problems.push(`synapse:federation.${key} is not a federation setting: known keys are ${FEDERATION_KEYS.join(", ")}`);
        }
    }
    const list = (key: string, valid: (item: string) => boolean, expected: string): string[] => {
        const items = value[key];
        if (items === undefined) {
            return [];
        }
        if (!Array.isArray(items) || !items.every((item) => typeof item === "string" && valid(item))) {
            reader.bad(`federation.${key}`, items, expected);
            return [];
        }
        return items as string[];
    };
    if (value.enabled !== undefined && typeof value.enabled !== "boolean" && value.enabled !== "true" && value.enabled !== "false") {
        reader.bad("federation.enabled", value.enabled, "true or false");
    }
    federation.enabled = !(value.enabled === false || value.enabled === "false");
    if (value.allowList !== undefined) {
        federation.allowList = list("allowList", isDnsName, "a list of server names such as [a.example.org, b.example.org]");
    }
    federation.trustedCaCertificates = list("trustedCaCertificates", (item) => PEM_CERTIFICATE.test(item.trim()), "a list of PEM certificates (-----BEGIN CERTIFICATE-----...)");
    federation.peerStacks = list("peerStacks", (item) => STACK_NAME.test(item), "a list of stack names such as organization/synapse/b");
    federation.allowPrivateRanges = list("allowPrivateRanges", isCidr, "a list of CIDRs such as 172.18.0.0/16");
    if (value.network !== undefined) {
        if (typeof value.network !== "string" || !NETWORK_NAME.test(value.network)) {
            reader.bad("federation.network", value.network, "the name of an existing Docker network, such as matrix-lab");
        } else {
            federation.network = value.network;
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

function checkKnownKeys(reader: Reader, setKeys: readonly string[]): void {
    for (const key of setKeys) {
        if ((CONFIG_KEYS as readonly string[]).includes(key)) {
            continue;
        }
        const near = closestKey(key);
        reader.problems.push(
            `synapse:${key} is not a setting of this stack` +
                (near ? `: did you mean synapse:${near}? Remove it with \`pulumi config rm synapse:${key}\`` : `: known keys are ${CONFIG_KEYS.join(", ")}`),
        );
    }
}

/**
 * Validates raw configuration and returns the typed result, or throws a ConfigError naming every bad key, its value
 * (never a secret one) and the accepted form. Pure: no Pulumi, no I/O.
 */
export function parseConfig(given: RawConfig, context: ConfigContext): SynapseConfig {
    const reader = new Reader(given, context.secretKeys);
    checkKnownKeys(reader, context.setKeys ?? Object.keys(given));
    const identity = readIdentity(reader);
    const edge = readEdge(reader, identity.serverName, context.stack);
    const settings = readHomeserverSettings(reader);
    const config: SynapseConfig = {
        ...identity,
        ...readImage(reader),
        ...readExposure(reader, edge),
        ...readRuntime(reader),
        ...readAdmin(reader),
        ...readStorage(reader, context.stack),
        ...settings,
        ...readDatabase(reader, context.stack),
        ...edge,
        federation: readFederation(reader, edge.tls, settings.extraConfig),
        ...readBackups(reader, context.stack, context.cwd ?? "/"),
    };
    if (reader.problems.length > 0) {
        throw new ConfigError(reader.problems);
    }
    return config;
}

/**
 * Refuses settings that cannot change once the stack has deployed: a new volume name would leave the data behind
 * (and a plan would replace the volume), a new server name cannot be applied to existing Matrix data. Pure.
 */
export function checkTransition(previous: PreviousSettings, next: SynapseConfig): void {
    const problems: string[] = [];
    if (previous.volumeName !== undefined && previous.volumeName !== next.volumeName) {
        problems.push(
            `synapse:volumeName changed from "${previous.volumeName}" to "${next.volumeName}": this would replace the data volume ` +
                `${previous.volumeName}, which holds the homeserver's database, signing key and media. No update deletes or ` +
                `replaces a data volume: set synapse:volumeName back to "${previous.volumeName}", or deploy the new volume as a new stack`,
        );
    }
    if (previous.serverName !== undefined && previous.serverName !== next.serverName) {
        problems.push(
            `synapse:serverName changed from "${previous.serverName}" to "${next.serverName}", but volume ` +
                `${previous.volumeName ?? next.volumeName} holds the data of ${previous.serverName}: a Matrix server name is ` +
                "permanent (it is in every user and room id and in the server's signing identity). Set it back, or create a " +
                "new stack for the new name (`pulumi stack init`), which gets a volume of its own",
        );
    }
    const before = previous.database ?? (previous.volumeName !== undefined ? "sqlite" : undefined);
    if (before === "postgres" && next.database === "sqlite") {
        problems.push(
            `synapse:database changed from postgres to sqlite, but the users, rooms and messages are in PostgreSQL ` +
                `(volume ${previous.databaseVolumeName ?? next.databaseVolumeName}): a new SQLite database would be empty. ` +
                "Set synapse:database back to postgres",
        );
    }
    if (problems.length > 0) {
        throw new ConfigError(problems);
    }
}

/**
 * The adapter from stack configuration to the component's arguments: the stack's names for its containers and
 * volumes, and which parts (PostgreSQL, the edge) it has. Secrets become secrets here.
 */
export function homeserverArgs(config: SynapseConfig): HomeserverArgs {
    return {
        serverName: config.serverName,
        image: config.image,
        httpPort: config.httpPort,
        bindAddress: config.bindAddress,
        publicBaseUrl: config.publicBaseUrl,
        timezone: config.timezone,
        uid: config.uid,
        gid: config.gid,
        memoryLimitMb: config.memoryLimitMb,
        cpuLimit: config.cpuLimit,
        reportStats: config.reportStats,
        adminUser: config.adminUser,
        adminPasswordVersion: config.adminPasswordVersion,
        volumeName: config.volumeName,
        containerName: config.containerName,
        retainDataOnDestroy: config.retainDataOnDestroy,
        extraConfig: config.extraConfig,
        backups: { directory: config.backupDirectory, keep: config.backupsToKeep },
        postgres: config.database === "postgres" ? { image: config.postgresImage, volumeName: config.databaseVolumeName } : undefined,
        edge:
            config.tls === "none"
                ? undefined
                : {
                      tls: config.tls,
                      publicHost: config.publicHost,
                      httpsPort: config.httpsPort,
                      federationPort: config.federationPort,
                      serveWellKnown: config.serveWellKnown,
                      exposeAdminApi: config.exposeAdminApi,
                      acmeEmail: config.acmeEmail,
                      certificate: config.tlsCertificate,
                      privateKey: config.tlsKey === undefined ? undefined : pulumi.secret(config.tlsKey),
                      image: config.caddyImage,
                      volumeName: config.edgeVolumeName,
                  },
        federation: {
            enabled: config.federation.enabled,
            allowList: config.federation.allowList,
            trustedCaCertificates: [...config.federation.trustedCaCertificates, ...peerCertificates(config.federation.peerStacks)],
            allowPrivateRanges: config.federation.allowPrivateRanges,
            network: config.federation.network,
        },
    };
}

/** The caCertificate outputs of peer stacks, read through stack references: the Pulumi way to wire stacks together. */
function peerCertificates(peerStacks: string[]): pulumi.Output<string>[] {
    return peerStacks.map(
        (peer) => new pulumi.StackReference(`synapse-peer-${peer.replace(/\//g, "-")}`, { name: peer }).requireOutput("caCertificate") as pulumi.Output<string>,
    );
}

/**
 * A PEM value as given, or the contents of the file it names; refused, naming the key, when neither. A secret key's
 * value is never shown: a key pasted without its BEGIN line would otherwise be printed as if it were a path.
 */
export function pemOrFile(key: ConfigKey, value: string, read: (path: string) => string, secretKeys: readonly string[] = []): string {
    if (value.startsWith("-----BEGIN ")) {
        return value;
    }
    const shown = isSecretKey(key, secretKeys) ? NOT_SHOWN : `"${value}"`;
    let content: string;
    try {
        content = read(value);
    } catch {
        throw new ConfigError([`synapse:${key} ${shown} cannot be read: expected PEM text or the path of a readable file holding it`]);
    }
    if (!content.includes("-----BEGIN ")) {
        throw new ConfigError([`synapse:${key} ${shown} holds no PEM block: expected a file starting with -----BEGIN`]);
    }
    return content;
}

/** The last deployment's outputs of this very stack, read through a stack reference (empty on a new stack). */
async function previousSettings(): Promise<PreviousSettings> {
    const self = new pulumi.StackReference(`${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`);
    const read = async (name: string) => {
        const { value } = await self.getOutputDetails(name);
        return typeof value === "string" ? value : undefined;
    };
    return {
        serverName: await read("serverName"),
        volumeName: await read("volumeName"),
        database: await read("database"),
        databaseVolumeName: await read("databaseVolumeName"),
    };
}

/**
 * Reads the `synapse:` namespace and validates it, then compares it with what the stack last deployed; every refusal
 * happens here, before any resource is declared.
 */
export async function readConfig(): Promise<SynapseConfig> {
    const namespace = "synapse:";
    const all = pulumi.runtime.allConfig();
    const setKeys = Object.keys(all)
        .filter((key) => key.startsWith(namespace))
        .map((key) => key.slice(namespace.length));
    const raw: RawConfig = {};
    for (const key of CONFIG_KEYS) {
        raw[key] = all[`${namespace}${key}`];
    }
    // The SDK knows which keys were set with --secret (the engine hands it their names) but types the question as
    // internal; without it, only ALWAYS_SECRET_KEYS are kept out of messages.
    const isConfigSecret = (pulumi.runtime as unknown as { isConfigSecret?: (key: string) => boolean }).isConfigSecret;
    const secretKeys = setKeys.filter((key) => isConfigSecret?.(`${namespace}${key}`) === true);
    try {
        const config = parseConfig(raw, { stack: pulumi.getStack(), setKeys, cwd: process.cwd(), secretKeys });
        const read = (file: string) => fs.readFileSync(file, "utf8");
        if (config.tlsCertificate !== undefined) {
            config.tlsCertificate = pemOrFile("tlsCertificate", config.tlsCertificate, read, secretKeys);
        }
        if (config.tlsKey !== undefined) {
            config.tlsKey = pemOrFile("tlsKey", config.tlsKey, read, secretKeys);
        }
        checkTransition(await previousSettings(), config);
        // The component refuses the same in its own terms; here in the stack's keys, before anything is declared.
        const foreign = foreignVolumes(
            {
                "synapse:volumeName": config.volumeName,
                ...(config.database === "postgres" ? { "the PostgreSQL volume": config.databaseVolumeName } : {}),
                ...(config.tls !== "none" ? { "the edge's volume": config.edgeVolumeName } : {}),
            },
            { project: pulumi.getProject(), stack: pulumi.getStack() },
        );
        if (foreign.length > 0) {
            throw new ConfigError(foreign);
        }
        return config;
    } catch (err) {
        // A RunError prints its message without a stack trace: the user needs the keys, not our call stack.
        throw err instanceof ConfigError ? userError(err.message) : err;
    }
}
