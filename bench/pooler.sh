#!/usr/bin/env bash
# Many buyers, few connections: the pg-* strategies through PgBouncer, on a
# throwaway PostgreSQL that takes only 100 connections (its default).
#
#  1. HOSTS hosts (10) of BUYERS buyers (300) each share one run, as
#     separate `booking` processes, for every safe pg-* strategy, through a
#     PgBouncer in transaction mode lending POOL (60) server connections;
#     each line: the strategy, the shared verdict, and the wall time.
#  2. pg-atomic against pgbench over the same path: N (2,000) purchases,
#     one connection each through the pooler (booking: a buyer process per
#     purchase; pgbench -C: a new connection per transaction, CLIENTS (50)
#     at a time), the same two statements. Prints both rates and the ratio,
#     best of REPEAT (3) each, measured in this run.
#
#   bench/pooler.sh [BOOKING]
#   make bench-pg
set -euo pipefail
booking=$(realpath "${1:-target/release/booking}")
hosts=${HOSTS:-10}
buyers=${BUYERS:-300}
pool=${POOL:-60}
n=${N:-2000}
clients=${CLIENTS:-50}
repeat=${REPEAT:-3}
bin=$(dirname "$(command -v initdb 2>/dev/null || ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | tail -1)")
pgbouncer=$(command -v pgbouncer 2>/dev/null || ls /usr/sbin/pgbouncer 2>/dev/null || true)
pgbench=$(command -v pgbench 2>/dev/null || ls "$bin/pgbench" 2>/dev/null || true)
psql=$(command -v psql 2>/dev/null || ls "$bin/psql" 2>/dev/null || true)
if [ ! -x "$bin/pg_ctl" ] || [ -z "$pgbench" ] || [ -z "$psql" ] || [ -z "$pgbouncer" ]; then
  echo "bench-pg: needs PostgreSQL (with pgbench) and PgBouncer (Debian: apt-get install postgresql pgbouncer)" >&2
  exit 2
fi
for tool in bc python3; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "bench-pg: needs $tool (Debian: apt-get install $tool)" >&2
    exit 2
  fi
done
as=()
if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); fi
dir=$(mktemp -d /tmp/booking-bench-pg.XXXXXX)
out=$(mktemp -d)
[ "$(id -u)" = 0 ] && chown postgres: "$dir"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
pool_port=$(free_port)
cleanup() {
  [ -f "$dir/pid" ] && kill "$(cat "$dir/pid")" 2>/dev/null
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir" "$out"
}
trap cleanup EXIT
"${as[@]}" "$bin/initdb" -D "$dir/data" -U booking --auth=trust --no-sync -E UTF8 >/dev/null
"${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=100" start >/dev/null
echo '"booking" ""' >"$dir/users.txt"
printf '%s\n' "[databases]" "* = host=127.0.0.1 port=$port" "[pgbouncer]" \
  "listen_addr = 127.0.0.1" "listen_port = $pool_port" "unix_socket_dir =" \
  "auth_type = trust" "auth_file = $dir/users.txt" "pool_mode = transaction" \
  "max_client_conn = 20000" "default_pool_size = $pool" "max_db_connections = $pool" \
  "query_wait_timeout = 0" "logfile = $dir/pgbouncer.log" "pidfile = $dir/pid" >"$dir/pgbouncer.ini"
[ "$(id -u)" = 0 ] && chown -R postgres: "$dir"
"${as[@]}" sh -c 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" -d "$1"' \
  "$pgbouncer" "$dir/pgbouncer.ini"
store="postgres://booking@127.0.0.1:$port/postgres"
pooler="postgres://booking@127.0.0.1:$pool_port/postgres"
up=no
for _ in $(seq 100); do
  if "$psql" -qAt "$pooler" -c 'SELECT 1' >/dev/null 2>&1; then up=yes; break; fi
  sleep 0.1
done
if [ "$up" != yes ]; then
  echo "bench-pg: PgBouncer did not answer on port $pool_port: $(tail -1 "$dir/pgbouncer.log")" >&2
  exit 1
fi
now() { date +%s.%N; }

echo "PostgreSQL with max_connections=100; PgBouncer (transaction mode) lending $pool; $(nproc) cores"
echo
echo "1. $hosts hosts x $buyers buyers, one shared run each (100 tickets):"
for lock in pg-atomic pg-for-update pg-advisory pg-optimistic pg-serializable; do
  run="bench_${lock//-/_}_$$"
  t0=$(now)
  for h in $(seq 1 "$hosts"); do
    "$booking" --buyers "$buyers" --lock "$lock" --store "$store" --pooler "$pooler" \
      --run "$run" --hosts "$hosts" --host-name "h$h" --json >"$out/$h.json" 2>"$out/$h.err" &
  done
  failed=0
  for job in $(jobs -p); do wait "$job" || failed=$((failed + 1)); done
  t1=$(now)
  verdict=$("$booking" verdict --store "$store" --run "$run" | grep '^verdict:' || true)
  printf '   %-16s %-18s %6.1f s  (%d of %d hosts exited with an error)\n' \
    "$lock" "${verdict:-verdict: (none)}" "$(echo "$t1 - $t0" | bc)" "$failed" "$hosts"
  "$booking" runs --store "$store" --drop "$run" >/dev/null
done

echo
echo "2. pg-atomic against pgbench, $n purchases, a connection each, through the pooler:"
"$psql" -qAt "$store" >/dev/null <<SQL
CREATE TABLE stock (id INTEGER PRIMARY KEY, count BIGINT NOT NULL);
CREATE TABLE sales (host TEXT NOT NULL DEFAULT '', buyer INTEGER NOT NULL, ticket BIGINT NOT NULL);
SQL
cat >"$dir/purchase.sql" <<'SQL'
UPDATE stock SET count = count - 1 WHERE id = 1 AND count > 0 RETURNING count \gset
INSERT INTO sales (host, buyer, ticket) VALUES ('', :client_id, :count + 1);
SQL
best_booking=0
best_pgbench=0
for r in $(seq 1 "$repeat"); do
  wall=$("$booking" --buyers "$n" --tickets "$n" --lock pg-atomic --delay 0 \
    --store "$store" --pooler "$pooler" --json | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["status"]=="safe", r["status"]; print(r["wall_ms"])')
  rate=$(echo "$n * 1000 / $wall" | bc)
  "$psql" -qAt "$store" -c "TRUNCATE sales; DELETE FROM stock; INSERT INTO stock VALUES (1, $n)" >/dev/null
  tps=$("$pgbench" -n -C -c "$clients" -j 2 -t $((n / clients)) -f "$dir/purchase.sql" "$pooler" 2>&1 |
    sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
  tps=${tps%.*}
  echo "   round $r: booking $rate purchases/s, pgbench $tps transactions/s"
  [ "$rate" -gt "$best_booking" ] && best_booking=$rate
  [ "${tps:-0}" -gt "$best_pgbench" ] && best_pgbench=$tps
done
echo "   best: booking pg-atomic $best_booking/s, pgbench $best_pgbench/s:" \
  "booking at $(echo "scale=2; $best_booking / $best_pgbench" | bc)x pgbench (target: at least 0.5x)"
