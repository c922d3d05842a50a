// The load run's traffic against one homeserver: users made through the admin API, public rooms every one of them
// joins, senders putting messages into those rooms (at a fixed rate, or as fast as they are answered), and clients
// long-polling /sync, with
// what they measure: messages accepted, when each was seen by the other clients, how long syncs took, what failed.
import * as crypto from "node:crypto";
import { type Matrix, runId, send } from "../test/e2e/support";

/** How much load, for how long. */
export interface TrafficShape {
    /** Messages per second all senders offer together, evenly spread; 0: each sends as soon as its last was answered. */
    rate: number;
    senders: number;
    syncers: number;
    rooms: number;
    warmupSeconds: number;
    seconds: number;
}

/** What one side's measured window came to. Latencies in milliseconds. */
export interface TrafficFigures {
    seconds: number;
    accepted: number;
    messagesPerSecond: number;
    sendP50: number;
    sendP95: number;
    /** Every (message, syncing client) pair: from the send being issued to the event in that client's /sync. */
    deliveryP50: number;
    deliveryP95: number;
    deliveries: number;
    /** Accepted messages times syncing clients, less the deliveries seen by the end of the drain. */
    missed: number;
    /** Syncs started in the window that returned with timeline events (long-polls that timed out empty are left out). */
    syncP50: number;
    syncP95: number;
    syncsWithEvents: number;
    /** Syncs whose room timeline came back `limited`: more events than the filter's limit, some never seen. */
    gaps: number;
    errors: Record<string, number>;
}

interface Client {
    userId: string;
    token: string;
}

export interface Population {
    senders: Client[];
    syncers: Client[];
    rooms: string[];
}

// A real client's long-poll is 30 s; 10 s keeps a poll well inside the test client's 30 s socket timeout.
const SYNC_TIMEOUT_MS = 10_000;
// Large enough that a sync under load returns every new event of a room; a `limited` timeline is counted as a gap.
const SYNC_FILTER = encodeURIComponent(JSON.stringify({ room: { timeline: { limit: 200 } } }));
const ID_KEY = "io.synapse-stack.bench.id";
const END_KEY = "io.synapse-stack.bench.end";
// The longest the syncing clients wait, once the senders stop, for the last messages (the end marker in every room).
const DRAIN_SECONDS = 30;

const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The p-th percentile (nearest rank), NaN for no values. */
export function percentile(values: number[], p: number): number {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted.length > 0 ? sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] : NaN;
}

async function mustSucceed(what: string, answer: Promise<{ status: number; json: { errcode?: string; error?: string } }>): Promise<void> {
    const { status, json } = await answer;
    if (status !== 200 && status !== 201) {
        throw new Error(`${what} answered ${status}: ${json.errcode ?? ""} ${json.error ?? ""}`);
    }
}

/**
 * K senders and M syncing users, made with the admin API (registration is closed) and logged in, and `rooms` public
 * rooms the admin creates and everyone joins.
 */
export async function populate(matrix: Matrix, admin: { userId: string; password: string }, serverName: string, shape: TrafficShape): Promise<Population> {
    const adminLogin = await matrix.login(admin.userId, admin.password);
    if (!adminLogin.token) {
        throw new Error(`the admin's login answered ${adminLogin.status} ${adminLogin.errcode ?? ""}`);
    }
    const adminToken = adminLogin.token;
    const password = crypto.randomBytes(16).toString("hex");
    const makeUser = async (localpart: string): Promise<Client> => {
        const userId = `@${localpart}:${serverName}`;
        await mustSucceed(`creating ${userId}`, matrix.request("PUT", `/_synapse/admin/v2/users/${encodeURIComponent(userId)}`, { password, admin: false }, adminToken));
        const login = await matrix.login(userId, password);
        if (!login.token) {
            throw new Error(`${userId}'s login answered ${login.status} ${login.errcode ?? ""}`);
        }
        return { userId, token: login.token };
    };
    const senders = await Promise.all(Array.from({ length: shape.senders }, (_, i) => makeUser(`load-sender-${i + 1}`)));
    const syncers = await Promise.all(Array.from({ length: shape.syncers }, (_, i) => makeUser(`load-syncer-${i + 1}`)));
    const rooms: string[] = [];
    for (let i = 0; i < shape.rooms; i++) {
        const room = await matrix.request("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", name: `load ${i + 1}` }, adminToken);
        if (room.status !== 200) {
            throw new Error(`createRoom answered ${room.status}: ${JSON.stringify(room.json)}`);
        }
        rooms.push(room.json.room_id);
    }
    await Promise.all(
        [...senders, ...syncers].map(async (client) => {
            for (const room of rooms) {
                await mustSucceed(`${client.userId} joining ${room}`, matrix.request("POST", `/_matrix/client/v3/join/${encodeURIComponent(room)}`, {}, client.token));
            }
        }),
    );
    return { senders, syncers, rooms };
}

type Outcome = { ok: true; json: SyncAnswer } | { ok: false; kind: string };

interface SyncAnswer {
    next_batch: string;
    rooms?: { join?: Record<string, { timeline?: { limited?: boolean; events?: { content?: Record<string, unknown> }[] } }> };
}

/** One request of the load: the answer's JSON on 200, else what went wrong (status and errcode, or the socket error). */
async function call(matrix: Matrix, method: string, urlPath: string, token: string, body?: unknown): Promise<Outcome> {
    try {
        const answer = await send(`${matrix.baseUrl}${urlPath}`, {
            ...matrix.transport,
            method,
            headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
            body: body === undefined ? undefined : JSON.stringify(body),
        });
        if (answer.status !== 200) {
            const errcode = (() => {
                try {
                    return (JSON.parse(answer.body.toString("utf8")) as { errcode?: string }).errcode;
                } catch {
                    return undefined;
                }
            })();
            return { ok: false, kind: `${answer.status}${errcode ? ` ${errcode}` : ""}` };
        }
        return { ok: true, json: JSON.parse(answer.body.toString("utf8")) as SyncAnswer };
    } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        return { ok: false, kind: code ?? (String(err).includes("did not answer") ? "no answer within 30 s" : String(err).slice(0, 80)) };
    }
}

/**
 * Runs the traffic: a warm-up, the measured window (`window.begin` and `window.end` are called at its edges, for the
 * CPU counters), then a drain in which the syncing clients read what is left. Only requests issued in the window count.
 */
export async function runTraffic(matrix: Matrix, population: Population, shape: TrafficShape, window: { begin: () => void; end: () => void }): Promise<TrafficFigures> {
    const { senders, syncers, rooms } = population;
    let phase: "warmup" | "measure" | "drain" = "warmup";
    const issued = new Map<string, { at: number; measured: boolean }>();
    const seenBy = new Map<string, number>();
    const acceptedIds = new Set<string>();
    const sendLatencies: number[] = [];
    const deliveries: number[] = [];
    const syncLatencies: number[] = [];
    const errors: Record<string, number> = {};
    let gaps = 0;
    const failed = (what: string, kind: string) => {
        errors[`${what} ${kind}`] = (errors[`${what} ${kind}`] ?? 0) + 1;
    };
    const sendPath = (room: string, txnId: string) => `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/send/m.room.message/${txnId}`;

    const initial = await Promise.all(syncers.map((client) => call(matrix, "GET", `/_matrix/client/v3/sync?timeout=0&filter=${SYNC_FILTER}`, client.token)));
    const failedInitial = initial.find((outcome) => !outcome.ok);
    if (failedInitial && !failedInitial.ok) {
        throw new Error(`an initial sync failed: ${failedInitial.kind}`);
    }

    const run = runId();
    const started = now();
    const sender = async (client: Client, index: number) => {
        for (let n = 0; phase !== "drain"; n++) {
            if (shape.rate > 0) {
                // Each sender's own slots, staggered across senders; a late answer sends the next at once.
                await sleep(Math.max(0, started + ((n + index / shape.senders) * shape.senders * 1000) / shape.rate - now()));
                if (phase !== "warmup" && phase !== "measure") {
                    break;
                }
            }
            const id = `${run}-${index}-${n}`;
            const measured = phase === "measure";
            const at = now();
            issued.set(id, { at, measured });
            const outcome = await call(matrix, "PUT", sendPath(rooms[(index + n) % rooms.length], id), client.token, { msgtype: "m.text", body: `load ${id}`, [ID_KEY]: id });
            if (outcome.ok && measured) {
                acceptedIds.add(id);
                sendLatencies.push(now() - at);
            } else if (!outcome.ok) {
                if (measured) {
                    failed("send", outcome.kind);
                }
                await sleep(100);
            }
        }
    };

    let drainDeadline = Infinity;
    const syncer = async (client: Client, since: string) => {
        const ended = new Set<string>();
        while (ended.size < rooms.length && now() < drainDeadline) {
            const measured = phase === "measure";
            const started = now();
            const outcome = await call(matrix, "GET", `/_matrix/client/v3/sync?timeout=${SYNC_TIMEOUT_MS}&filter=${SYNC_FILTER}&since=${encodeURIComponent(since)}`, client.token);
            const at = now();
            if (!outcome.ok) {
                if (measured) {
                    failed("sync", outcome.kind);
                }
                await sleep(100);
                continue;
            }
            since = outcome.json.next_batch;
            let events = 0;
            for (const [room, joined] of Object.entries(outcome.json.rooms?.join ?? {})) {
                gaps += measured && joined.timeline?.limited ? 1 : 0;
                for (const event of joined.timeline?.events ?? []) {
                    events++;
                    const id = event.content?.[ID_KEY];
                    const sent = typeof id === "string" ? issued.get(id) : undefined;
                    if (typeof id === "string" && sent?.measured) {
                        deliveries.push(at - sent.at);
                        seenBy.set(id, (seenBy.get(id) ?? 0) + 1);
                    }
                    // This run's marker only: a second run's syncs can start before the last run's end (Synapse
                    // answers a repeated initial sync from its cache for two minutes), so they read its events too.
                    if (event.content?.[END_KEY] === run) {
                        ended.add(room);
                    }
                }
            }
            if (measured && events > 0) {
                syncLatencies.push(at - started);
            }
        }
    };

    const load = [...senders.map(sender), ...syncers.map((client, i) => syncer(client, (initial[i] as { json: SyncAnswer }).json.next_batch))];
    await sleep(shape.warmupSeconds * 1000);
    window.begin();
    const begin = now();
    phase = "measure";
    await sleep(shape.seconds * 1000);
    window.end();
    const end = now();
    phase = "drain";
    await Promise.all(load.slice(0, senders.length));
    // The end marker, after every message, tells each syncing client it has seen all there is in that room.
    drainDeadline = now() + DRAIN_SECONDS * 1000;
    for (const room of rooms) {
        await call(matrix, "PUT", sendPath(room, `${run}-end`), senders[0].token, { msgtype: "m.text", body: "load end", [END_KEY]: run });
    }
    await Promise.all(load);

    const seconds = (end - begin) / 1000;
    const seen = [...acceptedIds].reduce((sum, id) => sum + Math.min(seenBy.get(id) ?? 0, syncers.length), 0);
    return {
        seconds,
        accepted: acceptedIds.size,
        messagesPerSecond: acceptedIds.size / seconds,
        sendP50: percentile(sendLatencies, 50),
        sendP95: percentile(sendLatencies, 95),
        deliveryP50: percentile(deliveries, 50),
        deliveryP95: percentile(deliveries, 95),
        deliveries: deliveries.length,
        missed: acceptedIds.size * syncers.length - seen,
        syncP50: percentile(syncLatencies, 50),
        syncP95: percentile(syncLatencies, 95),
        syncsWithEvents: syncLatencies.length,
        gaps,
        errors,
    };
}
