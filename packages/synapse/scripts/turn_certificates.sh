# Keeps a copy of the edge's certificate and key for the TURN server's TLS listener (turns:), in the memory-only volume
# both containers share. Runs as the long-lived command of a container of the TURN image with no network and no
# capability, as root (Caddy's files are root's, mode 0600) with the TURN server's group, and the edge's volume
# read-only: `sh -c "<this script>" turn-certificates <edge data dir> <copies dir> <host> <mode>`.
#
# mode internal or acme: the newest certificate Caddy keeps for <host> (certificates/<issuer>/<host>/<host>.crt and
# .key, renewed by Caddy: every few hours for its own CA); mode files: the edge's given certificate and key. A changed
# certificate is copied, key first, each through a temporary file and a rename; the TURN server's own loop then
# reloads it. The key is readable by the group only (umask 027).
set -eu
edge=$1
copies=$2
host=$3
mode=$4
umask 027

source_files() {
    if [ "$mode" = files ]; then
        printf '%s\n%s\n' "$edge/tls/certificate.pem" "$edge/tls/private-key.pem"
        return
    fi
    newest=$(ls -t "$edge"/caddy/certificates/*/"$host/$host.crt" 2>/dev/null | head -n 1)
    [ -n "$newest" ] && printf '%s\n%s\n' "$newest" "${newest%.crt}.key"
}

copy() { # copy SOURCE TARGET: a changed file replaces the copy at once
    if ! cmp -s "$1" "$2"; then
        # cat, not cp: the copy gets the umask's mode (0640), not the source's 0600.
        cat "$1" >"$2.tmp" && mv -f "$2.tmp" "$2"
        echo "turn-certificates: copied $1" >&2
    fi
}

while :; do
    files=$(source_files || true)
    certificate=$(printf '%s\n' "$files" | sed -n 1p)
    key=$(printf '%s\n' "$files" | sed -n 2p)
    if [ -n "$certificate" ] && [ -s "$certificate" ] && [ -s "$key" ]; then
        copy "$key" "$copies/private-key.pem"
        copy "$certificate" "$copies/certificate.pem"
    fi
    # Until the first copy, every two seconds (Caddy issues the certificate as it starts); then every twenty: two small
    # files compared, and a renewed certificate served within half a minute.
    if [ -s "$copies/certificate.pem" ]; then pause=20; else pause=2; fi
    sleep "$pause" &
    wait $!
done
