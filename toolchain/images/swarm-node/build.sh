#!/usr/bin/env bash
# build.sh [TARGET]: the swarm node image (a Docker engine in a container, for the swarm tests) from Debian's
# docker.io on the shared Debian base (../lib.sh), tagged TARGET (default swarm-node-local:<Debian's docker.io version>).
PROG=swarm-node-image
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

TARGET="${1:-swarm-node-local:$SUITE}"
RECIPE="$(recipe swarm-node)"
exit_if_current "$TARGET" "$SUITE" "Docker engine of Debian"
build_image "$IMAGES_DIR/swarm-node" "$TARGET" "$SUITE" "Docker engine of Debian $SUITE (swarm test node)"

step "smoke test $TARGET" "the image was built but is broken: docker run --rm -it --entrypoint bash $TARGET"
logged smoke docker run --rm --network none --entrypoint dockerd "$TARGET" --version
grep -q "^Docker version" "$STEP_LOG" || smoke_failed "$TARGET" "the image has no dockerd: $(cat "$STEP_LOG")"
step_done "$(cat "$STEP_LOG")"
say "built $TARGET in $SECONDS s"
