#!/usr/bin/env bash
# `npm run test:plugins`: the Go tests of the plugins built here (property names against the npm SDKs,
# secretness, command behaviour). Needs Go, as building the plugins does.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
export GOTOOLCHAIN=local GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false"
(cd command && go test ./...)
# -vet=off: vet's checks run over the bridge's own packages too, which this project does not maintain.
(cd docker && go test -vet=off -tags no_compose ./...)
(cd random && go test -vet=off ./...)
