// The component package's entry point: Pulumi reads the Homeserver's schema from its TypeScript sources (the analyzer
// reads `as const` kinds in sources, not in declaration files) and serves it to programs in other languages.
export { Homeserver } from "../synapse/homeserver/homeserver";
