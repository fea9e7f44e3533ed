#!/usr/bin/env bash
# Peak RSS (VmHWM) of the real function binaries on a fake Lambda Runtime API
# (loopback only; not part of make test):
#   - a 15 MiB ID card image (the largest: its Base64 is the documented
#     20971520 characters) uploaded to object storage (in-memory S3), submitted
#     by resultfetch from the S3 event: streamed, goal < 64 MB for the process;
#   - the same object submitted by a buffer-everything baseline (whole object,
#     its base64 string and the JSON body in memory);
#   - a 4 MB ID card image through the HTTP API Gateway path (payload 2.0,
#     multipart body base64-encoded by the gateway) into idcardsubmit;
#   - bankcardsubmit in HTTP mode: a 12 MP, 8 MB phone JPEG fitted for a
#     bank card (goal: peak RSS at most half the function's 256 MB);
#   - idcardsubmit in HTTP mode: the growth of its peak RSS for one JSON and
#     one multipart request with a 2 MiB and a 15 MiB image (goal: at most
#     twice the image above the idle process).
# Prints markdown tables.   SIZE_MB=15 API_SIZE_MB=4 ./scripts/bench-memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_ENABLED=0
GO=${GO:-go}
size=$(( ${SIZE_MB:-15} * 1024 * 1024 ))
api_size=$(( ${API_SIZE_MB:-4} * 1024 * 1024 ))
work=$(mktemp -d)
up_pid=
cleanup() { if [ -n "$up_pid" ]; then kill "$up_pid" 2>/dev/null || true; wait "$up_pid" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT

build() { "$GO" build -trimpath -ldflags='-s -w' -tags lambda.norpc -o "$work/$1" "./$2"; }
build resultfetch functions/resultfetch
build idcardsubmit functions/idcardsubmit
build bankcardsubmit functions/bankcardsubmit
"$GO" build -o "$work/benchmem" ./cmd/benchmem

# Upstreams (emulator + S3) in their own process: only the function is measured.
"$work/benchmem" upstream -dir "$work" -size "$size" 2>"$work/upstream.log" &
up_pid=$!
for _ in $(seq 1 600); do [ -s "$work/env" ] && break; sleep 0.1; done
[ -s "$work/env" ] || { echo "upstream did not start" >&2; exit 1; }

"$work/benchmem" event-s3 >"$work/s3.json"
"$work/benchmem" event-apigw -size "$api_size" >"$work/apigw.json"

# The baseline first: resultfetch deletes the upload once it is archived.
read -r base_kb base_st < <("$work/benchmem" baseline -env "$work/env")
read -r stream_kb stream_st < <("$work/benchmem" invoke -bin "$work/resultfetch" -event "$work/s3.json" -env "$work/env")
read -r api_kb api_st < <("$work/benchmem" invoke -bin "$work/idcardsubmit" -event "$work/apigw.json" -env "$work/env")
read -r phone_kb phone_ms phone_st < <("$work/benchmem" phone -bin "$work/bankcardsubmit" -env "$work/env")

mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }
echo "| path | image | peak RSS (VmHWM) | outcome |"
echo "|---|---|---|---|"
echo "| resultfetch, S3 upload event, streamed from object storage (goal < 64 MB) | ${SIZE_MB:-15} MB | $(mb "$stream_kb") | $stream_st |"
echo "| baseline: whole object, base64 string and JSON body buffered | ${SIZE_MB:-15} MB | $(mb "$base_kb") | $base_st |"
echo "| idcardsubmit, API Gateway HTTP API event (multipart, base64 body) | ${API_SIZE_MB:-4} MB | $(mb "$api_kb") | $api_st |"
echo "| bankcardsubmit, 12 MP, 8 MB phone JPEG fitted for a bank card (goal ≤ 128 MB: 2× headroom in 256 MB; ${phone_ms} ms for the request) | 8 MB | $(mb "$phone_kb") | $phone_st |"

echo
echo "| idcardsubmit in HTTP mode, one request | image | peak RSS above idle | vs image (goal ≤ 2×) | outcome |"
echo "|---|---|---|---|---|"
for form in json multipart; do
  for mib in 2 15; do
    read -r grow_kb idle_kb st < <("$work/benchmem" http -bin "$work/idcardsubmit" -env "$work/env" -form "$form" -size $((mib * 1024 * 1024)))
    ratio=$(awk -v g="$grow_kb" -v m="$mib" 'BEGIN { printf "%.2f×", g / (m * 1024) }')
    echo "| $form (idle $(mb "$idle_kb")) | $mib MiB | $(mb "$grow_kb") | $ratio | $st |"
  done
done
