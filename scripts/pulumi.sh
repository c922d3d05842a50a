#!/usr/bin/env bash
# `npm run pulumi -- <args>`: the CLI that setup resolved, with the project's environment, in the project folder.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
command -v pulumi >/dev/null 2>&1 || { echo "pulumi: no Pulumi CLI found; run \`npm run setup\` first" >&2; exit 127; }
cd "$ROOT"
exec pulumi "$@"
