#!/usr/bin/env bash
# Grades a student's strategy file without touching this tree: copies the
# project to a temporary directory, adds the file there as
# src/lock/strategies/<stem>.rs, builds it, and runs `booking grade --file <stem>`
# with the remaining arguments (see docs/grading.md).
#
#   scripts/grade-file.sh STUDENT.rs [--results results.json] [--junit junit.xml] [...]
#   make grade FILE=STUDENT.rs ARGS="--results results.json"
#
# Exit code: booking grade's (0 full marks, 3 not; 0 whatever the score
# with --exit-zero), 2 for a bad file name, 1 when the file does not build
# (the compiler's messages are shown, and --results and --junit, when
# given, say 0 points and hold the compiler's first error lines).
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: scripts/grade-file.sh STUDENT.rs [booking grade arguments...]" >&2
  exit 2
fi
file=$1
shift
root=$(cd "$(dirname "$0")/.." && pwd)
stem=$(basename "$file" .rs)
if [ ! -f "$file" ]; then
  echo "grade-file: $file: no such file" >&2
  exit 2
fi
if ! [[ $stem =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
  echo "grade-file: $file: the file name must be a Rust identifier (letters, digits, _), e.g. student_alice.rs" >&2
  exit 2
fi
if [ -e "$root/src/lock/strategies/$stem.rs" ]; then
  echo "grade-file: src/lock/strategies/$stem.rs is one of the project's own strategies: rename the student's file" >&2
  exit 2
fi
# The files booking grade would write, for a file that does not build.
results='' junit='' prev=''
for a in "$@"; do
  case $prev in
    --results) results=$a ;;
    --junit) junit=$a ;;
  esac
  case $a in
    --results=*) results=${a#--results=} ;;
    --junit=*) junit=${a#--junit=} ;;
  esac
  prev=$a
done
# Standard input as the inside of a JSON string: backslashes and quotes
# escaped, tabs and newlines as \t and \n, other control characters
# (colour codes included) dropped.
json_text() {
  LC_ALL=C tr -d '\000-\010\013-\037' |
    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e "s/$(printf '\t')/\\\\t/g" |
    awk 'NR > 1 { printf "%s", "\\n" } { printf "%s", $0 }'
}
# Standard input as XML text: the five special characters escaped, control
# characters other than tab and newline dropped.
xml_text() {
  LC_ALL=C tr -d '\000-\010\013-\037' |
    sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' \
      -e 's/"/\&quot;/g' -e "s/'/\&apos;/g"
}
# Writes --results and --junit for a file that does not build: 0 points,
# one failed test whose output is the compiler's first error lines ($1).
write_build_failure() {
  local why="$file does not build: 0/100" took=$SECONDS
  if [ -n "$results" ]; then
    printf '{"score":0.0,"execution_time":%s.0,"output":"%s","tests":[{"name":"the file builds","score":0.0,"max_score":100.0,"status":"failed","output":"%s","visibility":"visible"}]}\n' \
      "$took" "$(printf '%s' "$why" | json_text)" "$(printf '%s\n' "$1" | json_text)" >"$results"
  fi
  if [ -n "$junit" ]; then
    printf '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n  <testsuite name="booking grade %s" tests="1" failures="1" time="%s.000">\n    <testcase classname="booking.grade.%s" name="the file builds">\n      <failure message="%s">%s</failure>\n    </testcase>\n  </testsuite>\n</testsuites>\n' \
      "$stem" "$took" "$stem" "$(printf '%s\n' "$why" | xml_text)" "$(printf '%s\n' "$1" | xml_text)" >"$junit"
  fi
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The project's files (git's list when it is a checkout), never target/.
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$root" && git ls-files -z | xargs -0 cp --parents -t "$work")
else
  (cd "$root" && find . -path ./target -prune -o -type f -print0 | xargs -0 cp --parents -t "$work")
fi
cp "$file" "$work/src/lock/strategies/$stem.rs"
# A build directory of its own, kept between gradings (dependencies are
# built once), apart from the project's.
target="$root/target/grade"
# The lean build (no postgres, no redis feature): `booking grade` runs the
# student's strategy against the stock file (or SQLite, which is built in)
# in every scenario, never against a server, so neither the PostgreSQL
# client nor the Redis one is needed; leaving them out compiles about half
# the crates (tokio among them), so a first grading builds in a fraction of
# the time. A file whose strategy needs one of them (behind
# #![cfg(feature = "redis")]) is refused by the grade, in one line that
# names the feature.
if ! CARGO_TARGET_DIR="$target" CARGO_TERM_COLOR=never cargo build --release --locked --quiet \
  --no-default-features --manifest-path "$work/Cargo.toml" 2>"$work/build.log"; then
  cat "$work/build.log" >&2
  echo "grade-file: $file does not build (see above): 0 points" >&2
  # The first 40 lines from the compiler's first error on (all of its
  # messages when none starts with "error").
  first=$(awk '/^error/ { on = 1 } on && n < 40 { print; n++ }' "$work/build.log")
  [ -n "$first" ] || first=$(head -n 40 "$work/build.log")
  write_build_failure "$first"
  exit 1
fi
cat "$work/build.log" >&2
# Not exec: the copy in $work is removed when the grade ends, whatever it
# scored, and the grade's exit code is this script's.
status=0
"$target/release/booking" grade --file "$stem" "$@" || status=$?
exit "$status"
