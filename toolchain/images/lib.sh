# Sourced by toolchain/images/<image>/build.sh: the steps every local image shares, written once.
#
#   - one Debian base for all images: a minimal rootfs made with debootstrap, cached as a tarball and imported as
#     synapse-stack-base-local:<suite>; every local image starts FROM it, so the engine stores it once;
#   - `docker build` of an image's folder with the legacy builder (Debian's engine has no BuildKit), labelled as a
#     local build; apt inside the build reaches the Debian mirror over plain HTTP, which this network allows;
#   - steps with elapsed time, each command's output in a log, and the failing step's log and hint on error.
#
# Needs root (debootstrap), docker, debootstrap, curl. Environment:
#   DEBIAN_MIRROR   Debian archive URL (default: the first of the host's apt sources that serves the suite)
#   DEBIAN_SUITE    default trixie (Python 3.13, PostgreSQL 17, Caddy 2.6)
#   CACHE_DIR       where rootfs tarballs, downloads and logs stay (default <repo>/.cache/images)
#   FORCE=1         rebuild the image even when it exists; FORCE_BASE=1 makes a new Debian base too

set -Eeuo pipefail

IMAGES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$IMAGES_DIR/../.." && pwd)"
SUITE="${DEBIAN_SUITE:-trixie}"
CACHE="${CACHE_DIR:-$REPO_ROOT/.cache/images}"
LOGS="$CACHE/logs"
BASE_IMAGE="synapse-stack-base-local:$SUITE"
mkdir -p "$CACHE" "$LOGS"

PROG="${PROG:-image}"
STEP_NAME="start"
STEP_HINT=""
STEP_LOG=""
STEP_STARTED=$SECONDS
exec 8>&2

say() { printf '%s: [%4ds] %s\n' "$PROG" "$SECONDS" "$*" >&8; }

step() { # step NAME HINT: announce a step; HINT is printed if it fails
    STEP_NAME=$1
    STEP_HINT=${2:-}
    STEP_LOG=""
    STEP_STARTED=$SECONDS
    say "$STEP_NAME"
}

step_done() { say "  done in $((SECONDS - STEP_STARTED)) s${1:+: $1}"; }

die() { # die MESSAGE [HINT]
    printf '%s: FAILED at "%s": %s\n' "$PROG" "$STEP_NAME" "$1" >&8
    [[ -n "${2:-$STEP_HINT}" ]] && printf '%s: what to do: %s\n' "$PROG" "${2:-$STEP_HINT}" >&8
    exit 1
}

logged() { # logged NAME CMD...: CMD's output goes to a log, shown if the step fails
    STEP_LOG="$LOGS/$PROG-$1.log"
    shift
    "$@" >"$STEP_LOG" 2>&1
}

on_error() {
    local status=$1
    ((BASH_SUBSHELL == 0)) || return 0
    trap - ERR
    printf '%s: FAILED at "%s" after %d s (exit %d)\n' "$PROG" "$STEP_NAME" "$((SECONDS - STEP_STARTED))" "$status" >&8
    if [[ -n "$STEP_LOG" && -s "$STEP_LOG" ]]; then
        printf '%s: last lines of %s:\n' "$PROG" "$STEP_LOG" >&8
        tail -n 25 "$STEP_LOG" | sed 's/^/    /' >&8
    fi
    [[ -n "$STEP_HINT" ]] && printf '%s: what to do: %s\n' "$PROG" "$STEP_HINT" >&8
}
trap 'on_error $?' ERR

smoke_failed() { # smoke_failed IMAGE MESSAGE [HINT]: a built image that does not work is not left behind
    docker image rm "$1" >/dev/null 2>&1 || true
    die "$2" "${3:-}"
}

image_label() { # image_label IMAGE LABEL: a label of a present image, or nothing
    docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}

# recipe KIND [SETTING...]: a fingerprint of what an image is built from (its folder's files but build.sh, and the
# settings given), so a changed Dockerfile or entrypoint rebuilds an image that is otherwise at the right version.
recipe() {
    local kind=$1
    shift
    { find "$IMAGES_DIR/$kind" -type f ! -name build.sh -print0 | sort -z | xargs -0 sha256sum | cut -d' ' -f1; printf '%s\n' "$@"; } |
        sha256sum | cut -c1-16
}

# exit_if_current IMAGE VERSION WHAT: done already when the image is a local build of VERSION from RECIPE, unless FORCE.
exit_if_current() {
    if [[ "${FORCE:-0}" != 1 && "$(image_label "$1" org.opencontainers.image.version)" == "$2" &&
        "$(image_label "$1" io.synapse-stack.local-build)" == true && "$(image_label "$1" io.synapse-stack.recipe)" == "$RECIPE" ]]; then
        say "$1 is present ($3 $2; FORCE=1 rebuilds)"
        exit 0
    fi
}

# debian_mirror: DEBIAN_MIRROR, or the first of the host's apt sources that serves SUITE.
debian_mirror() {
    local uri
    if [[ -n "${DEBIAN_MIRROR:-}" ]]; then
        echo "${DEBIAN_MIRROR%/}"
        return
    fi
    for uri in $( (
        sed -n -E 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([a-z]+:\/\/[^[:space:]]+).*/\2/p' \
            /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
        sed -n -E 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | tr ' ' '\n'
    ) | awk 'NF && !seen[$0]++'); do
        # Read whole before grep: grep -q would close the pipe early, and pipefail then fail the test.
        if grep -q '^Origin: Debian$' <<<"$(curl -fsS --max-time 15 "${uri%/}/dists/$SUITE/Release" 2>/dev/null)"; then
            echo "${uri%/}"
            return
        fi
    done
    return 1
}

# ensure_base: the shared base image, from the cached rootfs tarball or a new debootstrap.
ensure_base() {
    step "base image $BASE_IMAGE" "check that a Debian mirror serving $SUITE is reachable (DEBIAN_MIRROR) and that debootstrap is installed"
    local tarball="$CACHE/base-$SUITE-$(dpkg --print-architecture 2>/dev/null || echo amd64).tar"
    if [[ "${FORCE_BASE:-0}" != 1 ]] && docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        step_done "present"
        return
    fi
    if [[ ! -s "$tarball" || "${FORCE_BASE:-0}" == 1 ]]; then
        [[ $EUID -eq 0 ]] || die "debootstrap needs root" "run setup as root, or import a base image yourself as $BASE_IMAGE"
        command -v debootstrap >/dev/null || die "debootstrap is not installed" "apt-get install debootstrap"
        local mirror rootfs
        mirror="$(debian_mirror)" || die "no Debian mirror serving $SUITE answers among the host's apt sources" "set DEBIAN_MIRROR to a Debian archive URL"
        rootfs="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
        # shellcheck disable=SC2064 # the path is fixed now
        trap "rm -rf --one-file-system '$rootfs'" RETURN
        say "  debootstrap --variant=minbase $SUITE from $mirror (log: $LOGS/$PROG-debootstrap.log)"
        logged debootstrap debootstrap --variant=minbase --include=ca-certificates,tzdata "$SUITE" "$rootfs" "$mirror"
        # What an image does not need: caches, the host's resolver and name (Docker provides both), docs.
        rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/*.log \
            "$rootfs/etc/resolv.conf" "$rootfs/etc/hostname" "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
        find "$rootfs/usr/share/doc" -mindepth 1 -type f ! -name copyright -delete
        : >"$rootfs/etc/machine-id"
        # apt in image builds: no recommends, no docs, no interactive questions.
        printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$rootfs/etc/apt/apt.conf.d/90synapse-stack"
        printf 'path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\npath-exclude /usr/share/man/*\n' \
            >"$rootfs/etc/dpkg/dpkg.cfg.d/90synapse-stack"
        tar -C "$rootfs" --numeric-owner -cf "$tarball.partial" .
        mv "$tarball.partial" "$tarball"
    fi
    docker import \
        --change 'ENV LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive' \
        --change 'CMD ["bash"]' \
        --message "local Debian $SUITE base of synapse-stack (debootstrap minbase)" \
        "$tarball" "$BASE_IMAGE" >/dev/null
    step_done "imported from $(basename "$tarball")"
}

# build_image CONTEXT TARGET VERSION TITLE [docker build args...]: builds FROM the base, labelled as a local build.
build_image() {
    local context=$1 target=$2 version=$3 title=$4
    shift 4
    ensure_base
    step "docker build $target" "read the build log; apt needs the Debian mirror over HTTP from containers"
    local previous
    previous="$(docker image inspect --format '{{.Id}}' "$target" 2>/dev/null || true)"
    logged build env DOCKER_BUILDKIT=0 docker build --pull=false \
        --build-arg "BASE_IMAGE=$BASE_IMAGE" \
        --label "org.opencontainers.image.title=$title (local build)" \
        --label "org.opencontainers.image.version=$version" \
        --label "org.opencontainers.image.description=Local build of $title $version on Debian $SUITE, with the official image's interface; not the official image" \
        --label "io.synapse-stack.local-build=true" \
        --label "io.synapse-stack.recipe=$RECIPE" \
        "$@" -t "$target" "$context"
    if [[ -n "$previous" && "$previous" != "$(docker image inspect --format '{{.Id}}' "$target")" ]]; then
        # Only an earlier local build goes, and only if no container still uses it.
        docker image rm "$previous" >/dev/null 2>&1 || true
    fi
    step_done "$(($(docker image inspect --format '{{.Size}}' "$target") / 1000000)) MB"
}
