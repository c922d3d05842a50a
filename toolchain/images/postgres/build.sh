#!/usr/bin/env bash
# build.sh [MAJOR [TARGET]]: a local PostgreSQL image of MAJOR (default: the major packages/synapse/runtime/images.ts pins) from
# Debian's packages on the shared Debian base (../lib.sh), tagged TARGET (default postgres-local:<MAJOR>), with the
# official image's interface (Dockerfile, docker-entrypoint.sh).
PROG=postgres-image
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

MAJOR="${1:-$(sed -n 's/^export const POSTGRES_IMAGE = "postgres:\([0-9]*\).*";$/\1/p' "$REPO_ROOT/packages/synapse/runtime/images.ts")}"
TARGET="${2:-postgres-local:$MAJOR}"
[[ "$MAJOR" =~ ^[0-9]+$ && "$MAJOR" -ge 14 ]] || die "\"$MAJOR\" is not a PostgreSQL major Synapse accepts" "pass 14 or newer (Debian $SUITE has 17)"

RECIPE="$(recipe postgres)"
exit_if_current "$TARGET" "$MAJOR" PostgreSQL
build_image "$IMAGES_DIR/postgres" "$TARGET" "$MAJOR" "PostgreSQL" --build-arg "PG_MAJOR=$MAJOR"

step "smoke test $TARGET" "the image was built but is broken: docker run --rm -it --entrypoint bash $TARGET"
logged smoke docker run --rm --network none --entrypoint postgres "$TARGET" --version
grep -q "PostgreSQL) $MAJOR\." "$STEP_LOG" || smoke_failed "$TARGET" "the image does not run PostgreSQL $MAJOR: $(cat "$STEP_LOG")"
step_done "$(cat "$STEP_LOG")"
say "built $TARGET in $SECONDS s"
