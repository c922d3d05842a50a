// The official images the stack runs, each pinned to a release. Where no registry is reachable, `npm run setup`
// builds a local image of the same release with the same interface (toolchain/images) and says how to select it.
// setup reads these lines: keep each on one line in this form.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { userError } from "./errors";

/** Synapse, the homeserver. */
export const SYNAPSE_IMAGE = "matrixdotorg/synapse:v1.163.2";

/** PostgreSQL for the production profile: a major Synapse accepts (14 or newer) that Debian's stable release ships. */
export const POSTGRES_IMAGE = "postgres:17";

/** Caddy, the TLS edge: the release Debian's stable suite ships, so the local build is the same release. */
export const CADDY_IMAGE = "caddy:2.6.2";

/** Redis for Synapse's workers (replication pub/sub): the release Debian's stable suite ships. */
export const REDIS_IMAGE = "redis:8.0";

/** coturn, the TURN server for calls: the release Debian's stable suite ships, so the local build is the same release. */
export const TURN_IMAGE = "coturn/coturn:4.6.1";

/** Prometheus, for monitoring: the release Debian's stable suite ships, so the local build is the same release. */
export const PROMETHEUS_IMAGE = "prom/prometheus:v2.53.3";

/** The PostgreSQL exporter Prometheus scrapes the database through: the release Debian's stable suite ships. */
export const POSTGRES_EXPORTER_IMAGE = "prometheuscommunity/postgres-exporter:v0.17.1";

/**
 * Whether a reference names an image built on this machine by `npm run setup` (toolchain/images): `<name>-local:<tag>`
 * with no registry. No registry has such an image, so a machine without it must build it.
 */
export function isLocalBuild(reference: string): boolean {
    const repository = reference.split(/[:@]/)[0];
    return !repository.includes("/") && repository.endsWith("-local");
}

/** How to get a missing image onto this machine. */
export function howToGet(reference: string): string {
    if (!isLocalBuild(reference)) {
        return `pull it (docker pull ${reference}) or load it (docker load)`;
    }
    const [repository, tag = ""] = reference.split(":");
    const build = repository === "synapse-local" ? `npm run setup -- image ${tag.replace(/^v/, "")}` : "npm run setup -- image";
    return (
        `it is a local build, which no registry serves: build it on this machine with \`${build}\`, ` +
        "or `docker save` it where it exists and `docker load` it here"
    );
}

/**
 * Resolves to the reference once a local build is known to be on the Docker engine; fails, naming the image and how
 * to get it, when it is not. Other images resolve at once: the image resource pulls them.
 */
export async function requireLocalBuild(reference: string, parent: pulumi.Resource): Promise<string> {
    if (!isLocalBuild(reference)) {
        return reference;
    }
    try {
        await docker.getRemoteImage({ name: reference }, { parent });
        return reference;
    } catch {
        throw userError(`image "${reference}" is not on this machine's Docker engine: ${howToGet(reference)}`);
    }
}

/**
 * The image a container runs, as a resource: pulled when missing (a local build must already be here, or the error
 * says how to get it), kept on destroy (other stacks may use it, and it may have been built locally).
 */
export function imageResource(name: string, reference: pulumi.Input<string>, parent: pulumi.Resource): docker.RemoteImage {
    const checked = pulumi.output(reference).apply((image) => requireLocalBuild(image, parent));
    return new docker.RemoteImage(name, { name: checked, keepLocally: true }, { parent });
}
