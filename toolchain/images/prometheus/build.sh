#!/usr/bin/env bash
# build.sh [RELEASE [TARGET]]: a local Prometheus image of RELEASE (such as 2.53.3; default: the one
# packages/synapse/runtime/images.ts pins) from Debian's prometheus on the shared Debian base (../lib.sh), tagged TARGET
# (default prometheus-local:v<RELEASE>), with the official image's interface (Dockerfile).
PROG=prometheus-image
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

RELEASE="${1:-$(sed -n 's/^export const PROMETHEUS_IMAGE = "prom\/prometheus:v\([0-9.]*\)";$/\1/p' "$REPO_ROOT/packages/synapse/runtime/images.ts")}"
TARGET="${2:-prometheus-local:v$RELEASE}"
[[ "$RELEASE" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "\"$RELEASE\" is not a Prometheus release" "pass one such as 2.53.3 (Debian $SUITE has 2.53.3)"

RECIPE="$(recipe prometheus)"
exit_if_current "$TARGET" "$RELEASE" Prometheus
build_image "$IMAGES_DIR/prometheus" "$TARGET" "$RELEASE" "Prometheus" --build-arg "PROMETHEUS_RELEASE=$RELEASE"

step "smoke test $TARGET" "the image was built but is broken: docker run --rm -it --entrypoint sh $TARGET"
logged smoke docker run --rm --network none --cap-drop ALL --security-opt no-new-privileges:true "$TARGET" --version
grep -q "^prometheus, version $RELEASE+" "$STEP_LOG" || smoke_failed "$TARGET" "the image does not run Prometheus $RELEASE: $(cat "$STEP_LOG")"
version="$(head -n 1 "$STEP_LOG")"
logged smoke-promtool docker run --rm --network none --entrypoint promtool "$TARGET" check config /etc/prometheus/prometheus.yml
step_done "$version; promtool checks its config"
say "built $TARGET in $SECONDS s"
