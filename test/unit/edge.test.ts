import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type EdgeSettings, parseSize, renderCaddyfile, wellKnown } from "../../packages/synapse/edge/caddyfile";
import { passwordStatements, scramVerifier } from "../../packages/synapse/database/database";

const settings: EdgeSettings = {
    tls: "internal",
    serverName: "example.org",
    publicHost: "matrix.example.org",
    httpsPort: 443,
    federationPort: 8448,
    serveWellKnown: false,
    exposeAdminApi: false,
    upstream: "synapse-prod:8008",
    maxBodyBytes: 50 * 1024 ** 2,
};

describe("the delegation documents", () => {
    const cases: [string, Partial<EdgeSettings>, string, string][] = [
        ["federation on 8448", {}, '{"m.server":"matrix.example.org:8448"}', '{"m.homeserver":{"base_url":"https://matrix.example.org"}}'],
        ["federation through 443", { federationPort: 0 }, '{"m.server":"matrix.example.org:443"}', '{"m.homeserver":{"base_url":"https://matrix.example.org"}}'],
        ["another https port", { httpsPort: 8443, federationPort: 0 }, '{"m.server":"matrix.example.org:8443"}', '{"m.homeserver":{"base_url":"https://matrix.example.org:8443"}}'],
    ];
    for (const [title, given, server, client] of cases) {
        it(title, () => assert.deepEqual(wellKnown({ ...settings, ...given }), { server, client }));
    }
});

describe("renderCaddyfile", () => {
    it("forwards Matrix paths, refuses the admin API and everything else, and limits bodies", () => {
        const rendered = renderCaddyfile(settings);
        assert.match(rendered, /handle \/_matrix\/\* \{\n\t\treverse_proxy synapse-prod:8008\n\t\}/);
        assert.match(rendered, /handle \/_synapse\/client\/\* \{\n\t\treverse_proxy synapse-prod:8008\n\t\}/);
        assert.match(rendered, /handle \/\.well-known\/matrix\/\* \{\n\t\treverse_proxy synapse-prod:8008\n\t\}/);
        assert.match(rendered, /handle \/_synapse\/admin\/\* \{\n\t\trespond "The admin API is not exposed here" 403\n\t\}/);
        assert.match(rendered, /handle \{\n\t\trespond 404\n\t\}/);
        assert.match(rendered, /max_size 52428800/);
        assert.match(rendered, /^https:\/\/matrix\.example\.org:443 \{\n\ttls internal\n\timport synapse\n\}$/m);
        assert.match(rendered, /^https:\/\/matrix\.example\.org:8448 \{/m);
        assert.doesNotMatch(rendered, /^https:\/\/example\.org/m, "no site for the server name without serveWellKnown");
    });

    it("serves the delegation documents itself, on the server name too, when asked", () => {
        const rendered = renderCaddyfile({ ...settings, serveWellKnown: true });
        assert.match(rendered, /respond `\{"m\.server":"matrix\.example\.org:8448"\}` 200/);
        assert.match(rendered, /header Access-Control-Allow-Origin \*/);
        assert.match(rendered, /^https:\/\/example\.org:443 \{/m);
    });

    it("takes certificates from Let's Encrypt with the contact address, or from files", () => {
        const acme = renderCaddyfile({ ...settings, tls: "acme", acmeEmail: "admin@example.org" });
        assert.match(acme, /\temail admin@example\.org/);
        assert.doesNotMatch(acme, /tls internal|local_certs/);
        const files = renderCaddyfile({ ...settings, tls: "files" });
        assert.match(files, /\ttls \/data\/tls\/certificate\.pem \/data\/tls\/private-key\.pem/);
    });

    it("forwards the admin API when exposed, and has no federation site when federating through 443", () => {
        const rendered = renderCaddyfile({ ...settings, exposeAdminApi: true, federationPort: 0 });
        assert.match(rendered, /handle \/_synapse\/admin\/\* \{\n\t\treverse_proxy synapse-prod:8008/);
        assert.doesNotMatch(rendered, /:8448/);
    });
});

describe("parseSize reads Synapse's size notation", () => {
    const cases: [unknown, number][] = [[undefined, 7], ["50M", 50 * 1024 ** 2], ["100M", 100 * 1024 ** 2], ["1G", 1024 ** 3], ["512K", 512 * 1024], [2048, 2048], ["lots", 7]];
    for (const [value, bytes] of cases) {
        it(String(value), () => assert.equal(parseSize(value, 7), bytes));
    }
});

describe("scramVerifier", () => {
    it("gives PostgreSQL's SCRAM-SHA-256 form, the same for the same password, and never the password", () => {
        const verifier = scramVerifier("correct horse battery staple");
        assert.match(verifier, /^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
        assert.equal(scramVerifier("correct horse battery staple"), verifier);
        assert.notEqual(scramVerifier("another"), verifier);
        assert.ok(!verifier.includes("horse"));
    });
});

describe("passwordStatements", () => {
    const verifier = scramVerifier("correct horse battery staple");

    it("sets the password as its verifier and keeps the statement out of the server's log, even when it fails", () => {
        assert.equal(
            passwordStatements("synapse", verifier),
            "\\set VERBOSITY terse\n" +
                "SET log_statement = 'none';\n" +
                "SET log_min_error_statement = 'panic';\n" +
                "SET log_min_duration_statement = -1;\n" +
                "SET log_min_duration_sample = -1;\n" +
                "SET log_transaction_sample_rate = 0;\n" +
                `ALTER ROLE synapse WITH PASSWORD '${verifier}';\n`,
        );
    });

    it("refuses a role that is not a plain identifier and a verifier that is not one, never showing the verifier", () => {
        assert.throws(() => passwordStatements("synapse; DROP", verifier), /role "synapse; DROP" is not a plain lower-case SQL identifier/);
        const quoted = `${verifier}'; SELECT '`;
        assert.throws(() => passwordStatements("synapse", quoted), (err: Error) => /not in PostgreSQL's SCRAM-SHA-256 form/.test(err.message) && !err.message.includes(verifier));
    });
});
