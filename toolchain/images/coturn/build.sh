#!/usr/bin/env bash
# build.sh [RELEASE [TARGET]]: a local coturn image of RELEASE (such as 4.6.1; default: the one
# packages/synapse/runtime/images.ts pins) from Debian's coturn on the shared Debian base (../lib.sh), tagged TARGET
# (default coturn-local:<RELEASE>), with the official image's interface (Dockerfile, docker-entrypoint.sh).
PROG=coturn-image
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

RELEASE="${1:-$(sed -n 's/^export const TURN_IMAGE = "coturn\/coturn:\([0-9.]*\)";$/\1/p' "$REPO_ROOT/packages/synapse/runtime/images.ts")}"
TARGET="${2:-coturn-local:$RELEASE}"
[[ "$RELEASE" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "\"$RELEASE\" is not a coturn release" "pass one such as 4.6.1 (Debian $SUITE has 4.6.1)"

RECIPE="$(recipe coturn)"
exit_if_current "$TARGET" "$RELEASE" coturn
build_image "$IMAGES_DIR/coturn" "$TARGET" "$RELEASE" "coturn" --build-arg "COTURN_RELEASE=$RELEASE"

step "smoke test $TARGET" "the image was built but is broken: docker run --rm -it --entrypoint sh $TARGET"
# As the stack runs it: no capabilities but the one the file carries, no new privileges.
logged smoke docker run --rm --network none --cap-drop ALL --cap-add NET_BIND_SERVICE --security-opt no-new-privileges:true \
    "$TARGET" turnserver --version
grep -qx "$RELEASE" "$STEP_LOG" || smoke_failed "$TARGET" "the image does not run coturn $RELEASE: $(cat "$STEP_LOG")"
step_done "$(cat "$STEP_LOG")"
say "built $TARGET in $SECONDS s"
