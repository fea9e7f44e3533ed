#!/usr/bin/env bash
# Packages what scripts/build.sh built: one zip per function and platform,
# named with the release (shared/buildinfo/VERSION, or VERSION):
#   dist/aws/cardocr-<version>-aws-<fn>.zip  bootstrap at the root, mode 0755
#   dist/scf/cardocr-<version>-scf-<fn>.zip  bootstrap and scf_bootstrap (the web-function start
#                      file, which execs bootstrap; it serves on port 9000) at the root, mode 0755
# and dist/SHA256SUMS over all of them (sha256sum -c checks them).
# The zips are written by a small Go program (cmd/zipper)
# so the exec bit and fixed timestamps don't depend on the local zip tool.
# Env: DIST (default dist).
set -euo pipefail
cd "$(dirname "$0")/.."
DIST=${DIST:-dist}
GO=${GO:-go}
VERSION=${VERSION:-$(tr -d '[:space:]' <shared/buildinfo/VERSION)}
[[ "$VERSION" =~ ^[0-9A-Za-z.+-]+$ ]] || { echo "package.sh: bad version '$VERSION'" >&2; exit 1; }

tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
CGO_ENABLED=0 "$GO" build -o "$tools/zipper" ./cmd/zipper

count=0
for plat in aws scf; do
  for bin in "$DIST/$plat"/*/bootstrap; do
    [ -f "$bin" ] || continue
    dir=$(dirname "$bin")
    fn=$(basename "$dir")
    chmod 0755 "$bin"
    files=("$bin")
    if [ "$plat" = scf ]; then
      cat >"$dir/scf_bootstrap" <<'SH'
#!/bin/bash
# SCF web function start file: serve HTTP on port 9000 (bootstrap's default on SCF).
exec "$(dirname "$0")/bootstrap"
SH
      chmod 0755 "$dir/scf_bootstrap"
      files+=("$dir/scf_bootstrap")
    fi
    zip="$DIST/$plat/cardocr-$VERSION-$plat-$fn.zip"
    "$tools/zipper" "$zip" "${files[@]}"
    printf 'packaged %s\n' "$zip"
    count=$((count + 1))
  done
done
[ "$count" -gt 0 ] || { echo "package.sh: nothing in $DIST; run scripts/build.sh first" >&2; exit 1; }
(cd "$DIST" && sha256sum aws/cardocr-"$VERSION"-*.zip scf/cardocr-"$VERSION"-*.zip 2>/dev/null >SHA256SUMS) || true
[ -s "$DIST/SHA256SUMS" ] || { echo "package.sh: no checksums written" >&2; exit 1; }
printf 'checksums %s\n' "$DIST/SHA256SUMS"
