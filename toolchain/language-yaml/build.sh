#!/usr/bin/env bash
# build.sh OUTPUT: builds pulumi-language-yaml, the YAML language host, at the version go.mod pins. v1.38.0 is the
# release nearest the CLI that builds from the module proxy (v1.37.0 needs pkg/v3 v3.247.0, which the proxy refuses);
# it builds against its own pkg/sdk v3.254.0 and speaks the same language-host protocol as CLI v3.248.0.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUTPUT="${1:?usage: build.sh OUTPUT}"
export GOTOOLCHAIN=local GOWORK=off GOFLAGS="-mod=readonly"
version="$(sed -n 's#^require github.com/pulumi/pulumi-yaml \(v[^ ]*\)$#\1#p' "$HERE/go.mod")"
[ -n "$version" ] || { echo "build.sh: no 'require github.com/pulumi/pulumi-yaml vX' line in go.mod" >&2; exit 1; }
cd "$HERE"
CGO_ENABLED=0 go build -trimpath -ldflags "-X github.com/pulumi/pulumi-yaml/pkg/version.Version=$version" -o "$OUTPUT" \
    github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml
