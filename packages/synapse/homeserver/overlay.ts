import { METRICS_PORT } from "../workers/kinds";

/** Synapse's `database:` block. */
export interface DatabaseConfig {
    /** The driver: psycopg2 for PostgreSQL. */
    name: string;
    /** Connection settings: host, port, user, password, dbname, pool and keepalive sizes. */
    args: Record<string, string | number>;
}

/** What the stack itself decides in homeserver.yaml; rendered into an overlay file read after the generated config. */
export interface OverlaySettings {
    /** The URL clients and federation links are built from, ending in a slash. */
    publicBaseUrl: string;
    /** Whether Synapse reports anonymous usage statistics to matrix.org. */
    reportStats: boolean;
    /** Whether a TLS edge is the only way in, so the listener may trust its X-Forwarded-For. Default false. */
    behindEdge?: boolean;
    /** Synapse's `database:` block; absent: the generated SQLite one stays. */
    database?: DatabaseConfig;
    /** Federation; absent: on, with the public internet's trust (system CAs, Synapse's IP blocklist). */
    federation?: {
        /** false: no federation listener, no federation in either direction. */
        enabled: boolean;
        /** The only servers federated with (federation_domain_whitelist); absent: all. */
        allowList?: string[];
        /** Files of the PEM roots trusted for federation instead of the system store; keys then come from peers only. */
        caFiles: string[];
        /** CIDRs taken out of the outbound IP blocklist (ip_range_whitelist). */
        allowPrivateRanges: string[];
    };
    /** Further top-level keys (never one the stack owns; config validation checks that). */
    extraConfig: Record<string, unknown>;
    /** With a TURN server: the URIs clients get and the file holding the shared secret their credentials are signed with. */
    turn?: { uris: string[]; sharedSecretPath: string };
    /** With monitoring: every process serves its metrics (with workers, they already do). */
    metrics?: boolean;
    /** With workers: the keys every process shares (Redis, instance map, roles) and main's further listeners. */
    workers?: { shared: Record<string, unknown>; listeners: Record<string, unknown>[] };
}

/**
 * Renders the overlay homeserver config. Synapse merges config files shallowly, so every key here replaces the
 * generated one; JSON is valid YAML, and its key order is fixed here, so the same settings give the same bytes.
 */
export function renderOverlay(settings: OverlaySettings): string {
    const federation = settings.federation ?? { enabled: true, caFiles: [], allowPrivateRanges: [] };
    const overlay = {
        ...sortedKeys(settings.extraConfig),
        public_baseurl: settings.publicBaseUrl,
        report_stats: settings.reportStats,
        enable_registration: false,
        // The generated listener, except that X-Forwarded-For is trusted only when nothing but the edge reaches it:
        // published directly, any client could claim any address.
        listeners: [
            {
                port: 8008,
                tls: false,
                type: "http",
                x_forwarded: settings.behindEdge ?? false,
                resources: [{ names: federation.enabled ? ["client", "federation"] : ["client"], compress: false }],
            },
            ...(settings.workers?.listeners ?? []),
            ...(settings.metrics && !settings.workers ? [{ port: METRICS_PORT, type: "metrics", bind_addresses: ["0.0.0.0"] }] : []),
        ],
        ...(settings.database ? { database: settings.database } : {}),
        // An empty whitelist is Synapse's way to federate with no one.
        ...(!federation.enabled ? { federation_domain_whitelist: [] } : federation.allowList ? { federation_domain_whitelist: federation.allowList } : {}),
        // A private federation trusts its own CAs only, and no key server outside it (matrix.org).
        ...(federation.caFiles.length > 0 ? { federation_custom_ca_list: federation.caFiles, trusted_key_servers: [] } : {}),
        ...(federation.allowPrivateRanges.length > 0 ? { ip_range_whitelist: federation.allowPrivateRanges } : {}),
        ...(settings.turn ? { turn_uris: settings.turn.uris, turn_shared_secret_path: settings.turn.sharedSecretPath } : {}),
        ...(settings.metrics ? { enable_metrics: true } : {}),
        ...(settings.workers?.shared ?? {}),
    };
    return [
        "# Managed by the synapse Pulumi stack: edits here are replaced on the next `pulumi up`.",
        "# Set values with `pulumi config set synapse:<key>` (extraConfig for other settings).",
        JSON.stringify(overlay, null, 2),
        "",
    ].join("\n");
}

function sortedKeys(values: Record<string, unknown>): Record<string, unknown> {
    return Object.fromEntries(Object.keys(values).sort().map((key) => [key, values[key]]));
}
