import * as net from "node:net";
import * as pulumi from "@pulumi/pulumi";

/** The official image, pinned to a release; setup builds a local image of the same release where no registry is reachable. */
export const OFFICIAL_IMAGE = "matrixdotorg/synapse:v1.163.2";

/** Top-level homeserver.yaml keys the stack sets itself; `extraConfig` may not override them. */
export const STACK_OWNED_KEYS: Readonly<Record<string, string>> = {
    public_baseurl: "set synapse:publicBaseUrl instead",
    report_stats: "set synapse:reportStats instead",
    enable_registration: "registration stays closed; create users through the admin API",
    listeners: "the stack publishes the generated listener on port 8008",
};

/** Configuration values exactly as Pulumi hands them over: strings (`extraConfig` as JSON text). */
export interface RawConfig {
    serverName?: string;
    image?: string;
    httpPort?: string;
    bindAddress?: string;
    timezone?: string;
    uid?: string;
    gid?: string;
    reportStats?: string;
    adminUser?: string;
    adminPasswordVersion?: string;
    publicBaseUrl?: string;
    volumeName?: string;
    retainDataOnDestroy?: string;
    extraConfig?: string;
}

/** Where the program runs: the stack name and the environment's image override. */
export interface ConfigContext {
    /** Pulumi stack name; names the volume and containers. */
    stack: string;
    /** Image to use when `synapse:image` is unset (SYNAPSE_IMAGE, written by setup for a local build); default the official image. */
    defaultImage?: string;
}

/** The validated, typed configuration every component is built from. */
export interface SynapseConfig {
    serverName: string;
    image: string;
    httpPort: number;
    bindAddress: string;
    timezone: string;
    uid: number;
    gid: number;
    reportStats: boolean;
    adminUser: string;
    adminPasswordVersion: string;
    publicBaseUrl: string;
    volumeName: string;
    containerName: string;
    retainDataOnDestroy: boolean;
    extraConfig: Record<string, unknown>;
    /** The homeserver's base URL as reached from the Docker host. */
    url: string;
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

function hasTagOrDigest(image: string): boolean {
    const lastSegment = image.slice(image.lastIndexOf("/") + 1);
    return lastSegment.includes(":") || image.includes("@sha256:");
}

/** The host part of a URL for an address Docker publishes on; wildcard binds are reached through loopback. */
export function hostForUrl(bindAddress: string): string {
    if (bindAddress === "0.0.0.0") {
        return "127.0.0.1";
    }
    if (bindAddress === "::") {
        return "[::1]";
    }
    return net.isIPv6(bindAddress) ? `[${bindAddress}]` : bindAddress;
}

/**
 * Validates raw configuration and returns the typed result, or throws a ConfigError naming every bad
 * key, its value and the accepted form. Pure: no Pulumi, no I/O.
 */
export function parseConfig(given: RawConfig, context: ConfigContext): SynapseConfig {
    // Pulumi.yaml declares derived defaults as "": an empty value means "work it out".
    const raw: RawConfig = Object.fromEntries(
        Object.entries(given).filter(([, value]) => value !== undefined && value.trim() !== ""),
    );
    const problems: string[] = [];
    const bad = (key: string, value: unknown, expected: string) => {
        problems.push(`synapse:${key} ${JSON.stringify(value)} is not valid: expected ${expected}`);
    };

    const integer = (key: keyof RawConfig, fallback: number, min: number, max: number, expected: string) => {
        const value = raw[key];
        if (value === undefined) {
            return fallback;
        }
        const text = String(value).trim();
        const parsed = Number(text);
        if (!/^-?\d+$/.test(text) || parsed < min || parsed > max) {
            bad(key, value, expected);
            return fallback;
        }
        return parsed;
    };

    const boolean = (key: keyof RawConfig, fallback: boolean) => {
        const value = raw[key];
        if (value === undefined) {
            return fallback;
        }
        const text = String(value).trim().toLowerCase();
        if (text !== "true" && text !== "false") {
            bad(key, value, "true or false");
            return fallback;
        }
        return text === "true";
    };

    const serverName = raw.serverName?.trim() ?? "";
    if (raw.serverName === undefined) {
        problems.push(
            "synapse:serverName is required: set it with `pulumi config set synapse:serverName matrix.example.org`",
        );
    } else if (!isDnsName(serverName)) {
        bad("serverName", raw.serverName, "a DNS name such as matrix.example.org");
    }

    const image = raw.image ?? context.defaultImage ?? OFFICIAL_IMAGE;
    if (!IMAGE_REF.test(image) || !hasTagOrDigest(image)) {
        bad(
            raw.image === undefined ? "image (from SYNAPSE_IMAGE)" : "image",
            image,
            "an image reference with a tag or digest, such as matrixdotorg/synapse:v1.163.2 or registry.example.org/synapse@sha256:<64 hex>",
        );
    }

    const httpPort = integer("httpPort", 8008, 1, 65535, "a port number from 1 to 65535");

    const bindAddress = raw.bindAddress?.trim() ?? "127.0.0.1";
    if (net.isIP(bindAddress) === 0) {
        bad("bindAddress", raw.bindAddress, "an IPv4 or IPv6 address such as 127.0.0.1 or 0.0.0.0");
    }

    const timezone = raw.timezone?.trim() ?? "UTC";
    if (!isTimeZone(timezone)) {
        bad("timezone", raw.timezone, "an IANA time zone name such as UTC or Europe/Berlin");
    }

    const idForm = "a whole number from 1 to 2147483647 (a non-root user id)";
    const uid = integer("uid", 1000, 1, 2147483647, idForm);
    const gid = integer("gid", 1000, 1, 2147483647, idForm.replace("user", "group"));

    const reportStats = boolean("reportStats", false);

    const adminUser = raw.adminUser?.trim() ?? "admin";
    if (!LOCALPART.test(adminUser) || adminUser.length > 200) {
        bad("adminUser", raw.adminUser, "a Matrix localpart of lowercase letters, digits and . _ = - / +");
    }

    const adminPasswordVersion = raw.adminPasswordVersion?.trim() ?? "1";
    if (!VERSION_TAG.test(adminPasswordVersion)) {
        bad("adminPasswordVersion", raw.adminPasswordVersion, "a short label of letters, digits, . _ or -, such as 2");
    }

    const url = `http://${hostForUrl(bindAddress)}:${httpPort}`;
    let publicBaseUrl = raw.publicBaseUrl?.trim() ?? `${url}/`;
    if (raw.publicBaseUrl !== undefined) {
        let parsed: URL | undefined;
        try {
            parsed = new URL(publicBaseUrl);
        } catch {
            parsed = undefined;
        }
        if (!parsed || !["http:", "https:"].includes(parsed.protocol) || parsed.search || parsed.hash) {
            bad("publicBaseUrl", raw.publicBaseUrl, "an http(s) URL such as https://matrix.example.org/");
        } else if (!publicBaseUrl.endsWith("/")) {
            publicBaseUrl = `${publicBaseUrl}/`;
        }
    }

    const stackPrefix = `synapse-${context.stack}`;
    const volumeName = raw.volumeName?.trim() ?? `${stackPrefix}-data`;
    if (!VOLUME_NAME.test(volumeName)) {
        bad("volumeName", raw.volumeName, "a Docker volume name of letters, digits, _ . - (starting with a letter or digit)");
    }

    const retainDataOnDestroy = boolean("retainDataOnDestroy", false);

    let extraConfig: Record<string, unknown> = {};
    if (raw.extraConfig !== undefined) {
        let value: unknown;
        try {
            value = JSON.parse(raw.extraConfig);
        } catch {
            value = raw.extraConfig;
        }
        if (typeof value !== "object" || value === null || Array.isArray(value)) {
            bad("extraConfig", raw.extraConfig, "a mapping of homeserver.yaml top-level keys to values");
        } else {
            extraConfig = value as Record<string, unknown>;
            for (const key of Object.keys(extraConfig)) {
                const reason = STACK_OWNED_KEYS[key];
                if (reason !== undefined) {
                    problems.push(`synapse:extraConfig key "${key}" is owned by the stack: ${reason}`);
                }
            }
        }
    }

    if (problems.length > 0) {
        throw new ConfigError(problems);
    }
    return {
        serverName,
        image,
        httpPort,
        bindAddress,
        timezone,
        uid,
        gid,
        reportStats,
        adminUser,
        adminPasswordVersion,
        publicBaseUrl,
        volumeName,
        containerName: stackPrefix,
        retainDataOnDestroy,
        extraConfig,
        url,
    };
}

const RAW_KEYS = [
    "serverName",
    "image",
    "httpPort",
    "bindAddress",
    "timezone",
    "uid",
    "gid",
    "reportStats",
    "adminUser",
    "adminPasswordVersion",
    "publicBaseUrl",
    "volumeName",
    "retainDataOnDestroy",
    "extraConfig",
] as const satisfies readonly (keyof RawConfig)[];

/** Reads the `synapse:` namespace of the stack's configuration and validates it before any resource exists. */
export function readConfig(): SynapseConfig {
    const config = new pulumi.Config("synapse");
    const raw: RawConfig = {};
    for (const key of RAW_KEYS) {
        raw[key] = config.get(key);
    }
    try {
        return parseConfig(raw, { stack: pulumi.getStack(), defaultImage: process.env.SYNAPSE_IMAGE || undefined });
    } catch (err) {
        // A RunError prints its message without a stack trace: the user needs the keys, not our call stack.
        throw err instanceof ConfigError ? new pulumi.RunError(err.message) : err;
    }
}
