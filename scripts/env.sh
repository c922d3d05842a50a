# Sourced by setup.sh, pulumi.sh, the tests and the benchmark: the project's Pulumi environment.
# Anything already set in the caller's environment wins, so a different backend or passphrase is one export away.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
STATE="$ROOT/.state"

export PATH="$TOOLS/bin:$PATH"
# Plugins live with the project, not in the user's ~/.pulumi: what setup built is what the stack runs with.
export PULUMI_HOME="${PULUMI_HOME:-$TOOLS/pulumi-home}"
export PULUMI_SKIP_UPDATE_CHECK="${PULUMI_SKIP_UPDATE_CHECK:-true}"
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="${PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION:-true}"
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$STATE/backend}"
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ] && [ -f "$STATE/passphrase" ]; then
    export PULUMI_CONFIG_PASSPHRASE_FILE="$STATE/passphrase"
fi
