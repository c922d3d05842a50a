# Sourced by toolchain/plugins/<name>/build.sh after it sets NAME, UPSTREAM_MOD, UPSTREAM_VER, UPSTREAM_PATH and
# BUILD_TAGS: builds pulumi-resource-<name>, an upstream Terraform provider bridged with
# pulumi-terraform-bridge, into .tools/plugins/<name>-<version>/pulumi-resource-<name>, where <version> is the
# version of the @pulumi/<name> npm package in node_modules. The plugin folder holds the bridge program
# (main.go, resources.go, go.mod) and shim.go.tmpl, the package added to a writable copy of the upstream
# module to expose its internal/provider.
#
# Idempotent: does nothing when the binary is newer than the plugin's sources.
# Needs only the Go module proxy (no GitHub, no Pulumi download site).
# Env: FORCE=1 rebuilds; TIDY=1 runs `go mod tidy` first (rewrites go.mod/go.sum).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)"   # the calling plugin's folder
ROOT="$(cd "$HERE/../../.." && pwd)"

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
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$UPSTREAM_MOD@$UPSTREAM_VER" ] || [ "${BASH_SOURCE[0]}" -nt "$STAMP" ] || [ "$HERE/shim.go.tmpl" -nt "$STAMP" ]; then
  mkdir -p "$ROOT/.cache/plugins/$NAME"
  SRC="$(cd "$ROOT/.cache/plugins/$NAME" && go mod download -json "$UPSTREAM_MOD@$UPSTREAM_VER" \
        | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);if(j.Error){console.error(j.Error);process.exit(1)}console.log(j.Dir)})')"
  rm -rf "$COPY"
  cp -R "$SRC" "$COPY"
  chmod -R u+w "$COPY"
  grep -q "^module $UPSTREAM_PATH\$" "$COPY/go.mod" || { echo "unexpected module path in $COPY/go.mod" >&2; exit 1; }
  mkdir -p "$COPY/shim"
  cp "$HERE/shim.go.tmpl" "$COPY/shim/shim.go"
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
