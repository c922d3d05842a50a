// Runs the real program (index.ts) under Pulumi's mocks and records every resource it declares.
// Mocks see inputs, not resource options; the policy pack checks those against a real engine.
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as yaml from "js-yaml";

export const ROOT = path.resolve(__dirname, "../..");
export const MOCK_PASSWORD = "mockPasswordXq7ZpL2vN9rT4wK8sD3f";

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
    /** Exit code the mocked generate container reports; default 0. */
    generateExitCode?: number;
}

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

function unwrapSecret(value: unknown): unknown {
    const sig = "4dabf18193072939515e22adb298388d";
    if (value && typeof value === "object" && sig in value) {
        return (value as unknown as { value: unknown }).value;
    }
    return value;
}

function mockState(args: pulumi.runtime.MockResourceArgs, options: RunOptions, serverName: string): Record<string, unknown> {
    const inputs = args.inputs as Record<string, unknown>;
    switch (args.type) {
        case "docker:index/remoteImage:RemoteImage":
            return { ...inputs, imageId: "sha256:mockimage", repoDigest: "" };
        case "docker:index/container:Container":
            return (inputs.command as string[] | undefined)?.[0] === "generate"
                ? { ...inputs, exitCode: options.generateExitCode ?? 0, containerLogs: "Generating config file /data/homeserver.yaml\n" }
                : { ...inputs, exitCode: undefined };
        case "random:index/randomPassword:RandomPassword":
            return { ...inputs, result: MOCK_PASSWORD };
        case "command:local:Command": {
            // The ensure script prints the admin's user id; reconstruct it from what the command was given.
            const stdin = JSON.parse(String(unwrapSecret(inputs.stdin))) as { user: string };
            return { ...inputs, stdout: `@${stdin.user}:${serverName}`, stderr: "" };
        }
        default:
            return inputs;
    }
}

/** Every resource the current run has declared so far, also when the run fails part-way. */
export const declared: Recorded[] = [];

/** Runs index.ts once for `stack` with `config`; call once per process (node --test runs each file in its own). */
export async function runProgram(stack: string, config: Record<string, string>, options: RunOptions = {}): Promise<ProgramRun> {
    const resources = declared;
    await pulumi.runtime.setMocks(
        {
            newResource(args) {
                resources.push({ type: args.type, name: args.name, custom: args.custom ?? true, inputs: args.inputs });
                return { id: `${args.name}-id`, state: mockState(args, options, config["synapse:serverName"]) };
            },
            call(args) {
                return args.inputs;
            },
        },
        "synapse",
        stack,
        false,
    );
    pulumi.runtime.setAllConfig(config);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const program = require("../../index") as Record<string, pulumi.Output<unknown>>;
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
