// The Homeserver component itself, as another program uses it: library arguments, no stack config. Its own rules
// (table tests with the exact messages), then its defaults and wiring under Pulumi's mocks.
import assert from "node:assert/strict";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { Homeserver, type HomeserverArgs, SYNAPSE_IMAGE, validateHomeserverArgs } from "@synapse-stack/synapse";
import { allStrings, declared, installMocks } from "./harness";

type Container = { name: string; image: string; user: string; ports?: { internal: number; external: number; ip: string }[]; volumes?: { volumeName: string }[] };

describe("validateHomeserverArgs", () => {
    const cases: { name: string; args: HomeserverArgs; problems: string[] }[] = [
        { name: "the least a homeserver needs", args: { serverName: "chat.example.org" }, problems: [] },
        {
            name: "ports, ids and limits out of range",
            args: { serverName: "chat.example.org", httpPort: 70000, uid: 0, gid: 1.5, memoryLimitMb: 128, backups: { keep: 0 } },
            problems: [
                "httpPort 70000 is not valid: expected a port number from 1 to 65535",
                "uid 0 is not valid: expected a whole number from 1 to 2147483647 (a non-root user id)",
                "gid 1.5 is not valid: expected a whole number from 1 to 2147483647 (a non-root group id)",
                "memoryLimitMb 128 is not valid: expected a whole number of MiB, at least 256",
                "backups.keep 0 is not valid: expected a whole number of archives from 1 to 1000",
            ],
        },
        {
            name: "names, images, addresses and labels, with the stack's accepted forms",
            args: {
                serverName: "chat example",
                image: "matrixdotorg/synapse",
                bindAddress: "localhost",
                timezone: "Mars/Olympus",
                adminUser: "Admin",
                volumeName: "a/b",
                cpuLimit: "0.05",
                postgres: { image: "postgres:13" },
            },
            problems: [
                'serverName "chat example" is not valid: expected a DNS name such as matrix.example.org',
                'image "matrixdotorg/synapse" is not valid: expected an image reference with a tag or digest, such as matrixdotorg/synapse:v1.163.2 or registry.example.org/synapse@sha256:<64 hex>',
                'bindAddress "localhost" is not valid: expected an IPv4 or IPv6 address such as 127.0.0.1 or 0.0.0.0',
                'timezone "Mars/Olympus" is not valid: expected an IANA time zone name such as UTC or Europe/Berlin',
                'cpuLimit "0.05" is not valid: expected a number of CPUs such as 1 or 1.5, at least 0.1',
                'adminUser "Admin" is not valid: expected a Matrix localpart of lowercase letters, digits and . _ = - / +',
                'volumeName "a/b" is not valid: expected a Docker volume name of letters, digits, _ . - (starting with a letter or digit)',
                'postgres.image "postgres:13" is not valid: expected PostgreSQL 14 or newer (Synapse refuses older), such as postgres:17',
            ],
        },
        {
            name: "a homeserver.yaml key the component writes, and a public bind without its public URL",
            args: { serverName: "chat.example.org", bindAddress: "0.0.0.0", extraConfig: { enable_registration: true, max_upload_size: "10M" } },
            problems: [
                'extraConfig key "enable_registration" is written by the component: registration stays closed; create users through the admin API',
                'bindAddress "0.0.0.0" publishes the homeserver beyond this host: set publicBaseUrl to the URL clients use',
            ],
        },
        {
            name: "federation lists, and a federation network without the edge peers come through",
            args: { serverName: "chat.example.org", federation: { allowList: ["ok.example.org", "not ok"], allowPrivateRanges: ["10.0.0.0/33"], network: "lab" } },
            problems: [
                'federation.allowList ["ok.example.org","not ok"] is not valid: expected a list of server names such as [a.example.org, b.example.org]',
                'federation.allowPrivateRanges ["10.0.0.0/33"] is not valid: expected a list of CIDRs such as 172.18.0.0/16',
                "federation.network needs edge: peers reach this homeserver through its TLS edge",
            ],
        },
        {
            name: "tls files without the certificate and key (it would write empty PEM files)",
            args: { serverName: "chat.example.org", edge: { tls: "files" } },
            problems: ["edge.tls files needs edge.certificate and edge.privateKey: the PEM certificate chain and its private key"],
        },
        {
            name: "tls files without the key, the key's value never shown",
            args: { serverName: "chat.example.org", edge: { tls: "files", certificate: "-----BEGIN CERTIFICATE-----" } },
            problems: ["edge.tls files needs edge.privateKey: the PEM certificate chain and its private key"],
        },
        {
            name: "acme without a contact address",
            args: { serverName: "chat.example.org", edge: { tls: "acme" } },
            problems: ["edge.tls acme needs edge.acmeEmail: the contact address Let's Encrypt requires"],
        },
        {
            name: "an unknown tls mode",
            args: { serverName: "chat.example.org", edge: { tls: "self-signed" as "internal" } },
            problems: ['edge.tls "self-signed" is not valid: expected one of internal, acme, files'],
        },
        {
            name: "federation on the https port, also through the defaults",
            args: { serverName: "chat.example.org", edge: { tls: "internal", httpsPort: 8448 } },
            problems: ["edge.federationPort 8448 is edge.httpsPort too: expected another port, or 0 to federate through edge.httpsPort"],
        },
        {
            name: "federation through the https port (0), or an island, is fine",
            args: { serverName: "chat.example.org", edge: { tls: "internal", httpsPort: 8448, federationPort: 0 } },
            problems: [],
        },
        {
            name: "values known only later are the resources' to check",
            args: { serverName: pulumi.output("chat.example.org"), httpPort: pulumi.output(70000), edge: { tls: "files", certificate: pulumi.output("x"), privateKey: pulumi.secret("y") } },
            problems: [],
        },
    ];
    for (const { name, args, problems } of cases) {
        it(name, () => {
            assert.deepEqual(validateHomeserverArgs(args), problems);
        });
    }
});

describe("a Homeserver built from library arguments", () => {
    let containers: Record<string, Container>;
    let commands: Record<string, Record<string, unknown>>;

    before(async () => {
        await installMocks("lib", "chat.example.org");
        new Homeserver("chat", { serverName: "chat.example.org", postgres: {}, edge: { tls: "internal", httpsPort: 8443, federationPort: 0 } });
        // Let the mocks answer everything the component declared.
        await new Promise((resolve) => setTimeout(resolve, 500));
        containers = Object.fromEntries(declared.filter((r) => r.type === "docker:index/container:Container").map((r) => [String(r.inputs.name), r.inputs as unknown as Container]));
        commands = Object.fromEntries(declared.filter((r) => r.type === "command:local:Command").map((r) => [r.name, r.inputs]));
    });

    it("names everything after the component and applies its defaults", () => {
        assert.deepEqual(Object.keys(containers).sort(), ["chat", "chat-db", "chat-edge"]);
        const homeserver = containers.chat;
        assert.equal(homeserver.user, "1000:1000", "uid and gid default to 1000");
        assert.deepEqual(homeserver.volumes?.map((volume) => volume.volumeName), ["chat-data"]);
        assert.deepEqual(homeserver.ports, [], "behind the edge, published nowhere");
        assert.deepEqual(containers["chat-edge"].ports?.map(({ internal, external, ip }) => ({ internal, external, ip })), [{ internal: 443, external: 8443, ip: "127.0.0.1" }]);
        const image = declared.find((r) => r.name === "chat-image");
        assert.equal(image?.inputs.name, SYNAPSE_IMAGE, "the pinned official image");
    });

    it("records every volume in its ledger before any exists, and retention is off by default", () => {
        const ledger = commands["chat-volumes-ledger"];
        const environment = ledger.environment as Record<string, string>;
        assert.deepEqual(environment.SYNAPSE_VOLUMES.split("\n").map((line) => line.split("\t")[0]), ["chat-data", "chat-db", "chat-edge"]);
        assert.equal(environment.SYNAPSE_RETAIN, "false");
        assert.deepEqual([environment.SYNAPSE_PROJECT, environment.SYNAPSE_STACK], ["synapse", "lib"]);
    });

    it("backs up before an image change into backups/<container>, with the compiled operation", () => {
        const backup = String(commands["chat-upgrade-backup-run"].create);
        assert.match(backup, new RegExp(`node \\S*bin/ops/backup\\.js .*--out ${path.resolve("backups", "chat").replace(/\//g, "\\/")}`));
        assert.doesNotMatch(backup, /tsx/, "no TypeScript loader at run time");
    });

    it("keeps the database password and the admin's out of every command line", () => {
        const lines = Object.values(commands).flatMap((command) => allStrings([command.create, command.update, command.delete]));
        for (const line of lines) {
            assert.doesNotMatch(line, /mockPassword|mockDatabasePw/);
        }
    });

    it("refuses its own bad arguments, naming each, before declaring anything", async () => {
        const before = declared.length;
        assert.throws(
            () => new Homeserver("broken", { serverName: "chat.example.org", httpPort: 0, edge: { tls: "files" } }),
            (err: Error) =>
                err.message ===
                "invalid arguments for Homeserver broken:\n  httpPort 0 is not valid: expected a port number from 1 to 65535\n  " +
                    "edge.tls files needs edge.certificate and edge.privateKey: the PEM certificate chain and its private key",
        );
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.deepEqual(declared.slice(before).filter((r) => r.type !== "synapse:index:Homeserver"), [], "nothing but the component itself was registered");
    });
});
