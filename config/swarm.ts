// synapse:platform and synapse:swarm: where the stack runs (one Docker engine, or a Docker Swarm whose manager the
// stack's Docker endpoint is) and, on a swarm, which nodes hold the data and run workers, by node label. Refused in
// synapse:* terms with the package's rules, including the settings a swarm refuses (SWARM_REFUSALS).
import { DatabaseKind, NODE_LABEL, NODE_LABEL_FORM, Platform, SWARM_PUBLISHING, SWARM_REFUSALS } from "@synapse-stack/synapse";
import type { Reader } from "./reader";
import type { SynapseConfig } from "./types";

export const SWARM_KEYS = ["dataNodeLabel", "workerNodeLabel"] as const;

export function readPlatform(reader: Reader, config: SynapseConfig): Pick<SynapseConfig, "platform" | "swarm"> {
    const platform = reader.oneOf("platform", Object.values(Platform), Platform.Docker);
    const value = reader.mapping("swarm", `a mapping with the keys ${SWARM_KEYS.join(", ")}`);
    if (platform !== Platform.Swarm) {
        if (value !== undefined) {
            reader.problems.push('synapse:swarm is set but synapse:platform is not "swarm": set synapse:platform swarm, or remove it');
        }
        return { platform };
    }
    for (const key of Object.keys(value ?? {}).filter((item) => !(SWARM_KEYS as readonly string[]).includes(item))) {
        reader.problems.push(`synapse:swarm.${key} is not a swarm setting: known keys are ${SWARM_KEYS.join(", ")}`);
    }
    const label = (key: (typeof SWARM_KEYS)[number]): string | undefined => {
        const given = value?.[key];
        if (given !== undefined && !(typeof given === "string" && NODE_LABEL.test(given))) {
            reader.bad(`swarm.${key}`, given, NODE_LABEL_FORM);
            return undefined;
        }
        return given as string | undefined;
    };
    const dataNodeLabel = label("dataNodeLabel");
    const workerNodeLabel = label("workerNodeLabel");
    if (value?.dataNodeLabel === undefined) {
        reader.problems.push(
            `synapse:platform swarm needs synapse:swarm.dataNodeLabel: ${NODE_LABEL_FORM}, set on the manager the stack's Docker endpoint talks to (it holds the data)`,
        );
    }
    if (config.database !== DatabaseKind.Postgres || config.tls === "none") {
        reader.problems.push("synapse:platform swarm needs synapse:database postgres and synapse:tls: SQLite and a published homeserver port are single-engine features");
    }
    const bindAddress = reader.value("bindAddress");
    if (bindAddress !== undefined && bindAddress !== "0.0.0.0" && bindAddress !== "::") {
        reader.problems.push(
            `synapse:bindAddress ${reader.shown("bindAddress", bindAddress)} cannot be kept with synapse:platform swarm: ${SWARM_PUBLISHING}; leave synapse:bindAddress unset (or 0.0.0.0) and let the data node's firewall say who reaches them`,
        );
    }
    const refused = { turn: config.turn, monitoring: config.monitoring };
    for (const [key, given] of Object.entries(refused)) {
        if (given !== undefined) {
            reader.problems.push(`synapse:${key} is not available with synapse:platform swarm: ${SWARM_REFUSALS[key as keyof typeof SWARM_REFUSALS]}`);
        }
    }
    return { platform, ...(dataNodeLabel !== undefined ? { swarm: { dataNodeLabel, ...(workerNodeLabel !== undefined ? { workerNodeLabel } : {}) } } : {}) };
}
