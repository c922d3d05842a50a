// The stack's configuration, table-tested with the exact messages: defaults, accepted and refused values per key,
// transitions, PEM files, unknown keys. Over 300 lines: one table per rule, and the tables read as the list of rules.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { checkTransition, closestKey, ConfigError, type ConfigContext, OFFICIAL_IMAGE, parseConfig, pemOrFile, type RawConfig, readConfig } from "../../config";

const context = { stack: "dev" };
const valid: RawConfig = { serverName: "matrix.example.org" };

function problemsOf(raw: RawConfig, ctx: ConfigContext = context): string[] {
    try {
        parseConfig(raw, ctx);
    } catch (err) {
        assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
        return err.problems;
    }
    return [];
}

describe("parseConfig defaults", () => {
    it("fills every default from the server name alone", () => {
        assert.deepEqual(parseConfig(valid, context), {
            serverName: "matrix.example.org",
            image: OFFICIAL_IMAGE,
            httpPort: 8008,
            bindAddress: "127.0.0.1",
            timezone: "UTC",
            uid: 1000,
            gid: 1000,
            reportStats: false,
            adminUser: "admin",
            adminPasswordVersion: "1",
            publicBaseUrl: "http://127.0.0.1:8008/",
            memoryLimitMb: undefined,
            cpuLimit: undefined,
            volumeName: "synapse-dev-data",
            containerName: "synapse-dev",
            retainDataOnDestroy: false,
            extraConfig: {},
            database: "sqlite",
            postgresImage: "postgres:17",
            databaseVolumeName: "synapse-dev-db",
            tls: "none",
            publicHost: "matrix.example.org",
            httpsPort: 443,
            federationPort: 8448,
            serveWellKnown: false,
            exposeAdminApi: false,
            acmeEmail: undefined,
            tlsCertificate: undefined,
            tlsKey: undefined,
            caddyImage: "caddy:2.6.2",
            edgeVolumeName: "synapse-dev-edge",
            federation: { enabled: true, trustedCaCertificates: [], peerStacks: [], allowPrivateRanges: [] },
            backupDirectory: "/backups/synapse-dev",
            backupsToKeep: 5,
            url: "http://127.0.0.1:8008",
            platform: "docker",
        });
    });

    it("names the volume and containers after the stack, so two stacks never share data", () => {
        const prod = parseConfig(valid, { stack: "prod" });
        assert.equal(prod.volumeName, "synapse-prod-data");
        assert.equal(prod.containerName, "synapse-prod");
    });

    it("takes the image from the stack's config, never from the machine's environment", () => {
        process.env.SYNAPSE_IMAGE = "synapse-local:v0.0.1";
        try {
            assert.equal(parseConfig(valid, context).image, OFFICIAL_IMAGE);
        } finally {
            delete process.env.SYNAPSE_IMAGE;
        }
        assert.equal(parseConfig({ ...valid, image: "synapse-local:v1.163.2" }, context).image, "synapse-local:v1.163.2");
    });

    it("reaches a wildcard bind through loopback and brackets IPv6", () => {
        const exposed = { ...valid, publicBaseUrl: "https://matrix.example.org/" };
        assert.equal(parseConfig({ ...exposed, bindAddress: "0.0.0.0" }, context).url, "http://127.0.0.1:8008");
        assert.equal(parseConfig({ ...exposed, bindAddress: "::" }, context).url, "http://[::1]:8008");
        assert.equal(parseConfig({ ...valid, bindAddress: "::1", httpPort: "18008" }, context).url, "http://[::1]:18008");
    });

    it("treats an empty value as unset, as Pulumi.yaml declares the derived defaults", () => {
        const parsed = parseConfig({ ...valid, image: "", publicBaseUrl: " ", volumeName: "", extraConfig: "" }, context);
        assert.equal(parsed.image, OFFICIAL_IMAGE);
        assert.equal(parsed.publicBaseUrl, "http://127.0.0.1:8008/");
        assert.equal(parsed.volumeName, "synapse-dev-data");
        assert.deepEqual(problemsOf({ serverName: "" }), [
            "synapse:serverName is required: set it with `pulumi config set synapse:serverName matrix.example.org`",
        ]);
    });

    it("adds the trailing slash public_baseurl needs", () => {
        assert.equal(
            parseConfig({ ...valid, publicBaseUrl: "https://matrix.example.org" }, context).publicBaseUrl,
            "https://matrix.example.org/",
        );
    });
});

describe("parseConfig accepts", () => {
    const cases: [string, RawConfig, Partial<ReturnType<typeof parseConfig>>][] = [
        ["a single-label server name", { serverName: "localhost" }, { serverName: "localhost" }],
        ["a digest-pinned image", { image: `registry.example.org/acme/synapse@sha256:${"a".repeat(64)}` }, {}],
        ["an image on a registry with a port", { image: "registry.example.org:5000/synapse:v1.163.2" }, {}],
        ["port 1", { httpPort: "1" }, { httpPort: 1 }],
        ["port 65535", { httpPort: "65535" }, { httpPort: 65535 }],
        ["an IPv6 loopback bind address", { bindAddress: "::1" }, { bindAddress: "::1" }],
        ["another loopback address", { bindAddress: "127.0.0.2" }, { bindAddress: "127.0.0.2" }],
        [
            "a public bind with a public URL",
            { bindAddress: "0.0.0.0", publicBaseUrl: "http://matrix.example.org:8008/" },
            { bindAddress: "0.0.0.0", publicBaseUrl: "http://matrix.example.org:8008/" },
        ],
        ["a memory limit in GiB", { memoryLimit: "2g" }, { memoryLimitMb: 2048 }],
        ["a memory limit in MiB, upper case", { memoryLimit: "768M" }, { memoryLimitMb: 768 }],
        ["a fractional CPU limit", { cpuLimit: "1.5" }, { cpuLimit: "1.5" }],
        ["a zone with a slash", { timezone: "America/Argentina/Buenos_Aires" }, { timezone: "America/Argentina/Buenos_Aires" }],
        ["uid/gid 991", { uid: "991", gid: "991" }, { uid: 991, gid: 991 }],
        ["reportStats true", { reportStats: "true" }, { reportStats: true }],
        ["a localpart with every allowed symbol", { adminUser: "ops.admin_1=x-y/z+w" }, { adminUser: "ops.admin_1=x-y/z+w" }],
        ["a version label", { adminPasswordVersion: "2026-11" }, { adminPasswordVersion: "2026-11" }],
        ["a custom volume name", { volumeName: "my_synapse.data-1" }, { volumeName: "my_synapse.data-1" }],
        ["retainDataOnDestroy true", { retainDataOnDestroy: "true" }, { retainDataOnDestroy: true }],
        ["extraConfig as a JSON mapping", { extraConfig: '{"max_upload_size":"100M"}' }, { extraConfig: { max_upload_size: "100M" } }],
    ];
    for (const [title, raw, expected] of cases) {
        it(title, () => {
            const parsed = parseConfig({ ...valid, ...raw }, context);
            for (const [key, value] of Object.entries(expected)) {
                assert.deepEqual(parsed[key as keyof typeof parsed], value);
            }
        });
    }
});

describe("parseConfig refuses, naming the key, the value and the accepted form", () => {
    const cases: [string, RawConfig, string][] = [
        [
            "a missing server name",
            { serverName: undefined },
            "synapse:serverName is required: set it with `pulumi config set synapse:serverName matrix.example.org`",
        ],
        [
            "a server name with a space",
            { serverName: "my host" },
            'synapse:serverName "my host" is not valid: expected a DNS name such as matrix.example.org',
        ],
        [
            "a server name with a port",
            { serverName: "example.org:8448" },
            'synapse:serverName "example.org:8448" is not valid: expected a DNS name such as matrix.example.org',
        ],
        [
            "a server name label starting with a dash",
            { serverName: "-bad.example.org" },
            'synapse:serverName "-bad.example.org" is not valid: expected a DNS name such as matrix.example.org',
        ],
        [
            "an untagged image",
            { image: "matrixdotorg/synapse" },
            'synapse:image "matrixdotorg/synapse" is not valid: expected an image reference with a tag or digest, such as matrixdotorg/synapse:v1.163.2 or registry.example.org/synapse@sha256:<64 hex>',
        ],
        [
            "an image with upper case",
            { image: "MatrixDotOrg/Synapse:v1" },
            'synapse:image "MatrixDotOrg/Synapse:v1" is not valid: expected an image reference with a tag or digest, such as matrixdotorg/synapse:v1.163.2 or registry.example.org/synapse@sha256:<64 hex>',
        ],
        [
            "PostgreSQL older than 14",
            { database: "postgres", postgresImage: "postgres:13.4-alpine" },
            'synapse:postgresImage "postgres:13.4-alpine" is not valid: expected PostgreSQL 14 or newer (Synapse refuses older), such as postgres:17',
        ],
        ["a port that is not a number", { httpPort: "http" }, 'synapse:httpPort "http" is not valid: expected a port number from 1 to 65535'],
        ["port 0", { httpPort: "0" }, 'synapse:httpPort "0" is not valid: expected a port number from 1 to 65535'],
        ["port 70000", { httpPort: "70000" }, 'synapse:httpPort "70000" is not valid: expected a port number from 1 to 65535'],
        ["a fractional port", { httpPort: "80.5" }, 'synapse:httpPort "80.5" is not valid: expected a port number from 1 to 65535'],
        [
            "a host name as bind address",
            { bindAddress: "localhost" },
            'synapse:bindAddress "localhost" is not valid: expected an IPv4 or IPv6 address such as 127.0.0.1 or 0.0.0.0',
        ],
        [
            "an unknown time zone",
            { timezone: "Mars/Olympus" },
            'synapse:timezone "Mars/Olympus" is not valid: expected an IANA time zone name such as UTC or Europe/Berlin',
        ],
        [
            "an offset instead of a zone",
            { timezone: "+02:00" },
            'synapse:timezone "+02:00" is not valid: expected an IANA time zone name such as UTC or Europe/Berlin',
        ],
        [
            "a negative uid",
            { uid: "-1" },
            'synapse:uid "-1" is not valid: expected a whole number from 1 to 2147483647 (a non-root user id)',
        ],
        [
            "a non-integer uid",
            { uid: "10.5" },
            'synapse:uid "10.5" is not valid: expected a whole number from 1 to 2147483647 (a non-root user id)',
        ],
        ["root as uid", { uid: "0" }, 'synapse:uid "0" is not valid: expected a whole number from 1 to 2147483647 (a non-root user id)'],
        [
            "a gid that is a name",
            { gid: "staff" },
            'synapse:gid "staff" is not valid: expected a whole number from 1 to 2147483647 (a non-root group id)',
        ],
        ["reportStats yes", { reportStats: "yes" }, 'synapse:reportStats "yes" is not valid: expected true or false'],
        [
            "an upper-case localpart",
            { adminUser: "Admin" },
            'synapse:adminUser "Admin" is not valid: expected a Matrix localpart of lowercase letters, digits and . _ = - / +',
        ],
        [
            "a localpart with a colon",
            { adminUser: "ad:min" },
            'synapse:adminUser "ad:min" is not valid: expected a Matrix localpart of lowercase letters, digits and . _ = - / +',
        ],
        [
            "a version with a space",
            { adminPasswordVersion: "two please" },
            'synapse:adminPasswordVersion "two please" is not valid: expected a short label of letters, digits, . _ or -, such as 2',
        ],
        [
            "a public URL without scheme",
            { publicBaseUrl: "matrix.example.org" },
            'synapse:publicBaseUrl "matrix.example.org" is not valid: expected an http(s) URL such as https://matrix.example.org/',
        ],
        [
            "a public URL with a query",
            { publicBaseUrl: "https://matrix.example.org/?x=1" },
            'synapse:publicBaseUrl "https://matrix.example.org/?x=1" is not valid: expected an http(s) URL such as https://matrix.example.org/',
        ],
        [
            "a volume name with a slash",
            { volumeName: "data/synapse" },
            'synapse:volumeName "data/synapse" is not valid: expected a Docker volume name of letters, digits, _ . - (starting with a letter or digit)',
        ],
        ["retainDataOnDestroy 1", { retainDataOnDestroy: "1" }, 'synapse:retainDataOnDestroy "1" is not valid: expected true or false'],
        [
            "a public bind without a public URL",
            { bindAddress: "0.0.0.0" },
            'synapse:bindAddress "0.0.0.0" publishes the homeserver beyond this host, but synapse:publicBaseUrl is unset: set it to the URL clients use, such as http://matrix.example.org:8008/ (or keep bindAddress 127.0.0.1)',
        ],
        ["a memory limit without unit", { memoryLimit: "2048" }, 'synapse:memoryLimit "2048" is not valid: expected a size such as 1g or 768m, at least 256m'],
        ["a memory limit too small to run Synapse", { memoryLimit: "64m" }, 'synapse:memoryLimit "64m" is not valid: expected a size such as 1g or 768m, at least 256m'],
        ["a CPU limit of zero", { cpuLimit: "0" }, 'synapse:cpuLimit "0" is not valid: expected a number of CPUs such as 1 or 1.5, at least 0.1'],
        ["a CPU limit with a unit", { cpuLimit: "2cpus" }, 'synapse:cpuLimit "2cpus" is not valid: expected a number of CPUs such as 1 or 1.5, at least 0.1'],
        [
            "extraConfig that is a list",
            { extraConfig: "[1,2]" },
            "synapse:extraConfig (secret, value not shown) is not valid: expected a mapping of homeserver.yaml top-level keys to values",
        ],
        [
            "extraConfig that opens registration",
            { extraConfig: '{"enable_registration":true}' },
            'synapse:extraConfig key "enable_registration" is owned by the stack: registration stays closed; create users through the admin API',
        ],
        [
            "extraConfig that renames the server",
            { extraConfig: '{"server_name":"other.example.org"}' },
            'synapse:extraConfig key "server_name" is owned by the stack: set synapse:serverName instead (it is permanent once the homeserver has data)',
        ],
        [
            "extraConfig that sets public_baseurl",
            { extraConfig: '{"public_baseurl":"https://x/"}' },
            'synapse:extraConfig key "public_baseurl" is owned by the stack: set synapse:publicBaseUrl instead',
        ],
    ];
    for (const [title, raw, message] of cases) {
        it(title, () => {
            assert.deepEqual(problemsOf({ ...valid, ...raw }), [message]);
        });
    }

    it("refuses a key it does not know, naming the nearest known key", () => {
        assert.deepEqual(problemsOf(valid, { stack: "dev", setKeys: ["serverName", "servername"] }), [
            "synapse:servername is not a setting of this stack: did you mean synapse:serverName? Remove it with `pulumi config rm synapse:servername`",
        ]);
        assert.deepEqual(problemsOf(valid, { stack: "dev", setKeys: ["serverName", "retainData"] }), [
            "synapse:retainData is not a setting of this stack: did you mean synapse:retainDataOnDestroy? Remove it with `pulumi config rm synapse:retainData`",
        ]);
        const [unlike] = problemsOf(valid, { stack: "dev", setKeys: ["serverName", "flavour"] });
        assert.match(unlike, /^synapse:flavour is not a setting of this stack: known keys are serverName, image, /);
    });

    it("suggests only near keys", () => {
        assert.equal(closestKey("httpport"), "httpPort");
        assert.equal(closestKey("uid"), "uid");
        assert.equal(closestKey("volume"), "volumeName");
        assert.equal(closestKey("databse"), "database");
        assert.equal(closestKey("sentry"), undefined);
        assert.equal(closestKey("tsl"), "tls");
    });

    it("reports every bad key at once, one line each", () => {
        const problems = problemsOf({ serverName: "bad name", httpPort: "99999", timezone: "Nowhere/Special" });
        assert.equal(problems.length, 3);
        assert.match(problems[0], /^synapse:serverName "bad name"/);
        assert.match(problems[1], /^synapse:httpPort "99999"/);
        assert.match(problems[2], /^synapse:timezone "Nowhere\/Special"/);
        assert.throws(
            () => parseConfig({ serverName: "bad name", httpPort: "99999" }, context),
            (err: Error) => err.message.split("\n").length === 3 && err.message.startsWith("invalid configuration:"),
        );
    });
});

describe("secret values never appear in a message", () => {
    const hidden = "hunter2-Zq9x";
    const notMapping = "synapse:extraConfig (secret, value not shown) is not valid: expected a mapping of homeserver.yaml top-level keys to values";
    const pem = "-----BEGIN CERTIFICATE-----\nMIIBnjCCAUWgAwIBAgIQ\n-----END CERTIFICATE-----\n";
    // [title, raw config, keys set with `pulumi config set --secret`, the secret, the exact problems]
    const cases: [string, RawConfig, string[], string, string[]][] = [
        ["extraConfig that is plain text", { extraConfig: hidden }, [], hidden, [notMapping]],
        ["extraConfig that is a JSON string", { extraConfig: JSON.stringify(hidden) }, [], hidden, [notMapping]],
        ["extraConfig that is a list holding a password", { extraConfig: JSON.stringify([{ smtp_pass: hidden }]) }, [], hidden, [notMapping]],
        [
            "nested extraConfig passwords beside a key the stack owns",
            { extraConfig: JSON.stringify({ email: { smtp_pass: hidden }, database: { args: { password: hidden } } }) },
            [],
            hidden,
            ['synapse:extraConfig key "database" is owned by the stack: set synapse:database instead'],
        ],
        [
            "a nested extraConfig value in trusted_key_servers with private CAs",
            { federation: JSON.stringify({ trustedCaCertificates: [pem] }), extraConfig: JSON.stringify({ trusted_key_servers: [{ server_name: "k.example", verify_keys: { "ed25519:a": hidden } }] }) },
            [],
            hidden,
            ['synapse:extraConfig key "trusted_key_servers" is owned by the stack when federation trusts its own CAs: it stays empty (keys come from the peers themselves)'],
        ],
        ["a tlsKey without an edge", { tlsKey: hidden }, [], hidden, ["synapse:tlsKey is a setting of the TLS edge, but synapse:tls is none: set synapse:tls, or remove it"]],
        [
            "a server name set with --secret",
            { serverName: `${hidden} host` },
            ["serverName"],
            hidden,
            ["synapse:serverName (secret, value not shown) is not valid: expected a DNS name such as matrix.example.org"],
        ],
        ["a port set with --secret", { httpPort: hidden }, ["httpPort"], hidden, ["synapse:httpPort (secret, value not shown) is not valid: expected a port number from 1 to 65535"]],
        [
            "a public bind address set with --secret",
            { bindAddress: "10.9.8.7" },
            ["bindAddress"],
            "10.9.8.7",
            [
                "synapse:bindAddress (secret, value not shown) publishes the homeserver beyond this host, but synapse:publicBaseUrl is unset: set it to the URL clients use, such as http://matrix.example.org:8008/ (or keep bindAddress 127.0.0.1)",
            ],
        ],
        [
            "a federation port set with --secret that is httpsPort too",
            { tls: "internal", httpsPort: "4443", federationPort: "4443" },
            ["federationPort"],
            "4443",
            ["synapse:federationPort (secret, value not shown) is synapse:httpsPort too: set 0 to federate through httpsPort, or another port"],
        ],
        [
            "a federation setting set with --secret",
            { federation: JSON.stringify({ allowList: [`${hidden}.example:8448`] }) },
            ["federation"],
            hidden,
            ["synapse:federation.allowList (secret, value not shown) is not valid: expected a list of server names such as [a.example.org, b.example.org]"],
        ],
    ];
    for (const [title, raw, secretKeys, secret, expected] of cases) {
        it(`hides ${title}`, () => {
            const problems = problemsOf({ ...valid, ...raw }, { stack: "dev", secretKeys });
            assert.deepEqual(problems, expected);
            for (const problem of problems) {
                assert.ok(!problem.includes(secret), `the secret is in: ${problem}`);
            }
        });
    }

    const read = (file: string) => fs.readFileSync(file, "utf8");
    const keyBody = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7";
    const unreadable = "cannot be read: expected PEM text or the path of a readable file holding it";
    // [title, key, value, keys set with --secret, how files are read, the secret, the exact refusal]
    const pemCases: [string, "tlsKey" | "tlsCertificate", string, string[], (file: string) => string, string, string][] = [
        ["a tlsKey that is not PEM", "tlsKey", keyBody, [], read, keyBody, `synapse:tlsKey (secret, value not shown) ${unreadable}`],
        ["a tlsKey path that does not exist", "tlsKey", "keys/no-such-tls.key", [], read, "no-such-tls", `synapse:tlsKey (secret, value not shown) ${unreadable}`],
        [
            "a tlsKey file that holds no PEM block",
            "tlsKey",
            "keys/tls.key",
            [],
            () => keyBody,
            keyBody,
            "synapse:tlsKey (secret, value not shown) holds no PEM block: expected a file starting with -----BEGIN",
        ],
        ["a tlsCertificate set with --secret", "tlsCertificate", keyBody, ["tlsCertificate"], read, keyBody, `synapse:tlsCertificate (secret, value not shown) ${unreadable}`],
    ];
    for (const [title, key, value, secretKeys, readFile, secret, expected] of pemCases) {
        it(`hides ${title}`, () => {
            assert.throws(
                () => pemOrFile(key, value, readFile, secretKeys),
                (err: ConfigError) => {
                    assert.deepEqual(err.problems, [expected]);
                    assert.ok(!err.message.includes(secret), `the secret is in: ${err.message}`);
                    return true;
                },
            );
        });
    }

    it("keeps naming the value of a key that is not secret", () => {
        assert.throws(() => pemOrFile("tlsCertificate", "certs/no-such.pem", read), (err: ConfigError) => {
            assert.deepEqual(err.problems, [`synapse:tlsCertificate "certs/no-such.pem" ${unreadable}`]);
            return true;
        });
        assert.throws(() => pemOrFile("tlsCertificate", "certs/chain.pem", () => "no block"), (err: ConfigError) => {
            assert.deepEqual(err.problems, ['synapse:tlsCertificate "certs/chain.pem" holds no PEM block: expected a file starting with -----BEGIN']);
            return true;
        });
        assert.equal(pemOrFile("tlsKey", pem, read), pem);
    });

    it("learns from Pulumi which keys were set with --secret", async () => {
        pulumi.runtime.setAllConfig({ "synapse:serverName": `${hidden} host`, "synapse:httpPort": "http" }, ["synapse:serverName"]);
        try {
            await assert.rejects(readConfig(), (err: Error) => {
                assert.equal(
                    err.message,
                    "invalid configuration:\n" +
                        "  synapse:serverName (secret, value not shown) is not valid: expected a DNS name such as matrix.example.org\n" +
                        '  synapse:httpPort "http" is not valid: expected a port number from 1 to 65535',
                );
                return true;
            });
        } finally {
            pulumi.runtime.setAllConfig({});
        }
    });
});

describe("checkTransition", () => {
    const deployed = parseConfig(valid, context);

    it("lets a new stack and an unchanged one through", () => {
        checkTransition({}, deployed);
        checkTransition({ serverName: "matrix.example.org", volumeName: "synapse-dev-data" }, deployed);
        checkTransition({ serverName: "matrix.example.org", volumeName: "synapse-dev-data" }, { ...deployed, httpPort: 9000, uid: 991 });
    });

    it("refuses a new volume name, naming the volume and the setting", () => {
        assert.throws(
            () => checkTransition({ serverName: "matrix.example.org", volumeName: "synapse-data" }, deployed),
            (err: ConfigError) => {
                assert.deepEqual(err.problems, [
                    'synapse:volumeName changed from "synapse-data" to "synapse-dev-data": this would replace the data volume synapse-data, which holds the homeserver\'s database, signing key and media. No update deletes or replaces a data volume: set synapse:volumeName back to "synapse-data", or deploy the new volume as a new stack',
                ]);
                return true;
            },
        );
    });

    it("refuses a new server name on existing data, saying why and what to do", () => {
        assert.throws(
            () => checkTransition({ serverName: "old.example.org", volumeName: "synapse-dev-data" }, deployed),
            (err: ConfigError) => {
                assert.deepEqual(err.problems, [
                    'synapse:serverName changed from "old.example.org" to "matrix.example.org", but volume synapse-dev-data holds the data of old.example.org: a Matrix server name is permanent (it is in every user and room id and in the server\'s signing identity). Set it back, or create a new stack for the new name (`pulumi stack init`), which gets a volume of its own',
                ]);
                return true;
            },
        );
    });

    it("refuses moving a deployed stack between one engine and a swarm in place, saying how to move it with its data", () => {
        const onSwarm = { ...deployed, platform: "swarm" as const };
        const expected = (from: string, to: string, holders: string) =>
            `synapse:platform changed from ${from} to ${to}: not in place, because the ${holders} would still hold the data volumes and the edge's ports while their replacements start. ` +
            `To move the stack and keep every byte: set synapse:platform back to ${from} and synapse:retainDataOnDestroy to true, \`pulumi up\`, \`pulumi destroy\` (the volumes stay), ` +
            `then set synapse:platform ${to} and \`pulumi up\`: the new deployment adopts the volumes with their data`;
        // A stack deployed on one engine records no platform.
        assert.throws(
            () => checkTransition({ serverName: "matrix.example.org", volumeName: "synapse-dev-data" }, onSwarm),
            (err: ConfigError) => (assert.deepEqual(err.problems, [expected("docker", "swarm", "containers")]), true),
        );
        assert.throws(
            () => checkTransition({ serverName: "matrix.example.org", volumeName: "synapse-dev-data", platform: "swarm" }, deployed),
            (err: ConfigError) => (assert.deepEqual(err.problems, [expected("swarm", "docker", "services")]), true),
        );
        checkTransition({}, onSwarm);
        checkTransition({ serverName: "matrix.example.org", volumeName: "synapse-dev-data", platform: "swarm" }, onSwarm);
    });
});

describe("synapse:federation", () => {
    const edge = { ...valid, tls: "internal" };
    const pem = "-----BEGIN CERTIFICATE-----\nMIIBnjCCAUWgAwIBAgIQ\n-----END CERTIFICATE-----\n";

    it("takes every documented key", () => {
        const federation = {
            enabled: true,
            allowList: ["a.example", "b.example"],
            trustedCaCertificates: [pem],
            peerStacks: ["organization/synapse/b"],
            allowPrivateRanges: ["172.18.0.0/16", "fd00::/8"],
            network: "matrix-lab",
        };
        assert.deepEqual(parseConfig({ ...edge, federation: JSON.stringify(federation) }, context).federation, federation);
    });

    it("makes an island with enabled false", () => {
        assert.deepEqual(parseConfig({ ...valid, federation: '{"enabled":false}' }, context).federation, {
            enabled: false,
            trustedCaCertificates: [],
            peerStacks: [],
            allowPrivateRanges: [],
        });
    });

    const refusals: [string, RawConfig, string][] = [
        ["an unknown sub-key", { federation: '{"allowlist":["a.example"]}' }, "synapse:federation.allowlist is not a federation setting: known keys are enabled, allowList, trustedCaCertificates, peerStacks, allowPrivateRanges, network"],
        ["a server name with a port in allowList", { federation: '{"allowList":["a.example:8448"]}' }, 'synapse:federation.allowList ["a.example:8448"] is not valid: expected a list of server names such as [a.example.org, b.example.org]'],
        ["a CA that is not PEM", { federation: '{"trustedCaCertificates":["MIIB"]}' }, 'synapse:federation.trustedCaCertificates ["MIIB"] is not valid: expected a list of PEM certificates (-----BEGIN CERTIFICATE-----...)'],
        ["a range without prefix length", { federation: '{"allowPrivateRanges":["172.18.0.0"]}' }, 'synapse:federation.allowPrivateRanges ["172.18.0.0"] is not valid: expected a list of CIDRs such as 172.18.0.0/16'],
        ["a network without an edge", { federation: '{"network":"matrix-lab"}' }, "synapse:federation.network needs synapse:tls: peers reach this homeserver through its TLS edge"],
        ["settings on an island", { federation: '{"enabled":false,"allowList":["a.example"]}' }, "synapse:federation.allowList has no effect with synapse:federation.enabled false: remove it"],
        ["a key server of its own with private CAs", { federation: JSON.stringify({ trustedCaCertificates: [pem] }), extraConfig: '{"trusted_key_servers":[]}' }, 'synapse:extraConfig key "trusted_key_servers" is owned by the stack when federation trusts its own CAs: it stays empty (keys come from the peers themselves)'],
        ["a whitelist through extraConfig", { extraConfig: '{"federation_domain_whitelist":[]}' }, 'synapse:extraConfig key "federation_domain_whitelist" is owned by the stack: set synapse:federation.allowList instead'],
    ];
    for (const [title, raw, message] of refusals) {
        it(`refuses ${title}`, () => assert.deepEqual(problemsOf({ ...valid, ...raw }), [message]));
    }
});
