// Which Synapse process serves which request, as Synapse's docs/workers.md says (1.163): the one routing table of the
// edge, first match wins, each row tested on its own. Regexes are copied from the docs; Caddy's path_regexp is RE2,
// which takes them as they are.
import type { WorkerKind } from "./kinds";

/** How the edge spreads a row's requests over its processes. */
export const Balance = {
    /** Any process of the kind, in turn. */
    RoundRobin: "round_robin",
    /** One user's requests to one process (its sync stream stays warm there): a hash of the access token. */
    PerUser: "header Authorization",
    /** One remote server's transactions to one process, in order: a hash of the source address. */
    PerSource: "ip_hash",
    /** The first healthy process, so one room's pagination stays on one instance. */
    First: "first",
} as const;
export type Balance = (typeof Balance)[keyof typeof Balance];

/** A row of the routing table. */
export interface Route {
    /** What the row is, as docs/workers.md groups it. */
    name: string;
    /** Path regexes (any matches). */
    paths: readonly string[];
    /** Only these methods; absent: any. */
    methods?: readonly string[];
    /** The kind of process that serves the row, when the homeserver has one; else `fallback`'s; else main. */
    kind: WorkerKind;
    /** Who serves the row when no process of `kind` runs (a stream any worker may write); absent: main. */
    fallback?: WorkerKind;
    balance: Balance;
}

const CLIENT = "^/_matrix/client/(api/v1|r0|v3|unstable)";
const CLIENT_V3 = "^/_matrix/client/(r0|v3|unstable)";

/** The table, in order: the first row that matches a request routes it; no row matching means main. */
export const ROUTES: readonly Route[] = [
    {
        name: "sync",
        paths: [
            "^/_matrix/client/(r0|v3)/sync$",
            "^/_matrix/client/(api/v1|r0|v3)/events$",
            "^/_matrix/client/(api/v1|r0|v3)/initialSync$",
            "^/_matrix/client/(api/v1|r0|v3)/rooms/[^/]+/initialSync$",
        ],
        kind: "sync",
        balance: Balance.PerUser,
    },
    { name: "inbound federation transactions", paths: ["^/_matrix/federation/v1/send/"], kind: "federationReader", balance: Balance.PerSource },
    {
        // Before the federation reads: /_matrix/federation/v1/media/ is the media repository's.
        name: "media",
        paths: [
            "^/_matrix/media/",
            "^/_matrix/client/v1/media/",
            "^/_matrix/federation/v1/media/",
            "^/_synapse/admin/v1/purge_media_cache$",
            "^/_synapse/admin/v1/room/.*/media.*$",
            "^/_synapse/admin/v1/user/.*/media.*$",
            "^/_synapse/admin/v1/media/.*$",
            "^/_synapse/admin/v1/quarantine_media/.*$",
            "^/_synapse/admin/v1/users/.*/media$",
        ],
        kind: "media",
        balance: Balance.First,
    },
    {
        name: "federation requests",
        paths: [
            "^/_matrix/federation/v1/version$",
            "^/_matrix/federation/v1/event/",
            "^/_matrix/federation/v1/state/",
            "^/_matrix/federation/v1/state_ids/",
            "^/_matrix/federation/v1/backfill/",
            "^/_matrix/federation/v1/get_missing_events/",
            "^/_matrix/federation/v1/publicRooms",
            "^/_matrix/federation/v1/query/",
            "^/_matrix/federation/v1/make_join/",
            "^/_matrix/federation/v1/make_leave/",
            "^/_matrix/federation/(v1|v2)/send_join/",
            "^/_matrix/federation/(v1|v2)/send_leave/",
            "^/_matrix/federation/v1/make_knock/",
            "^/_matrix/federation/v1/send_knock/",
            "^/_matrix/federation/(v1|v2)/invite/",
            "^/_matrix/federation/v1/event_auth/",
            "^/_matrix/federation/v1/timestamp_to_event/",
            "^/_matrix/federation/v1/exchange_third_party_invite/",
            "^/_matrix/federation/v1/user/devices/",
            "^/_matrix/key/v2/query",
            "^/_matrix/federation/v1/hierarchy/",
        ],
        kind: "federationReader",
        balance: Balance.RoundRobin,
    },
    // The stream writers' paths: to the stream's writer, or to main when main writes the stream. They must not reach
    // another worker through the broader client rows below: only the writer (or main) serves them.
    { name: "typing (the typing stream's writer)", paths: [`${CLIENT}/rooms/.*/typing`], kind: "typing", balance: Balance.First },
    { name: "to-device messages (the to_device stream's writer)", paths: [`${CLIENT_V3}/sendToDevice/`], kind: "toDevice", balance: Balance.First },
    {
        name: "receipts and read markers (the receipts stream's writers)",
        paths: [`${CLIENT_V3}/rooms/.*/receipt`, `${CLIENT_V3}/rooms/.*/read_markers`],
        kind: "receipts",
        balance: Balance.PerUser,
    },
    { name: "room pagination (one instance per room)", paths: [`${CLIENT}/rooms/.*/messages$`], kind: "client", balance: Balance.First },
    {
        name: "reads of the account data, presence and push rules streams (any worker reads them)",
        paths: [`${CLIENT}/pushrules/`, `${CLIENT_V3}/.*/tags`, `${CLIENT_V3}/.*/account_data`, `${CLIENT}/presence/`, "^/_synapse/admin/v2/users/[^/]+$"],
        methods: ["GET"],
        kind: "client",
        balance: Balance.RoundRobin,
    },
    { name: "push rule writes (the push_rules stream's writer)", paths: [`${CLIENT}/pushrules/`], kind: "pushRules", balance: Balance.First },
    { name: "tag and account data writes (the account_data stream's writer)", paths: [`${CLIENT_V3}/.*/tags`, `${CLIENT_V3}/.*/account_data`], kind: "accountData", balance: Balance.First },
    { name: "presence writes (the presence stream's writer)", paths: [`${CLIENT}/presence/`], kind: "presence", balance: Balance.First },
    { name: "user admin writes", paths: ["^/_synapse/admin/v2/users/[^/]+$"], kind: "main", balance: Balance.First },
    {
        // Any worker may serve these; the device_lists stream's writers first, as docs/workers.md advises.
        name: "device and key changes (the device_lists stream's writers)",
        paths: [
            "^/_matrix/client/(r0|v3)/delete_devices$",
            `${CLIENT}/devices(/|$)`,
            `${CLIENT_V3}/keys/upload`,
            `${CLIENT}/keys/device_signing/upload$`,
            `${CLIENT}/keys/signatures/upload$`,
        ],
        kind: "deviceLists",
        fallback: "client",
        balance: Balance.PerUser,
    },
    {
        name: "client API",
        paths: [
            `${CLIENT}/createRoom$`,
            `${CLIENT}/publicRooms$`,
            `${CLIENT}/rooms/.*/joined_members$`,
            `${CLIENT}/rooms/.*/context/.*$`,
            `${CLIENT}/rooms/.*/members$`,
            `${CLIENT}/rooms/.*/state$`,
            "^/_matrix/client/v1/rooms/.*/hierarchy$",
            "^/_matrix/client/(v1|unstable)/rooms/.*/relations/",
            "^/_matrix/client/v1/rooms/.*/threads$",
            "^/_matrix/client/unstable/im.nheko.summary/summary/.*$",
            "^/_matrix/client/v1/room_summary/.*$",
            `${CLIENT_V3}/account/3pid$`,
            `${CLIENT_V3}/account/whoami$`,
            `${CLIENT_V3}/account/deactivate$`,
            "^/_matrix/client/versions$",
            `${CLIENT}/voip/turnServer$`,
            `${CLIENT}/rooms/.*/event/`,
            `${CLIENT}/joined_rooms$`,
            "^/_matrix/client/v1/rooms/.*/timestamp_to_event$",
            "^/_matrix/client/(api/v1|r0|v3|unstable/.*)/rooms/.*/aliases",
            `${CLIENT}/search$`,
            `${CLIENT_V3}/user/.*/filter(/|$)`,
            `${CLIENT}/directory/room/.*$`,
            `${CLIENT_V3}/capabilities$`,
            `${CLIENT_V3}/notifications$`,
            "^/_synapse/admin/v1/rooms/[^/]+$",
            `${CLIENT_V3}/keys/query$`,
            `${CLIENT_V3}/keys/changes$`,
            `${CLIENT_V3}/keys/claim$`,
            `${CLIENT_V3}/room_keys/`,
            `${CLIENT}/login$`,
            `${CLIENT_V3}/register$`,
            `${CLIENT_V3}/register/available$`,
            "^/_matrix/client/v1/register/m.login.registration_token/validity$",
            `${CLIENT_V3}/password_policy$`,
            `${CLIENT}/rooms/.*/redact`,
            `${CLIENT}/rooms/.*/send`,
            `${CLIENT}/rooms/.*/state/`,
            `${CLIENT}/rooms/.*/(join|invite|leave|ban|unban|kick)$`,
            `${CLIENT}/join/`,
            `${CLIENT}/knock/`,
            `${CLIENT}/profile/`,
            `${CLIENT_V3}/user_directory/search$`,
            "^/_matrix/client/unstable/org.matrix.msc4140/delayed_events(/[^/]+(/restart)?)?$",
        ],
        kind: "client",
        balance: Balance.RoundRobin,
    },
];

/** Who serves a row on a homeserver running `running`: its kind, else its fallback, else main. */
export function targetOf(route: Route, running: ReadonlySet<WorkerKind>): WorkerKind {
    return [route.kind, route.fallback].find((kind): kind is WorkerKind => kind !== undefined && kind !== "main" && running.has(kind)) ?? "main";
}

/** The kind of process a request goes to, given the kinds the homeserver runs: main when no row matches. */
export function routeFor(method: string, path: string, running: ReadonlySet<WorkerKind>): { route?: Route; kind: WorkerKind } {
    for (const route of ROUTES) {
        if ((route.methods === undefined || route.methods.includes(method)) && route.paths.some((pattern) => new RegExp(pattern).test(path))) {
            return { route, kind: targetOf(route, running) };
        }
    }
    return { kind: "main" };
}

/**
 * How long the edge holds a request while it looks for a healthy process: a worker restarting, main migrating, or
 * every process restarting in order (StaleWorkersStop), which on a 2-core host takes most of a minute.
 */
const TRY_DURATION = "60s";
/**
 * Which requests the edge tries again, and when. Caddy 2.6 (Debian's release) cannot send a request body twice: Go's
 * transport closes it after any failed attempt (a refused connection too), so every later attempt fails at once
 * ("invalid Read on closed Body"). Tried again for the whole lb_try_duration, such a request failed every 250 ms for
 * a minute, and (with passive health checks) kept its restarted worker marked failed: every request of the worker's
 * rows waited, then got a 503.
 * - GET, HEAD and OPTIONS requests are tried again whatever the error.
 * - Any other request is held only until its first attempt (Caddy sets the upstream's address at an attempt): while
 *   no process of its row is available, as Caddy 2.6 holds a request only if it matches here. Once an attempt of it
 *   failed, it gets a 502, and the client repeats it; for a Matrix send that is safe, as its transaction id stores the
 *   message once. The 502 comes at once, except after a refused connection, which Caddy always tries again: then at
 *   that next attempt, once a process of the row is available.
 */
const RETRY_MATCH = ["lb_retry_match method GET HEAD OPTIONS", "lb_retry_match {\n\texpression {http.reverse_proxy.upstream.address} == null\n}"];
/**
 * Every pool is health-checked, main too: a process that is down gets no request, so a request with a body waits for
 * it instead of being spent on it.
 */
const HEALTH = ["health_uri /health", "health_interval 2s", "health_timeout 2s"];
/**
 * A worker whose request failed gets none for 5 s (longer than the active check needs to notice, 2 s between probes and
 * 2 s to answer): the client's repeat of a send the worker dropped waits for it rather than being spent on it in that
 * window. Not for main: any failed request counts, a client's broken upload too, and main serves every row.
 */
const PASSIVE = ["fail_duration 5s"];

/**
 * The routing table as Caddyfile lines: a `route` block (literal order, first match wins) with one matcher and one
 * reverse_proxy per row, to the row's processes when the homeserver runs its kind and to main otherwise. Each pool
 * is health-checked (/health on every listener, main's too): a dead process gets no requests until it answers again,
 * and a request finds another process, or waits for one, rather than failing.
 */
export function renderRoutes(upstreams: Readonly<Partial<Record<string, readonly string[]>>>, main: string): string {
    const running = new Set(Object.keys(upstreams).filter((kind) => (upstreams[kind] ?? []).length > 0) as WorkerKind[]);
    const hold = [`lb_try_duration ${TRY_DURATION}`, "lb_try_interval 250ms", ...RETRY_MATCH, ...HEALTH];
    const proxy = (matcher: string, hosts: readonly string[], options: readonly string[]) =>
        [`\treverse_proxy ${matcher}${hosts.join(" ")} {`, ...options.map((line) => `\t\t${line.replace(/\n/g, "\n\t\t")}`), "\t}"].join("\n");
    const lines = ROUTES.map((route, index) => {
        const target = targetOf(route, running);
        const matcher = [
            `\t@route${index} {`,
            `\t\tpath_regexp route${index} ${route.paths.map((pattern) => `(?:${pattern})`).join("|")}`,
            ...(route.methods ? [`\t\tmethod ${route.methods.join(" ")}`] : []),
            "\t}",
        ];
        // A row main serves stays in the table: it keeps its paths from the broader rows after it.
        const to =
            target === "main"
                ? proxy(`@route${index} `, [main], hold)
                : proxy(`@route${index} `, upstreams[target] ?? [], [`lb_policy ${route.balance}`, ...hold, ...PASSIVE]);
        return [`\t# ${route.name}`, ...matcher, to].join("\n");
    });
    return ["route {", ...lines, proxy("", [main], hold), "}"].join("\n");
}
