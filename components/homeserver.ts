import * as fs from "node:fs";
import * as path from "node:path";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { SynapseConfig } from "../config";
import { Admin, ENSURE_ADMIN_PATH } from "./admin";
import { GenerateConfig } from "./generate";
import { ownerLabels } from "./labels";
import { renderOverlay } from "./overlay";
import { DataVolume } from "./storage";

/** Every setting of the homeserver; `config.ts` documents, validates and defaults each one. */
export type HomeserverArgs = SynapseConfig;

/** Where the stack-owned overlay config sits inside the homeserver container. */
export const OVERLAY_PATH = "/stack/overlay.yaml";
/** The config files the homeserver runs with: the generated one, then the overlay, which wins key by key. */
export const CONFIG_PATHS = ["/data/homeserver.yaml", OVERLAY_PATH];

const ENSURE_ADMIN_SCRIPT = fs.readFileSync(path.join(__dirname, "ensure_admin.py"), "utf8");

/**
 * A Synapse homeserver on Docker: data volume, one-shot config generation, the long-running homeserver (healthy
 * before `up` returns) and its first admin.
 */
export class Homeserver extends pulumi.ComponentResource {
    /** The homeserver's base URL as reached from the Docker host. */
    public readonly url: pulumi.Output<string>;
    /** The Matrix server name. */
    public readonly serverName: pulumi.Output<string>;
    /** The admin's Matrix user id. */
    public readonly adminUserId: pulumi.Output<string>;
    /** The admin's password (secret). */
    public readonly adminPassword: pulumi.Output<string>;
    /** The data volume's name. */
    public readonly volumeName: pulumi.Output<string>;
    /** The homeserver container's name. */
    public readonly containerName: pulumi.Output<string>;

    constructor(name: string, args: HomeserverArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synapse:index:Homeserver", name, {}, opts);

        const project = pulumi.getProject();
        const stack = pulumi.getStack();

        const data = new DataVolume(
            `${name}-data`,
            {
                volumeName: args.volumeName,
                retainOnDestroy: args.retainDataOnDestroy,
                labels: ownerLabels(project, stack, "data"),
            },
            { parent: this },
        );

        const image = new docker.RemoteImage(
            `${name}-image`,
            // Kept on destroy: the image may be shared with other stacks, and may have been built locally.
            { name: args.image, keepLocally: true },
            { parent: this },
        );

        const generate = new GenerateConfig(
            `${name}-generate`,
            {
                image: image.imageId,
                serverName: args.serverName,
                reportStats: args.reportStats,
                timezone: args.timezone,
                uid: args.uid,
                gid: args.gid,
                volumeName: data.volumeName,
                containerName: `${args.containerName}-generate`,
                labels: ownerLabels(project, stack, "generate"),
            },
            { parent: this },
        );

        const overlay = renderOverlay({
            publicBaseUrl: args.publicBaseUrl,
            reportStats: args.reportStats,
            extraConfig: args.extraConfig,
        });

        const container = new docker.Container(
            `${name}-homeserver`,
            {
                name: args.containerName,
                image: image.imageId,
                command: ["run", ...CONFIG_PATHS.flatMap((configPath) => ["--config-path", configPath])],
                envs: [`TZ=${args.timezone}`, `UID=${args.uid}`, `GID=${args.gid}`],
                volumes: [{ volumeName: data.volumeName, containerPath: "/data" }],
                uploads: [
                    { file: OVERLAY_PATH, content: overlay },
                    { file: ENSURE_ADMIN_PATH, content: ENSURE_ADMIN_SCRIPT },
                ],
                // Loopback unless configured otherwise: a homeserver without TLS should not face the network by accident.
                ports: [{ internal: 8008, external: args.httpPort, ip: args.bindAddress, protocol: "tcp" }],
                restart: "unless-stopped",
                // The image's own check probes every 15 s; a short interval lets `up` return as soon as Synapse serves.
                healthcheck: {
                    tests: ["CMD", "curl", "-fSs", "http://localhost:8008/health"],
                    interval: "2s",
                    timeout: "5s",
                    startPeriod: "5s",
                    retries: 30,
                },
                wait: true,
                waitTimeout: 180,
                labels: [
                    ...ownerLabels(project, stack, "homeserver"),
                    // Data flow from the generate check: the homeserver starts only after a config was written.
                    { label: "io.synapse-stack.generated-by", value: generate.generatedBy },
                ],
            },
            // Fixed name and host port: the old container must go before its replacement can start.
            { parent: this, deleteBeforeReplace: true },
        );

        const admin = new Admin(
            `${name}-admin`,
            {
                containerName: container.name,
                containerId: container.id,
                configPaths: CONFIG_PATHS,
                adminUser: args.adminUser,
                adminUserId: `@${args.adminUser}:${args.serverName}`,
                passwordVersion: args.adminPasswordVersion,
            },
            { parent: this },
        );

        this.url = pulumi.output(args.url);
        this.serverName = pulumi.output(args.serverName);
        this.adminUserId = admin.userId;
        this.adminPassword = admin.password;
        this.volumeName = data.volumeName;
        this.containerName = container.name;
        this.registerOutputs({
            url: this.url,
            serverName: this.serverName,
            adminUserId: this.adminUserId,
            adminPassword: this.adminPassword,
            volumeName: this.volumeName,
            containerName: this.containerName,
        });
    }
}
