// synapse:turn: the TURN server for calls as a mapping, refused in synapse:* terms with the package's rules, and the
// combinations it cannot serve (a wildcard address without externalIp, TURN over TLS without the edge).
import { accepts, DEFAULTS, RULES, type Rule, TURN_CONFIG_KEYS } from "@synapse-stack/synapse";
import type { Reader } from "./reader";
import type { SynapseConfig, TurnSetting } from "./types";

export const TURN_KEYS = ["enabled", "bindAddress", "externalIp", "port", "tlsPort", "relayPorts", "allowPeers", "network", "image"] as const;

const WILDCARDS = ["0.0.0.0", "::"];

export function readTurn(reader: Reader, tls: SynapseConfig["tls"], extraConfig: Record<string, unknown>, federationNetwork: string | undefined): Pick<SynapseConfig, "turn"> {
    const value = reader.partMapping("turn", TURN_KEYS);
    if (value === undefined) {
        return {};
    }
    const text = (key: string, fallback: string, rule: Rule): string => {
        const given = value[key];
        if (given === undefined) {
            return fallback;
        }
        if (!accepts(rule, given)) {
            reader.bad(`turn.${key}`, given, rule.form);
        }
        return String(given);
    };
    // A port may come as YAML's number or as text (pulumi config set --path).
    const port = (key: string, fallback: number): number => {
        const given = value[key];
        const parsed = typeof given === "string" && /^\d+$/.test(given) ? Number(given) : given;
        if (given === undefined) {
            return fallback;
        }
        if (!accepts(RULES.port, parsed)) {
            reader.bad(`turn.${key}`, given, RULES.port.form);
            return fallback;
        }
        return parsed as number;
    };
    const turn: TurnSetting = {
        bindAddress: text("bindAddress", DEFAULTS.turn.bindAddress, RULES.address),
        port: port("port", DEFAULTS.turn.port),
        tlsPort: port("tlsPort", DEFAULTS.turn.tlsPort),
        relayPorts: text("relayPorts", DEFAULTS.turn.relayPorts, RULES.relayPorts),
        allowPeers: [],
        image: text("image", DEFAULTS.turn.image, RULES.turnImage),
    };
    if (value.externalIp !== undefined) {
        turn.externalIp = text("externalIp", "", RULES.address);
        if (WILDCARDS.includes(turn.externalIp)) {
            reader.bad("turn.externalIp", turn.externalIp, "the address clients reach this host at (its public or LAN address), such as 203.0.113.10");
        }
    } else if (WILDCARDS.includes(turn.bindAddress)) {
        reader.problems.push(
            `synapse:turn.bindAddress ${reader.shown("turn", turn.bindAddress)} publishes on every address, so the TURN server cannot tell clients which one reaches it: set synapse:turn.externalIp`,
        );
    }
    if (value.allowPeers !== undefined) {
        if (accepts(RULES.peerRanges, value.allowPeers)) {
            turn.allowPeers = value.allowPeers as string[];
        } else {
            reader.bad("turn.allowPeers", value.allowPeers, RULES.peerRanges.form);
        }
    }
    if (value.network !== undefined) {
        turn.network = text("network", "", RULES.networkName);
        if (turn.network === federationNetwork) {
            reader.problems.push(`synapse:turn.network is synapse:federation.network too: the homeserver is on it, and the relay must not be its neighbour`);
        }
    }
    if (value.tlsPort !== undefined && tls === "none") {
        reader.problems.push("synapse:turn.tlsPort needs synapse:tls: TURN over TLS uses the edge's certificate");
    }
    if (tls !== "none" && turn.port === turn.tlsPort) {
        reader.problems.push(`synapse:turn.tlsPort ${reader.shown("turn", turn.tlsPort)} is synapse:turn.port too: set another port for TURN over TLS`);
    }
    const [first, last] = turn.relayPorts.split("-").map(Number);
    const listeners: ("port" | "tlsPort")[] = tls !== "none" ? ["port", "tlsPort"] : ["port"];
    for (const key of listeners) {
        if (turn[key] >= first && turn[key] <= last) {
            reader.problems.push(`synapse:turn.${key} ${reader.shown("turn", turn[key])} is inside synapse:turn.relayPorts ${turn.relayPorts}: set a port outside the relay range`);
        }
    }
    for (const key of Object.keys(extraConfig).filter((item) => item in TURN_CONFIG_KEYS)) {
        reader.problems.push(`synapse:extraConfig key "${key}" is owned by the stack with synapse:turn: ${TURN_CONFIG_KEYS[key as keyof typeof TURN_CONFIG_KEYS]}`);
    }
    return { turn };
}
