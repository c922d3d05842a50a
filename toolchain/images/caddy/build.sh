#!/usr/bin/env bash
# build.sh [TARGET]: a local Caddy image from Debian's caddy package on the shared Debian base (../lib.sh), tagged
# TARGET (default caddy-local:<the version Debian ships>), with the official image's interface (Dockerfile).
PROG=caddy-image
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

PINNED="$(sed -n 's/^export const CADDY_IMAGE = "caddy:\(.*\)";$/\1/p' "$REPO_ROOT/packages/synapse/runtime/images.ts")"
TARGET="${1:-caddy-local:$PINNED}"

RECIPE="$(recipe caddy)"
exit_if_current "$TARGET" "$PINNED" Caddy
build_image "$IMAGES_DIR/caddy" "$TARGET" "$PINNED" "Caddy"

step "smoke test $TARGET" "the image was built but is broken: docker run --rm -it $TARGET bash"
logged smoke docker run --rm --network none "$TARGET" caddy version
# Debian's package is the release the pinned official image has; a different one is a build problem, said loudly.
grep -Eq "^v?$PINNED([^0-9.]|$)" "$STEP_LOG" || smoke_failed "$TARGET" "Debian $SUITE's caddy is $(cat "$STEP_LOG"), not the pinned $PINNED" \
    "pin the official image in packages/synapse/runtime/images.ts to the release Debian ships"
step_done "$(cat "$STEP_LOG")"
say "built $TARGET in $SECONDS s"
