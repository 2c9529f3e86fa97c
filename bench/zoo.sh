#!/usr/bin/env bash
# The zoo's catch rate: runs a default `booking check` ROUNDS times (20 by
# default), each with its own scenario seed (1, 2, ...), and prints per
# strategy in how many invocations it was caught. A deliberately wrong
# strategy is caught when at least one of its scenarios was proven unsafe
# (or, for a liveness mistake like sql-deferred, failed its buyers);
# a strategy that claims to be safe is flagged when any scenario of it was
# unsafe, failed, hung or sold too few. The goal: every zoo strategy caught
# in at least 19 of 20, every safe strategy flagged in none.
#
#   bench/zoo.sh [BOOKING] [extra `booking check` arguments...]
#   make zoo ROUNDS=20
set -euo pipefail
booking=${1:-target/release/booking}
shift || true
rounds=${ROUNDS:-20}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "zoo catch rate: $rounds invocations of \`booking check --seed K${*:+ $*}\` on $(nproc) cores"
start=$(date +%s)
for k in $(seq 1 "$rounds"); do
  # Exit code 3 (a safe strategy broke its claim) is counted below, not fatal.
  "$booking" check --seed "$k" --json "$@" > "$out/$k.json" || [ $? -eq 3 ]
done
cat "$out"/*.json | awk -v rounds="$rounds" '
  /"strategy":/        { gsub(/[",]/, "", $2); name = $2; if (!(name in seen)) { order[n++] = name; seen[name] = 1 } }
  /"claims_safe":/     { gsub(/,/, "", $2); claims[name] = $2 }
  /"scenarios":/        { gsub(/,/, "", $2); cases = $2 + 0 }
  /"unsafe_scenarios":/ { gsub(/,/, "", $2); unsafe_now = $2 + 0; found[name] += unsafe_now }
  /"failed_scenarios":/ { gsub(/,/, "", $2); if (claims[name] != "true") unsafe_now += $2 + 0 }
  /"kept_claim":/      { gsub(/,/, "", $2)
                         if (claims[name] == "true") { if ($2 == "false") hit[name]++ }
                         else if (unsafe_now > 0) hit[name]++ }
  END {
    printf "%-20s %-7s %s\n", "strategy", "claims", "result"
    for (i = 0; i < n; i++) {
      s = order[i]; h = hit[s] + 0
      if (claims[s] == "true") printf "%-20s %-7s flagged in %d of %d (must be 0)\n", s, "safe", h, rounds
      else printf "%-20s %-7s caught in %d of %d (unsafe in %.1f of %d scenarios on average)\n", s, "unsafe", h, rounds, found[s] / rounds, cases
    }
  }'
echo "took $(( $(date +%s) - start )) s"

# Replays: the counterexample each strategy's first check printed, re-run
# 20 times. A stepped one (its line carries --schedule) must repeat its
# verdict and final count every time.
echo
echo "re-runs of the first check's counterexamples (20 each; same verdict and final count):"
grep -E '"rerun":' "$out/1.json" | sed -E 's/^ *"rerun": "booking (.*)",?$/\1/' | while read -r line; do
  # shellcheck disable=SC2086
  # A run whose buyers fail exits 1 (sql-deferred): its verdict still counts.
  first=$("$booking" $line --json 2>/dev/null | grep -oE '"(status|remaining)":("[a-z]+"|[0-9]+)' | tr '\n' ' ') || true
  same=0
  for _ in $(seq 1 20); do
    # shellcheck disable=SC2086
    now=$("$booking" $line --json 2>/dev/null | grep -oE '"(status|remaining)":("[a-z]+"|[0-9]+)' | tr '\n' ' ') || true
    [ "$now" = "$first" ] && same=$((same + 1))
  done
  lock=$(echo "$line" | sed -E 's/.*--lock ([^ ]+).*/\1/')
  kind=free; case "$line" in *--schedule*) kind=stepped ;; esac
  printf "%-20s %-8s %2d of 20  (%s)\n" "$lock" "$kind" "$same" "$first"
done
