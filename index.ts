import { Homeserver } from "./components/homeserver";
import { readConfig } from "./config";

const config = readConfig();
const homeserver = new Homeserver("synapse", config);

export const url = homeserver.url;
export const serverName = homeserver.serverName;
export const adminUserId = homeserver.adminUserId;
export const adminPassword = homeserver.adminPassword;
export const volumeName = homeserver.volumeName;
export const containerName = homeserver.containerName;
