/** Label prefix on every container, volume and network the stack creates, so `docker ps --filter label=...` finds them. */
export const LABEL_PREFIX = "io.synapse-stack";

/** Docker's label naming the Swarm service a task container belongs to. */
export const SERVICE_LABEL = "com.docker.swarm.service.name";

/** Docker labels naming the owning project and stack, and the object's role in it. */
export function ownerLabels(project: string, stack: string, role: string): Record<string, string> {
    return {
        [`${LABEL_PREFIX}.project`]: project,
        [`${LABEL_PREFIX}.stack`]: stack,
        [`${LABEL_PREFIX}.role`]: role,
    };
}

/** Labels as the docker provider's containers and volumes take them. */
export function labelList(labels: Record<string, string>): { label: string; value: string }[] {
    return Object.entries(labels).map(([label, value]) => ({ label, value }));
}
