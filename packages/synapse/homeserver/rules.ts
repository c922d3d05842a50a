// The defaults of the Homeserver component's arguments and the rules their values follow, each declared once. The
// component applies and checks them itself (validate.ts); a program's configuration layer (the stack's config/) maps
// its own keys onto the arguments and checks the same rules, in its own words. Valibot holds the value rules: it loads
// in about 13 ms where zod took 90, and every `preview` and `up` pays that.
import * as net from "node:net";
import * as v from "valibot";
import { TlsMode } from "../edge/caddyfile";
import { CADDY_IMAGE, POSTGRES_EXPORTER_IMAGE, POSTGRES_IMAGE, PROMETHEUS_IMAGE, REDIS_IMAGE, SYNAPSE_IMAGE, TURN_IMAGE } from "../runtime/images";
import { isAllowablePeerRange, MAX_RELAY_PORTS, relayPortRange } from "../turn/turnserver";

/** Every default of the arguments, in their shape. */
export const DEFAULTS = {
    image: SYNAPSE_IMAGE,
    httpPort: 8008,
    bindAddress: "127.0.0.1",
    timezone: "UTC",
    uid: 1000,
    gid: 1000,
    reportStats: false,
    adminUser: "admin",
    adminPasswordVersion: "1",
    retainDataOnDestroy: false,
    postgres: { image: POSTGRES_IMAGE },
    edge: { image: CADDY_IMAGE, httpsPort: 443, federationPort: 8448, serveWellKnown: false, exposeAdminApi: false },
    backups: { enabled: true, keep: 5 },
    federation: { enabled: true },
    redisImage: REDIS_IMAGE,
    // A small relay range: Docker publishes each port on its own, and a few dozen start in a second.
    turn: { image: TURN_IMAGE, bindAddress: "127.0.0.1", port: 3478, tlsPort: 5349, relayPorts: "49160-49200", allowPeers: [] as string[] },
    // Eight days: a weekly backup that is a day late.
    monitoring: { image: PROMETHEUS_IMAGE, postgresExporterImage: POSTGRES_EXPORTER_IMAGE, port: 9090, scrapeInterval: "15s", retention: "15d", backupMaxAgeHours: 192 },
} as const;

/** The smallest memory limit Synapse starts in, in MiB. */
export const MIN_MEMORY_MB = 256;

/**
 * homeserver.yaml keys the component writes itself, each with what to do instead: `extraConfig` may not set them, or
 * it would silently undo an argument (or open registration).
 */
export const OWNED_CONFIG_KEYS = {
    server_name: "set serverName instead",
    public_baseurl: "set publicBaseUrl instead",
    report_stats: "set reportStats instead",
    enable_registration: "registration stays closed; create users through the admin API",
    listeners: "the component publishes the listener on 8008 in the container (httpPort on the host)",
    federation_domain_whitelist: "set federation.allowList instead",
    federation_custom_ca_list: "set federation.trustedCaCertificates instead",
    ip_range_whitelist: "set federation.allowPrivateRanges instead",
    database: "set postgres instead",
} as const;

export type OwnedConfigKey = keyof typeof OWNED_CONFIG_KEYS;

/** homeserver.yaml keys the component writes itself when it runs a TURN server, each with what to do instead. */
export const TURN_CONFIG_KEYS = {
    turn_uris: "the component points them at its TURN server (turn.port, turn.tlsPort)",
    turn_shared_secret: "the component's TURN server has a random secret of its own, handed to Synapse as a file",
    turn_shared_secret_path: "the component's TURN server has a random secret of its own, handed to Synapse as a file",
    turn_username: "the component's TURN server uses the shared secret's time-limited credentials",
    turn_password: "the component's TURN server uses the shared secret's time-limited credentials",
} as const;

/** A rule about one value: what is accepted, and the accepted form as a message names it. */
export interface Rule {
    schema: v.GenericSchema;
    form: string;
}

/** Whether a value follows a rule. */
export function accepts(rule: Rule, value: unknown): boolean {
    return v.safeParse(rule.schema, value).success;
}

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
const TZ_NAME = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/;
// Docker's reference grammar: [host[:port]/]path[:tag][@sha256:hex].
const IMAGE_REF =
    /^(?:(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?)\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$/;
const DOCKER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const PEM_CERTIFICATE = /^-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\s*$/;

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

/** An IPv4 or IPv6 CIDR such as 172.18.0.0/16 or fd00::/8. */
export function isCidr(value: string): boolean {
    const [address, bits, ...rest] = value.split("/");
    const version = net.isIP(address ?? "");
    return rest.length === 0 && version !== 0 && /^\d{1,3}$/.test(bits ?? "") && Number(bits) <= (version === 4 ? 32 : 128);
}

export function isLoopback(address: string): boolean {
    return address === "::1" || (net.isIPv4(address) && address.startsWith("127."));
}

/** An image reference that pins what runs: with a tag or a digest. */
function isPinnedImage(image: string): boolean {
    const lastSegment = image.slice(image.lastIndexOf("/") + 1);
    return IMAGE_REF.test(image) && (lastSegment.includes(":") || image.includes("@sha256:"));
}

/** The PostgreSQL major a tag names (17, 16.4, 15-alpine); undefined for a digest or another tag. */
export function postgresMajor(image: string): number | undefined {
    const reference = image.split("@")[0];
    const major = /:(\d+)(?:[.-].*)?$/.exec(reference.slice(reference.lastIndexOf("/") + 1));
    return major ? Number(major[1]) : undefined;
}

export function isHttpUrl(value: string): boolean {
    try {
        const url = new URL(value);
        return ["http:", "https:"].includes(url.protocol) && !url.search && !url.hash;
    } catch {
        return false;
    }
}

const text = (valid: (value: string) => boolean) => v.pipe(v.string(), v.check(valid));
const wholeNumber = (min: number, max: number) => v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));
const list = (item: v.GenericSchema) => v.array(item);
const image = (example: string): Rule => ({ schema: text(isPinnedImage), form: `an image reference with a tag or digest, such as ${example}` });

/** The rules, by what they are about; the component's arguments and the stack's keys share them. */
export const RULES = {
    dnsName: { schema: text(isDnsName), form: "a DNS name such as matrix.example.org" },
    synapseImage: image("matrixdotorg/synapse:v1.163.2 or registry.example.org/synapse@sha256:<64 hex>"),
    postgresImage: image("postgres:17"),
    postgresRelease: {
        schema: text((value) => (postgresMajor(value) ?? 14) >= 14),
        form: "PostgreSQL 14 or newer (Synapse refuses older), such as postgres:17",
    },
    caddyImage: image("caddy:2.6.2"),
    redisImage: image("redis:8.0"),
    port: { schema: wholeNumber(1, 65535), form: "a port number from 1 to 65535" },
    address: { schema: v.pipe(v.string(), v.ip()), form: "an IPv4 or IPv6 address such as 127.0.0.1 or 0.0.0.0" },
    publicBaseUrl: { schema: text(isHttpUrl), form: "an http(s) URL such as https://matrix.example.org/" },
    timezone: { schema: text(isTimeZone), form: "an IANA time zone name such as UTC or Europe/Berlin" },
    uid: { schema: wholeNumber(1, 2147483647), form: "a whole number from 1 to 2147483647 (a non-root user id)" },
    gid: { schema: wholeNumber(1, 2147483647), form: "a whole number from 1 to 2147483647 (a non-root group id)" },
    memoryMb: { schema: wholeNumber(MIN_MEMORY_MB, 1024 * 1024), form: `a whole number of MiB, at least ${MIN_MEMORY_MB}` },
    cpus: {
        schema: text((value) => /^\d+(\.\d{1,2})?$/.test(value) && Number(value) >= 0.1 && Number(value) <= 1024),
        form: "a number of CPUs such as 1 or 1.5, at least 0.1",
    },
    localpart: {
        schema: v.pipe(v.string(), v.regex(/^[a-z0-9._=\-/+]+$/), v.maxLength(200)),
        form: "a Matrix localpart of lowercase letters, digits and . _ = - / +",
    },
    versionLabel: { schema: v.pipe(v.string(), v.regex(/^[a-zA-Z0-9._-]{1,64}$/)), form: "a short label of letters, digits, . _ or -, such as 2" },
    volumeName: {
        schema: v.pipe(v.string(), v.regex(DOCKER_NAME)),
        form: "a Docker volume name of letters, digits, _ . - (starting with a letter or digit)",
    },
    containerName: {
        schema: v.pipe(v.string(), v.regex(DOCKER_NAME)),
        form: "a Docker container name of letters, digits, _ . - (starting with a letter or digit)",
    },
    networkName: { schema: v.pipe(v.string(), v.regex(DOCKER_NAME)), form: "the name of an existing Docker network, such as matrix-lab" },
    email: { schema: v.pipe(v.string(), v.email()), form: "an email address such as admin@example.org" },
    tlsMode: { schema: v.picklist(Object.values(TlsMode)), form: `one of ${Object.values(TlsMode).join(", ")}` },
    backupsToKeep: { schema: wholeNumber(1, 1000), form: "a whole number of archives from 1 to 1000" },
    serverNames: { schema: list(text(isDnsName)), form: "a list of server names such as [a.example.org, b.example.org]" },
    certificates: { schema: list(text((item) => PEM_CERTIFICATE.test(item.trim()))), form: "a list of PEM certificates (-----BEGIN CERTIFICATE-----...)" },
    cidrs: { schema: list(text(isCidr)), form: "a list of CIDRs such as 172.18.0.0/16" },
    turnImage: image("coturn/coturn:4.6.1"),
    prometheusImage: image("prom/prometheus:v2.53.3"),
    postgresExporterImage: image("prometheuscommunity/postgres-exporter:v0.17.1"),
    // At most 30 s: the console pages' and the alerts' rates look back a minute, and need two samples in it.
    scrapeInterval: {
        schema: v.pipe(v.string(), v.regex(/^\d+s$/), v.check((value) => Number.parseInt(value, 10) >= 1 && Number.parseInt(value, 10) <= 30)),
        form: "a duration from 1s to 30s such as 15s (the pages' and alerts' rates look back a minute)",
    },
    retention: { schema: v.pipe(v.string(), v.regex(/^([1-9]\d*)(h|d|w|y)$/)), form: "a duration such as 15d, 12w or 1y" },
    backupMaxAgeHours: { schema: wholeNumber(1, 24 * 366), form: "a whole number of hours from 1 to 8784, such as 192 (8 days)" },
    relayPorts: {
        schema: text((value) => relayPortRange(value) !== undefined),
        form: `a port range first-last from 1024 to 65535 such as 49160-49200, at most ${MAX_RELAY_PORTS} ports (Docker publishes each one)`,
    },
    peerRanges: {
        schema: list(text(isAllowablePeerRange)),
        form: "a list of CIDRs such as 192.168.1.0/24, none holding a loopback or unspecified address (127.0.0.0/8, 0.0.0.0/8, ::, ::1)",
    },
} as const satisfies Record<string, Rule>;

/** The federation port's rule: a port, or 0 to federate through the HTTPS port (named as the caller names it). */
export function federationPortRule(httpsPortName: string): Rule {
    return { schema: wholeNumber(0, 65535), form: `a port number from 1 to 65535, or 0 to federate through ${httpsPortName}` };
}
