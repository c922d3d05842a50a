// The rules about the Homeserver component's own arguments, checked before it declares anything, so a program built on
// the component gets the refusals the stack's config gets. Only values known when the program runs (not Outputs) can
// be checked here; each problem names the argument, the value (never a secret one) and the accepted form.
import { TlsMode } from "../edge/caddyfile";
import type { HomeserverArgs } from "./args";

const TLS_MODES: readonly string[] = Object.values(TlsMode);

/** A value the program gave directly (a string, number or boolean), or undefined for an Output or nothing. */
function known<T extends string | number | boolean>(value: unknown, type: "string" | "number" | "boolean"): T | undefined {
    return typeof value === type ? (value as T) : undefined;
}

function wholeNumberIn(problems: string[], argument: string, value: unknown, min: number, max: number, accepted: string): void {
    const number = known<number>(value, "number");
    if (number !== undefined && !(Number.isInteger(number) && number >= min && number <= max)) {
        problems.push(`${argument} ${number} is not valid: expected ${accepted}`);
    }
}

/** Every problem with the arguments, one line each; empty when they can be deployed. */
export function validateHomeserverArgs(args: HomeserverArgs): string[] {
    const problems: string[] = [];
    if (known<string>(args.serverName, "string") === "") {
        problems.push('serverName "" is not valid: expected a DNS name such as matrix.example.org');
    }
    wholeNumberIn(problems, "httpPort", args.httpPort, 1, 65535, "a port from 1 to 65535");
    wholeNumberIn(problems, "uid", args.uid, 1, 2147483647, "a user id from 1 to 2147483647 (not root)");
    wholeNumberIn(problems, "gid", args.gid, 1, 2147483647, "a group id from 1 to 2147483647 (not root)");
    wholeNumberIn(problems, "memoryLimitMb", args.memoryLimitMb, 256, 1024 * 1024, "a whole number of MiB, at least 256");
    wholeNumberIn(problems, "backups.keep", args.backups?.keep, 1, 1000, "a whole number of archives from 1 to 1000");
    const edge = args.edge;
    if (edge) {
        if (!TLS_MODES.includes(edge.tls)) {
            problems.push(`edge.tls ${JSON.stringify(edge.tls)} is not valid: expected one of ${TLS_MODES.join(", ")}`);
        }
        if (edge.tls === TlsMode.Files && (edge.certificate === undefined || edge.privateKey === undefined)) {
            const missing = [edge.certificate === undefined ? "edge.certificate" : "", edge.privateKey === undefined ? "edge.privateKey" : ""].filter(Boolean);
            problems.push(`edge.tls files needs ${missing.join(" and ")}: the PEM certificate chain and its private key`);
        }
        if (edge.tls === TlsMode.Acme && edge.acmeEmail === undefined) {
            problems.push("edge.tls acme needs edge.acmeEmail: the contact address Let's Encrypt requires");
        }
        wholeNumberIn(problems, "edge.httpsPort", edge.httpsPort, 1, 65535, "a port from 1 to 65535");
        wholeNumberIn(problems, "edge.federationPort", edge.federationPort, 0, 65535, "a port from 1 to 65535, or 0 to federate through edge.httpsPort");
        // The defaults count too: httpsPort 8448 with federationPort left at its 8448 would publish one port twice.
        const https = edge.httpsPort === undefined ? 443 : known<number>(edge.httpsPort, "number");
        const federation = edge.federationPort === undefined ? 8448 : known<number>(edge.federationPort, "number");
        if (args.federation?.enabled !== false && https !== undefined && federation === https) {
            problems.push(`edge.federationPort ${federation} is edge.httpsPort too: expected another port, or 0 to federate through edge.httpsPort`);
        }
    }
    return problems;
}
