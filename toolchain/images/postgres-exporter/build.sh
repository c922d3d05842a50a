#!/usr/bin/env bash
# build.sh [RELEASE [TARGET]]: a local PostgreSQL exporter image of RELEASE (such as 0.17.1; default: the one
# packages/synapse/runtime/images.ts pins) from Debian's prometheus-postgres-exporter on the shared Debian base
# (../lib.sh), tagged TARGET (default postgres-exporter-local:v<RELEASE>), with the official image's interface.
PROG=postgres-exporter-image
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

RELEASE="${1:-$(sed -n 's/^export const POSTGRES_EXPORTER_IMAGE = "prometheuscommunity\/postgres-exporter:v\([0-9.]*\)";$/\1/p' "$REPO_ROOT/packages/synapse/runtime/images.ts")}"
TARGET="${2:-postgres-exporter-local:v$RELEASE}"
[[ "$RELEASE" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "\"$RELEASE\" is not a postgres_exporter release" "pass one such as 0.17.1 (Debian $SUITE has 0.17.1)"

RECIPE="$(recipe postgres-exporter)"
exit_if_current "$TARGET" "$RELEASE" postgres_exporter
build_image "$IMAGES_DIR/postgres-exporter" "$TARGET" "$RELEASE" "postgres_exporter" --build-arg "EXPORTER_RELEASE=$RELEASE"

step "smoke test $TARGET" "the image was built but is broken: docker run --rm -it --entrypoint sh $TARGET"
logged smoke docker run --rm --network none --cap-drop ALL --security-opt no-new-privileges:true "$TARGET" --version
grep -q "^postgres_exporter, version $RELEASE " "$STEP_LOG" || smoke_failed "$TARGET" "the image does not run postgres_exporter $RELEASE: $(cat "$STEP_LOG")"
step_done "$(head -n 1 "$STEP_LOG")"
say "built $TARGET in $SECONDS s"
