import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { renderOverlay } from "../../packages/synapse/homeserver/overlay";

function parse(rendered: string): Record<string, unknown> {
    // JSON is valid YAML; the header lines are YAML comments.
    return JSON.parse(rendered.split("\n").filter((line) => !line.startsWith("#")).join("\n"));
}

describe("renderOverlay", () => {
    it("sets the keys the stack owns, registration closed", () => {
        const rendered = renderOverlay({ publicBaseUrl: "https://matrix.example.org/", reportStats: false, extraConfig: {} });
        assert.deepEqual(parse(rendered), {
            public_baseurl: "https://matrix.example.org/",
            report_stats: false,
            enable_registration: false,
            listeners: [
                { port: 8008, tls: false, type: "http", x_forwarded: false, resources: [{ names: ["client", "federation"], compress: false }] },
            ],
        });
        assert.match(rendered, /^# Managed by the synapse Pulumi stack/);
    });

    it("passes extra settings through, sorted, without letting them override the stack's keys", () => {
        const rendered = renderOverlay({
            publicBaseUrl: "http://127.0.0.1:8008/",
            reportStats: true,
            extraConfig: { rc_login: { address: { per_second: 10, burst_count: 50 } }, max_upload_size: "100M", enable_registration: true },
        });
        const overlay = parse(rendered);
        assert.deepEqual(Object.keys(overlay), ["enable_registration", "max_upload_size", "rc_login", "public_baseurl", "report_stats", "listeners"]);
        assert.equal(overlay.enable_registration, false);
        assert.equal(overlay.report_stats, true);
        assert.deepEqual(overlay.rc_login, { address: { per_second: 10, burst_count: 50 } });
    });

    it("trusts X-Forwarded-For only behind the edge, and replaces the database block when given one", () => {
        const database = { name: "psycopg2", args: { host: "db", dbname: "synapse" } };
        const overlay = parse(renderOverlay({ publicBaseUrl: "https://m/", reportStats: false, behindEdge: true, database, extraConfig: {} }));
        assert.equal((overlay.listeners as { x_forwarded: boolean }[])[0].x_forwarded, true);
        assert.deepEqual(overlay.database, database);
    });

    it("renders a private federation: allow list, own CA roots without key servers, private ranges; or an island", () => {
        const federation = { enabled: true, allowList: ["b.example"], caFiles: ["/data/ca-0.pem"], allowPrivateRanges: ["10.9.0.0/24"] };
        const overlay = parse(renderOverlay({ publicBaseUrl: "https://m/", reportStats: false, federation, extraConfig: {} }));
        assert.deepEqual(overlay.federation_domain_whitelist, ["b.example"]);
        assert.deepEqual(overlay.federation_custom_ca_list, ["/data/ca-0.pem"]);
        assert.deepEqual(overlay.trusted_key_servers, []);
        assert.deepEqual(overlay.ip_range_whitelist, ["10.9.0.0/24"]);
        const island = parse(renderOverlay({ publicBaseUrl: "https://m/", reportStats: false, federation: { enabled: false, caFiles: [], allowPrivateRanges: [] }, extraConfig: {} }));
        assert.deepEqual(island.federation_domain_whitelist, []);
        assert.deepEqual((island.listeners as { resources: { names: string[] }[] }[])[0].resources[0].names, ["client"]);
        assert.equal(island.trusted_key_servers, undefined);
    });

    it("renders the same bytes for the same settings, so an unchanged stack has no diff", () => {
        const settings = { publicBaseUrl: "http://x/", reportStats: false, extraConfig: { b: 1, a: 2 } };
        assert.equal(renderOverlay(settings), renderOverlay({ ...settings, extraConfig: { a: 2, b: 1 } }));
    });
});
