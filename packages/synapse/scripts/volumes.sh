# The ledger of a homeserver's data volumes, run by the volume ledger (components/storage.ts) on the machine that
# runs Pulumi, with the Docker CLI. It arrives on stdin (`sh -s -- record|remove`), so the copy kept in the stack's
# state is the one a later `destroy` runs, wherever the project has moved since.
#
# Environment: SYNAPSE_VOLUMES (one volume a line: name, a tab, what it holds), SYNAPSE_RETAIN (true: destroy keeps
# them), SYNAPSE_PROJECT and SYNAPSE_STACK (the owner), and PULUMI_COMMAND_STDOUT (the ledger as last recorded).
#
# record (create, update): prints every volume the homeserver has ever had, the current ones first. A volume the
#   program no longer has (tls turned off, postgres left out, a renamed component) stays in the ledger and on the
#   engine, and the update says so: no update deletes a volume.
# remove (delete, which only `destroy` reaches: the ledger is declared whatever the homeserver's parts): deletes each
#   recorded volume unless retention is on, it belongs to another stack, a container still uses it, or a container
#   of this stack still exists (the homeserver left the program on an update, not a destroy). Each one kept is named.
set -eu
tab=$(printf '\t')
label="io.synapse-stack"

recorded() {
    printf '%s\n' "${PULUMI_COMMAND_STDOUT:-}" | while IFS="$tab" read -r name holds; do
        [ -n "$name" ] && printf '%s\t%s\n' "$name" "$holds"
    done
    return 0
}

record() {
    printf '%s\n' "$SYNAPSE_VOLUMES" | while IFS="$tab" read -r name holds; do
        [ -n "$name" ] && printf '%s\t%s\n' "$name" "$holds"
    done
    recorded | while IFS="$tab" read -r name holds; do
        if ! printf '%s\n' "$SYNAPSE_VOLUMES" | cut -f1 | grep -qxF "$name"; then
            printf '%s\t%s\n' "$name" "$holds"
            echo "volumes: kept volume $name ($holds): this homeserver no longer uses it, and no update deletes data." \
                "It goes with the stack on \`pulumi destroy\` (unless retainDataOnDestroy); to delete it now: docker volume rm $name" >&2
        fi
    done
}

# A swarm removes a deleted service's task containers a moment after the service: a destroy waits for those of this
# stack (up to a minute), or it would find them still using the volumes.
settle_tasks() {
    for _ in $(seq 120); do
        pending=""
        for service in $(docker ps -a --filter "label=$label.project=$SYNAPSE_PROJECT" --filter "label=$label.stack=$SYNAPSE_STACK" \
            --format '{{.Label "com.docker.swarm.service.name"}}' </dev/null | sort -u); do
            docker service inspect "$service" >/dev/null 2>&1 </dev/null || pending="$pending $service"
        done
        [ -z "$pending" ] && return 0
        sleep 0.5
    done
}

keep() {
    echo "volumes: kept volume $1 ($2): $3" >&2
}

remove_volume() {
    name=$1
    holds=$2
    if [ "$SYNAPSE_RETAIN" = true ]; then
        keep "$name" "$holds" "retainDataOnDestroy is set; a later \`pulumi up\` of this stack picks it up again"
        return 0
    fi
    owner=$(docker volume inspect --format "{{index .Labels \"$label.project\"}}/{{index .Labels \"$label.stack\"}}" "$name" 2>/dev/null </dev/null) || return 0
    if [ "$owner" != "/" ] && [ "$owner" != "$SYNAPSE_PROJECT/$SYNAPSE_STACK" ]; then
        keep "$name" "$holds" "it belongs to $owner, not to $SYNAPSE_PROJECT/$SYNAPSE_STACK"
        return 0
    fi
    users=$(docker ps -a --filter "volume=$name" --format '{{.Names}}' </dev/null | tr '\n' ' ' | sed 's/ $//')
    if [ -n "$users" ]; then
        keep "$name" "$holds" "containers still use it ($users); delete it by hand once they are gone: docker volume rm $name"
        return 0
    fi
    remaining=$(docker ps -a --filter "label=$label.project=$SYNAPSE_PROJECT" --filter "label=$label.stack=$SYNAPSE_STACK" --format '{{.Names}}' </dev/null | tr '\n' ' ' | sed 's/ $//')
    if [ -n "$remaining" ]; then
        keep "$name" "$holds" "stack $SYNAPSE_STACK still has containers ($remaining), so this is an update, not a destroy; delete it by hand if you no longer need it: docker volume rm $name"
        return 0
    fi
    # Docker takes a moment to let go of a just-removed container's mount.
    for _ in $(seq 100); do
        docker volume rm "$name" >/dev/null 2>&1 </dev/null && return 0
        docker volume inspect "$name" >/dev/null 2>&1 </dev/null || return 0
        sleep 0.1
    done
    docker volume rm "$name" >/dev/null </dev/null
}

case "${1:-}" in
    record) record ;;
    remove)
        [ "$SYNAPSE_RETAIN" = true ] || settle_tasks
        recorded | while IFS="$tab" read -r name holds; do
            remove_volume "$name" "$holds"
        done
        ;;
    *) echo "usage: sh -s -- record|remove" >&2; exit 2 ;;
esac
