import { Homeserver } from "./packages/synapse/homeserver/homeserver";
import { homeserverArgs, readConfig } from "./config";

// Asynchronous: the configuration is checked against what the stack last deployed before any resource is declared.
export = async () => {
    const config = await readConfig();
    const homeserver = new Homeserver("synapse", homeserverArgs(config));
    const edge = homeserver.edge;
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
        ...(config.database === "postgres" ? { databaseVolumeName: homeserver.databaseVolumeName } : {}),
        ...(edge
            ? {
                  wellKnownServer: edge.wellKnownServer,
                  wellKnownClient: edge.wellKnownClient,
                  ...(config.tls === "internal" ? { caCertificate: edge.caCertificate } : {}),
              }
            : {}),
    };
};
