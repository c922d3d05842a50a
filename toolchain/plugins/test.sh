#!/usr/bin/env bash
# `npm run test:plugins`: the Go tests of the plugins built here (property names against the npm SDKs,
# secretness, command behaviour). Needs Go, as building the plugins does.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# The same settings as the plugin builds (CGO off, -trimpath): the tests then reuse every package setup compiled, and
# only compile and link the test binaries themselves.
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false -trimpath"
(cd command && go test ./...)
# -vet=off: vet's checks run over the bridge's own packages too, which this project does not maintain.
(cd docker && go test -vet=off -tags no_compose ./...)
(cd random && go test -vet=off ./...)
