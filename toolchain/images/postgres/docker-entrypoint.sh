#!/usr/bin/env bash
# Entrypoint of the local PostgreSQL image, written for this project after the official image's documented
# interface: on an empty PGDATA it runs initdb (POSTGRES_INITDB_ARGS) with POSTGRES_USER and the password from
# POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE, allows password logins from the network, creates POSTGRES_DB and runs
# /docker-entrypoint-initdb.d/*.sh|*.sql on a server that listens on no TCP port; then it execs the server.
# Started as root it hands the data to postgres and drops to it; started as another user it runs as that user.
set -Eeuo pipefail

log() { echo "docker-entrypoint: $*" >&2; }

file_env() { # file_env VAR [DEFAULT]: VAR from itself or from the file VAR_FILE names
    local var=$1 file_var="${1}_FILE" value="${2:-}"
    if [[ -n "${!var:-}" && -n "${!file_var:-}" ]]; then
        log "both $var and $file_var are set: use one"
        exit 1
    fi
    if [[ -n "${!var:-}" ]]; then
        value=${!var}
    elif [[ -n "${!file_var:-}" ]]; then
        value=$(<"${!file_var}")
    fi
    export "$var=$value"
    unset "$file_var"
}

if [[ "${1:-}" == -* ]]; then
    set -- postgres "$@"
fi

if [[ "${1:-}" == postgres ]]; then
    mkdir -p "$PGDATA"
    chmod 00700 "$PGDATA" 2>/dev/null || :
    mkdir -p /var/run/postgresql
    chmod 03775 /var/run/postgresql 2>/dev/null || :
    if [[ "$(id -u)" == 0 ]]; then
        find "$PGDATA" /var/run/postgresql \! -user postgres -exec chown postgres '{}' +
        exec gosu postgres "${BASH_SOURCE[0]}" "$@"
    fi

    if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
        file_env POSTGRES_PASSWORD
        file_env POSTGRES_USER postgres
        file_env POSTGRES_DB "$POSTGRES_USER"
        file_env POSTGRES_INITDB_ARGS
        auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
        if [[ -z "$POSTGRES_PASSWORD" && "$auth" != trust ]]; then
            log "PGDATA is empty and no POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE is set: the superuser needs a password"
            exit 1
        fi
        log "initialising $PGDATA (initdb $POSTGRES_INITDB_ARGS)"
        # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of arguments, as upstream
        initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") $POSTGRES_INITDB_ARGS >&2
        printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
        printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

        export PGUSER="$POSTGRES_USER" PGPASSWORD="$POSTGRES_PASSWORD"
        pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start >&2
        if [[ "$POSTGRES_DB" != postgres ]]; then
            psql -v ON_ERROR_STOP=1 --no-psqlrc --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";' >&2
        fi
        shopt -s nullglob
        for script in /docker-entrypoint-initdb.d/*; do
            case "$script" in
                # As upstream: an executable script runs, any other is sourced.
                *.sh) log "running $script"; if [[ -x "$script" ]]; then "$script"; else source "$script"; fi ;;
                *.sql) log "running $script"; psql -v ON_ERROR_STOP=1 --no-psqlrc --dbname "$POSTGRES_DB" -f "$script" >&2 ;;
                *) log "ignoring $script" ;;
            esac
        done
        pg_ctl -D "$PGDATA" -m fast -w stop >&2
        unset PGPASSWORD
        log "PostgreSQL init process complete; ready for start up"
    fi
fi

exec "$@"
