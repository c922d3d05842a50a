#!/usr/bin/env bash
# build.sh OUTPUT: builds pulumi-language-nodejs from sdk/v3 (pinned in go.mod) with RunPlugin added
# (patch/runplugin.go), so that the engine can run Node.js policy packs and component packages through it.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUTPUT="${1:?usage: build.sh OUTPUT}"
export GOTOOLCHAIN=local GOWORK=off GOFLAGS="-mod=readonly"

sdk_version="$(sed -n 's#^require github.com/pulumi/pulumi/sdk/v3 \(v[^ ]*\)$#\1#p' "$HERE/go.mod")"
[ -n "$sdk_version" ] || { echo "build.sh: no 'require github.com/pulumi/pulumi/sdk/v3 vX' line in go.mod" >&2; exit 1; }
sdk_dir="$(cd "$HERE" && go mod download -json "github.com/pulumi/pulumi/sdk/v3@$sdk_version" |
    node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).Dir))')"

build="$ROOT/.cache/language-nodejs"
rm -rf "$build"
mkdir -p "$build"
cp "$HERE/go.mod" "$HERE/go.sum" "$HERE/patch/runplugin.go" "$build/"
for file in "$sdk_dir"/nodejs/cmd/pulumi-language-nodejs/*.go; do
    case "$file" in *_test.go) ;; *) cp "$file" "$build/" ;; esac
done
chmod -R u+w "$build"
# The upstream stub answers "not supported"; renaming it lets patch/runplugin.go provide the method.
sed -i 's/^func (host \*nodeLanguageHost) RunPlugin(/func (host *nodeLanguageHost) runPluginUnsupported(/' "$build/main.go"
grep -q 'runPluginUnsupported(' "$build/main.go" || { echo "build.sh: RunPlugin stub not found in sdk $sdk_version" >&2; exit 1; }
(cd "$build" && CGO_ENABLED=0 go build -trimpath -tags langhostpatch -o "$OUTPUT" .)
