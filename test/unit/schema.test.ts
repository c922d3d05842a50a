// The component's arguments and outputs are serialisable: Pulumi's own component-package analyzer (what
// `pulumi package get-schema` runs for a TypeScript component) describes every one of them, so a program in another
// Pulumi language can build a homeserver. No `false | {...}` unions, inline object types or component instances.
import assert from "node:assert/strict";
import * as path from "node:path";
import { describe, it } from "node:test";

const PACKAGE = path.resolve(__dirname, "../../packages/synapse");

describe("the Homeserver component's schema", () => {
    it("is inferred whole by Pulumi's component analyzer: every input, every output, named types only", () => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- the analyzer is an experimental module with no typings
        const { Analyzer } = require("@pulumi/pulumi/provider/experimental/analyzer") as {
            Analyzer: new (dir: string, name: string, packageJson: Record<string, unknown>, components: Set<string>) => {
                analyze(): { components: Record<string, { inputs: Record<string, unknown>; outputs: Record<string, unknown> }>; typeDefinitions: Record<string, unknown> };
            };
        };
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- the package's own manifest
        const manifest = require(path.join(PACKAGE, "package.json")) as Record<string, unknown>;
        const schema = new Analyzer(PACKAGE, "synapse", { ...manifest, main: "index.ts" }, new Set(["Homeserver"])).analyze();
        const homeserver = schema.components.Homeserver;
        assert.deepEqual(Object.keys(homeserver.inputs).sort(), [
            "adminPasswordVersion", "adminUser", "backups", "bindAddress", "containerName", "cpuLimit", "edge", "extraConfig", "federation",
            "gid", "httpPort", "image", "memoryLimitMb", "monitoring", "platform", "postgres", "publicBaseUrl", "reportStats", "retainDataOnDestroy", "serverName",
            "swarm", "timezone", "turn", "uid", "volumeName", "workers",
        ]);
        assert.deepEqual(Object.keys(homeserver.outputs).sort(), [
            "adminPassword", "adminUserId", "backupDirectory", "caCertificate", "containerName", "database", "databaseVolumeName", "image",
            "lastBackup", "prometheusUrl", "serverName", "signingKeyId", "url", "volumeName", "wellKnownClient", "wellKnownServer",
        ]);
        assert.deepEqual(Object.keys(schema.typeDefinitions).sort(), [
            "BackupsArgs", "DatabaseKind", "EdgeOptions", "FederationArgs", "HomeserverImage", "MonitoringOptions", "Platform", "PostgresArgs", "SwarmArgs", "TlsMode", "TurnOptions", "WorkersArgs", "WorkersPreset",
        ]);
    });
});
