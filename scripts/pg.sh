#!/usr/bin/env bash
# A PostgreSQL cluster of Warden's own, from Debian's package, in a project directory.
# Works as a normal user and as root (the server then runs as the `postgres` user, which
# PostgreSQL requires). Used by `make run`, `make db` and the test harness.
#
#   scripts/pg.sh start [DIR] [PORT]   initialise if needed, start, create database `warden`
#   scripts/pg.sh stop  [DIR]          fast shutdown
#   scripts/pg.sh url   [DIR] [PORT]   print the connection URL
#
# The cluster trusts local connections: it is a development and test database, reachable
# only on 127.0.0.1 and through a socket inside DIR.
set -euo pipefail

cmd=${1:?usage: pg.sh start|stop|url [DIR] [PORT]}
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${2:-${WARDEN_PG_DIR:-$root/.data/postgres}}
port=${3:-${WARDEN_PG_PORT:-54329}}

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bindir" ]; then
    echo "pg.sh: PostgreSQL is not installed (Debian package postgresql): run make deps" >&2
    exit 1
fi

# PostgreSQL refuses to run as root: as root, run its tools as `postgres`.
as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

url() { echo "postgresql://warden@127.0.0.1:$port/warden"; }

case "$cmd" in
start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ "$(id -u)" = 0 ]; then
        chown postgres:postgres "$dir"
        if ! runuser -u postgres -- test -w "$dir"; then
            echo "pg.sh: the postgres user cannot reach $dir (a parent directory is not searchable);" \
                 "set WARDEN_PG_DIR to a directory it can reach" >&2
            exit 1
        fi
    fi
    if [ ! -f "$dir/PG_VERSION" ]; then
        as_owner "$bindir/initdb" -D "$dir" -U warden -A trust -E UTF8 --no-locale >"$dir.initdb.log" 2>&1 || {
            cat "$dir.initdb.log" >&2; exit 1; }
    fi
    if as_owner "$bindir/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
        url; exit 0
    fi
    as_owner "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 30 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null || {
        tail -20 "$dir/server.log" >&2; exit 1; }
    if ! "$bindir/psql" -h 127.0.0.1 -p "$port" -U warden -d postgres -tAc \
            "SELECT 1 FROM pg_database WHERE datname = 'warden'" | grep -q 1; then
        "$bindir/createdb" -h 127.0.0.1 -p "$port" -U warden warden
    fi
    url
    ;;
stop)
    if [ -f "$dir/PG_VERSION" ]; then
        as_owner "$bindir/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
url)
    url
    ;;
*)
    echo "usage: pg.sh start|stop|url [DIR] [PORT]" >&2
    exit 2
    ;;
esac
