#!/usr/bin/env bash
# `npm run setup [-- STEP ...]`: brings this machine to the point where `pulumi up` of the stack works.
# Steps, in order (default: all): engine cli plugins state image browser. Idempotent: on a ready machine it takes seconds.
# Over 300 lines on purpose: a fresh machine has nothing but this script, so every step and its fallbacks live here.
# `npm run setup -- image 1.162.0` builds (or pulls) that Synapse release too, for upgrade tests.
# Each step takes the normal route when it can (an engine already running, a Pulumi CLI on PATH, the download
# sites, the registry) and otherwise builds from the package registries: Debian, the Go module proxy, PyPI.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

ALL_STEPS=(engine cli plugins state image browser)
CURRENT=""
STARTED=0

begin() {
    CURRENT="$1"
    STARTED=$(date +%s)
    echo "==> [$CURRENT] $2"
}

finish() {
    echo "    [$CURRENT] $1 ($(($(date +%s) - STARTED)) s)"
}

die() {
    echo "setup: step '$CURRENT' failed: $1" >&2
    echo "       what to do: $2" >&2
    exit 1
}

npm_field() { # npm_field PACKAGE FIELD-PATH: a field of an installed npm package's package.json
    node -e 'const p = require(process.argv[1] + "/package.json"); console.log(process.argv[2].split(".").reduce((o, k) => o[k], p))' \
        "$ROOT/node_modules/$1" "$2" 2>/dev/null ||
        die "node_modules/$1 is missing" "run \`npm ci\` first"
}

apt_install() {
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        return 1
    fi
    echo "    installing Debian packages: $*"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

downloads_reachable() { # the Pulumi download site answers within seconds, or we build instead
    if [ -z "${DOWNLOADS_REACHABLE:-}" ]; then
        if curl -fsS --connect-timeout 5 --max-time 15 -o /dev/null https://get.pulumi.com/ 2>/dev/null; then
            DOWNLOADS_REACHABLE=yes
        else
            DOWNLOADS_REACHABLE=no
        fi
    fi
    [ "$DOWNLOADS_REACHABLE" = yes ]
}

step_engine() {
    begin engine "Docker engine"
    if docker info >/dev/null 2>&1; then
        finish "engine answers (server $(docker version --format '{{.Server.Version}}'))"
        return
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
        apt_install docker.io ||
            die "no Docker engine answers and this user cannot install one" \
                "install Docker Engine (Debian: apt-get install docker.io), start it, and run setup again"
    fi
    if [ "$(id -u)" != 0 ]; then
        die "dockerd is installed but not running" "start it (e.g. sudo systemctl start docker) and run setup again"
    fi
    mkdir -p "$STATE"
    echo "    starting dockerd in the background (log: .state/dockerd.log)"
    # In a session of its own: started from a test's or a CI job's process group, it would die with that group.
    setsid nohup dockerd >"$STATE/dockerd.log" 2>&1 &
    for _ in $(seq 1 60); do
        if docker info >/dev/null 2>&1; then
            finish "engine started (server $(docker version --format '{{.Server.Version}}'))"
            return
        fi
        sleep 1
    done
    die "dockerd did not answer within 60 s" "read .state/dockerd.log"
}

cli_version_ok() { # cli_version_ok BINARY: a 3.x CLI at least as new as the SDK
    local version
    version="$("$1" version 2>/dev/null | sed 's/^v//')" || return 1
    [ "${version%%.*}" = 3 ] && [ "$(printf '%s\n%s\n' "$PULUMI_VERSION" "$version" | sort -V | head -n1)" = "$PULUMI_VERSION" ]
}

# The YAML language host, which Pulumi YAML programs (examples/yaml-homeserver) use the component package through; the
# official distribution ships it, Go modules build it where that cannot be had. The component package's folder needs a
# node_modules of its own for the Node.js host to accept it (its packages come from the project's).
ensure_yaml_host() {
    mkdir -p packages/synapse-plugin/node_modules
    if [ -x "$TOOLS/bin/pulumi-language-yaml" ] &&
        [ -z "$(find toolchain/language-yaml -type f -newer "$TOOLS/bin/pulumi-language-yaml" -print -quit)" ]; then
        return
    fi
    command -v go >/dev/null 2>&1 || die "no YAML language host and Go is not installed" "install Go 1.26 or newer, or install the Pulumi distribution"
    echo "    building pulumi-language-yaml from Go modules (for Pulumi YAML programs; about 2 minutes cold)"
    bash toolchain/language-yaml/build.sh "$TOOLS/bin/pulumi-language-yaml" ||
        die "go build of the YAML language host failed" "read the compiler output above"
}

step_cli() {
    CURRENT=cli
    PULUMI_VERSION="$(npm_field @pulumi/pulumi version)"
    begin cli "Pulumi CLI and Node.js language host (SDK $PULUMI_VERSION)"
    if [ -x "$TOOLS/bin/pulumi" ] && [ -x "$TOOLS/bin/pulumi-language-nodejs" ] && cli_version_ok "$TOOLS/bin/pulumi" &&
        [ -z "$(find toolchain/cli toolchain/language-nodejs -type f -newer "$TOOLS/bin/pulumi-language-nodejs" -print -quit)" ]; then
        ensure_yaml_host
        finish "ready: $("$TOOLS/bin/pulumi" version) in .tools/bin"
        return
    fi
    local ambient
    ambient="$(command -v pulumi || true)"
    if [ -n "$ambient" ] && [ "$ambient" != "$TOOLS/bin/pulumi" ] && cli_version_ok "$ambient"; then
        finish "using $ambient ($("$ambient" version))"
        return
    fi
    mkdir -p "$TOOLS/bin"
    if downloads_reachable; then
        echo "    installing Pulumi v$PULUMI_VERSION with the official installer"
        curl -fsSL --max-time 60 https://get.pulumi.com/ -o "$TOOLS/get-pulumi.sh"
        sh "$TOOLS/get-pulumi.sh" --version "$PULUMI_VERSION" --install-root "$TOOLS/pulumi-dist" --no-edit-path >/dev/null
        ln -sf "$TOOLS"/pulumi-dist/bin/* "$TOOLS/bin/"
    else
        command -v go >/dev/null 2>&1 || die "the download site is unreachable and Go is not installed" \
            "install Go 1.26 or newer (it builds the CLI from the Go module proxy), or install pulumi $PULUMI_VERSION by hand"
        grep -q "github.com/pulumi/pulumi/pkg/v3 v$PULUMI_VERSION\$" toolchain/cli/go.mod ||
            die "toolchain/cli/go.mod does not pin pkg/v3 v$PULUMI_VERSION, the npm SDK's version" \
                "keep the two in lock-step: update toolchain/cli (go get github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION) or package.json"
        echo "    download site unreachable: building pulumi v$PULUMI_VERSION from Go modules (several minutes cold)"
        # CGO off and -trimpath, as the plugin builds: packages both need are compiled once (Go's build cache).
        (cd toolchain/cli && CGO_ENABLED=0 go build -trimpath -o "$TOOLS/bin/pulumi" \
            -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
            github.com/pulumi/pulumi/pkg/v3/cmd/pulumi) || die "go build of the Pulumi CLI failed" "read the compiler output above"
        echo "    building pulumi-language-nodejs from Go modules (with RunPlugin, for policy packs)"
        bash toolchain/language-nodejs/build.sh "$TOOLS/bin/pulumi-language-nodejs" ||
            die "go build of the Node.js language host failed" "read the compiler output above"
    fi
    cli_version_ok "$TOOLS/bin/pulumi" || die "the installed CLI does not report v$PULUMI_VERSION" "remove .tools and run setup again"
    [ -x "$TOOLS/bin/pulumi-language-yaml" ] || ensure_yaml_host
    finish "installed $("$TOOLS/bin/pulumi" version) in .tools/bin"
}

plugin_installed() { # plugin_installed NAME VERSION
    pulumi plugin ls --json 2>/dev/null | node -e '
        const [name, version] = process.argv.slice(1);
        const plugins = JSON.parse(require("fs").readFileSync(0, "utf8") || "[]");
        process.exit(plugins.some((p) => p.kind === "resource" && p.name === name && p.version === version) ? 0 : 1);
    ' "$1" "$2"
}

step_plugins() {
    begin plugins "provider plugins docker, command, random at the npm packages' versions"
    command -v pulumi >/dev/null 2>&1 || die "no Pulumi CLI" "run the cli step first: npm run setup -- cli"
    local name version binary installed=()
    for name in docker command random; do
        version="$(npm_field "@pulumi/$name" pulumi.version)"
        binary="$TOOLS/plugins/$name-$version/pulumi-resource-$name"
        if plugin_installed "$name" "$version"; then
            # A plugin built here is reinstalled when its sources changed since it was installed.
            if [ ! -x "$binary" ] || { bash "toolchain/plugins/$name/build.sh" >/dev/null &&
                cmp -s "$binary" "$PULUMI_HOME/plugins/resource-$name-v$version/pulumi-resource-$name"; }; then
                installed+=("$name $version (present)")
                continue
            fi
            pulumi plugin rm resource "$name" "$version" --yes >/dev/null
        fi
        if downloads_reachable && pulumi plugin install resource "$name" "$version" >/dev/null 2>&1; then
            installed+=("$name $version (downloaded)")
            continue
        fi
        echo "    building $name $version from Go modules"
        bash "toolchain/plugins/$name/build.sh" || die "building the $name plugin failed" "read the output above"
        [ -x "$binary" ] || die "toolchain/plugins/$name/build.sh left no $binary" "read the output above"
        pulumi plugin install resource "$name" "$version" --file "$binary" >/dev/null ||
            die "pulumi plugin install of $name $version failed" "read the output above"
        installed+=("$name $version (built)")
    done
    finish "$(IFS=,; echo "${installed[*]}")"
}

step_state() {
    begin state "local state backend and passphrase"
    mkdir -p "$STATE/backend"
    chmod 700 "$STATE"
    if [ "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" = "$STATE/passphrase" ]; then
        finish "backend $PULUMI_BACKEND_URL; passphrase in .state/passphrase"
        return
    fi
    if [ -n "${PULUMI_CONFIG_PASSPHRASE:-}" ] || [ -n "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
        finish "backend $PULUMI_BACKEND_URL; passphrase from the environment"
        return
    fi
    # A random passphrase in a file only this user reads: never on a command line, never in the repository.
    (umask 077 && head -c 32 /dev/urandom | base64 >"$STATE/passphrase")
    finish "backend $PULUMI_BACKEND_URL; new passphrase in .state/passphrase (keep a copy: it decrypts the stacks' secrets)"
}

pinned_image() { # pinned_image CONST: an image reference pinned in packages/synapse/runtime/images.ts
    sed -n "s/^export const $1 = \"\(.*\)\";\$/\1/p" packages/synapse/runtime/images.ts
}

# image RECORD KIND OFFICIAL LOCAL BUILD-ARGS...: the official image when present or pullable, else a local build of the
# same release (toolchain/images/KIND); records the reference this machine uses in .tools/images/RECORD (the tests
# deploy what is recorded there).
image() {
    local record=$1 kind=$2 official=$3 local_image=$4
    shift 4
    [ -n "$official" ] || die "could not read the $kind image from packages/synapse/runtime/images.ts" "restore its \`export const ..._IMAGE = \"...\";\` line"
    mkdir -p "$TOOLS/images"
    if docker image inspect "$official" >/dev/null 2>&1 || timeout 60 docker pull -q "$official" >/dev/null 2>&1; then
        echo "$official" >"$TOOLS/images/$record"
        echo "    $record: $official"
        return
    fi
    if ! command -v debootstrap >/dev/null 2>&1; then
        apt_install debootstrap || die "debootstrap is missing" "install it (apt-get install debootstrap) or pull $official"
    fi
    bash "toolchain/images/$kind/build.sh" "$@" || die "building $local_image failed" "read the output above"
    echo "$local_image" >"$TOOLS/images/$record"
    echo "    $record: $local_image (local build of $official, which cannot be pulled here)"
}

step_image() { # step_image [SYNAPSE-VERSION]: all images, or only Synapse at another release (for upgrades)
    begin image "images: Synapse, PostgreSQL, Caddy, Redis, coturn, Prometheus, postgres_exporter (the official ones, or local builds of the same releases), the swarm test node"
    local synapse postgres caddy redis coturn prometheus exporter version
    synapse="$(pinned_image SYNAPSE_IMAGE)"
    postgres="$(pinned_image POSTGRES_IMAGE)"
    caddy="$(pinned_image CADDY_IMAGE)"
    redis="$(pinned_image REDIS_IMAGE)"
    coturn="$(pinned_image TURN_IMAGE)"
    prometheus="$(pinned_image PROMETHEUS_IMAGE)"
    exporter="$(pinned_image POSTGRES_EXPORTER_IMAGE)"
    if [ -n "${1:-}" ]; then
        image "synapse-$1" synapse "${synapse%:*}:v$1" "synapse-local:v$1" "$1" "synapse-local:v$1"
        finish "Synapse $1 ready"
        return
    fi
    version="${synapse##*:v}"
    image synapse synapse "$synapse" "synapse-local:v$version" "$version" "synapse-local:v$version"
    image postgres postgres "$postgres" "postgres-local:${postgres##*:}"
    image caddy caddy "$caddy" "caddy-local:${caddy##*:}"
    image redis redis "$redis" "redis-local:${redis##*:}"
    image coturn coturn "$coturn" "coturn-local:${coturn##*:}"
    image prometheus prometheus "$prometheus" "prometheus-local:${prometheus##*:}"
    image postgres-exporter postgres-exporter "$exporter" "postgres-exporter-local:${exporter##*:}"
    # The swarm tests' second engine: no official image has that role, so it is always the local build.
    bash toolchain/images/swarm-node/build.sh || die "building swarm-node-local failed" "read the output above"
    echo "    swarm-node: swarm-node-local:trixie (a Docker engine in a container, for the swarm tests)"
    if [ "$(cat "$TOOLS/images/synapse")" != "$synapse" ]; then
        finish "local builds ready; stacks on this machine select them with \`npm run pulumi -- config set synapse:image $(cat "$TOOLS/images/synapse")\` (\`npm run dev\` does it for the dev stack)"
    else
        finish "official images ready"
    fi
}

step_browser() { # the browser the dashboard test loads the monitoring pages in: Debian's Chromium
    begin browser "Chromium (headless), for the dashboard test"
    if command -v chromium >/dev/null 2>&1; then
        finish "$(chromium --version 2>/dev/null | head -n 1)"
        return
    fi
    apt_install chromium || die "Chromium is missing" "install Debian's chromium package (apt-get install chromium)"
    finish "installed $(chromium --version 2>/dev/null | head -n 1)"
}

steps=()
image_version=""
for arg in "$@"; do
    # `image <version>` builds that Synapse release instead of the pinned images.
    if [ ${#steps[@]} -gt 0 ] && [ "${steps[${#steps[@]}-1]}" = image ] && [[ "$arg" =~ ^[0-9]+\.[0-9]+\.[0-9]+(rc[0-9]+)?$ ]]; then
        image_version="$arg"
        continue
    fi
    steps+=("$arg")
done
[ ${#steps[@]} -gt 0 ] || steps=("${ALL_STEPS[@]}")

run_step() {
    case "$1" in
        image) step_image "$image_version" ;;
        engine | cli | plugins | state | browser) "step_$1" ;;
        *) CURRENT=arguments; die "unknown step '$1'" "use some of: ${ALL_STEPS[*]} (image takes an optional Synapse version)" ;;
    esac
}

wants() { [[ " ${steps[*]} " == *" $1 "* ]]; }

if wants image && { wants cli || wants plugins; }; then
    # The image builds wait on the network and the disk, the Go builds on the CPU: run them side by side.
    for step in engine state; do wants "$step" && run_step "$step"; done
    image_log="$STATE/setup-image.log"
    mkdir -p "$STATE"
    echo "==> [image] building in the background while the Go builds run (log: .state/setup-image.log)"
    # The browser's packages download beside them too, after the image step's own (apt takes one at a time).
    (run_step image && if wants browser; then run_step browser; fi) >"$image_log" 2>&1 &
    image_pid=$!
    for step in cli plugins; do wants "$step" && run_step "$step"; done
    if ! wait "$image_pid"; then
        sed 's/^/    /' "$image_log" >&2
        CURRENT=image
        die "the image step failed (its output is above)" "read .state/setup-image.log"
    fi
    sed 's/^/    /' "$image_log"
else
    for step in "${steps[@]}"; do run_step "$step"; done
fi
echo "setup: ready ($(IFS=' '; echo "${steps[*]}")) in ${SECONDS} s"
