#!/usr/bin/env bash
# Builds every function for both platforms, static and stripped:
#   dist/aws/<fn>/bootstrap  linux/arm64  (AWS Lambda provided.al2023, arm64)
#   dist/scf/<fn>/bootstrap  linux/amd64  (Tencent SCF CustomRuntime / Go1 / web function)
# -tags cardocr_aws / cardocr_scf link only that cloud's SDKs (shared/backends);
# -tags lambda.norpc keeps aws-lambda-go's own RPC entry out: the binary
# implements SCF Go1 itself (shared/platform).
# Env: DIST (default dist), FUNCTIONS (space-separated subset), AWS_ARCH (default arm64).
set -euo pipefail
cd "$(dirname "$0")/.."
DIST=${DIST:-dist}
AWS_ARCH=${AWS_ARCH:-arm64}
GO=${GO:-go}
# The version every binary reports (logs at start, -version, /healthz): the
# release in shared/buildinfo/VERSION (VERSION overrides it).
VERSION=${VERSION:-$(tr -d '[:space:]' <shared/buildinfo/VERSION)}

fns=${FUNCTIONS:-}
if [ -z "$fns" ]; then
  for d in functions/*/; do
    [ -f "$d/main.go" ] && fns="$fns $(basename "$d")"
  done
fi
[ -n "$fns" ] || { echo "build.sh: no functions/*/main.go" >&2; exit 1; }

for fn in $fns; do
  for target in "aws:$AWS_ARCH" "scf:amd64"; do
    plat=${target%%:*}
    arch=${target##*:}
    out="$DIST/$plat/$fn/bootstrap"
    mkdir -p "$(dirname "$out")"
    CGO_ENABLED=0 GOOS=linux GOARCH=$arch "$GO" build -trimpath -ldflags="-s -w -X github.com/cardocr/cardocr/shared/buildinfo.Version=$VERSION" -tags "lambda.norpc,cardocr_$plat" \
      -o "$out" "./functions/$fn"
    chmod 0755 "$out"
    printf 'built %-28s %s\n' "$out" "$(wc -c <"$out" | tr -d ' ') bytes"
  done
done
