import { Homeserver } from "./components/homeserver";
import { readConfig } from "./config";

// Asynchronous: the configuration is checked against what the stack last deployed before any resource is declared.
export = async () => {
    const config = await readConfig();
    const homeserver = new Homeserver("synapse", config);
    return {
        url: homeserver.url,
        serverName: homeserver.serverName,
        adminUserId: homeserver.adminUserId,
        adminPassword: homeserver.adminPassword,
        volumeName: homeserver.volumeName,
        containerName: homeserver.containerName,
        image: homeserver.image,
        signingKeyId: homeserver.signingKeyId,
    };
};
