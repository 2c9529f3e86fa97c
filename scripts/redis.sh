#!/usr/bin/env bash
# Starts a throwaway Redis for the redis-* strategies, by hand: a server on
# 127.0.0.1:${PORT:-63790}, nothing saved to disk, its pid and log in
# target/redis. Prints the --lock-server URL. `scripts/redis.sh stop`
# stops it. (The tests start servers of their own.)
#
#   make redis       # start, print the URL
#   make redis-stop  # stop
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/target/redis"
port=${PORT:-63790}
if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis: redis-server is not installed (Debian: apt-get install redis-server)" >&2
  exit 2
fi
mkdir -p "$dir"
if [ "${1:-start}" = stop ]; then
  if [ -f "$dir/pid" ]; then
    kill "$(cat "$dir/pid")" 2>/dev/null || true
    rm -f "$dir/pid"
  fi
  exit 0
fi
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$dir" --daemonize yes --pidfile "$dir/pid" --logfile "$dir/log"
echo "Redis is up: --lock-server redis://127.0.0.1:$port"
echo "e.g. booking --buyers 3 --tickets 2 --lock redis-lease --lock-server redis://127.0.0.1:$port --pause 3 --pause-for 1s"
