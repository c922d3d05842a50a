// The TURN server: coturn's rendered config (the denied and allowed peer ranges, the secret, TLS), the URIs Synapse
// hands out, the rules about `turn` in the component's and the stack's terms (exact messages), and the wiring under
// Pulumi's mocks: its own network, its ports, the secret only ever in files.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import {
    cidrRange,
    DEFAULTS,
    DENIED_PEER_RANGES,
    Homeserver,
    isAllowablePeerRange,
    relayPortRange,
    renderOverlay,
    renderTurnConfig,
    type TurnServerSettings,
    turnUris,
    validateHomeserverArgs,
} from "@synapse-stack/synapse";
import { homeserverArgs, parseConfig } from "../../config";
import { allStrings, configProblems, declared, installMocks, MOCK_PASSWORD } from "./harness";

const SETTINGS: TurnServerSettings = {
    realm: "chat.example.org",
    sharedSecret: "s3cret",
    externalIp: "203.0.113.10",
    relayPorts: { first: 49160, last: 49200 },
    allowPeers: ["192.168.50.0/24"],
    protectedSubnets: ["172.20.0.0/16"],
    tls: false,
};

describe("peer ranges as coturn takes them", () => {
    for (const [cidr, range] of [
        ["10.0.0.0/8", "10.0.0.0-10.255.255.255"],
        ["172.16.0.0/12", "172.16.0.0-172.31.255.255"],
        ["192.168.1.7/32", "192.168.1.7"],
        ["192.168.1.7/24", "192.168.1.0-192.168.1.255"],
        ["::/127", "::-::1"],
        ["::ffff:0:0/96", "::ffff:0:0-::ffff:ffff:ffff"],
        ["::ffff:10.0.0.0/104", "::ffff:a00:0-::ffff:aff:ffff"],
        ["fc00::/7", "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
        ["2001::/23", "2001::-2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff"],
    ] as const) {
        it(`${cidr} → ${range}`, () => assert.equal(cidrRange(cidr), range));
    }

    it("denies every private, loopback, link-local and shared range Synapse's coturn guide names, and more", () => {
        for (const cidr of ["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16", "::/127", "fc00::/7", "fe80::/10", "::ffff:0:0/96", "64:ff9b::/96"]) {
            assert.ok(DENIED_PEER_RANGES.includes(cidr), cidr);
        }
    });

    it("lets allowPeers open a LAN's range, never loopback, the unspecified address or IPv4-mapped addresses", () => {
        const cases: [string, boolean][] = [
            ["192.168.1.0/24", true],
            ["10.20.0.0/16", true],
            ["fd00:1::/64", true],
            ["127.0.0.0/8", false],
            ["0.0.0.0/0", false],
            ["::/0", false],
            ["::1/128", false],
            ["::ffff:192.168.1.0/120", false],
            ["10.0.0.0/33", false],
            ["lan", false],
        ];
        assert.deepEqual(cases.map(([cidr]) => [cidr, isAllowablePeerRange(cidr)]), cases);
    });

    it("takes a relay port range of at most 1000 ports above 1023", () => {
        assert.deepEqual(relayPortRange("49160-49200"), { first: 49160, last: 49200 });
        for (const text of ["49160", "1000-1100", "49200-49160", "49152-65535", "50000-70000", "a-b"]) {
            assert.equal(relayPortRange(text), undefined, text);
        }
    });
});

describe("coturn's config", () => {
    it("renders the REST-API secret, UDP relays only, every denied range, the allowed ones, no TLS without the edge", () => {
        const lines = renderTurnConfig(SETTINGS).split("\n");
        for (const line of [
            "listening-port=3478",
            "no-tls",
            "no-dtls",
            "external-ip=203.0.113.10",
            "min-port=49160",
            "max-port=49200",
            "realm=chat.example.org",
            "use-auth-secret",
            "static-auth-secret=s3cret",
            "no-tcp-relay",
            "no-multicast-peers",
            "no-cli",
            "denied-peer-ip=10.0.0.0-10.255.255.255",
            "denied-peer-ip=127.0.0.0-127.255.255.255",
            "denied-peer-ip=::ffff:0:0-::ffff:ffff:ffff",
            "denied-peer-ip=172.20.0.0-172.20.255.255",
            "allowed-peer-ip=192.168.50.0-192.168.50.255",
        ]) {
            assert.ok(lines.includes(line), line);
        }
        assert.equal(lines.filter((line) => line.startsWith("denied-peer-ip=")).length, DENIED_PEER_RANGES.length + 1);
        assert.equal(lines.filter((line) => line.startsWith("allowed-peer-ip=")).length, 1);
        assert.ok(!lines.some((line) => line.startsWith("cert=") || line.startsWith("tls-listening-port")));
    });

    it("serves TLS 1.2 and newer with the copied certificate behind the edge", () => {
        const lines = renderTurnConfig({ ...SETTINGS, tls: true }).split("\n");
        for (const line of ["tls-listening-port=5349", "cert=/var/lib/coturn-tls/certificate.pem", "pkey=/var/lib/coturn-tls/private-key.pem", "no-tlsv1", "no-tlsv1_1", "no-dtls"]) {
            assert.ok(lines.includes(line), line);
        }
        assert.ok(!lines.includes("no-tls"));
    });

    it("refuses an allowPeers range that reaches one of the stack's own networks", () => {
        assert.throws(
            () => renderTurnConfig({ ...SETTINGS, allowPeers: ["172.16.0.0/12"] }),
            /allowPeers 172\.16\.0\.0\/12 would reach the stack's own networks \(172\.20\.0\.0\/16\)/,
        );
    });

    it("gives clients TURN over UDP and TCP, and over TLS when served", () => {
        assert.deepEqual(turnUris({ host: "matrix.example.org", port: 3478, tlsPort: 5349 }), [
            "turn:matrix.example.org:3478?transport=udp",
            "turn:matrix.example.org:3478?transport=tcp",
            "turns:matrix.example.org:5349?transport=tcp",
        ]);
        assert.deepEqual(turnUris({ host: "2001:db8::5", port: 3478 }), ["turn:[2001:db8::5]:3478?transport=udp", "turn:[2001:db8::5]:3478?transport=tcp"]);
    });

    it("points Synapse at them and at the secret's file, never the secret itself", () => {
        const overlay = JSON.parse(
            renderOverlay({ publicBaseUrl: "https://m.example.org/", reportStats: false, extraConfig: {}, turn: { uris: ["turn:m.example.org:3478?transport=udp"], sharedSecretPath: "/data/synapse-stack-files/turn-secret" } })
                .split("\n")
                .slice(2)
                .join("\n"),
        ) as Record<string, unknown>;
        assert.deepEqual(overlay.turn_uris, ["turn:m.example.org:3478?transport=udp"]);
        assert.equal(overlay.turn_shared_secret_path, "/data/synapse-stack-files/turn-secret");
        assert.equal(overlay.turn_shared_secret, undefined);
    });
});

describe("the rules about turn", () => {
    it("refuses bad values, a wildcard without externalIp, ports in the relay range, TLS without the edge", () => {
        assert.deepEqual(validateHomeserverArgs({ serverName: "chat.example.org", turn: {} }), []);
        assert.deepEqual(
            validateHomeserverArgs({
                serverName: "chat.example.org",
                turn: { bindAddress: "0.0.0.0", port: 49170, tlsPort: 5349, relayPorts: "49160-49200", allowPeers: ["127.0.0.0/8"], image: "coturn/coturn" },
                extraConfig: { turn_uris: ["turn:elsewhere"] },
            }),
            [
                'turn.image "coturn/coturn" is not valid: expected an image reference with a tag or digest, such as coturn/coturn:4.6.1',
                'turn.allowPeers ["127.0.0.0/8"] is not valid: expected a list of CIDRs such as 192.168.1.0/24, none holding a loopback or unspecified address (127.0.0.0/8, 0.0.0.0/8, ::, ::1)',
                'turn.bindAddress "0.0.0.0" publishes on every address, so the TURN server cannot tell clients which one reaches it: set turn.externalIp',
                "turn.port 49170 is inside turn.relayPorts 49160-49200: expected a port outside the relay range",
                "turn.tlsPort needs edge: TURN over TLS uses the edge's certificate",
                'extraConfig key "turn_uris" is written by the component with turn: the component points them at its TURN server (turn.port, turn.tlsPort)',
            ],
        );
        assert.deepEqual(validateHomeserverArgs({ serverName: "chat.example.org", edge: { tls: "internal" }, turn: { externalIp: "::", relayPorts: "1-2", tlsPort: 3478 } }), [
            'turn.relayPorts "1-2" is not valid: expected a port range first-last from 1024 to 65535 such as 49160-49200, at most 1000 ports (Docker publishes each one)',
            'turn.externalIp "::" is not an address clients can reach: expected the host\'s public (or LAN) address, such as 203.0.113.10',
            "turn.tlsPort 3478 is turn.port too: expected another port for TURN over TLS",
        ]);
    });

    it("the stack refuses the same in synapse:* terms, and maps the rest onto the component's turn", () => {
        assert.deepEqual(configProblems({ turn: JSON.stringify({ bindAddress: "0.0.0.0", port: 49161, tlsPort: 5349, colour: "red", allowPeers: ["0.0.0.0/0"] }) }), [
            "synapse:turn.colour is not a TURN setting: known keys are enabled, bindAddress, externalIp, port, tlsPort, relayPorts, allowPeers, network, image",
            'synapse:turn.bindAddress "0.0.0.0" publishes on every address, so the TURN server cannot tell clients which one reaches it: set synapse:turn.externalIp',
            'synapse:turn.allowPeers ["0.0.0.0/0"] is not valid: expected a list of CIDRs such as 192.168.1.0/24, none holding a loopback or unspecified address (127.0.0.0/8, 0.0.0.0/8, ::, ::1)',
            "synapse:turn.tlsPort needs synapse:tls: TURN over TLS uses the edge's certificate",
            "synapse:turn.port 49161 is inside synapse:turn.relayPorts 49160-49200: set a port outside the relay range",
        ]);
        assert.deepEqual(configProblems({ turn: JSON.stringify({ enabled: false, port: 3478 }) }), ["synapse:turn.port has no effect with synapse:turn.enabled false: remove it"]);
        assert.deepEqual(configProblems({ turn: JSON.stringify({ enabled: true }), extraConfig: JSON.stringify({ turn_shared_secret: "x" }) }), [
            'synapse:extraConfig key "turn_shared_secret" is owned by the stack with synapse:turn: the component\'s TURN server has a random secret of its own, handed to Synapse as a file',
        ]);
        assert.equal(parseConfig({ serverName: "matrix.example.org" }, { stack: "dev" }).turn, undefined, "off unless set");
        const config = parseConfig({ serverName: "matrix.example.org", turn: JSON.stringify({ externalIp: "198.51.100.7", port: "3479", allowPeers: ["192.168.1.0/24"] }) }, { stack: "dev" });
        assert.deepEqual(homeserverArgs(config).turn, {
            bindAddress: DEFAULTS.turn.bindAddress,
            externalIp: "198.51.100.7",
            port: 3479,
            tlsPort: undefined,
            relayPorts: DEFAULTS.turn.relayPorts,
            allowPeers: ["192.168.1.0/24"],
            network: undefined,
            image: DEFAULTS.turn.image,
        });
    });

    it("maps every accepted synapse:turn onto arguments the component accepts, with the edge and without", () => {
        for (const raw of [{ turn: "{}" }, { turn: "{}", tls: "internal" }, { turn: JSON.stringify({ bindAddress: "0.0.0.0", externalIp: "203.0.113.10" }), tls: "internal", database: "postgres" }]) {
            const args = homeserverArgs(parseConfig({ serverName: "matrix.example.org", ...raw }, { stack: "dev" }));
            assert.deepEqual(validateHomeserverArgs(args), [], JSON.stringify(raw));
            assert.equal(args.turn?.tlsPort, raw.tls ? DEFAULTS.turn.tlsPort : undefined, "the TLS port only behind the edge");
        }
    });
});

describe("a Homeserver with a TURN server behind the edge", () => {
    type Container = {
        name: string;
        user: string;
        entrypoints?: string[];
        command?: string[];
        envs?: string[];
        labels?: { label: string; value: string }[];
        ports?: { internal: number; external: number; ip: string; protocol: string }[];
        volumes?: { volumeName: string; containerPath: string; readOnly?: boolean }[];
        networksAdvanced?: { name: string }[];
        networkMode?: string;
        capabilities?: { drops: string[]; adds: string[] };
        readOnly?: boolean;
    };
    let containers: Record<string, Container>;

    before(async () => {
        await installMocks("lib", "chat.example.org");
        new Homeserver("chat", {
            serverName: "chat.example.org",
            postgres: {},
            edge: { tls: "internal", publicHost: "matrix.example.org" },
            turn: { bindAddress: "0.0.0.0", externalIp: "203.0.113.10", allowPeers: ["192.168.50.0/24"] },
        });
        await new Promise((resolve) => setTimeout(resolve, 500));
        containers = Object.fromEntries(declared.filter((r) => r.type === "docker:index/container:Container").map((r) => [String(r.inputs.name), r.inputs as unknown as Container]));
    });

    it("runs coturn on a network of its own, none of the stack's, as nobody with the shared hardening", () => {
        const turn = containers["chat-turn"];
        assert.deepEqual(turn.networksAdvanced?.map((network) => network.name), ["chat-turn"]);
        for (const name of ["chat", "chat-db", "chat-edge"]) {
            assert.ok(!containers[name].networksAdvanced?.some((network) => network.name === "chat-turn"), `${name} is not on the TURN network`);
        }
        assert.equal(turn.user, "65534:65534");
        assert.deepEqual(turn.capabilities, { drops: ["ALL"], adds: ["NET_BIND_SERVICE"] });
        assert.equal(turn.readOnly, true);
        assert.deepEqual(turn.volumes?.map((volume) => [volume.volumeName, volume.containerPath, volume.readOnly]), [
            ["chat-turn", "/var/lib/coturn", true],
            ["chat-turn-tls", "/var/lib/coturn-tls", true],
        ]);
    });

    it("publishes the listener (UDP, TCP), TLS and each relay port on the chosen address", () => {
        const ports = containers["chat-turn"].ports ?? [];
        assert.deepEqual(ports.slice(0, 3), [
            { internal: 3478, external: 3478, ip: "0.0.0.0", protocol: "udp" },
            { internal: 3478, external: 3478, ip: "0.0.0.0", protocol: "tcp" },
            { internal: 5349, external: 5349, ip: "0.0.0.0", protocol: "tcp" },
        ]);
        assert.equal(ports.length, 3 + 41);
        assert.ok(ports.slice(3).every((port, offset) => port.internal === 49160 + offset && port.external === port.internal && port.protocol === "udp"));
    });

    it("copies the edge's certificate with no network, reading the edge's volume only", () => {
        const copier = containers["chat-turn-certificates"];
        assert.equal(copier.networkMode, "none");
        assert.equal(copier.user, "0:65534");
        assert.deepEqual(copier.volumes?.map((volume) => [volume.volumeName, volume.readOnly ?? false]), [["chat-edge", true], ["chat-turn-tls", false]]);
        assert.deepEqual(copier.command, ["/data", "/var/lib/coturn-tls", "matrix.example.org", "internal"]);
        const tls = declared.find((r) => r.type === "docker:index/volume:Volume" && r.inputs.name === "chat-turn-tls");
        assert.deepEqual(tls?.inputs.driverOpts, { type: "tmpfs", device: "tmpfs", o: "size=1m,mode=0750,uid=0,gid=65534" }, "the key's copy lives in memory only");
    });

    it("hands the secret over as files only: coturn's config and Synapse's secret file, never an argument, variable or label", () => {
        const strings = allStrings(declared.map((r) => r.inputs));
        const request = strings.filter((text) => text.startsWith('{"serverName"')).map((text) => JSON.parse(text.split("\n")[0]) as { overlay: string; files: Record<string, string> })[0];
        assert.equal(request.files["turn-secret"], `${MOCK_PASSWORD}\n`);
        const overlay = JSON.parse(request.overlay.split("\n").slice(2).join("\n")) as Record<string, unknown>;
        assert.deepEqual(overlay.turn_uris, [
            "turn:matrix.example.org:3478?transport=udp",
            "turn:matrix.example.org:3478?transport=tcp",
            "turns:matrix.example.org:5349?transport=tcp",
        ]);
        assert.equal(overlay.turn_shared_secret_path, "/data/synapse-stack-files/turn-secret");
        assert.ok(strings.some((text) => text.includes(`static-auth-secret=${MOCK_PASSWORD}`)), "coturn's config, written into its volume from stdin");
        for (const container of Object.values(containers)) {
            const visible = JSON.stringify([container.entrypoints, container.command, container.envs, container.labels]);
            assert.ok(!visible.includes(MOCK_PASSWORD), `not in ${container.name}'s arguments, variables or labels`);
        }
        const commands = declared.filter((r) => r.type === "command:local:Command").map((r) => String(r.inputs.create ?? ""));
        assert.ok(!commands.some((line) => line.includes(MOCK_PASSWORD)), "not in any command line");
    });
});
