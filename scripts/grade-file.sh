#!/usr/bin/env bash
# Grades a student's strategy file without touching this tree: copies the
# project to a temporary directory, adds the file there as
# src/lock/strategies/<stem>.rs, builds it, and runs `booking grade --file <stem>`
# with the remaining arguments (see docs/grading.md).
#
#   scripts/grade-file.sh STUDENT.rs [--results results.json] [--junit junit.xml] [...]
#   make grade FILE=STUDENT.rs ARGS="--results results.json"
#
# Exit code: booking grade's (0 full marks, 3 not), 2 for a bad file name,
# 1 when the file does not build (the compiler's messages are shown).
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
if ! CARGO_TARGET_DIR="$target" cargo build --release --locked --quiet --manifest-path "$work/Cargo.toml"; then
  echo "grade-file: $file does not build (see above): 0 points" >&2
  exit 1
fi
exec "$target/release/booking" grade --file "$stem" "$@"
