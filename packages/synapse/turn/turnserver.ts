// What the TURN server is told, rendered from plain values so it is pure and table-tested: coturn's config file, the
// peer ranges no relay may reach, and the URIs Synapse hands to clients. coturn takes peer ranges as `first-last`
// addresses, not CIDRs, so CIDRs are turned into ranges here.
import * as net from "node:net";

/**
 * Peer addresses no relay may reach unless allowPeers opens them: every private, loopback, link-local, shared,
 * documentation, benchmarking, multicast and reserved range, IPv4-mapped and NAT64 forms included (the list
 * Synapse's docs/setup/turn/coturn.md recommends, from the CVE-2020-26262 write-ups, plus IPv6 multicast). The stack's
 * own Docker networks are in 172.16.0.0/12 or 192.168.0.0/16 (Docker's default pools) or wherever the engine's pools
 * are: those are denied by their own subnets as well, and allowPeers may never overlap them.
 */
export const DENIED_PEER_RANGES: readonly string[] = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/127",
    "64:ff9b::/96",
    "::ffff:0:0/96",
    "100::/64",
    "2001::/23",
    "2001:db8::/32",
    "2002::/16",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
];

/** Ranges allowPeers may never hold: a relay into the TURN server's own host or nowhere (loopback, 0.0.0.0, ::). */
export const NEVER_ALLOWED_RANGES: readonly string[] = ["0.0.0.0/8", "127.0.0.0/8", "::/127", "::ffff:0:0/96"];

/** The most relay ports a range may have: Docker publishes each one as a port of its own. */
export const MAX_RELAY_PORTS = 1000;

/** An address as a number, with its width in bits. */
function addressValue(address: string): { value: bigint; bits: number } | undefined {
    if (net.isIPv4(address)) {
        return { value: address.split(".").reduce((sum, part) => (sum << 8n) + BigInt(Number(part)), 0n), bits: 32 };
    }
    if (!net.isIPv6(address)) {
        return undefined;
    }
    // A trailing dotted quad (::ffff:10.0.0.1) is the last two groups.
    let text = address;
    const dotted = /\d+\.\d+\.\d+\.\d+$/.exec(address);
    if (dotted) {
        const value = addressValue(dotted[0])!.value;
        text = `${address.slice(0, dotted.index)}${(value >> 16n).toString(16)}:${(value & 0xffffn).toString(16)}`;
    }
    const [head, tail = ""] = text.split("::");
    const groups = (part: string) => (part === "" ? [] : part.split(":"));
    const missing = 8 - groups(head).length - groups(tail).length;
    const all = text.includes("::") ? [...groups(head), ...Array<string>(missing).fill("0"), ...groups(tail)] : groups(head);
    return { value: all.reduce((sum, group) => (sum << 16n) + BigInt(parseInt(group, 16)), 0n), bits: 128 };
}

/** An address of `bits` bits in its usual text form (IPv6 with the longest run of zero groups as ::). */
function addressText(value: bigint, bits: number): string {
    if (bits === 32) {
        return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join(".");
    }
    const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((shift) => ((value >> shift) & 0xffffn).toString(16));
    let best = { start: -1, length: 1 };
    for (let start = 0; start < 8; start++) {
        let length = 0;
        while (start + length < 8 && groups[start + length] === "0") {
            length++;
        }
        if (length > best.length) {
            best = { start, length };
        }
    }
    if (best.start < 0) {
        return groups.join(":");
    }
    return `${groups.slice(0, best.start).join(":")}::${groups.slice(best.start + best.length).join(":")}`;
}

/** A CIDR's first and last address as numbers, or undefined when it is not a CIDR. */
export function cidrBounds(cidr: string): { first: bigint; last: bigint; bits: number } | undefined {
    const [address, prefix, ...rest] = cidr.split("/");
    const parsed = addressValue(address ?? "");
    if (!parsed || rest.length > 0 || !/^\d{1,3}$/.test(prefix ?? "") || Number(prefix) > parsed.bits) {
        return undefined;
    }
    const hostBits = BigInt(parsed.bits - Number(prefix));
    const first = (parsed.value >> hostBits) << hostBits;
    return { first, last: first + (1n << hostBits) - 1n, bits: parsed.bits };
}

/** A CIDR as coturn's `first-last` range (a single address alone). */
export function cidrRange(cidr: string): string {
    const bounds = cidrBounds(cidr);
    if (!bounds) {
        throw new Error(`cidrRange: ${JSON.stringify(cidr)} is not a CIDR`);
    }
    const first = addressText(bounds.first, bounds.bits);
    return bounds.first === bounds.last ? first : `${first}-${addressText(bounds.last, bounds.bits)}`;
}

/** Whether two CIDRs share an address (never across IPv4 and IPv6). */
export function cidrsOverlap(a: string, b: string): boolean {
    const x = cidrBounds(a);
    const y = cidrBounds(b);
    return x !== undefined && y !== undefined && x.bits === y.bits && x.first <= y.last && y.first <= x.last;
}

/** A CIDR allowPeers may hold: a CIDR that reaches no loopback, zero or IPv4-mapped address. */
export function isAllowablePeerRange(cidr: string): boolean {
    return cidrBounds(cidr) !== undefined && !NEVER_ALLOWED_RANGES.some((never) => cidrsOverlap(cidr, never));
}

/** The wildcard addresses, which need an externalIp: the TURN server cannot tell clients where they are. */
export function isWildcard(address: string): boolean {
    return address === "0.0.0.0" || address === "::";
}

/** A relay port range `first-last`, or undefined when the text is not one. */
export function relayPortRange(text: string): { first: number; last: number } | undefined {
    const match = /^(\d{1,5})-(\d{1,5})$/.exec(text);
    if (!match) {
        return undefined;
    }
    const [first, last] = [Number(match[1]), Number(match[2])];
    return first >= 1024 && last <= 65535 && first <= last && last - first < MAX_RELAY_PORTS ? { first, last } : undefined;
}

/** Where coturn reads its files, in its container. */
export const TURN_DATA = "/var/lib/coturn";
export const TURN_CONFIG_PATH = `${TURN_DATA}/turnserver.conf`;
/** The certificate copies (the edge's certificate and key) live in a memory-only volume of their own. */
export const TURN_TLS_DIR = "/var/lib/coturn-tls";
export const TURN_CERTIFICATE_PATH = `${TURN_TLS_DIR}/certificate.pem`;
export const TURN_PRIVATE_KEY_PATH = `${TURN_TLS_DIR}/private-key.pem`;
/** The ports inside the container; the host ports are the user's to choose. */
export const TURN_PORT = 3478;
export const TURN_TLS_PORT = 5349;

/** Everything coturn's config depends on; all plain values. */
export interface TurnServerSettings {
    /** The realm (the Matrix server name, by convention). */
    realm: string;
    /** The shared secret Synapse computes the credentials with (use-auth-secret). */
    sharedSecret: string;
    /** The address clients and peers reach the server at (external-ip). */
    externalIp: string;
    /** The relay ports, the same inside the container and on the host. */
    relayPorts: { first: number; last: number };
    /** CIDRs the relay may reach although DENIED_PEER_RANGES holds them. */
    allowPeers: readonly string[];
    /** The subnets of the stack's own Docker networks: denied, whatever allowPeers says (checked before rendering). */
    protectedSubnets: readonly string[];
    /** Whether TURN over TLS is served (with the edge's certificate, copied into TURN_TLS_DIR). */
    tls: boolean;
}

/** The allowPeers ranges that overlap one of the stack's own networks: a relay there would reach its databases. */
export function allowedIntoStack(allowPeers: readonly string[], protectedSubnets: readonly string[]): string[] {
    return allowPeers.filter((range) => protectedSubnets.some((subnet) => cidrsOverlap(range, subnet)));
}

/**
 * coturn's config file: REST-API credentials (use-auth-secret, the ones Synapse hands out), UDP relays only, every
 * special-purpose range denied but what allowPeers opens, quotas against one user hogging the relay, no admin CLI,
 * no software version, no NAT discovery (an amplification vector), TLS 1.2 or newer when served at all.
 */
export function renderTurnConfig(settings: TurnServerSettings): string {
    const into = allowedIntoStack(settings.allowPeers, settings.protectedSubnets);
    if (into.length > 0) {
        throw new Error(`renderTurnConfig: allowPeers ${into.join(", ")} would reach the stack's own networks (${settings.protectedSubnets.join(", ")})`);
    }
    const lines = [
        "# Managed by the synapse Pulumi stack: edits here are replaced on the next `pulumi up`.",
        `listening-port=${TURN_PORT}`,
        ...(settings.tls ? [`tls-listening-port=${TURN_TLS_PORT}`, `cert=${TURN_CERTIFICATE_PATH}`, `pkey=${TURN_PRIVATE_KEY_PATH}`, "no-tlsv1", "no-tlsv1_1"] : ["no-tls"]),
        "no-dtls",
        `external-ip=${settings.externalIp}`,
        `min-port=${settings.relayPorts.first}`,
        `max-port=${settings.relayPorts.last}`,
        `realm=${settings.realm}`,
        "use-auth-secret",
        `static-auth-secret=${settings.sharedSecret}`,
        "fingerprint",
        "no-tcp-relay",
        "no-multicast-peers",
        ...[...DENIED_PEER_RANGES, ...settings.protectedSubnets].map((cidr) => `denied-peer-ip=${cidrRange(cidr)}`),
        ...settings.allowPeers.map((cidr) => `allowed-peer-ip=${cidrRange(cidr)}`),
        // Four streams a video call: three relayed calls a user, a thousand-odd streams in all.
        "user-quota=12",
        "total-quota=1200",
        "stale-nonce=600",
        "no-cli",
        "no-software-attribute",
        "no-rfc5780",
        "no-stun-backward-compatibility",
        "response-origin-only-with-rfc5780",
        "log-file=stdout",
        "simple-log",
        // The root filesystem is read-only: the pid file goes to the tmpfs.
        "pidfile=/tmp/turnserver.pid",
        "",
    ];
    return lines.join("\n");
}

/** The URIs Synapse hands to clients (turn_uris): TURN over UDP and TCP, and over TLS when served. */
export function turnUris(settings: { host: string; port: number; tlsPort?: number }): string[] {
    const host = net.isIPv6(settings.host) ? `[${settings.host}]` : settings.host;
    return [
        `turn:${host}:${settings.port}?transport=udp`,
        `turn:${host}:${settings.port}?transport=tcp`,
        ...(settings.tlsPort !== undefined ? [`turns:${host}:${settings.tlsPort}?transport=tcp`] : []),
    ];
}
