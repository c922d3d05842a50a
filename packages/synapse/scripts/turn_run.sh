# Runs the TURN server once its certificate copy exists, and reloads the certificate (SIGUSR2, coturn's reload) when
# the copy changes; stops it cleanly on SIGTERM. The container's command with TLS:
# `sh -c "<this script>" turn-run <certificate> <turnserver arguments...>`. Without TLS the image's own entrypoint
# runs turnserver directly.
set -eu
certificate=$1
shift

until [ -s "$certificate" ]; do
    echo "turn-run: waiting for $certificate (the edge's certificate, copied by the certificates container)" >&2
    sleep 1
done
turnserver "$@" &
server=$!
# coturn's own exit status on SIGTERM is 143; a stop asked for is a clean one.
trap 'kill -TERM "$server" 2>/dev/null; wait "$server" || true; exit 0' TERM INT
seen=$(cksum <"$certificate")
while kill -0 "$server" 2>/dev/null; do
    sleep 10 &
    wait $! || true
    now=$(cksum <"$certificate" 2>/dev/null || echo "$seen")
    if [ "$now" != "$seen" ]; then
        seen=$now
        echo "turn-run: the certificate changed: reloading it" >&2
        kill -USR2 "$server"
    fi
done
wait "$server"
