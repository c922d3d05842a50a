#!/usr/bin/env bash
# `npm run test:e2e [FILE...]`: the end-to-end tests against the real Docker engine. Two files at a time, since most
# of a file's time goes to waiting (Synapse starting, health checks, alerts' `for`), not to the two cores; then the
# fault tests on their own, because they restart the Docker engine under every container. Files named on the command
# line run one at a time, in that order. Exits non-zero if any file fails; every file runs either way.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
run() {
    bash scripts/with-env.sh node --import tsx --test --test-reporter=spec "$@"
}
if [ $# -gt 0 ]; then
    run --test-concurrency=1 "$@"
    exit
fi
alone=test/e2e/faults.test.ts
beside=()
for file in test/e2e/*.test.ts; do
    [ "$file" = "$alone" ] || beside+=("$file")
done
# Each lane's output is kept until the end: a failure in the first lane is repeated last, where a CI log's tail shows it.
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
status=0
run --test-concurrency=2 "${beside[@]}" 2>&1 | tee "$logs/1-shared" || status=1
run --test-concurrency=1 "$alone" 2>&1 | tee "$logs/2-faults" || status=1
if [ "$status" -ne 0 ]; then
    echo "e2e: what failed, lane by lane (the first 300 lines of each lane's summary):"
    for log in "$logs"/*; do
        sed -n '/^✖ failing tests:/,$p' "$log" | head -n 300
    done
fi
exit "$status"
