#!/usr/bin/env bash
# build.sh [VERSION [TARGET]]: a local image of Synapse VERSION (default: the release packages/synapse/runtime/images.ts pins)
# tagged TARGET (default synapse-local:v<VERSION>), for hosts that reach PyPI and a Debian mirror but no registry.
# Wheels are downloaded on the host (pip there knows this network's proxy and CA), then installed in the image
# on the shared Debian base (../lib.sh). SYNAPSE_EXTRAS sets the extras (default postgres,redis: PostgreSQL, and Redis for workers; each needs Linux wheels).
PROG=synapse-image
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

VERSION="${1:-$(sed -n 's/^export const SYNAPSE_IMAGE = "matrixdotorg\/synapse:v\(.*\)";$/\1/p' "$REPO_ROOT/packages/synapse/runtime/images.ts")}"
TARGET="${2:-synapse-local:v$VERSION}"
EXTRAS="${SYNAPSE_EXTRAS:-postgres,redis}"
[[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+(rc[0-9]+)?$ ]] ||
    die "\"$VERSION\" is not a Synapse release" "pass one such as 1.163.2 (pip index versions matrix-synapse lists them)"

RECIPE="$(recipe synapse "$EXTRAS")"
exit_if_current "$TARGET" "$VERSION" Synapse

step "wheels for matrix-synapse[$EXTRAS]==$VERSION" "check that pip reaches PyPI and that $VERSION exists"
# The base is Debian $SUITE: Python 3.13, glibc 2.41, so every manylinux tag up to 2.41 fits.
python_version=3.13
wheels="$CACHE/synapse-wheels-$VERSION-${EXTRAS//,/-}-cp${python_version/./}"
if [[ ! -f "$wheels/.complete" ]]; then
    rm -rf "$wheels"
    platforms=()
    arch="$(uname -m)"
    for minor in $(seq 41 -1 17); do platforms+=(--platform "manylinux_2_${minor}_$arch"); done
    # psycopg2 comes from Debian inside the image: PyPI has no Linux wheel of it.
    logged pip-download python3 -m pip download --only-binary=:all: --implementation cp --python-version "$python_version" \
        "${platforms[@]}" --platform "manylinux2014_$arch" -d "$wheels" \
        "matrix-synapse[$(tr ',' '\n' <<<"$EXTRAS" | sed '/^postgres$/d' | paste -sd,)]==$VERSION"
    touch "$wheels/.complete"
fi
step_done "$(find "$wheels" -name '*.whl' | wc -l) wheels"

context="$(mktemp -d "$CACHE/synapse-context.XXXXXX")"
trap 'rm -rf "$context"' EXIT
cp "$IMAGES_DIR/synapse/Dockerfile" "$IMAGES_DIR/synapse/start.py" "$context/"
cp -r "$wheels" "$context/wheels"
build_image "$context" "$TARGET" "$VERSION" "Synapse" \
    --build-arg "SYNAPSE_REQUIREMENT=matrix-synapse[$EXTRAS]==$VERSION" \
    --label "io.synapse-stack.synapse-extras=$EXTRAS"

step "smoke test $TARGET" "the image was built but is broken: docker run --rm -it $TARGET bash"
logged smoke docker run --rm --network none "$TARGET" register_new_matrix_user --help
grep -q -- '--password-file' "$STEP_LOG" || smoke_failed "$TARGET" "register_new_matrix_user lacks --password-file" "use Synapse 1.110 or newer"
logged smoke-version docker run --rm --network none --entrypoint python3 "$TARGET" -c 'import synapse; print(synapse.__version__)'
[[ "$(cat "$STEP_LOG")" == "$VERSION" ]] || smoke_failed "$TARGET" "the image holds Synapse $(cat "$STEP_LOG"), not $VERSION"
step_done "Synapse $VERSION answers"
say "built $TARGET in $SECONDS s"
