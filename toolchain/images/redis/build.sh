#!/usr/bin/env bash
# build.sh [RELEASE [TARGET]]: a local Redis image of RELEASE (such as 8.0; default: the one packages/synapse/runtime/images.ts pins) from
# Debian's redis-server on the shared Debian base (../lib.sh), tagged TARGET (default redis-local:<RELEASE>), with the
# official image's interface (Dockerfile, docker-entrypoint.sh).
PROG=redis-image
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

RELEASE="${1:-$(sed -n 's/^export const REDIS_IMAGE = "redis:\([0-9.]*\)";$/\1/p' "$REPO_ROOT/packages/synapse/runtime/images.ts")}"
TARGET="${2:-redis-local:$RELEASE}"
[[ "$RELEASE" =~ ^[0-9]+\.[0-9]+$ ]] || die "\"$RELEASE\" is not a Redis release" "pass one such as 8.0 (Debian $SUITE has 8.0)"

RECIPE="$(recipe redis)"
exit_if_current "$TARGET" "$RELEASE" Redis
build_image "$IMAGES_DIR/redis" "$TARGET" "$RELEASE" "Redis" --build-arg "REDIS_RELEASE=$RELEASE"

step "smoke test $TARGET" "the image was built but is broken: docker run --rm -it --entrypoint sh $TARGET"
logged smoke docker run --rm --network none "$TARGET" redis-server --version
grep -q "v=$RELEASE\." "$STEP_LOG" || smoke_failed "$TARGET" "the image does not run Redis $RELEASE: $(cat "$STEP_LOG")"
step_done "$(cat "$STEP_LOG")"
say "built $TARGET in $SECONDS s"
