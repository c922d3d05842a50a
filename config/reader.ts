// Reading the raw text of `synapse:` keys: typed values, the fallback when a key is unset, and one problem line per bad
// key (its value shown only when it is not secret), so the user sees every mistake at once.
import { accepts, type Rule } from "@synapse-stack/synapse";
import { type ConfigKey, isSecretKey, NOT_SHOWN, type RawConfig } from "./keys";

export /** Reads raw text values and collects one problem line per bad key, so the user sees every mistake at once. */
class Reader {
    readonly problems: string[] = [];
    private readonly raw: RawConfig;

    constructor(
        given: RawConfig,
        private readonly secretKeys: readonly string[] = [],
    ) {
        // Pulumi.yaml declares every key with the default "": an empty value means "the default".
        this.raw = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined && value.trim() !== ""));
    }

    isSet(key: ConfigKey): boolean {
        return this.raw[key] !== undefined;
    }

    value(key: ConfigKey): string | undefined {
        return this.raw[key]?.trim();
    }

    /** The value as a message shows it: JSON-quoted, or not at all when it is secret. */
    shown(key: string, value: unknown): string {
        return isSecretKey(key, this.secretKeys) ? NOT_SHOWN : JSON.stringify(value);
    }

    isSecret(key: string): boolean {
        return isSecretKey(key, this.secretKeys);
    }

    bad(key: string, value: unknown, expected: string): void {
        this.problems.push(`synapse:${key} ${this.shown(key, value)} is not valid: expected ${expected}`);
    }

    /** A text value following `rule`; the fallback when unset. */
    text(key: ConfigKey, fallback: string, rule: Rule): string {
        const value = this.value(key);
        if (value === undefined) {
            return fallback;
        }
        if (!accepts(rule, value)) {
            this.bad(key, this.raw[key], rule.form);
        }
        return value;
    }

    /** A whole number following `rule`; the fallback when unset or refused. */
    integer(key: ConfigKey, fallback: number, rule: Rule): number {
        const text = this.value(key);
        if (text === undefined) {
            return fallback;
        }
        const parsed = Number(text);
        if (!/^-?\d+$/.test(text) || !accepts(rule, parsed)) {
            this.bad(key, this.raw[key], rule.form);
            return fallback;
        }
        return parsed;
    }

    boolean(key: ConfigKey, fallback: boolean): boolean {
        const text = this.value(key)?.toLowerCase();
        if (text === undefined) {
            return fallback;
        }
        if (text !== "true" && text !== "false") {
            this.bad(key, this.raw[key], "true or false");
            return fallback;
        }
        return text === "true";
    }

    oneOf<T extends string>(key: ConfigKey, values: readonly T[], fallback: T): T {
        const value = this.value(key);
        if (value === undefined) {
            return fallback;
        }
        if (!(values as readonly string[]).includes(value)) {
            this.bad(key, value, `one of ${values.join(", ")}`);
            return fallback;
        }
        return value as T;
    }

    /** An object value (YAML mapping, or JSON text): undefined when unset, or refused as `expected` when not a mapping. */
    mapping(key: ConfigKey, expected: string): Record<string, unknown> | undefined {
        const text = this.value(key);
        if (text === undefined) {
            return undefined;
        }
        let value: unknown;
        try {
            value = JSON.parse(text);
        } catch {
            value = text;
        }
        if (typeof value !== "object" || value === null || Array.isArray(value)) {
            this.bad(key, text, expected);
            return undefined;
        }
        return value as Record<string, unknown>;
    }

    /**
     * A part's settings as a mapping of the known `keys` (each other one refused): undefined when unset, or when it
     * says `enabled: false` (then any other key it sets is refused as having no effect). Setting the mapping means on.
     */
    partMapping(key: ConfigKey, keys: readonly string[]): Record<string, unknown> | undefined {
        const value = this.mapping(key, `a mapping with the keys ${keys.join(", ")}`);
        if (value === undefined) {
            return undefined;
        }
        for (const unknown of Object.keys(value).filter((item) => !keys.includes(item))) {
            this.problems.push(`synapse:${key}.${unknown} is not a ${PART_NAMES[key] ?? key} setting: known keys are ${keys.join(", ")}`);
        }
        if (value.enabled !== undefined && ![true, false, "true", "false"].includes(value.enabled as string | boolean)) {
            this.bad(`${key}.enabled`, value.enabled, "true or false");
        }
        if (value.enabled === false || value.enabled === "false") {
            for (const set of keys.filter((item) => item !== "enabled" && value[item] !== undefined)) {
                this.problems.push(`synapse:${key}.${set} has no effect with synapse:${key}.enabled false: remove it`);
            }
            return undefined;
        }
        return value;
    }
}

/** How messages name a part's settings. */
const PART_NAMES: Partial<Record<ConfigKey, string>> = { turn: "TURN", monitoring: "monitoring" };
