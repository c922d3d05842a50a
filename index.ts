import { Homeserver } from "@synapse-stack/synapse";
import { homeserverArgs, readConfig } from "./config";

// Asynchronous: the configuration is checked against what the stack last deployed before any resource is declared.
export = async () => {
    const config = await readConfig();
    const homeserver = new Homeserver("synapse", homeserverArgs(config));
    return {
        url: homeserver.url,
        serverName: homeserver.serverName,
        adminUserId: homeserver.adminUserId,
        adminPassword: homeserver.adminPassword,
        volumeName: homeserver.volumeName,
        containerName: homeserver.containerName,
        image: homeserver.image,
        signingKeyId: homeserver.signingKeyId,
        database: homeserver.database,
        lastBackup: homeserver.lastBackup,
        // What a later `up` compares synapse:platform with (a stack without it runs on one engine).
        ...(config.platform === "swarm" ? { platform: config.platform } : {}),
        ...(config.monitoring ? { prometheusUrl: homeserver.prometheusUrl } : {}),
        ...(config.database === "postgres" ? { databaseVolumeName: homeserver.databaseVolumeName } : {}),
        ...(config.tls !== "none"
            ? {
                  wellKnownServer: homeserver.wellKnownServer,
                  wellKnownClient: homeserver.wellKnownClient,
                  ...(config.tls === "internal" ? { caCertificate: homeserver.caCertificate } : {}),
              }
            : {}),
    };
};
