#!/usr/bin/env bash
# Starts a throwaway PostgreSQL for the pg-* strategies, by hand: a cluster
# in target/pgdata on 127.0.0.1:${PORT:-54329}, trust authentication, user
# `booking`. Prints the --store URL. Where PgBouncer is installed, starts it
# too, in transaction mode, on the next port, lending the buyers at most
# ${POOL:-50} of the server's connections, and prints its --pooler URL.
# `scripts/db.sh stop` stops both; remove target/pgdata to start afresh.
# (The tests start clusters and poolers of their own.)
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
pool_dir="$root/target/pgbouncer"
pool_port=$((port + 1))
pooler_url="postgres://booking@127.0.0.1:$pool_port/postgres"
pgbouncer=$(command -v pgbouncer 2>/dev/null || ls /usr/sbin/pgbouncer 2>/dev/null || true)
if [ "${1:-start}" = stop ]; then
  if [ -f "$pool_dir/pid" ]; then
    kill "$(cat "$pool_dir/pid")" 2>/dev/null || true
  fi
  "${as[@]}" "$bin/pg_ctl" -D "$data" -m fast -w stop
  exit 0
fi
# The pooler: buyers queue for its few server connections instead of each
# taking one of the server's (see README, "Many buyers, few connections").
start_pooler() {
  if [ -z "$pgbouncer" ]; then
    echo "(no PgBouncer for --pooler; Debian: apt-get install pgbouncer)"
    return
  fi
  if [ -f "$pool_dir/pid" ] && kill -0 "$(cat "$pool_dir/pid")" 2>/dev/null; then
    echo "PgBouncer is already up: --pooler $pooler_url"
    return
  fi
  mkdir -p "$pool_dir"
  echo '"booking" ""' >"$pool_dir/users.txt"
  printf '%s\n' "[databases]" "* = host=127.0.0.1 port=$port" "[pgbouncer]" \
    "listen_addr = 127.0.0.1" "listen_port = $pool_port" "unix_socket_dir =" \
    "auth_type = trust" "auth_file = $pool_dir/users.txt" "pool_mode = transaction" \
    "max_client_conn = 20000" "default_pool_size = ${POOL:-50}" \
    "max_db_connections = ${POOL:-50}" "query_wait_timeout = 0" \
    "logfile = $pool_dir/log" "pidfile = $pool_dir/pid" >"$pool_dir/pgbouncer.ini"
  if [ "$(id -u)" = 0 ]; then chown -R postgres: "$pool_dir"; fi
  # PgBouncer refuses root; each waiting buyer is a file descriptor.
  "${as[@]}" sh -c 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" -d "$1"' \
    "$pgbouncer" "$pool_dir/pgbouncer.ini"
  # -d returns before it listens: up once its port takes a connection.
  for _ in $(seq 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$pool_port") 2>/dev/null; then
      echo "PgBouncer is up: --pooler $pooler_url"
      return
    fi
    sleep 0.1
  done
  echo "db: PgBouncer did not start on port $pool_port: $(tail -1 "$pool_dir/log")" >&2
  exit 1
}
mkdir -p "$data"
[ "$(id -u)" = 0 ] && chown postgres: "$data"
if [ ! -f "$data/PG_VERSION" ]; then
  "${as[@]}" "$bin/initdb" -D "$data" -U booking --auth=trust -E UTF8 >/dev/null
fi
url="postgres://booking@127.0.0.1:$port/postgres"
# A second `make db`: the server is already up, which is what was wanted.
if "${as[@]}" "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  echo "PostgreSQL is already up: --store $url"
  start_pooler
  exit 0
fi
"${as[@]}" "$bin/pg_ctl" -D "$data" -l "$data/log" -w \
  -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
echo "PostgreSQL is up: --store $url"
start_pooler
echo "e.g. booking --buyers 150 --lock pg-for-update --store $url"
