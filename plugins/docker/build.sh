#!/usr/bin/env bash
# Builds pulumi-resource-docker (the kreuzwerker/docker Terraform provider
# bridged with pulumi-terraform-bridge) into
# .tools/plugins/docker-<version>/pulumi-resource-docker, where <version> is the
# version of the @pulumi/docker npm package in node_modules.
#
# Idempotent: does nothing when the binary is newer than this plugin's sources.
# Needs only the Go module proxy (no GitHub, no Pulumi download site).
# Env: FORCE=1 rebuilds; TIDY=1 runs `go mod tidy` first (rewrites go.mod/go.sum).
set -euo pipefail

NAME=docker
UPSTREAM_MOD=github.com/kreuzwerker/terraform-provider-docker
UPSTREAM_VER=v0.0.0-20260916201441-96d331c98ff4
UPSTREAM_PATH=github.com/terraform-providers/terraform-provider-docker   # module path in its go.mod
BUILD_TAGS=no_compose   # leaves out docker_compose (framework side, not bridged anyway)

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0
export GOFLAGS="-mod=readonly -buildvcs=false"

t0=$(date +%s)
step() { local now; now=$(date +%s); printf '[%s build] %-34s +%ss (total %ss)\n' "$NAME" "$1" "$((now - ${tstep:-$t0}))" "$((now - t0))"; tstep=$now; }
tstep=$t0

PKGJSON="$ROOT/node_modules/@pulumi/$NAME/package.json"
[ -f "$PKGJSON" ] || { echo "missing $PKGJSON: run npm ci first" >&2; exit 1; }
VERSION="$(node -p "require(process.argv[1]).version" "$PKGJSON")"
OUT_DIR="$ROOT/.tools/plugins/$NAME-$VERSION"
BIN="$OUT_DIR/pulumi-resource-$NAME"

if [ -z "${FORCE:-}" ] && [ -x "$BIN" ] && [ -z "$(find "$HERE" -type f -newer "$BIN" -print -quit)" ]; then
  echo "[$NAME build] up to date: $BIN ($VERSION)"
  exit 0
fi

# 1. Writable copy of the upstream module with a `shim` package that exposes
#    internal/provider (Go's internal rule hides it from other modules).
COPY="$ROOT/.cache/plugins/$NAME/terraform-provider-$NAME"
STAMP="$COPY/.prepared-from"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$UPSTREAM_MOD@$UPSTREAM_VER" ] || [ "${BASH_SOURCE[0]}" -nt "$STAMP" ]; then
  mkdir -p "$ROOT/.cache/plugins/$NAME"
  SRC="$(cd "$ROOT/.cache/plugins/$NAME" && go mod download -json "$UPSTREAM_MOD@$UPSTREAM_VER" \
        | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);if(j.Error){console.error(j.Error);process.exit(1)}console.log(j.Dir)})')"
  rm -rf "$COPY"
  cp -R "$SRC" "$COPY"
  chmod -R u+w "$COPY"
  grep -q "^module $UPSTREAM_PATH\$" "$COPY/go.mod" || { echo "unexpected module path in $COPY/go.mod" >&2; exit 1; }
  mkdir -p "$COPY/shim"
  cat > "$COPY/shim/shim.go" <<'GO'
// Package shim exposes the provider from internal/provider to the Pulumi
// bridge (added by plugins/docker/build.sh; not part of upstream).
package shim

import (
	"github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"
	"github.com/terraform-providers/terraform-provider-docker/internal/provider"
)

// NewProvider returns the SDKv2 half of the upstream (muxed) provider.
func NewProvider(version string) *schema.Provider {
	return provider.New(version)()
}
GO
  echo "$UPSTREAM_MOD@$UPSTREAM_VER" > "$STAMP"
  step "prepared upstream copy + shim"
else
  step "upstream copy + shim up to date"
fi

cd "$HERE"
if [ -n "${TIDY:-}" ]; then
  GOFLAGS="-mod=mod -buildvcs=false" go mod tidy -e   # -e: some test-only deps of the bridge are not served
  step "go mod tidy"
fi

# 2. Fetch dependencies (a no-op when the module cache has them).
go mod download
step "go mod download"

# 3. Build.
mkdir -p "$OUT_DIR"
go build -tags "$BUILD_TAGS" -trimpath -ldflags "-s -w -X main.version=$VERSION" -o "$BIN.tmp" .
mv -f "$BIN.tmp" "$BIN"
step "go build"

"$BIN" -version >/dev/null
echo "[$NAME build] built $BIN ($VERSION, $(du -h "$BIN" | cut -f1))"
