#!/usr/bin/env bash
# Cold start as the AWS Lambda Runtime Interface Emulator itself reports it
# ("INIT REPORT(durationMs: …)": from starting the bootstrap to its first
# /runtime/invocation/next), for every function and for the hello-world
# aws-lambda-go baseline, in the same run, each started with the
# configuration a deploy gives it (API keys, upstream URLs, credentials,
# tickets and archive stores; local file stores and a local emulator
# standing in for the cloud ones). Median of N runs. Loopback only.
# Prints a markdown table. Not part of make test.     N=10 ./scripts/coldstart-rie.sh
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
N=${N:-10}
tmp=$(mktemp -d)
emu_pid=
cleanup() { if [ -n "$emu_pid" ]; then kill "$emu_pid" 2>/dev/null || true; wait "$emu_pid" 2>/dev/null || true; fi; rm -rf "$tmp"; }
trap cleanup EXIT

"$GO" build -o "$tmp/rie" github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie
"$GO" build -trimpath -ldflags='-s -w' -tags lambda.norpc -o "$tmp/hello" ./cmd/hello
fns=""
for d in functions/*/; do
  fn=$(basename "$d")
  "$GO" build -trimpath -ldflags='-s -w' -tags lambda.norpc,cardocr_aws -o "$tmp/$fn" "./functions/$fn"
  fns="$fns $fn"
done
# The upstreams a deployed function would reach, and a refreshed ticket store.
"$GO" build -o "$tmp/benchmem" ./cmd/benchmem
"$tmp/benchmem" upstream -dir "$tmp" -size 1024 2>"$tmp/upstream.log" &
emu_pid=$!
for _ in $(seq 1 600); do [ -s "$tmp/env" ] && break; sleep 0.1; done
[ -s "$tmp/env" ] || { echo "upstream did not start" >&2; exit 1; }
printf '{"webankAppId":"IDAEMU01","webankSecret":"x"}' >"$tmp/credentials.json"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# init_ms BIN: one cold start under the RIE, its INIT REPORT in ms.
init_ms() {
  local api rie log pid
  api=$(port); rie=$(port); log="$tmp/rie.log"
  env -i PATH="$PATH" $(cat "$tmp/env") API_KEYS=bench-key-0123456789 AUTH_MODE=apikey \
    CREDENTIALS_URL="file://$tmp/credentials.json" LOG_LEVEL=warn \
    "$tmp/rie" --log-level info --runtime-api-address "127.0.0.1:$api" --runtime-interface-emulator-address "127.0.0.1:$rie" "$1" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$rie/" 2>/dev/null && break; sleep 0.02; done
  curl -s -m 20 -o /dev/null -d '{}' "http://127.0.0.1:$rie/2015-03-31/functions/function/invocations" || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  sed -n 's/.*INIT REPORT(durationMs: \([0-9.]*\)).*/\1/p' "$log" | head -n 1
}

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) printf "%.1f\n", a[(NR + 1) / 2]; else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

measure() { for _ in $(seq 1 "$N"); do init_ms "$1"; done | { grep . || true; } | median; }

hello=$(measure "$tmp/hello")
echo "| function (under the AWS RIE, median of $N) | INIT REPORT | vs hello |"
echo "|---|---:|---:|"
printf '| hello (aws-lambda-go baseline) | %s ms | 1.00× |\n' "$hello"
for fn in $fns; do
  ms=$(measure "$tmp/$fn")
  printf '| %s | %s ms | %s |\n' "$fn" "$ms" "$(awk -v a="$ms" -v b="$hello" 'BEGIN { if (a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.2f×", a / b }')"
done
