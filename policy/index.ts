import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import { PolicyPack, validateResourceOfType } from "@pulumi/policy";
import { dockerRuns, missingHardening } from "./docker-run";

/** Host addresses a published port may bind to unless the pack's config says otherwise. */
const LOOPBACK = ["127.0.0.1", "::1"];

function isPinned(image: string): boolean {
    if (image.startsWith("sha256:") || image.includes("@sha256:")) {
        return true;
    }
    const lastSegment = image.slice(image.lastIndexOf("/") + 1);
    const tag = lastSegment.includes(":") ? lastSegment.slice(lastSegment.indexOf(":") + 1) : "";
    return tag !== "" && tag !== "latest";
}

new PolicyPack("synapse-invariants", {
    policies: [
        {
            name: "ports-bind-to-allowed-addresses",
            description: "Published ports name their host address, loopback unless the operator allowed another.",
            enforcementLevel: "mandatory",
            configSchema: {
                properties: { allowedBindAddresses: { type: "array", items: { type: "string" }, default: LOOPBACK } },
            },
            validateResource: validateResourceOfType(docker.Container, (container, args, reportViolation) => {
                const allowed = args.getConfig<{ allowedBindAddresses?: string[] }>().allowedBindAddresses ?? LOOPBACK;
                for (const port of container.ports ?? []) {
                    if (!port.ip) {
                        reportViolation(`port ${port.internal} is published without an ip, which means every address`);
                    } else if (!allowed.includes(port.ip)) {
                        reportViolation(`port ${port.internal} is published on ${port.ip}; allowed: ${allowed.join(", ")}`);
                    }
                }
            }),
        },
        {
            name: "helper-containers-are-hardened",
            description:
                "Every throwaway container a command starts (docker run) has the shared hardening: no new privileges, every capability dropped but a listed few, a read-only root and a pids limit.",
            enforcementLevel: "mandatory",
            validateResource: validateResourceOfType(command.local.Command, (cmd, _args, reportViolation) => {
                for (const [phase, line] of [["create", cmd.create], ["update", cmd.update]] as const) {
                    for (const options of dockerRuns(line ?? "")) {
                        const missing = missingHardening(options);
                        if (missing.length > 0) {
                            reportViolation(`its ${phase} command starts a container without ${missing.join(", ")}; build the docker run with runtime/helper.ts`);
                        }
                    }
                }
            }),
        },
        {
            name: "commands-with-secrets-never-log-stdout",
            description:
                "A command fed through stdin or environment (where secrets go) logs at most stderr, which the scripts keep free of secrets.",
            enforcementLevel: "mandatory",
            validateResource: validateResourceOfType(command.local.Command, (cmd, _args, reportViolation) => {
                const fed = cmd.stdin !== undefined || Object.keys(cmd.environment ?? {}).length > 0;
                if (fed && cmd.logging !== "none" && cmd.logging !== "stderr") {
                    reportViolation(`logging is ${cmd.logging ?? "stdoutAndStderr (the default)"}; set logging: "stderr" or "none"`);
                }
            }),
        },
        {
            name: "data-volumes-are-never-replaced",
            description:
                "A volume ignores every property difference (ignoreChanges ['*']), so no update can plan its replacement and delete the data.",
            enforcementLevel: "mandatory",
            validateResource: (args, reportViolation) => {
                if (args.isType(docker.Volume) && !(args.opts.ignoreChanges ?? []).includes("*")) {
                    reportViolation(`volume ${args.name} could be replaced by an update; set ignoreChanges: ["*"]`);
                }
            },
        },
        {
            name: "containers-are-hardened",
            description:
                "Long-running containers run without new privileges, with every capability dropped but a listed few, a read-only root and rotated logs.",
            enforcementLevel: "mandatory",
            validateResource: validateResourceOfType(docker.Container, (container, _args, reportViolation) => {
                const missing = [
                    !(container.securityOpts ?? []).includes("no-new-privileges:true") && "securityOpts no-new-privileges:true",
                    !(container.capabilities?.drops ?? []).includes("ALL") && "capabilities.drops ALL",
                    container.readOnly !== true && "readOnly",
                    !container.logOpts?.["max-size"] && "logOpts max-size",
                ].filter(Boolean);
                if (missing.length > 0) {
                    reportViolation(`missing ${missing.join(", ")}`);
                }
            }),
        },
        {
            name: "fixed-names-are-freed-before-replacement",
            description: "A container or volume with a fixed name or host port is deleted before its replacement is created.",
            enforcementLevel: "mandatory",
            validateResource: (args, reportViolation) => {
                if (!(args.isType(docker.Container) || args.isType(docker.Volume)) || args.opts.deleteBeforeReplace) {
                    return;
                }
                if ((args.opts.ignoreChanges ?? []).includes("*")) {
                    return; // never replaced at all
                }
                const name: unknown = args.props.name;
                // The provider auto-names unnamed resources `<logical name>-<7 hex>`: a fresh name on every replacement.
                const autoNamed = typeof name === "string" && name.startsWith(`${args.name}-`) && /^[0-9a-f]{7}$/.test(name.slice(args.name.length + 1));
                const hostPorts = ((args.props.ports ?? []) as { external?: number }[]).filter((port) => port.external);
                if (typeof name === "string" && !autoNamed) {
                    reportViolation(`${args.name} has the fixed name "${name}" but not deleteBeforeReplace`);
                } else if (hostPorts.length > 0) {
                    reportViolation(`${args.name} publishes host port ${hostPorts[0].external} but has not deleteBeforeReplace`);
                }
            },
        },
        {
            name: "services-are-hardened",
            description:
                "Swarm services run with an init, every capability dropped but a listed few, a read-only root, rotated logs, a health check and a rollout that rolls back on failure.",
            enforcementLevel: "mandatory",
            validateResource: validateResourceOfType(docker.Service, (service, _args, reportViolation) => {
                const container = service.taskSpec.containerSpec;
                const missing = [
                    container.init !== true && "init",
                    !(container.capDrops ?? []).includes("ALL") && "capDrops ALL",
                    container.readOnly !== true && "readOnly",
                    !service.taskSpec.logDriver?.options?.["max-size"] && "logDriver max-size",
                    !container.healthcheck?.tests?.length && "healthcheck",
                    service.updateConfig?.failureAction !== "rollback" && "updateConfig.failureAction rollback",
                ].filter(Boolean);
                if (missing.length > 0) {
                    reportViolation(`missing ${missing.join(", ")}`);
                }
            }),
        },
        {
            name: "swarm-secrets-exist-before-their-replacement",
            description:
                "A Swarm secret or config is never deleted before its replacement exists: Docker refuses to delete one a service uses, and the services must roll to the new one first.",
            enforcementLevel: "mandatory",
            validateResource: (args, reportViolation) => {
                if ((args.isType(docker.Secret) || args.isType(docker.ServiceConfig)) && args.opts.deleteBeforeReplace === true) {
                    reportViolation(`${args.name} is deleted before its replacement; leave deleteBeforeReplace unset`);
                }
            },
        },
        {
            name: "images-are-pinned",
            description: "Images are pinned to a tag other than latest, or to a digest.",
            enforcementLevel: "mandatory",
            validateResource: [
                validateResourceOfType(docker.RemoteImage, (image, _args, reportViolation) => {
                    if (!isPinned(image.name)) {
                        reportViolation(`image "${image.name}" is not pinned to a release tag or digest`);
                    }
                }),
                validateResourceOfType(docker.Container, (container, _args, reportViolation) => {
                    if (container.image && !isPinned(container.image)) {
                        reportViolation(`image "${container.image}" is not pinned to a release tag or digest`);
                    }
                }),
                validateResourceOfType(docker.Service, (service, _args, reportViolation) => {
                    const image = service.taskSpec.containerSpec.image;
                    if (image && !isPinned(image)) {
                        reportViolation(`image "${image}" is not pinned to a release tag or digest`);
                    }
                }),
            ],
        },
    ],
});
