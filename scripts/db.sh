#!/usr/bin/env bash
# Starts a throwaway PostgreSQL for the pg-* strategies, by hand: a cluster
# in target/pgdata on 127.0.0.1:${PORT:-54329}, trust authentication, user
# `booking`. Prints the --store URL. `scripts/db.sh stop` stops it; remove
# target/pgdata to start afresh. (The tests start clusters of their own.)
#
#   make db          # start, print the URL
#   make db-stop     # stop
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data="$root/target/pgdata"
port=${PORT:-54329}
bin=$(dirname "$(command -v initdb 2>/dev/null || ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | tail -1)")
if [ ! -x "$bin/pg_ctl" ]; then
  echo "db: PostgreSQL is not installed (Debian: apt-get install postgresql)" >&2
  exit 2
fi
# initdb refuses root: run the server as the postgres user then.
as=()
if [ "$(id -u)" = 0 ]; then
  as=(runuser -u postgres --)
fi
if [ "${1:-start}" = stop ]; then
  "${as[@]}" "$bin/pg_ctl" -D "$data" -m fast -w stop
  exit 0
fi
mkdir -p "$data"
[ "$(id -u)" = 0 ] && chown postgres: "$data"
if [ ! -f "$data/PG_VERSION" ]; then
  "${as[@]}" "$bin/initdb" -D "$data" -U booking --auth=trust -E UTF8 >/dev/null
fi
url="postgres://booking@127.0.0.1:$port/postgres"
# A second `make db`: the server is already up, which is what was wanted.
if "${as[@]}" "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  echo "PostgreSQL is already up: --store $url"
  exit 0
fi
"${as[@]}" "$bin/pg_ctl" -D "$data" -l "$data/log" -w \
  -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
echo "PostgreSQL is up: --store $url"
echo "e.g. booking --buyers 150 --lock pg-for-update --store $url"
