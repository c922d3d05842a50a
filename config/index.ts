// Stack configuration → the component's arguments. `readConfig` is the only part that talks to Pulumi: it reads the
// `synapse:` namespace and the stack's previous outputs, and refuses before any resource exists. The pure parts, each
// table-tested: keys.ts (the namespace, secrets, typo suggestions), reader.ts and parse.ts (values and their rules),
// transition.ts (what cannot change once deployed), args.ts (the mapping onto HomeserverArgs).
import * as fs from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import { foreignVolumes, SYNAPSE_IMAGE, userError } from "@synapse-stack/synapse";
import { CONFIG_KEYS, ConfigError, type ConfigKey, isSecretKey, NOT_SHOWN, type RawConfig } from "./keys";
import { parseConfig } from "./parse";
import { checkTransition } from "./transition";
import type { PreviousSettings, SynapseConfig } from "./types";

export { homeserverArgs } from "./args";
export { ALWAYS_SECRET_KEYS, closestKey, CONFIG_KEYS, ConfigError, type ConfigContext, type ConfigKey, type RawConfig, STACK_OWNED_KEYS } from "./keys";
export { parseConfig } from "./parse";
export { checkTransition } from "./transition";
export type { FederationConfig, PreviousSettings, SynapseConfig } from "./types";

/** The official Synapse image, pinned to a release (the default of synapse:image). */
export const OFFICIAL_IMAGE = SYNAPSE_IMAGE;

/**
 * A PEM value as given, or the contents of the file it names; refused, naming the key, when neither. A secret key's
 * value is never shown: a key pasted without its BEGIN line would otherwise be printed as if it were a path.
 */
export function pemOrFile(key: ConfigKey, value: string, read: (path: string) => string, secretKeys: readonly string[] = []): string {
    if (value.startsWith("-----BEGIN ")) {
        return value;
    }
    const shown = isSecretKey(key, secretKeys) ? NOT_SHOWN : `"${value}"`;
    let content: string;
    try {
        content = read(value);
    } catch {
        throw new ConfigError([`synapse:${key} ${shown} cannot be read: expected PEM text or the path of a readable file holding it`]);
    }
    if (!content.includes("-----BEGIN ")) {
        throw new ConfigError([`synapse:${key} ${shown} holds no PEM block: expected a file starting with -----BEGIN`]);
    }
    return content;
}

/** The last deployment's outputs of this very stack, read through a stack reference (empty on a new stack). */
async function previousSettings(): Promise<PreviousSettings> {
    const self = new pulumi.StackReference(`${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`);
    const read = async (name: string) => {
        const { value } = await self.getOutputDetails(name);
        return typeof value === "string" ? value : undefined;
    };
    return {
        serverName: await read("serverName"),
        volumeName: await read("volumeName"),
        database: await read("database"),
        databaseVolumeName: await read("databaseVolumeName"),
        platform: await read("platform"),
    };
}

/**
 * Reads the `synapse:` namespace and validates it, then compares it with what the stack last deployed; every refusal
 * happens here, before any resource is declared.
 */
export async function readConfig(): Promise<SynapseConfig> {
    const namespace = "synapse:";
    const all = pulumi.runtime.allConfig();
    const setKeys = Object.keys(all)
        .filter((key) => key.startsWith(namespace))
        .map((key) => key.slice(namespace.length));
    const raw: RawConfig = {};
    for (const key of CONFIG_KEYS) {
        raw[key] = all[`${namespace}${key}`];
    }
    // The SDK knows which keys were set with --secret (the engine hands it their names) but types the question as
    // internal; without it, only ALWAYS_SECRET_KEYS are kept out of messages.
    const isConfigSecret = (pulumi.runtime as unknown as { isConfigSecret?: (key: string) => boolean }).isConfigSecret;
    const secretKeys = setKeys.filter((key) => isConfigSecret?.(`${namespace}${key}`) === true);
    try {
        const config = parseConfig(raw, { stack: pulumi.getStack(), setKeys, cwd: process.cwd(), secretKeys });
        const read = (file: string) => fs.readFileSync(file, "utf8");
        if (config.tlsCertificate !== undefined) {
            config.tlsCertificate = pemOrFile("tlsCertificate", config.tlsCertificate, read, secretKeys);
        }
        if (config.tlsKey !== undefined) {
            config.tlsKey = pemOrFile("tlsKey", config.tlsKey, read, secretKeys);
        }
        checkTransition(await previousSettings(), config);
        // The component refuses the same in its own terms; here in the stack's keys, before anything is declared.
        const foreign = foreignVolumes(
            {
                "synapse:volumeName": config.volumeName,
                ...(config.database === "postgres" ? { "the PostgreSQL volume": config.databaseVolumeName } : {}),
                ...(config.tls !== "none" ? { "the edge's volume": config.edgeVolumeName } : {}),
            },
            { project: pulumi.getProject(), stack: pulumi.getStack() },
        );
        if (foreign.length > 0) {
            throw new ConfigError(foreign);
        }
        return config;
    } catch (err) {
        // A RunError prints its message without a stack trace: the user needs the keys, not our call stack.
        throw err instanceof ConfigError ? userError(err.message) : err;
    }
}
