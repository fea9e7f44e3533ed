#!/usr/bin/env bash
# make bench: one markdown table, each figure next to its reference measured
# in the same run. Loopback only; takes a few minutes. Not part of make test.
#   LOAD=20s WARM=400 FETCH=10000 ./scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_ENABLED=0
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "## make bench — $(date -u +%Y-%m-%d), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(go version | cut -d' ' -f3-4)"
echo
go build -trimpath -ldflags='-s -w' -tags lambda.norpc -o "$out/idcardsubmit" ./functions/idcardsubmit
# The quota-store rows need redis-server (apt) and dynalite (npm; DYNALITE=path); each is skipped,
# with a note, where it is not installed.
go run ./cmd/bench -load "${LOAD:-20s}" -warm "${WARM:-400}" -fetch "${FETCH:-10000}" -idcardsubmit "$out/idcardsubmit" \
  -dynalite "${DYNALITE:-dynalite}"

# Cold start and binary size per function vs a hello-world aws-lambda-go function.
if [ -x scripts/coldstart.sh ]; then
  echo
  scripts/coldstart.sh
fi
# Cold start as the real AWS Lambda RIE reports it (INIT REPORT), same run.
if [ -x scripts/coldstart-rie.sh ]; then
  echo
  scripts/coldstart-rie.sh
fi
# Peak RSS of the streamed object-storage path vs a buffer-everything baseline.
if [ -x scripts/bench-memory.sh ]; then
  echo
  scripts/bench-memory.sh
fi

echo
echo "Go benchmarks (testing.B): signing, response parsing, normalization and checks"
echo
echo '```'
go test -run '^$' -bench . -benchmem -benchtime 2s ./shared/sign/ ./shared/webank/ ./shared/ocr/ ./shared/cardcheck/ 2>&1 | grep -E '^(Benchmark|ok)'
echo '```'
