// Each default declared once, in the package: Pulumi.yaml declares none of its own, the stack's settings take the
// package's, the descriptions name the same values. And a key set with --secret stays secret in the arguments.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULTS } from "@synapse-stack/synapse";
import * as yaml from "js-yaml";
import { homeserverArgs, parseConfig } from "../../config";

const ROOT = path.resolve(__dirname, "../..");
const project = yaml.load(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as { config: Record<string, { default?: unknown; description?: string }> };

/** The keys whose default is one of the package's, and that default. */
const PACKAGE_DEFAULTS: Record<string, unknown> = {
    image: DEFAULTS.image,
    httpPort: DEFAULTS.httpPort,
    bindAddress: DEFAULTS.bindAddress,
    timezone: DEFAULTS.timezone,
    uid: DEFAULTS.uid,
    gid: DEFAULTS.gid,
    reportStats: DEFAULTS.reportStats,
    adminUser: DEFAULTS.adminUser,
    adminPasswordVersion: DEFAULTS.adminPasswordVersion,
    retainDataOnDestroy: DEFAULTS.retainDataOnDestroy,
    postgresImage: DEFAULTS.postgres.image,
    caddyImage: DEFAULTS.edge.image,
    httpsPort: DEFAULTS.edge.httpsPort,
    federationPort: DEFAULTS.edge.federationPort,
    serveWellKnown: DEFAULTS.edge.serveWellKnown,
    exposeAdminApi: DEFAULTS.edge.exposeAdminApi,
    backupsToKeep: DEFAULTS.backups.keep,
};

describe("each default declared once", () => {
    it("Pulumi.yaml declares every key with the empty default, none of its own", () => {
        const own = Object.entries(project.config).filter(([, declaration]) => declaration.default !== "");
        assert.deepEqual(own, []);
    });

    it("the stack's settings take the package's defaults", () => {
        const config = parseConfig({ serverName: "matrix.example.org", tls: "internal", database: "postgres" }, { stack: "dev" });
        const settings = config as unknown as Record<string, unknown>;
        for (const [key, value] of Object.entries(PACKAGE_DEFAULTS)) {
            assert.equal(settings[key], value, `synapse:${key}`);
        }
        assert.equal(config.federation.enabled, DEFAULTS.federation.enabled);
        const turn = parseConfig({ serverName: "matrix.example.org", tls: "internal", turn: "{}" }, { stack: "dev" }).turn;
        assert.deepEqual(turn, { ...DEFAULTS.turn }, "synapse:turn's sub-keys take the package's defaults");
    });

    it("each description that names a default names the package's", () => {
        // The images' descriptions say "the pinned release" rather than repeat the tag.
        for (const [key, value] of Object.entries(PACKAGE_DEFAULTS).filter(([key]) => !/[iI]mage$/.test(key))) {
            const description = (project.config[`synapse:${key}`].description ?? "").replace(/\s+/g, " ");
            assert.ok(description.includes(`Default ${String(value)}`), `synapse:${key} says "Default ${String(value)}": ${description}`);
        }
        const turn = (project.config["synapse:turn"].description ?? "").replace(/\s+/g, " ");
        for (const [key, value] of Object.entries(DEFAULTS.turn).filter(([key]) => !["image", "allowPeers"].includes(key))) {
            assert.ok(turn.includes(`${key} (`) && turn.includes(`Default ${String(value)}`), `synapse:turn names ${key}'s default ${String(value)}: ${turn}`);
        }
    });
});

describe("secretness survives the mapping", () => {
    it("a key set with --secret reaches the component as a secret, the others as plain values", async () => {
        const config = parseConfig(
            { serverName: "matrix.example.org", adminUser: "root-admin", httpPort: "8010", tls: "internal", publicHost: "chat.example.org" },
            { stack: "dev", secretKeys: ["adminUser", "httpPort", "publicHost"] },
        );
        const args = homeserverArgs(config);
        for (const [name, value] of [["adminUser", args.adminUser], ["httpPort", args.httpPort], ["edge.publicHost", args.edge?.publicHost]] as const) {
            assert.ok(pulumi.Output.isInstance(value) && (await pulumi.isSecret(value as pulumi.Output<unknown>)), `${name} is secret`);
        }
        assert.equal(args.serverName, "matrix.example.org");
        assert.equal(args.timezone, DEFAULTS.timezone);
    });
});
