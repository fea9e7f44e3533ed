#!/usr/bin/env bash
# Updates the vendored Swagger UI that `make run` serves at /docs (it is
# embedded in cmd/local only, never in a function binary, and loads nothing
# from the network): the files of the npm package swagger-ui-dist at the
# pinned version, with their license, minus the source maps.
#   VERSION=5.35.0 ./scripts/update-swagger-ui.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${VERSION:-5.35.0}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "swagger-ui-dist@$VERSION" >/dev/null && tar xzf "swagger-ui-dist-$VERSION.tgz")
dst=cmd/local/web/swagger-ui
rm -rf "$dst" && mkdir -p "$dst"
for f in swagger-ui-bundle.js swagger-ui.css LICENSE NOTICE swagger-ui-bundle.js.LICENSE.txt package.json; do
  cp "$tmp/package/$f" "$dst/"
done
sed -i '/sourceMappingURL/d' "$dst/swagger-ui-bundle.js" "$dst/swagger-ui.css"
echo "swagger-ui-dist $VERSION in $dst"
