#!/usr/bin/env bash
# Cold start and size of every function vs a hello-world aws-lambda-go
# function (cmd/hello) built the same way
# (CGO_ENABLED=0 -trimpath -ldflags="-s -w" -tags lambda.norpc, plus the
# cloud tag of scripts/build.sh: cardocr_aws for the arm64 builds and one
# host-arch build, cardocr_scf for the amd64 builds and another host-arch
# build). Cold start = spawn to the first GET /runtime/invocation/next
# against a fake AWS Runtime API on loopback, median of N runs of each
# host-arch build (the code of each target); sizes are the linux/arm64 (AWS)
# and linux/amd64 (SCF) builds. Prints a markdown table.
# Not part of `make test`.
# Env: N (runs, default 20), FUNCTIONS (subset), COLDSTART_ENV (extra K=V, space-separated).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
N=${N:-20}

fns=${FUNCTIONS:-}
if [ -z "$fns" ]; then
  for d in functions/*/; do
    [ -f "$d/main.go" ] && fns="$fns $(basename "$d")"
  done
fi
[ -n "$fns" ] || { echo "coldstart.sh: no functions/*/main.go" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
hostarch=$("$GO" env GOARCH)

build() { # arch cloud out pkg
  mkdir -p "$(dirname "$3")"
  CGO_ENABLED=0 GOOS=linux GOARCH=$1 "$GO" build -trimpath -ldflags="-s -w" -tags "lambda.norpc,cardocr_$2" -o "$3" "$4"
}
for arch in host host-scf arm64 amd64; do
  a=$arch; { [ "$arch" = host ] || [ "$arch" = host-scf ]; } && a=$hostarch
  cloud=aws; { [ "$arch" = amd64 ] || [ "$arch" = host-scf ]; } && cloud=scf
  build "$a" "$cloud" "$tmp/$arch/hello" ./cmd/hello
  for fn in $fns; do
    build "$a" "$cloud" "$tmp/$arch/$fn" "./functions/$fn"
  done
done
CGO_ENABLED=0 "$GO" build -o "$tmp/coldstart" ./cmd/coldstart

# A local configuration the functions can start with (file-based stores under
# a scratch directory, auth off); override or extend with COLDSTART_ENV.
work="$tmp/work"
mkdir -p "$work"
envs=(
  "HOME=$work"
  "CREDENTIALS_URL=file://$work/credentials.json"
  "TICKET_STORE_URL=file://$work/tickets.json"
  "ARCHIVE_URL=file://$work/archive"
  "WEBANK_APP_ID=coldstart" "WEBANK_SECRET=coldstart"
  "API_KEYS=coldstart" "LOG_LEVEL=error"
)
for kv in ${COLDSTART_ENV:-}; do envs+=("$kv"); done
args=()
for kv in "${envs[@]}"; do args+=(-env "$kv"); done

"$tmp/coldstart" -dir "$tmp" -hello hello -n "$N" "${args[@]}" $fns
