import type * as docker from "@pulumi/docker";
import type * as pulumi from "@pulumi/pulumi";

/** The subnets Docker gave a network (read back from the engine when the program set none). */
export function subnetsOf(network: docker.Network): pulumi.Output<string[]> {
    return network.ipamConfigs.apply((configs) => (configs ?? []).map((config) => config.subnet).filter((subnet): subnet is string => Boolean(subnet)));
}
