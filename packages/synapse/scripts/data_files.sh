# The files of a data volume that belong in a backup, as a tar stream on stdout: the config, the stack's overlays,
# the signing key, the log config and the local media. Run by backup (ops/backup.ts) in a helper of the Synapse image
# with the volume read-only; it arrives on stdin (`sh -s -- <data dir> <server name>`).
set -eu
cd "$1"
server_name=$2
for member in homeserver.yaml synapse-stack synapse-stack.yaml "$server_name.signing.key" "$server_name.log.config" \
    media_store/local_content media_store/local_thumbnails; do
    if [ -e "$member" ]; then
        printf '%s\n' "$member"
    fi
done | tar -cf - -T -
