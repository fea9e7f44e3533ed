#!/usr/bin/env bash
# Runs every Fuzz target in the module for a short time each: ./scripts/fuzz.sh 3s
# A finding (a new crasher in testdata/fuzz/) fails at once, with its output.
# A run that fails without a finding (the fuzzing engine's worker dying on a
# loaded machine) is shown and retried once.
set -euo pipefail
t=${1:-5s}
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
fails=0
count() { if [ -d "$1" ]; then find "$1" -type f | wc -l; else echo 0; fi; }
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz $pkg $f ($t)"
    corpus="$dir/testdata/fuzz/$f"
    before=$(count "$corpus")
    for attempt in 1 2; do
      if go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" "$pkg" >"$log" 2>&1; then
        break
      fi
      grep -v '^fuzz: elapsed' "$log" | tail -40
      after=$(count "$corpus")
      if [ "$after" -gt "$before" ] || [ "$attempt" = 2 ]; then
        echo "FAIL: fuzz $pkg $f" >&2
        fails=$((fails + 1))
        break
      fi
      echo "fuzz $pkg $f: failed without a finding; retrying once"
    done
  done
done
[ "$fails" -eq 0 ]
