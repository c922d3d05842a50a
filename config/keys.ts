// The `synapse:` namespace: its keys, which of them hold secrets, the homeserver.yaml keys the stack owns, the typo
// suggestions for an unknown key, and the error that lists every bad key at once.
import type { OwnedConfigKey } from "@synapse-stack/synapse";

/** Every key of the `synapse:` namespace, each validated in parse.ts; any other key is refused as unknown. */
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
    "workers",
    "redisImage",
    "turn",
    "monitoring",
    "platform",
    "swarm",
] as const;

export type ConfigKey = (typeof CONFIG_KEYS)[number];

export const FEDERATION_KEYS = ["enabled", "allowList", "trustedCaCertificates", "peerStacks", "allowPrivateRanges", "network"] as const;

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

/**
 * homeserver.yaml keys the component writes itself (the package's OWNED_CONFIG_KEYS, the same keys by type), each
 * with what to set instead, in the stack's keys: `extraConfig` may not override them.
 */
export const STACK_OWNED_KEYS: Readonly<Record<OwnedConfigKey, string>> = {
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

/** Keys whose values are secret however they were set: a private key, and homeserver.yaml settings such as smtp_pass. */
export const ALWAYS_SECRET_KEYS: readonly ConfigKey[] = ["tlsKey", "extraConfig"];

/** What a message says in place of a secret value. */
export const NOT_SHOWN = "(secret, value not shown)";

/** Whether `key`, or the mapping it is part of (`federation` for `federation.allowList`), holds a secret value. */
export function isSecretKey(key: string, secretKeys: readonly string[]): boolean {
    const top = key.split(".")[0];
    return (ALWAYS_SECRET_KEYS as readonly string[]).includes(top) || secretKeys.includes(top);
}

/** Thrown when one or more keys are invalid; the message has one line per bad key. */
export class ConfigError extends Error {
    constructor(public readonly problems: string[]) {
        super(`invalid configuration:\n  ${problems.join("\n  ")}`);
        this.name = "ConfigError";
    }
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

/** One problem per key that is not a setting of the stack, with the nearest known key when it looks like a typo. */
export function unknownKeys(setKeys: readonly string[]): string[] {
    return setKeys
        .filter((key) => !(CONFIG_KEYS as readonly string[]).includes(key))
        .map((key) => {
            const near = closestKey(key);
            return (
                `synapse:${key} is not a setting of this stack` +
                (near ? `: did you mean synapse:${near}? Remove it with \`pulumi config rm synapse:${key}\`` : `: known keys are ${CONFIG_KEYS.join(", ")}`)
            );
        });
}
