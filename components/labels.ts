import * as docker from "@pulumi/docker";

/** Label prefix on every container and volume the stack creates, so `docker ps --filter label=...` finds them. */
export const LABEL_PREFIX = "io.synapse-stack";

/** Docker labels naming the owning project and stack, and the object's role in it. */
export function ownerLabels(
    project: string,
    stack: string,
    role: string,
): docker.types.input.ContainerLabel[] {
    return [
        { label: `${LABEL_PREFIX}.project`, value: project },
        { label: `${LABEL_PREFIX}.stack`, value: stack },
        { label: `${LABEL_PREFIX}.role`, value: role },
    ];
}
