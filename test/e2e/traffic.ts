// Client traffic through a stack's public URL while something happens to it (a restart, a killed process, a full
// disk), and the count a person would make afterwards: every write the server acknowledged is in the room, once.
// Shared by the workers test, the fault tests and the benchmark's soak.
import * as crypto from "node:crypto";
import { docker, type Matrix, productionConfig, recordedImage, runId } from "./support";

/** A send the server answered 200 with an event id. */
export interface Acknowledged {
    body: string;
    txn: string;
    eventId: string;
    /** When the attempt that was answered began, and when the answer came (ms since the epoch). */
    attemptedAt: number;
    at: number;
}

export interface TrafficOptions {
    /** Lanes sending at once, each one message at a time. @default 2 */
    senders?: number;
    /** A client following the rooms with /sync beside the senders. @default true */
    sync?: boolean;
    /** How many times a request is tried, the first time included; a send is tried again with its transaction id. @default 2 */
    tries?: number;
    /** The pause before trying a failed request again, in ms. @default 0 */
    retryPauseMs?: number;
    /** The pause between a lane's messages, in ms. @default 500 */
    pauseMs?: number;
    /** Random text added to each message's body, in characters (a body that does not compress). @default 0 */
    padding?: number;
}

/**
 * Senders putting messages into a room (each PUT carries its transaction id, so a retry stores the message once) and
 * a syncer following it. A request that fails is tried again, as a client would, up to `tries` times: `failures` are
 * the requests that failed every time, `firstFailures` each failed attempt that was tried again.
 */
export class Traffic {
    readonly acknowledged: Acknowledged[] = [];
    readonly failures: string[] = [];
    firstFailures: string[] = [];
    requests = 0;
    private running = true;
    private readonly loops: Promise<void>[];
    private readonly tries: number;
    private readonly retryPauseMs: number;

    constructor(
        private readonly matrix: Matrix,
        private readonly token: string,
        private readonly roomId: string,
        label: string,
        options: TrafficOptions = {},
    ) {
        this.tries = options.tries ?? 2;
        this.retryPauseMs = options.retryPauseMs ?? 0;
        const sender = async (lane: number) => {
            for (let n = 0; this.running; n++) {
                const body = `${label} ${lane}.${n}${options.padding ? ` ${crypto.randomBytes(options.padding).toString("base64").slice(0, options.padding)}` : ""}`;
                const txn = `${label.replace(/\W/g, "")}-${lane}-${n}-${runId()}`;
                const path = `/_matrix/client/v3/rooms/${encodeURIComponent(this.roomId)}/send/m.room.message/${txn}`;
                let attemptedAt = 0;
                const answer = await this.attempt(`PUT send ${label} ${lane}.${n}`, () => {
                    attemptedAt = Date.now();
                    return this.matrix.request("PUT", path, { msgtype: "m.text", body }, this.token);
                });
                if (answer) {
                    this.acknowledged.push({ body, txn, eventId: String((answer as { event_id?: string }).event_id), attemptedAt, at: Date.now() });
                }
                await pause(options.pauseMs ?? 500);
            }
        };
        const syncer = async () => {
            let since = "";
            while (this.running) {
                await this.attempt("GET sync", async () => {
                    const answer = await this.matrix.request("GET", `/_matrix/client/v3/sync?timeout=1000${since ? `&since=${since}` : ""}`, undefined, this.token);
                    since = answer.status === 200 ? answer.json.next_batch : since;
                    return answer;
                });
            }
        };
        const lanes = Array.from({ length: options.senders ?? 2 }, (_, lane) => sender(lane + 1));
        this.loops = options.sync === false ? lanes : [...lanes, syncer()];
    }

    /** The bodies of the acknowledged sends, in the order they were acknowledged. */
    get sent(): string[] {
        return this.acknowledged.map((write) => write.body);
    }

    /** Every attempt that failed, whether or not a later try succeeded. */
    get failedAttempts(): number {
        return this.firstFailures.length + this.failures.length;
    }

    /** Seconds from `since` (ms) until the first send attempted after it was acknowledged; undefined if none was. */
    recoverySeconds(since: number): number | undefined {
        const first = this.acknowledged.filter((write) => write.attemptedAt >= since).map((write) => write.at);
        return first.length ? (Math.min(...first) - since) / 1000 : undefined;
    }

    private async attempt(what: string, request: () => Promise<{ status: number; json: unknown }>): Promise<unknown> {
        for (let tries = 1; tries <= this.tries; tries++) {
            this.requests++;
            const answer = await request().catch((error: Error) => error);
            const outcome = answer instanceof Error ? answer.message : answer.status === 200 ? "" : `${answer.status} ${JSON.stringify(answer.json).slice(0, 200)}`;
            if (outcome === "") {
                return (answer as { json: unknown }).json;
            }
            // Once stopped, a request is tried once more at most: stop() waits for every lane.
            const again = tries < this.tries && (this.running || tries < 2);
            (again ? this.firstFailures : this.failures).push(`${new Date().toISOString()} ${what}: ${outcome}`);
            if (!again) {
                break;
            }
            await pause(this.retryPauseMs);
        }
        return undefined;
    }

    async stop(): Promise<void> {
        this.running = false;
        await Promise.all(this.loops);
    }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A room's messages, oldest first, paging back through all of it: what a person scrolling up would count. */
export async function roomMessages(matrix: Matrix, token: string, roomId: string): Promise<{ eventId: string; body: string; txn?: string }[]> {
    const messages: { eventId: string; body: string; txn?: string }[] = [];
    let from = "";
    for (;;) {
        const page = await matrix.request("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=500${from ? `&from=${from}` : ""}`, undefined, token);
        if (page.status !== 200) {
            throw new Error(`messages answered ${page.status}: ${JSON.stringify(page.json)}`);
        }
        const chunk = page.json.chunk as { type: string; event_id: string; content: { body?: string }; unsigned?: { transaction_id?: string } }[];
        messages.push(
            ...chunk
                .filter((event) => event.type === "m.room.message")
                .map((event) => ({ eventId: event.event_id, body: event.content.body ?? "", txn: event.unsigned?.transaction_id })),
        );
        if (!page.json.end || chunk.length === 0) {
            return messages.reverse();
        }
        from = page.json.end;
    }
}

/** What the room holds of the acknowledged writes: how many are there, which are missing, which are there twice. */
export async function countAcknowledged(matrix: Matrix, token: string, roomId: string, acknowledged: Acknowledged[]): Promise<{ found: number; missing: string[]; twice: string[] }> {
    const messages = await roomMessages(matrix, token, roomId);
    const byEvent = new Map(messages.map((message) => [message.eventId, message]));
    const bodies = messages.map((message) => message.body);
    const missing = acknowledged.filter((write) => byEvent.get(write.eventId)?.body !== write.body).map((write) => `${write.body.slice(0, 60)} (${write.eventId})`);
    const twice = [...new Set(bodies.filter((body, index) => bodies.indexOf(body) !== index))].map((body) => body.slice(0, 60));
    return { found: acknowledged.length - missing.length, missing, twice };
}

/** What a soak came to. */
export interface SoakFigures {
    seconds: number;
    /** The containers restarted, in order. */
    restarts: string[];
    requests: number;
    /** Attempts that failed, each tried again (a send with its transaction id). */
    failedAttempts: number;
    /** Requests that failed every try. */
    failures: string[];
    acknowledged: number;
    found: number;
    missing: string[];
    twice: string[];
}

/**
 * Steady client traffic for `seconds` while the containers are restarted in turn, one every `intervalSeconds`
 * (`docker restart`: stopped within its grace period, started again), then the count of what was acknowledged.
 */
export async function soak(matrix: Matrix, token: string, roomId: string, containers: string[], seconds: number, intervalSeconds: number): Promise<SoakFigures> {
    const started = Date.now();
    const traffic = new Traffic(matrix, token, roomId, "soak", { tries: 240, retryPauseMs: 500 });
    const restarts: string[] = [];
    try {
        while (Date.now() - started < seconds * 1000) {
            await pause(Math.min(intervalSeconds * 1000, Math.max(0, started + seconds * 1000 - Date.now())));
            if (Date.now() - started < seconds * 1000) {
                const container = containers[restarts.length % containers.length];
                docker("restart", container);
                restarts.push(container);
            }
        }
    } finally {
        await traffic.stop();
    }
    const count = await countAcknowledged(matrix, token, roomId, traffic.acknowledged);
    return {
        seconds: (Date.now() - started) / 1000,
        restarts,
        requests: traffic.requests,
        failedAttempts: traffic.failedAttempts,
        failures: traffic.failures,
        acknowledged: traffic.acknowledged.length,
        ...count,
    };
}

/**
 * The stack the faults and the soak run on: the production profile with a client worker, an event persister and
 * Redis, so that a send crosses the edge, a worker, replication and PostgreSQL; `rcMessage` raises Synapse's message
 * rate limit above what the traffic sends (changing it restarts every Synapse process).
 */
export function faultProfile(serverName: string, httpsPort: number, rcMessage = 100): Record<string, string> {
    return {
        serverName,
        ...productionConfig(),
        httpsPort: String(httpsPort),
        federationPort: "0",
        workers: JSON.stringify({ client: 1, eventPersister: 1 }),
        redisImage: recordedImage("redis"),
        extraConfig: JSON.stringify({ rc_message: { per_second: rcMessage, burst_count: 100 } }),
    };
}
