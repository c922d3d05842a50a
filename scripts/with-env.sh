#!/usr/bin/env bash
# with-env.sh COMMAND [ARGS...]: runs COMMAND in the project's Pulumi environment (see env.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec "$@"
