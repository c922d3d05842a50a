#!/usr/bin/env bash
# Build the pulumi-resource-command plugin from source (local.Command only).
#
#   toolchain/plugins/command/build.sh          # build if sources changed, print the binary path
#   FORCE=1 toolchain/plugins/command/build.sh  # rebuild anyway
#
# The plugin version is read from node_modules/@pulumi/command/package.json
# (pulumi.version), so it always matches the npm SDK the program uses; the
# engine refuses a plugin whose version differs from what the SDK requests.
# Output: <repo>/.tools/plugins/command-<version>/pulumi-resource-command
# Install: pulumi plugin install resource command <version> --file <output>
#
# Needs node, Go >= the version in go.mod (the local toolchain is used, never
# downloaded) and Go modules reachable through GOPROXY or already cached.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../../.." && pwd)"
PKG_JSON="$REPO_ROOT/node_modules/@pulumi/command/package.json"
export GOTOOLCHAIN=local # never fetch another toolchain behind our back

t0=$SECONDS
step_start=$SECONDS
step() { # step NAME: print the duration of the previous step
	printf '[build-command] %-28s %3ss\n' "$1" "$((SECONDS - step_start))" >&2
	step_start=$SECONDS
}

[[ -f "$PKG_JSON" ]] || { echo "missing $PKG_JSON: run npm ci first" >&2; exit 1; }
version="$(node -p 'require(process.argv[1]).pulumi.version' "$PKG_JSON")"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]] ||
	{ echo "cannot read pulumi.version from $PKG_JSON (got '$version')" >&2; exit 1; }
step "read version $version"

out_dir="$REPO_ROOT/.tools/plugins/command-$version"
out="$out_dir/pulumi-resource-command"

# Up to date when the binary is newer than every input of the build.
if [[ -x "$out" && "${FORCE:-0}" != 1 ]]; then
	newer="$(find "$HERE" -maxdepth 1 -type f \( -name '*.go' ! -name '*_test.go' -o -name go.mod -o -name go.sum -o -name build.sh \) -newer "$out" | head -n1)"
	if [[ -z "$newer" ]]; then
		step "up to date"
		echo "$out"
		exit 0
	fi
fi

command -v go >/dev/null || { echo "go not found on PATH" >&2; exit 1; }
cd "$HERE"
# -mod=readonly: go.mod/go.sum are the pins; fail instead of silently changing them.
go mod download
step "go mod download"

mkdir -p "$out_dir"
# Build next to the target and rename: an interrupted or concurrent build never
# leaves a partial binary that the freshness check above would accept.
tmp="$(mktemp "$out_dir/.pulumi-resource-command.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
CGO_ENABLED=0 go build -mod=readonly -trimpath \
	-ldflags "-s -w -X main.version=$version" -o "$tmp" .
step "go build"
mv -f "$tmp" "$out"
trap - EXIT

printf '[build-command] %-28s %3ss\n' "total" "$((SECONDS - t0))" >&2
echo "$out"
