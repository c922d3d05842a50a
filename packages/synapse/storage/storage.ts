import { spawnSync } from "node:child_process";
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { argumentError } from "../runtime/errors";
import { LABEL_PREFIX, labelList } from "../runtime/labels";
import { readScript } from "../runtime/scripts";
import { DEFAULTS } from "../homeserver/rules";

/** A volume that holds a user's data, as the ledger records it. */
export interface StackVolume {
    /** The Docker volume's name. */
    name: pulumi.Input<string>;
    /** What it holds, in words, for the messages that name it (e.g. "the edge's certificates and local CA"). */
    holds: string;
}

export interface VolumeLedgerArgs {
    /** The volumes the homeserver has now; those it had before stay recorded. */
    volumes: StackVolume[];
    /** Keep every recorded volume on destroy. Default false. */
    retainOnDestroy?: boolean;
    /** The owning project and stack, as in the owner labels. */
    owner: { project: string; stack: string };
}

/**
 * The record of every data volume a homeserver has had, and the only thing that ever deletes one. It is declared
 * whatever parts the homeserver has, so an update that drops a part (the edge with `tls: none`, PostgreSQL left out
 * by a program) only updates it: the volume stays, and the update's output names it and says how to delete it.
 * Its delete, which only `destroy` reaches, removes the recorded volumes unless retention is on, another stack owns
 * one, or a container still uses it (components/scripts/volumes.sh). Volumes are recorded before they are created,
 * so a destroy after a first `up` that failed part-way still finds them.
 */
export class VolumeLedger extends pulumi.ComponentResource {
    private readonly recorded: pulumi.Output<string>;

    constructor(name: string, args: VolumeLedgerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synapse:index:VolumeLedger", name, {}, opts);

        const volumes = pulumi
            .all(args.volumes.map((volume) => pulumi.output(volume.name).apply((volumeName) => `${volumeName}\t${volume.holds}`)))
            .apply((lines) => lines.join("\n"));
        const ledger = new command.local.Command(
            `${name}-ledger`,
            {
                create: "sh -s -- record",
                update: "sh -s -- record",
                delete: "sh -s -- remove",
                // The script itself: the copy in state is the one a later destroy runs.
                stdin: readScript("volumes.sh"),
                environment: {
                    SYNAPSE_VOLUMES: volumes,
                    // Changing retention updates the ledger in place; it is never replaced, so only destroy deletes.
                    SYNAPSE_RETAIN: String(args.retainOnDestroy ?? DEFAULTS.retainDataOnDestroy),
                    SYNAPSE_PROJECT: args.owner.project,
                    SYNAPSE_STACK: args.owner.stack,
                },
                // stdout is the ledger (names only); stderr says what was kept, and why.
                logging: "stderr",
            },
            { parent: this },
        );
        this.recorded = ledger.stdout;
        this.registerOutputs({});
    }

    /** A recorded volume's name: whatever mounts or creates it waits for the record, and goes before the ledger. */
    public recordedName(volumeName: pulumi.Input<string>): pulumi.Output<string> {
        return pulumi.all([this.recorded, volumeName]).apply(([, recordedName]) => recordedName);
    }
}

export interface DataVolumeArgs {
    /** Docker volume name, from VolumeLedger.recordedName. An existing volume of that name is adopted with its data. */
    volumeName: pulumi.Input<string>;
    /** Owner labels for a volume the stack creates (an adopted volume keeps the labels it has). */
    labels: pulumi.Input<Record<string, string>>;
}

/**
 * A named volume that holds a user's data. No property difference ever plans a replacement, and the resource never
 * deletes the volume (the ledger does, on destroy). An adopted volume has no owner labels and Docker cannot add them,
 * so after a refresh its labels differ from the program's, and the provider would replace it (labels, like every
 * volume property, force a new volume), deleting the data. The stack refuses a changed volume name up front.
 */
export class DataVolume extends pulumi.ComponentResource {
    /** The volume's name, for mounts and for the operator. */
    public readonly volumeName: pulumi.Output<string>;

    constructor(name: string, args: DataVolumeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synapse:index:DataVolume", name, {}, opts);
        // An adopted volume keeps the driver and options it was made with (a disk of the user's choosing): declared as
        // they are, since the provider reads them back and would otherwise plan a new volume, and a new database
        // container with it, on every update.
        const existing = pulumi.output(args.volumeName).apply(existingVolumeOptions);
        const volume = new docker.Volume(
            `${name}-volume`,
            {
                name: args.volumeName,
                labels: pulumi.output(args.labels).apply(labelList),
                driver: existing.apply((options) => options?.driver),
                driverOpts: existing.apply((options) => options?.driverOpts),
            },
            { parent: this, retainOnDelete: true, ignoreChanges: ["*"] },
        );
        // Stacks deployed before the ledger have a removal command here whose delete removes the volume. Declared as
        // a no-op, it is updated (its delete dropped) rather than deleted, which would run that delete.
        new command.local.Command(`${name}-removal`, { create: "true" }, { parent: this });
        this.volumeName = volume.name;
        this.registerOutputs({ volumeName: this.volumeName });
    }
}

/** The driver and options of an existing volume made with options (a bind mount, NFS, tmpfs); undefined otherwise. */
export function existingVolumeOptions(volumeName: string): { driver: string; driverOpts: Record<string, string> } | undefined {
    const result = spawnSync("docker", ["volume", "inspect", "--format", "{{json .}}", volumeName], { encoding: "utf8", timeout: 10_000 });
    if (result.status !== 0) {
        return undefined;
    }
    const volume = JSON.parse(result.stdout) as { Driver: string; Options: Record<string, string> | null };
    return volume.Options && Object.keys(volume.Options).length > 0 ? { driver: volume.Driver, driverOpts: volume.Options } : undefined;
}

/** What the engine says of a volume's owner: its project/stack labels, or undefined without them or without the volume. */
export type VolumeOwners = (names: string[]) => Map<string, { project: string; stack: string }>;

/**
 * Reads the owner labels of the named volumes from the Docker engine, in one call for all of them (every `preview` and
 * `up` runs it); an engine that does not answer knows nothing.
 */
// Read once per program run: the stack's checks and the component's ask the same question.
let volumeListing: string[] | undefined;
export const engineVolumeOwners: VolumeOwners = (names) => {
    const owners = new Map<string, { project: string; stack: string }>();
    if (names.length === 0) {
        return owners;
    }
    if (volumeListing === undefined) {
        const format = `{{.Name}}\t{{.Label "${LABEL_PREFIX}.project"}}\t{{.Label "${LABEL_PREFIX}.stack"}}`;
        const result = spawnSync("docker", ["volume", "ls", "--format", format], { encoding: "utf8", timeout: 10_000 });
        volumeListing = result.status === 0 ? result.stdout.split("\n") : [];
    }
    for (const line of volumeListing) {
        const [name, project, stack] = line.split("\t");
        if (names.includes(name) && project && stack) {
            owners.set(name, { project, stack });
        }
    }
    return owners;
};

/**
 * Which of the given volumes (argument name → volume name) another stack owns, as refusals naming the argument:
 * two stacks on one engine must never share a data volume (one's destroy would delete the other's data).
 */
export function foreignVolumes(
    volumes: Record<string, string>,
    owner: { project: string; stack: string },
    owners: VolumeOwners = engineVolumeOwners,
): string[] {
    const found = owners(Object.values(volumes));
    return Object.entries(volumes).flatMap(([argument, volumeName]) => {
        const other = found.get(volumeName);
        if (!other || (other.project === owner.project && other.stack === owner.stack)) {
            return [];
        }
        return [
            `${argument} ${volumeName} is the volume of stack ${other.stack} (project ${other.project}) on this Docker engine, so stack ` +
                `${owner.stack} may not use it: two stacks sharing data would corrupt it, and one's destroy would delete the other's. ` +
                `Choose another volume name, or run that data from stack ${other.stack}`,
        ];
    });
}

/** What each of a homeserver's volumes holds, by the argument that names it, for the ledger's messages. */
const HOLDS: Record<string, string> = {
    volumeName: "the homeserver's data: config, signing key, media, SQLite database",
    "postgres.volumeName": "the PostgreSQL database",
    "edge.volumeName": "the edge's certificates and local CA",
    "turn.volumeName": "the TURN server's config and shared secret",
    "monitoring.volumeName": "Prometheus's samples (history only) and its config",
};

/**
 * Records a homeserver's volumes (argument → volume name) in a ledger of their own, after refusing any that another
 * stack on this engine owns: names the program gave at once, before anything is declared; the rest once known, before
 * the ledger records them (and so before any volume is made).
 */
export function recordVolumes(
    name: string,
    volumes: Record<string, pulumi.Input<string>>,
    retainOnDestroy: boolean | undefined,
    owner: { project: string; stack: string },
    parent: pulumi.Resource,
    dependsOn: pulumi.Resource[] = [],
): VolumeLedger {
    const refuse = (given: Record<string, string>) => {
        const problems = foreignVolumes(given, owner);
        if (problems.length > 0) {
            throw argumentError(problems.join("\n"), parent);
        }
    };
    refuse(Object.fromEntries(Object.entries(volumes).filter((entry): entry is [string, string] => typeof entry[1] === "string")));
    return new VolumeLedger(
        name,
        {
            volumes: Object.entries(volumes).map(([argument, volumeName]): StackVolume => ({
                name: typeof volumeName === "string" ? volumeName : pulumi.output(volumeName).apply((known) => (refuse({ [argument]: known }), known)),
                holds: HOLDS[argument],
            })),
            retainOnDestroy,
            owner,
        },
        { parent, dependsOn },
    );
}
