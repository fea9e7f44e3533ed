#!/usr/bin/env bash
# Packages what scripts/build.sh built: one zip per function and platform,
#   dist/aws/<fn>.zip  bootstrap at the root, mode 0755
#   dist/scf/<fn>.zip  bootstrap and scf_bootstrap (the web-function start
#                      file, which execs bootstrap; it serves on port 9000) at the root, mode 0755
# The zips are written by a small Go program (cmd/zipper)
# so the exec bit and fixed timestamps don't depend on the local zip tool.
# Env: DIST (default dist).
set -euo pipefail
cd "$(dirname "$0")/.."
DIST=${DIST:-dist}
GO=${GO:-go}

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
    "$tools/zipper" "$DIST/$plat/$fn.zip" "${files[@]}"
    printf 'packaged %s\n' "$DIST/$plat/$fn.zip"
    count=$((count + 1))
  done
done
[ "$count" -gt 0 ] || { echo "package.sh: nothing in $DIST; run scripts/build.sh first" >&2; exit 1; }
