#!/bin/bash
# Entrypoint of the local coturn image, after the official image's: options as the first argument mean turnserver,
# and each argument is expanded on its own (so `--external-ip=$(detect-external-ip)` works as a command).
if [ "${1:0:1}" == '-' ]; then
    set -- turnserver "$@"
fi

expanded=()
for argument in "$@"; do
    expanded+=("$(eval "echo $argument")")
done

exec "${expanded[@]}"
