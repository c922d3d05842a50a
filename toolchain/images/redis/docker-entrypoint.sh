#!/bin/sh
# Entrypoint of the local Redis image, after the official image's: options or a .conf file as the first argument
# mean redis-server; started as root it hands /data to redis and drops to it; files it makes are private (umask 0077).
set -eu

if [ "${1#-}" != "${1:-}" ] || [ "${1%.conf}" != "${1:-}" ]; then
    set -- redis-server "$@"
fi

if [ "${1:-}" = redis-server ]; then
    shift
    # The official build compiles protected mode off; Debian's keeps it on, which refuses every client on a network.
    # Given after a config file (which must come first) and before the caller's options, which still win.
    case "${1:-}" in
        -v | --version | -h | --help) set -- redis-server "$@" ;;
        *.conf) conf=$1 && shift && set -- redis-server "$conf" --protected-mode no "$@" ;;
        *) set -- redis-server --protected-mode no "$@" ;;
    esac
    if [ "$(id -u)" = 0 ]; then
        find . \! -user redis -exec chown redis '{}' +
        exec gosu redis "$0" "$@"
    fi
fi

if [ "$(umask)" = 0022 ]; then
    umask 0077
fi
exec "$@"
