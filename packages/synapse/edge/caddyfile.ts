import { renderRoutes } from "../workers/routes";

/** How the edge gets its certificates. */
export const TlsMode = { Internal: "internal", Acme: "acme", Files: "files" } as const;
/** internal (the edge's own CA), acme (Let's Encrypt) or files (given). */
export type TlsMode = (typeof TlsMode)[keyof typeof TlsMode];

/** Everything the edge's Caddyfile depends on; all plain values, so rendering is pure and testable. */
export interface EdgeSettings {
    /** How certificates are obtained: the proxy's own CA, Let's Encrypt, or files given by the operator. */
    tls: TlsMode;
    /** The Matrix server name. */
    serverName: string;
    /** The host clients (and, with delegation, other servers) connect to. */
    publicHost: string;
    /** Host port of the client (and delegated federation) listener; 443 inside the container. */
    httpsPort: number;
    /** Host port of the federation listener (8448 inside the container); 0: federation through httpsPort. */
    federationPort: number;
    /** Whether the homeserver federates at all; false: no federation listener and no server delegation. Default true. */
    federation?: boolean;
    /** Serve /.well-known/matrix/server and /client from the edge, on publicHost and serverName. */
    serveWellKnown: boolean;
    /** Forward /_synapse/admin to Synapse instead of refusing it. */
    exposeAdminApi: boolean;
    /** The homeserver as the edge reaches it, host:port. */
    upstream: string;
    /** The workers' listeners by worker kind; with any, requests are routed by the table in workers/routes.ts. */
    workerUpstreams?: Partial<Record<string, string[]>>;
    /** Largest request body, in bytes: Synapse's max_upload_size. */
    maxBodyBytes: number;
    /** Contact address for Let's Encrypt (acme). */
    acmeEmail?: string;
    /** Name of the local CA (internal), shown in the root certificate. */
    caName?: string;
    /** Serve Caddy's metrics on EDGE_METRICS_PORT (on the internal metrics network, for Prometheus). Default false. */
    metrics?: boolean;
}

/** Paths inside the edge container: the data volume holds Caddy's state, the config and given certificates. */
export const EDGE_DATA = "/data";
export const CADDYFILE_PATH = `${EDGE_DATA}/synapse-stack.Caddyfile`;
export const CERTIFICATE_PATH = `${EDGE_DATA}/tls/certificate.pem`;
export const PRIVATE_KEY_PATH = `${EDGE_DATA}/tls/private-key.pem`;
/** Where Caddy keeps its local CA's root (XDG_DATA_HOME=/data in the official image and the local build). */
export const CA_ROOT_PATH = `${EDGE_DATA}/caddy/pki/authorities/local/root.crt`;
/** A listener only the container's healthcheck uses; never published. */
export const HEALTH_PORT = 8081;
/** Caddy's metrics listener (with monitoring), on the internal metrics network only; never published. */
export const EDGE_METRICS_PORT = 9180;

/** The delegation documents: what https://<serverName>/.well-known/matrix/{server,client} must answer. */
export function wellKnown(settings: Pick<EdgeSettings, "publicHost" | "httpsPort" | "federationPort">): {
    server: string;
    client: string;
} {
    const federationPort = settings.federationPort || settings.httpsPort;
    const baseUrl = `https://${settings.publicHost}${settings.httpsPort === 443 ? "" : `:${settings.httpsPort}`}`;
    return {
        server: JSON.stringify({ "m.server": `${settings.publicHost}:${federationPort}` }),
        client: JSON.stringify({ "m.homeserver": { base_url: baseUrl } }),
    };
}

/** Synapse's size notation (50M, 1G, 512K or bytes) in bytes. */
export function parseSize(value: unknown, fallback: number): number {
    if (value === undefined || value === null) {
        return fallback;
    }
    const match = /^(\d+)\s*([KMG]?)B?$/i.exec(String(value).trim());
    if (!match) {
        return fallback;
    }
    const factor = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[match[2].toUpperCase() as "" | "K" | "M" | "G"];
    return Number(match[1]) * factor;
}

/**
 * Renders the edge's Caddyfile. Caddy forwards the request URI as received (no normalising or decoding), sets
 * X-Forwarded-For and -Proto and keeps Host; Synapse's listener trusts X-Forwarded-For because only the edge reaches
 * it. The admin API is refused unless exposed; everything that is not Matrix is 404.
 */
export function renderCaddyfile(settings: EdgeSettings): string {
    const known = wellKnown(settings);
    const tls = {
        internal: "tls internal",
        acme: "", // the default issuer: Let's Encrypt (ZeroSSL as fallback) with the global email
        files: `tls ${CERTIFICATE_PATH} ${PRIVATE_KEY_PATH}`,
    }[settings.tls];
    const globals = [
        "admin off",
        // No port 80: Synapse's federation client does not follow Caddy's 308 redirect, and clients use https.
        "auto_https disable_redirects",
        ...(settings.tls === "internal"
            ? ["local_certs", "skip_install_trust", `pki {\n\t\tca local {\n\t\t\tname "${settings.caName ?? "synapse-stack"}"\n\t\t}\n\t}`]
            : []),
        ...(settings.tls === "acme" && settings.acmeEmail ? [`email ${settings.acmeEmail}`] : []),
    ];
    const workers = settings.workerUpstreams ?? {};
    const proxy = Object.values(workers).some((hosts) => (hosts ?? []).length > 0)
        ? renderRoutes(workers, settings.upstream).replace(/\n/g, "\n\t\t")
        : `reverse_proxy ${settings.upstream}`;
    const federates = settings.federation ?? true;
    const wellKnownRoutes = settings.serveWellKnown
        ? [
              federates
                  ? `handle /.well-known/matrix/server {\n\t\theader Content-Type application/json\n\t\trespond \`${known.server}\` 200\n\t}`
                  : "handle /.well-known/matrix/server {\n\t\trespond 404\n\t}",
              `handle /.well-known/matrix/client {\n\t\theader Content-Type application/json\n\t\theader Access-Control-Allow-Origin *\n\t\trespond \`${known.client}\` 200\n\t}`,
          ]
        : [`handle /.well-known/matrix/* {\n\t\t${proxy}\n\t}`];
    const routes = [
        `request_body {\n\t\tmax_size ${settings.maxBodyBytes}\n\t}`,
        ...wellKnownRoutes,
        settings.exposeAdminApi
            ? `handle /_synapse/admin/* {\n\t\t${proxy}\n\t}`
            : `handle /_synapse/admin/* {\n\t\trespond "The admin API is not exposed here" 403\n\t}`,
        `handle /_matrix/* {\n\t\t${proxy}\n\t}`,
        `handle /_synapse/client/* {\n\t\t${proxy}\n\t}`,
        "handle {\n\t\trespond 404\n\t}",
    ];
    const site = (address: string, body: string[]) =>
        `${address} {\n${[tls, ...body].filter(Boolean).map((line) => `\t${line}`).join("\n")}\n}`;
    const sites = [
        site(`https://${settings.publicHost}:443`, ["import synapse"]),
        ...(settings.federationPort && federates ? [site(`https://${settings.publicHost}:8448`, ["import synapse"])] : []),
        ...(settings.serveWellKnown && settings.serverName !== settings.publicHost
            ? [site(`https://${settings.serverName}:443`, [...wellKnownRoutes, "handle {\n\t\trespond 404\n\t}"])]
            : []),
        `http://:${HEALTH_PORT} {\n\trespond /health 200\n}`,
        ...(settings.metrics ? [`http://:${EDGE_METRICS_PORT} {\n\tmetrics /metrics\n}`] : []),
    ];
    return [
        "# Managed by the synapse Pulumi stack: edits here are replaced on the next `pulumi up`.",
        `{\n${globals.map((line) => `\t${line}`).join("\n")}\n}`,
        `(synapse) {\n${routes.map((line) => `\t${line}`).join("\n")}\n}`,
        ...sites,
        "",
    ].join("\n\n");
}
