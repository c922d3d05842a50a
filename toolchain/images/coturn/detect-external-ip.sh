#!/bin/sh
# detect-external-ip [--ipv4|--ipv6]: this machine's address as the internet sees it, asked of public DNS resolvers
# that answer with the caller's address, as the official image's script does; REAL_EXTERNAL_IP, when set, wins.
set -eu

if [ -n "${REAL_EXTERNAL_IP:-}" ]; then
    echo "$REAL_EXTERNAL_IP"
    exit 0
fi

family=4
for argument in "$@"; do
    case "$argument" in
        --ipv4) family=4 ;;
        --ipv6) family=6 ;;
        *) echo "Invalid argument: '$argument'" >&2 && exit 1 ;;
    esac
done

if [ "$family" = 4 ]; then
    record=A
    pattern='^([0-9]{1,3}\.){3}[0-9]{1,3}$'
else
    record=AAAA
    pattern=':.*:'
fi
for question in "@resolver1.opendns.com myip.opendns.com $record" "@ns1.google.com o-o.myaddr.l.google.com TXT" "@1.1.1.1 whoami.cloudflare TXT CH"; do
    # shellcheck disable=SC2086 # each question is several words
    address="$(dig $question "-$family" +short 2>/dev/null | tr -d '"' | head -n 1)" || true
    if printf '%s' "$address" | grep -Eq "$pattern"; then
        printf '%s' "$address"
        exit 0
    fi
done
echo "[$0] All providers failed" >&2
exit 1
