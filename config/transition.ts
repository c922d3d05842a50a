// Settings that cannot change once the stack has deployed, compared with what the last deployment recorded. Pure.
import { ConfigError } from "./keys";
import type { PreviousSettings, SynapseConfig } from "./types";

/**
 * Refuses settings that cannot change once the stack has deployed: a new volume name would leave the data behind
 * (and a plan would replace the volume), a new server name cannot be applied to existing Matrix data.
 */
export function checkTransition(previous: PreviousSettings, next: SynapseConfig): void {
    const problems: string[] = [];
    if (previous.volumeName !== undefined && previous.volumeName !== next.volumeName) {
        problems.push(
            `synapse:volumeName changed from "${previous.volumeName}" to "${next.volumeName}": this would replace the data volume ` +
                `${previous.volumeName}, which holds the homeserver's database, signing key and media. No update deletes or ` +
                `replaces a data volume: set synapse:volumeName back to "${previous.volumeName}", or deploy the new volume as a new stack`,
        );
    }
    if (previous.serverName !== undefined && previous.serverName !== next.serverName) {
        problems.push(
            `synapse:serverName changed from "${previous.serverName}" to "${next.serverName}", but volume ` +
                `${previous.volumeName ?? next.volumeName} holds the data of ${previous.serverName}: a Matrix server name is ` +
                "permanent (it is in every user and room id and in the server's signing identity). Set it back, or create a " +
                "new stack for the new name (`pulumi stack init`), which gets a volume of its own",
        );
    }
    const before = previous.database ?? (previous.volumeName !== undefined ? "sqlite" : undefined);
    if (before === "postgres" && next.database === "sqlite") {
        problems.push(
            `synapse:database changed from postgres to sqlite, but the users, rooms and messages are in PostgreSQL ` +
                `(volume ${previous.databaseVolumeName ?? next.databaseVolumeName}): a new SQLite database would be empty. ` +
                "Set synapse:database back to postgres",
        );
    }
    // Outputs of a stack deployed before it ran on a swarm say no platform: one engine.
    const platform = previous.platform ?? (previous.volumeName !== undefined ? "docker" : undefined);
    if (platform !== undefined && platform !== next.platform) {
        problems.push(
            `synapse:platform changed from ${platform} to ${next.platform}: not in place, because the ${platform === "docker" ? "containers" : "services"} ` +
                `would still hold the data volumes and the edge's ports while their replacements start. To move the stack and keep every byte: ` +
                `set synapse:platform back to ${platform} and synapse:retainDataOnDestroy to true, \`pulumi up\`, \`pulumi destroy\` (the volumes stay), ` +
                `then set synapse:platform ${next.platform} and \`pulumi up\`: the new deployment adopts the volumes with their data`,
        );
    }
    if (problems.length > 0) {
        throw new ConfigError(problems);
    }
}
