// Runs the real program (index.ts) under Pulumi's mocks and records every resource it declares.
// Mocks see inputs, not resource options; the policy pack checks those against a real engine.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as yaml from "js-yaml";
import { type ConfigError, parseConfig } from "../../config";

export const ROOT = path.resolve(__dirname, "../..");
export const MOCK_PASSWORD = "mockPasswordXq7ZpL2vN9rT4wK8sD3f";
export const MOCK_DB_PASSWORD = "mockDatabasePw5Hj8Kc2Vb6Nm4Qz9Wx";

export interface Recorded {
    type: string;
    name: string;
    custom: boolean;
    inputs: Record<string, unknown>;
}

export interface ProgramRun {
    resources: Recorded[];
    outputs: Record<string, unknown>;
    secretOutputs: string[];
}

export interface RunOptions {
    /** Outputs of the stack's previous deployment, as its stack reference reads them; default none (a new stack). */
    previousOutputs?: Record<string, unknown>;
}

export const MOCK_SIGNING_KEY_ID = "ed25519:a_MoCk";

/** The stack's configuration as the CLI would hand it over: Pulumi.yaml defaults, then Pulumi.<stack>.yaml. */
export function stackConfig(stack: string): Record<string, string> {
    const project = yaml.load(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as {
        config: Record<string, { default?: unknown }>;
    };
    const values: Record<string, unknown> = {};
    for (const [key, declaration] of Object.entries(project.config)) {
        if (declaration.default !== undefined) {
            values[key] = declaration.default;
        }
    }
    const stackFile = path.join(ROOT, `Pulumi.${stack}.yaml`);
    if (fs.existsSync(stackFile)) {
        Object.assign(values, (yaml.load(fs.readFileSync(stackFile, "utf8")) as { config?: object }).config ?? {});
    }
    return Object.fromEntries(
        Object.entries(values).map(([key, value]) => [key, typeof value === "object" ? JSON.stringify(value) : String(value)]),
    );
}

/** A secret input as the mocks receive it, unwrapped to its value; anything else as it is. */
export function unwrapSecret(value: unknown): unknown {
    const sig = "4dabf18193072939515e22adb298388d";
    if (value && typeof value === "object" && sig in value) {
        return (value as unknown as { value: unknown }).value;
    }
    return value;
}

function mockState(args: pulumi.runtime.MockResourceArgs, options: RunOptions, serverName: string): Record<string, unknown> {
    const inputs = args.inputs as Record<string, unknown>;
    switch (args.type) {
        case "pulumi:pulumi:StackReference":
            return { ...inputs, outputs: options.previousOutputs ?? {}, secretOutputNames: [] };
        case "docker:index/remoteImage:RemoteImage":
            return { ...inputs, imageId: "sha256:mockimage", repoDigest: "" };
        case "random:index/randomPassword:RandomPassword":
            return { ...inputs, result: args.name.endsWith("-postgres-password") ? MOCK_DB_PASSWORD : MOCK_PASSWORD };
        case "random:index/randomId:RandomId":
            // As the provider draws one: hex from the name, so a test can tell two apart.
            return { ...inputs, hex: crypto.createHash("sha256").update(args.name).digest("hex").slice(0, 2 * Number(inputs.byteLength)) };
        case "command:local:Command": {
            // The scripts get a JSON request as stdin's first line (file writers get plain content); answer as each would.
            let request: { user?: string } = {};
            try {
                request = JSON.parse(String(unwrapSecret(inputs.stdin) ?? "{}").split("\n")[0] || "{}") as { user?: string };
            } catch {
                request = {};
            }
            const create = String(unwrapSecret(inputs.create) ?? "");
            const environment = (inputs.environment ?? {}) as Record<string, string>;
            const stdout = create === "sh -s -- record"
                ? String(environment.SYNAPSE_VOLUMES)
                : args.name.endsWith("-generate-run")
                ? JSON.stringify({ serverName, signingKeyId: MOCK_SIGNING_KEY_ID })
                : request.user !== undefined
                  ? `@${request.user}:${serverName}\n${MOCK_SIGNING_KEY_ID}`
                  : "";
            return { ...inputs, stdout, stderr: "" };
        }
        default:
            return inputs;
    }
}

/** Every resource the current run has declared so far, also when the run fails part-way. */
export const declared: Recorded[] = [];

/** Pulumi's mocks for `stack`, answering as the engine and the steps would; declared resources go to `declared`. */
export async function installMocks(stack: string, serverName: string, options: RunOptions = {}): Promise<void> {
    await pulumi.runtime.setMocks(
        {
            newResource(args) {
                declared.push({ type: args.type, name: args.name, custom: args.custom ?? true, inputs: args.inputs });
                return { id: `${args.name}-id`, state: mockState(args, options, serverName) };
            },
            call(args) {
                if (args.token === "docker:index/getNetwork:getNetwork") {
                    // Docker's default bridge, or a network the operator made: on a swarm test, an overlay of the swarm.
                    const bridge = args.inputs.name === "bridge";
                    return { ...args.inputs, id: `${String(args.inputs.name)}-id`, driver: bridge ? "bridge" : "overlay", scope: bridge ? "local" : "swarm", ipamConfigs: [] };
                }
                return args.inputs;
            },
        },
        "synapse",
        stack,
        false,
        "organization",
    );
}

/** Runs index.ts once for `stack` with `config`; call once per process (node --test runs each file in its own). */
export async function runProgram(stack: string, config: Record<string, string>, options: RunOptions = {}): Promise<ProgramRun> {
    const resources = declared;
    await installMocks(stack, config["synapse:serverName"], options);
    pulumi.runtime.setAllConfig(config);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const main = require("../../index") as () => Promise<Record<string, pulumi.Output<unknown>>>;
    const program = await main();
    const outputs: Record<string, unknown> = {};
    const secretOutputs: string[] = [];
    for (const [name, output] of Object.entries(program)) {
        outputs[name] = await new Promise((resolve) => output.apply(resolve));
        if (await pulumi.isSecret(output)) {
            secretOutputs.push(name);
        }
    }
    return { resources, outputs, secretOutputs };
}

export function byType(run: ProgramRun, type: string): Recorded[] {
    return run.resources.filter((resource) => resource.type === type);
}

/** Every string anywhere inside a value, for "does X appear anywhere" checks. */
export function allStrings(value: unknown): string[] {
    const found = unwrapSecret(value);
    if (typeof found === "string") {
        return [found];
    }
    if (Array.isArray(found)) {
        return found.flatMap(allStrings);
    }
    if (found && typeof found === "object") {
        return Object.values(found).flatMap(allStrings);
    }
    return [];
}

/** The problems the stack's config check finds with these keys (beside a server name); none when it accepts them. */
export function configProblems(raw: Record<string, string>): string[] {
    try {
        parseConfig({ serverName: "matrix.example.org", ...raw }, { stack: "dev" });
        return [];
    } catch (err) {
        return (err as ConfigError).problems;
    }
}
