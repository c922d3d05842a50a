#!/usr/bin/env bash
# Build a LOCAL Docker image of Synapse that follows the documented interface of
# the official matrixdotorg/synapse image (entrypoint /start.py, generate/run
# modes, ports, healthcheck), for hosts that reach Debian's package mirror and
# PyPI but no image registry.
#
#   toolchain/images/synapse/build.sh <synapse-version> <target-image-ref>
#   toolchain/images/synapse/build.sh 1.163.2 synapse-local:v1.163.2
#
# Recipe: debootstrap a minimal Debian rootfs, install Synapse from PyPI wheels
# of exactly <synapse-version> into a venv at /opt/synapse inside it (offline,
# in a chroot), `docker import` that rootfs and add toolchain/images/synapse/Dockerfile on top with
# the legacy builder and no network.
#
# Environment:
#   CACHE_DIR       rootfs tarballs, wheels and logs (default: <repo>/.cache)
#   DEBIAN_MIRROR   Debian archive URL (default: found in the host's apt sources)
#   DEBIAN_SUITE    Debian suite (default: trixie if the mirror serves it, else bookworm)
#   SYNAPSE_EXTRAS  Synapse extras, comma-separated (default: postgres)
#   FORCE=1         rebuild even if the target image already has this version
#
# Must run as root (debootstrap, chroot). Needs docker, debootstrap, python3 with
# pip, curl or wget, tar, flock.
set -euo pipefail
set -E

readonly PROG=synapse-image
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
readonly REPO_ROOT
readonly IMAGE_DIR="$REPO_ROOT/toolchain/images/synapse"
readonly STEP_TOTAL=9
# python3-psycopg2 is here because psycopg2 publishes no Linux wheels; Debian's
# build links the rootfs' libpq5 and reaches the venv via system site-packages.
readonly ROOTFS_PACKAGES="python3,python3-venv,curl,ca-certificates,tzdata,libpq5,python3-psycopg2,libjemalloc2"

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}

# Messages go to fd 8, the caller's stderr: an ERR trap can fire inside a
# function whose stderr is redirected into a step log.
exec 8>&2
say() { printf '%s: [%4ds] %s\n' "$PROG" "$SECONDS" "$*" >&8; }
note() { printf '%s:         %s\n' "$PROG" "$*" >&8; }

STEP_NO=0
STEP_NAME="start"
STEP_HINT=""
STEP_LOG=""
STEP_START=0

# step NAME HINT: announce a step; HINT is printed if the step fails.
step() {
  STEP_NO=$((STEP_NO + 1))
  STEP_NAME=$1
  STEP_HINT=$2
  STEP_LOG=""
  STEP_START=$SECONDS
  say "step $STEP_NO/$STEP_TOTAL: $STEP_NAME"
}

step_done() {
  note "done in $((SECONDS - STEP_START))s${1:+: $1}"
}

# logged NAME CMD...: run CMD with its output in a log file, kept for failures.
logged() {
  local name=$1
  shift
  STEP_LOG="$LOG_DIR/$name.log"
  "$@" >"$STEP_LOG" 2>&1
}

on_error() {
  local status=$1 line=$2
  # A failing command substitution reports in the shell that runs it.
  ((BASH_SUBSHELL == 0)) || return 0
  trap - ERR
  printf '\n%s: FAILED at step %d/%d "%s" after %ds (exit %d, line %d)\n' \
    "$PROG" "$STEP_NO" "$STEP_TOTAL" "$STEP_NAME" "$((SECONDS - STEP_START))" "$status" "$line" >&8
  if [[ -n "$STEP_LOG" && -s "$STEP_LOG" ]]; then
    printf '%s: last lines of %s:\n' "$PROG" "$STEP_LOG" >&8
    tail -n 25 "$STEP_LOG" | sed 's/^/    /' >&8
  fi
  [[ -n "$STEP_HINT" ]] && printf '%s: what to do: %s\n' "$PROG" "$STEP_HINT" >&8
}

die() {
  if ((STEP_NO == 0)); then
    printf '%s: error: %s\n' "$PROG" "$1" >&8
  else
    printf '\n%s: FAILED at step %d/%d "%s" after %ds: %s\n' \
      "$PROG" "$STEP_NO" "$STEP_TOTAL" "$STEP_NAME" "$((SECONDS - STEP_START))" "$1" >&8
  fi
  [[ -n "${2:-}" ]] && printf '%s: what to do: %s\n' "$PROG" "$2" >&8
  exit 1
}

# --- argument and environment checks ----------------------------------------

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  usage
  exit 0
fi
if [[ $# -ne 2 ]]; then
  usage >&2
  exit 64
fi
readonly SYNAPSE_VERSION=$1
readonly TARGET_IMAGE=$2
[[ "$SYNAPSE_VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+(rc[0-9]+)?$ ]] ||
  die "synapse version \"$SYNAPSE_VERSION\" is not a release version" "pass one such as 1.163.2 (see: pip index versions matrix-synapse)"
[[ "$TARGET_IMAGE" =~ ^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9._-]*)?$ ]] ||
  die "target image \"$TARGET_IMAGE\" is not an image reference" "pass one such as synapse-local:v$SYNAPSE_VERSION"

EXTRAS=$(tr -d ' ' <<<"${SYNAPSE_EXTRAS:-postgres}" | tr ',' '\n' | sed '/^$/d' | sort -u | paste -sd, -)
[[ "$EXTRAS" =~ ^[a-z0-9,-]*$ ]] ||
  die "SYNAPSE_EXTRAS \"${SYNAPSE_EXTRAS:-}\" is not a list of extras" "use names such as postgres,oidc,redis"
readonly EXTRAS
# Extras minus postgres: psycopg2 comes from Debian, pip on the host must not look for it.
WHEEL_EXTRAS=$(tr ',' '\n' <<<"$EXTRAS" | sed '/^postgres$/d' | paste -sd, -)
readonly WHEEL_EXTRAS
synapse_requirement() { echo "matrix-synapse${1:+[$1]}==$SYNAPSE_VERSION"; }

# --- 1. preflight ------------------------------------------------------------

step "preflight" "run as root on a host with Docker running, and install what is named above (apt-get install debootstrap python3-pip curl)"
[[ $EUID -eq 0 ]] || die "must run as root (debootstrap and chroot need it)" "run it with sudo or as root"
for tool in docker debootstrap python3 tar chroot mount umount flock sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is not installed" "install it (Debian: apt-get install ${tool/python3/python3-pip})"
done
python3 -m pip --version >/dev/null 2>&1 || die "python3 has no pip" "install it (Debian: apt-get install python3-pip)"
if command -v curl >/dev/null; then
  fetch() { curl -fsSL --max-time 30 "$1"; }
elif command -v wget >/dev/null; then
  fetch() { wget -q -T 30 -O - "$1"; }
else
  die "neither curl nor wget is installed" "apt-get install curl"
fi
DOCKER_SERVER=$(docker version --format '{{.Server.Version}}' 2>/dev/null) ||
  die "the Docker engine does not answer" "start it (systemctl start docker, or dockerd in the background) and check 'docker info'"

CACHE_DIR=${CACHE_DIR:-$REPO_ROOT/.cache}
mkdir -p "$CACHE_DIR"
CACHE_ROOT="$(cd "$CACHE_DIR" && pwd)/synapse-image"
readonly CACHE_ROOT LOG_DIR="$CACHE_ROOT/logs"
mkdir -p "$LOG_DIR"
# Make apt's proxy (if any) visible to curl, pip's environment and debootstrap's wget.
if [[ -z "${http_proxy:-}" ]]; then
  APT_PROXY=""
  eval "$(apt-config shell APT_PROXY Acquire::http::Proxy 2>/dev/null)" || true
  [[ -n "$APT_PROXY" && "$APT_PROXY" != DIRECT ]] && export http_proxy=$APT_PROXY
fi
exec 9>"$CACHE_ROOT/.lock"
if ! flock -n 9; then
  say "another build holds $CACHE_ROOT/.lock; waiting for it"
  flock 9
fi
step_done "docker engine $DOCKER_SERVER, cache in $CACHE_ROOT"

# --- 2. existing image? -----------------------------------------------------

PREVIOUS_IMAGE=""
step "check existing image $TARGET_IMAGE" "check 'docker image inspect $TARGET_IMAGE'"
if docker image inspect "$TARGET_IMAGE" >/dev/null 2>&1; then
  have_version=$(docker image inspect --format '{{ index .Config.Labels "org.opencontainers.image.version" }}' "$TARGET_IMAGE")
  have_extras=$(docker image inspect --format '{{ index .Config.Labels "io.synapse-stack.synapse-extras" }}' "$TARGET_IMAGE")
  if [[ "${FORCE:-0}" != 1 && "$have_version" == "$SYNAPSE_VERSION" && ( -z "$have_extras" || "$have_extras" == "$EXTRAS" ) ]]; then
    say "already present: $TARGET_IMAGE carries Synapse $SYNAPSE_VERSION (FORCE=1 rebuilds)"
    exit 0
  fi
  note "$TARGET_IMAGE exists with version \"${have_version:-none}\" extras \"${have_extras:-none}\"; rebuilding and moving the tag"
  if [[ "$(docker image inspect --format '{{ index .Config.Labels "io.synapse-stack.local-build" }}' "$TARGET_IMAGE")" == true ]]; then
    PREVIOUS_IMAGE=$(docker image inspect --format '{{.Id}}' "$TARGET_IMAGE")
  fi
fi
step_done "needs a build"

# --- 3. Debian mirror and suite ----------------------------------------------

# The Python each suite ships, to check Requires-Python before a long debootstrap.
suite_python() {
  case $1 in
    bookworm) echo 3.11 ;;
    trixie) echo 3.13 ;;
    *) echo "" ;;
  esac
}

apt_source_uris() {
  local file
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -r "$file" ]] || continue
    sed -n -E 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([a-z]+:\/\/[^[:space:]]+).*/\2/p' "$file"
  done
  for file in /etc/apt/sources.list.d/*.sources; do
    [[ -r "$file" ]] || continue
    # deb822: URIs of paragraphs that are binary ("deb") and not disabled.
    awk '
      function flush() {
        if (types ~ /(^|[ \t])deb([ \t]|$)/ && tolower(enabled) != "no")
          for (i = 1; i <= n; i++) print uris[i]
        types = ""; enabled = ""; n = 0
      }
      /^[ \t]*$/ { flush(); next }
      /^[Tt]ypes:/ { sub(/^[^:]*:[ \t]*/, ""); types = $0 }
      /^[Ee]nabled:/ { sub(/^[^:]*:[ \t]*/, ""); enabled = $0 }
      /^URIs:/ { for (i = 2; i <= NF; i++) uris[++n] = $i }
      END { flush() }
    ' "$file"
  done
}

# serves_suite URI SUITE: the URI is a Debian archive with SUITE on it.
serves_suite() {
  local release
  release=$(fetch "${1%/}/dists/$2/Release" 2>/dev/null) || return 1
  grep -q '^Origin: Debian$' <<<"$release"
}

step "find a Debian mirror and suite" "set DEBIAN_MIRROR to a Debian archive URL (and DEBIAN_SUITE to trixie or bookworm) that this host can reach"
if [[ -n "${DEBIAN_SUITE:-}" ]]; then
  suites=("$DEBIAN_SUITE")
else
  suites=(trixie bookworm)
fi
if [[ -n "${DEBIAN_MIRROR:-}" ]]; then
  mirrors=("$DEBIAN_MIRROR")
else
  mapfile -t mirrors < <(apt_source_uris | awk '!seen[$0]++')
fi
[[ ${#mirrors[@]} -gt 0 ]] || die "no apt sources found on this host" "$STEP_HINT"
MIRROR="" SUITE=""
for suite in "${suites[@]}"; do
  for uri in "${mirrors[@]}"; do
    if serves_suite "$uri" "$suite"; then
      MIRROR=${uri%/} SUITE=$suite
      break 2
    fi
  done
  note "no mirror among the host's apt sources serves $suite"
done
[[ -n "$SUITE" ]] || die "none of ${mirrors[*]} serves ${suites[*]}" "$STEP_HINT"
readonly MIRROR SUITE
step_done "$SUITE from $MIRROR"

# --- 4. the Synapse release on PyPI ------------------------------------------

# The suite's glibc, for the manylinux tags of the probe before the rootfs exists.
case $SUITE in bookworm) GLIBC_MINOR=36 ;; trixie) GLIBC_MINOR=41 ;; *) GLIBC_MINOR=28 ;; esac
ARCH_DEB=$(dpkg --print-architecture 2>/dev/null || echo amd64)
case $ARCH_DEB in
  amd64) ARCH_PY=x86_64 ;;
  arm64) ARCH_PY=aarch64 ;;
  *) die "architecture $ARCH_DEB is not supported" "build on amd64 or arm64" ;;
esac
readonly ARCH_DEB ARCH_PY

# platform_args GLIBC_MINOR: every manylinux tag a glibc 2.GLIBC_MINOR system accepts.
platform_args() {
  local minor
  for ((minor = $1; minor >= 17; minor--)); do
    printf -- '--platform\nmanylinux_2_%d_%s\n' "$minor" "$ARCH_PY"
  done
  # pip widens manylinux2014 to manylinux2010 and manylinux1 by itself.
  printf -- '--platform\nmanylinux2014_%s\n' "$ARCH_PY"
}

# find_wheel DIR PATTERN: the first matching file, or nothing.
find_wheel() { find "$1" -maxdepth 1 -name "$2" -print -quit 2>/dev/null || true; }
count_wheels() { find "$1" -maxdepth 1 -name '*.whl' | wc -l; }

# requires_python WHEEL: the wheel's Requires-Python ("" if none).
requires_python() {
  python3 - "$1" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    for line in wheel.read(name).decode().splitlines():
        if line.startswith("Requires-Python:"):
            print(line.split(":", 1)[1].strip())
            break
EOF
}

# python_satisfies VERSION SPEC: uses the packaging copy pip carries.
python_satisfies() {
  python3 -c 'import sys; from pip._vendor.packaging.specifiers import SpecifierSet as S; sys.exit(0 if sys.argv[1] in S(sys.argv[2]) else 1)' "$1" "$2"
}

step "check matrix-synapse $SYNAPSE_VERSION on PyPI" "check the version exists ('pip index versions matrix-synapse') and that pip reaches PyPI (pip config list)"
PROBE_DIR="$CACHE_ROOT/probe/$SYNAPSE_VERSION-$ARCH_PY"
probe_wheel=$(find_wheel "$PROBE_DIR" "matrix_synapse-$SYNAPSE_VERSION-*.whl")
if [[ -z "$probe_wheel" ]]; then
  mapfile -t platforms < <(platform_args "$GLIBC_MINOR")
  logged pip-probe python3 -m pip download --no-deps --only-binary=:all: --ignore-requires-python \
    --implementation cp --python-version "$(suite_python "$SUITE" | grep . || echo 3.13)" "${platforms[@]}" \
    -d "$PROBE_DIR" "$(synapse_requirement "")" ||
    die "PyPI has no wheel of matrix-synapse $SYNAPSE_VERSION for linux/$ARCH_PY (log: $STEP_LOG)" "$STEP_HINT"
  probe_wheel=$(find_wheel "$PROBE_DIR" "matrix_synapse-$SYNAPSE_VERSION-*.whl")
fi
REQUIRES_PYTHON=$(requires_python "$probe_wheel")
suite_py=$(suite_python "$SUITE")
if [[ -n "$suite_py" && -n "$REQUIRES_PYTHON" ]] && ! python_satisfies "$suite_py" "$REQUIRES_PYTHON"; then
  die "Synapse $SYNAPSE_VERSION requires Python $REQUIRES_PYTHON but Debian $SUITE has $suite_py" \
    "pick a newer suite with DEBIAN_SUITE, or an older Synapse"
fi
step_done "$(basename "$probe_wheel"), Requires-Python ${REQUIRES_PYTHON:-any}"

# --- helpers for the rootfs --------------------------------------------------

WORK_DIR=""
BASE_IMAGE=""

# mounts_under DIR: mount points below DIR, deepest first.
mounts_under() {
  awk -v prefix="$1/" 'index($5, prefix) == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

unmount_under() {
  local mount_point
  while read -r mount_point; do
    [[ -n "$mount_point" ]] || continue
    umount "$mount_point" 2>/dev/null || umount -l "$mount_point"
  done < <(mounts_under "$1")
}

# remove_tree DIR: never follows a still-mounted /dev or /proc into the host.
remove_tree() {
  local dir=$1
  [[ -d "$dir" ]] || return 0
  unmount_under "$dir"
  if [[ -n "$(mounts_under "$dir")" ]]; then
    printf '%s: not removing %s, something is still mounted below it:\n%s\n' "$PROG" "$dir" "$(mounts_under "$dir")" >&8
    return 1
  fi
  rm -rf --one-file-system -- "$dir"
}

cleanup() {
  local status=$?
  trap - EXIT ERR
  if ((status == 130 || status == 143)); then
    printf '\n%s: interrupted at step %d/%d "%s"; cleaning up\n' "$PROG" "$STEP_NO" "$STEP_TOTAL" "$STEP_NAME" >&8
  fi
  if [[ -n "$WORK_DIR" ]]; then
    remove_tree "$WORK_DIR" || status=1
  fi
  if [[ -n "$BASE_IMAGE" ]]; then
    docker image rm "$BASE_IMAGE" >/dev/null 2>&1 || true
  fi
  exit "$status"
}
trap 'on_error $? $LINENO' ERR
trap cleanup EXIT
# Turn signals into an exit so cleanup unmounts /proc and /dev from the chroot.
trap 'exit 130' INT
trap 'exit 143' TERM

mount_chroot() {
  mount -t proc proc "$1/proc"
  mount --bind /dev "$1/dev"
}

# in_chroot ROOT CMD...: a clean environment, so the host's PIP_* and proxies stay out.
in_chroot() {
  local root=$1
  shift
  env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root \
    DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ${http_proxy:+http_proxy=$http_proxy} chroot "$root" "$@"
}

# new_work_dir: sets WORK_DIR (removed on exit) and ROOTFS, an empty folder in it.
new_work_dir() {
  WORK_DIR=$(mktemp -d "$CACHE_ROOT/build.XXXXXX")
  ROOTFS="$WORK_DIR/rootfs"
  mkdir "$ROOTFS"
}

# --- 5. Debian rootfs (cached) ----------------------------------------------

# build_rootfs TARBALL FACTS: debootstrap, repair, trim, and cache the rootfs as
# TARBALL; FACTS records its Python and glibc versions.
build_rootfs() {
  local rootfs facts rootfs_python rootfs_glibc
  new_work_dir
  rootfs=$ROOTFS
  note "debootstrap --variant=minbase $SUITE (a few minutes; log: $LOG_DIR/debootstrap.log)"
  logged debootstrap debootstrap --variant=minbase --arch="$ARCH_DEB" --include="$ROOTFS_PACKAGES" \
    "$SUITE" "$rootfs" "$MIRROR"
  unmount_under "$rootfs"
  mount_chroot "$rootfs"
  # Keep maintainer scripts from starting services inside the chroot.
  printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
  chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
  if ! logged apt-check in_chroot "$rootfs" apt-get check; then
    # debootstrap resolves no virtual packages; apt can finish what it left.
    note "apt-get check failed, repairing with apt-get install -f"
    STEP_LOG="$LOG_DIR/apt-fix.log"
    in_chroot "$rootfs" apt-get update >"$STEP_LOG" 2>&1
    in_chroot "$rootfs" apt-get -y -f install >>"$STEP_LOG" 2>&1
    logged apt-check in_chroot "$rootfs" apt-get check
  fi
  facts=$(in_chroot "$rootfs" python3 -c 'import os, platform; print(platform.python_version(), os.confstr("CS_GNU_LIBC_VERSION").split()[1])')
  in_chroot "$rootfs" apt-get clean
  rm -f "$rootfs/usr/sbin/policy-rc.d"
  unmount_under "$rootfs"
  # The host's resolver and name do not belong in an image; Docker provides both.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/*.log \
    "$rootfs/etc/resolv.conf" "$rootfs/etc/hostname"
  # Translations, man pages and docs are a seventh of the rootfs; the copyright files stay.
  rm -rf "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
  find "$rootfs/usr/share/doc" -mindepth 1 -type f ! -name copyright -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  : >"$rootfs/etc/machine-id"
  tar -C "$rootfs" --numeric-owner -cf "$1.partial" .
  read -r rootfs_python rootfs_glibc <<<"$facts"
  printf 'ROOTFS_PYTHON=%s\nROOTFS_GLIBC=%s\n' "$rootfs_python" "$rootfs_glibc" >"$2"
  mv "$1.partial" "$1"
  remove_tree "$WORK_DIR"
  WORK_DIR=""
}

# Keyed by the recipe itself, so a change to build_rootfs invalidates old tarballs.
ROOTFS_KEY="$SUITE-$ARCH_DEB-$({ echo "$ROOTFS_PACKAGES"; declare -f build_rootfs; } | sha256sum | cut -c1-10)"
readonly ROOTFS_KEY
readonly ROOTFS_TAR="$CACHE_ROOT/rootfs-$ROOTFS_KEY.tar"
readonly ROOTFS_FACTS="$CACHE_ROOT/rootfs-$ROOTFS_KEY.env"

step "Debian $SUITE rootfs" "check that $MIRROR is reachable and that the host's debian-archive-keyring knows $SUITE; the log above says which package failed"
if [[ -s "$ROOTFS_TAR" && -s "$ROOTFS_FACTS" ]]; then
  age_days=$(( ($(date +%s) - $(stat -c %Y "$ROOTFS_TAR")) / 86400 ))
  step_done "cached $(basename "$ROOTFS_TAR") (${age_days} days old)"
  if ((age_days > 30)); then
    note "the cached rootfs misses $age_days days of Debian updates: delete $ROOTFS_TAR to refresh it"
  fi
else
  build_rootfs "$ROOTFS_TAR" "$ROOTFS_FACTS"
  find "$CACHE_ROOT" -maxdepth 1 -name "rootfs-$SUITE-$ARCH_DEB-*" ! -name "rootfs-$ROOTFS_KEY.*" -delete
  step_done "$(du -h "$ROOTFS_TAR" | cut -f1) tarball cached"
fi
ROOTFS_PYTHON=$(sed -n 's/^ROOTFS_PYTHON=//p' "$ROOTFS_FACTS")
ROOTFS_GLIBC=$(sed -n 's/^ROOTFS_GLIBC=//p' "$ROOTFS_FACTS")
[[ "$ROOTFS_PYTHON" =~ ^3\.[0-9]+\.[0-9]+$ && "$ROOTFS_GLIBC" =~ ^2\.[0-9]+$ ]] ||
  die "$ROOTFS_FACTS does not name a Python and glibc version" "delete $ROOTFS_TAR and $ROOTFS_FACTS, then rerun"
readonly ROOTFS_PYTHON ROOTFS_GLIBC
readonly PYTHON_MM=${ROOTFS_PYTHON%.*}
note "rootfs has Python $ROOTFS_PYTHON and glibc $ROOTFS_GLIBC"
if [[ -n "$REQUIRES_PYTHON" ]] && ! python_satisfies "$ROOTFS_PYTHON" "$REQUIRES_PYTHON"; then
  die "Synapse $SYNAPSE_VERSION requires Python $REQUIRES_PYTHON but the $SUITE rootfs has $ROOTFS_PYTHON" \
    "pick another suite with DEBIAN_SUITE, or an older Synapse"
fi

# --- 6. wheels (cached) ------------------------------------------------------

readonly WHEEL_DIR="$CACHE_ROOT/wheels/synapse-$SYNAPSE_VERSION${WHEEL_EXTRAS:+-${WHEEL_EXTRAS//,/-}}-cp${PYTHON_MM/./}-glibc$ROOTFS_GLIBC-$ARCH_PY"

step "wheels for $(synapse_requirement "$EXTRAS")" "check that pip reaches PyPI; an extra whose dependencies have no manylinux wheel must be left out of SYNAPSE_EXTRAS"
if [[ -f "$WHEEL_DIR/.complete" ]]; then
  step_done "cached $(count_wheels "$WHEEL_DIR") wheels in $(basename "$WHEEL_DIR")"
else
  rm -rf "$WHEEL_DIR"
  mkdir -p "$WHEEL_DIR"
  mapfile -t platforms < <(platform_args "${ROOTFS_GLIBC#2.}")
  if [[ ",$EXTRAS," == *,postgres,* ]]; then
    note "extra postgres: psycopg2 has no Linux wheels on PyPI; Debian's python3-psycopg2 (libpq5) provides it"
  fi
  logged pip-download python3 -m pip download --only-binary=:all: --implementation cp \
    --python-version "$PYTHON_MM" "${platforms[@]}" -d "$WHEEL_DIR" "$(synapse_requirement "$WHEEL_EXTRAS")"
  touch "$WHEEL_DIR/.complete"
  step_done "$(count_wheels "$WHEEL_DIR") wheels, $(du -sh "$WHEEL_DIR" | cut -f1)"
fi

# --- 7. Synapse venv in the rootfs --------------------------------------------

step "install Synapse into /opt/synapse (chroot, offline)" "read the log; a missing wheel usually means a dependency marker pip could not evaluate on the host: delete $WHEEL_DIR and rerun"
new_work_dir
rootfs=$ROOTFS
tar -C "$rootfs" --numeric-owner -xpf "$ROOTFS_TAR"
mkdir -p "$rootfs/wheels"
cp "$WHEEL_DIR"/*.whl "$rootfs/wheels/"
mount_chroot "$rootfs"
# --system-site-packages only adds Debian's psycopg2: nothing else Python lives in dist-packages.
logged venv in_chroot "$rootfs" python3 -m venv --system-site-packages /opt/synapse
logged pip-install in_chroot "$rootfs" /opt/synapse/bin/pip install --no-index --find-links /wheels \
  --only-binary=:all: "$(synapse_requirement "$EXTRAS")"
logged pip-check in_chroot "$rootfs" /opt/synapse/bin/pip check
installed=$(in_chroot "$rootfs" /opt/synapse/bin/python -c \
  'import synapse, psycopg2; print(synapse.__version__, psycopg2.__version__.split()[0])' 2>"$LOG_DIR/import.log") || {
  STEP_LOG="$LOG_DIR/import.log"
  false
}
read -r installed_synapse installed_psycopg2 <<<"$installed"
[[ "$installed_synapse" == "$SYNAPSE_VERSION" ]] ||
  die "the venv holds Synapse $installed_synapse, not $SYNAPSE_VERSION" "delete $WHEEL_DIR and rerun"
rm -rf "$rootfs/wheels" "$rootfs/root/.cache"
unmount_under "$rootfs"
step_done "Synapse $installed_synapse, psycopg2 $installed_psycopg2 (Debian), $(du -sh "$rootfs/opt/synapse" | cut -f1) venv"

# --- 8. docker import + docker build -----------------------------------------

step "docker import and docker build" "check 'docker info' and free space under Docker's data root"
BASE_IMAGE="synapse-local-rootfs:$SYNAPSE_VERSION-build$$"
# shellcheck disable=SC2016 # expanded by the inner bash
logged docker-import bash -o pipefail -c 'tar -C "$1" --numeric-owner -cf - . | docker import - "$2"' import "$rootfs" "$BASE_IMAGE"
remove_tree "$WORK_DIR"
WORK_DIR=""
logged docker-build env DOCKER_BUILDKIT=0 docker build --network none --pull=false \
  --build-arg "BASE_IMAGE=$BASE_IMAGE" \
  --build-arg "SYNAPSE_VERSION=$SYNAPSE_VERSION" \
  --build-arg "DEBIAN_SUITE=$SUITE" \
  --build-arg "PYTHON_VERSION=$ROOTFS_PYTHON" \
  --label "io.synapse-stack.synapse-extras=$EXTRAS" \
  -t "$TARGET_IMAGE" -f "$IMAGE_DIR/Dockerfile" "$IMAGE_DIR"
docker image rm "$BASE_IMAGE" >/dev/null
BASE_IMAGE=""
if [[ -n "$PREVIOUS_IMAGE" && "$PREVIOUS_IMAGE" != "$(docker image inspect --format '{{.Id}}' "$TARGET_IMAGE")" ]]; then
  # Only an earlier local build is removed, and only if no container still uses it.
  docker image rm "$PREVIOUS_IMAGE" >/dev/null 2>&1 ||
    note "kept the previous build ${PREVIOUS_IMAGE#sha256:}: a container still uses it"
fi
step_done "$TARGET_IMAGE"

# --- 9. smoke test -----------------------------------------------------------

step "smoke test $TARGET_IMAGE" "the image was built but is broken: run 'docker run --rm $TARGET_IMAGE bash' to look inside"
logged smoke docker run --rm --network none "$TARGET_IMAGE" register_new_matrix_user --help
if ! grep -q -- '--password-file' "$STEP_LOG" || ! grep -q -- '--exists-ok' "$STEP_LOG"; then
  die "register_new_matrix_user lacks --password-file/--exists-ok" "use Synapse 1.110 or newer"
fi
logged smoke-homeserver docker run --rm --network none "$TARGET_IMAGE" python -m synapse.app.homeserver --help
size=$(docker image inspect --format '{{.Size}}' "$TARGET_IMAGE")
step_done "entrypoint, PATH and register_new_matrix_user work"

say "built $TARGET_IMAGE: Synapse $SYNAPSE_VERSION on Debian $SUITE, Python $ROOTFS_PYTHON, $((size / 1000000)) MB, in ${SECONDS}s"
