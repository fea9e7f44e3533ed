#!/usr/bin/env bash
# Smoke test of a running deployment (local `make run`, AWS or SCF). By default
# it makes no billable call: it checks what a deploy can break without
# sending a card. Exits non-zero on the first unexpected answer.
#
#   scripts/smoke.sh BASE_URL KEY
#
#   1. GET  /healthz                         200; tickets neither "missing" nor "rejected"
#   2. every route without a key             401 unauthorized (skipped when KEY is empty: AUTH_MODE=none)
#   3. bad input with the key                400 invalid_request, decided before any upstream call
#   4. GET /v1/idcard/results/cardocrSelfCheck0
#                                            404 with upstream code 66660020: a signed WeBank result
#                                            query ("no result", not billed) accepted the stored ticket
#
# SMOKE_SUBMIT=1 also sends a real card, which the upstream bills:
#   5. POST /v1/idcard/ocr, front side       200 with an orderNo (multipart, as wx.uploadFile sends)
#   6. GET  /v1/idcard/results/{orderNo}     200
#   7. POST /v1/idcard/ocr with provider=P   200 from P, for each P in SMOKE_PROVIDERS
#
# SMOKE_IMAGE   the ID card image for SMOKE_SUBMIT (default .local/samples/idcard-front.jpg,
#               written by make run; against a real upstream use a real test card)
# SMOKE_ALLOW_UNRECOGNIZED=1  accept 422 recognition_failed at step 5 and skip step 6
# SMOKE_TIMEOUT seconds per request (default 30)
# SMOKE_PROVIDERS  space-separated other providers to try at step 7 (e.g. "tencentcloud")
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BASE_URL KEY" >&2
  exit 2
fi
BASE=${1%/}
KEY=${2%%,*} # the rolling form "old,new" of CARDOCR_API_KEYS: its first key
SUBMIT=${SMOKE_SUBMIT:-0}
IMAGE=${SMOKE_IMAGE:-.local/samples/idcard-front.jpg}
TIMEOUT=${SMOKE_TIMEOUT:-30}
command -v curl >/dev/null || { echo "smoke: curl is required" >&2; exit 2; }
if [ "$SUBMIT" = 1 ]; then
  [ -r "$IMAGE" ] || { echo "smoke: cannot read the image $IMAGE (set SMOKE_IMAGE)" >&2; exit 2; }
fi

body=$(mktemp)
trap 'rm -f "$body"' EXIT
fail() { echo "smoke: FAIL: $*" >&2; echo "smoke: body: $(head -c 500 "$body")" >&2; exit 1; }
# req METHOD PATH [curl args…]: sets $status, leaves the body in $body.
req() {
  local m=$1 p=$2; shift 2
  status=$(curl -sS -o "$body" -w '%{http_code}' --max-time "$TIMEOUT" -X "$m" "$@" "$BASE$p") ||
    fail "$m $p: no answer (curl exit $?)"
  echo "smoke: $m $p -> $status"
}
field() { # field NAME: the first string value of "NAME" in the body (no jq needed)
  sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p" "$body" | head -n 1
}
auth=()
[ -z "$KEY" ] || auth=(-H "Authorization: Bearer $KEY")
json=(-H "Content-Type: application/json")

req GET /healthz
[ "$status" = 200 ] || fail "healthz answered $status"
tickets=$(field tickets)
echo "smoke: tickets: ${tickets:-?}, version: $(field version)"
[ "$tickets" != missing ] || fail "no tickets stored: invoke the ticketrefresh function once (README, Deploying)"
[ "$tickets" != rejected ] || fail "the upstream rejects the stored tickets; the refresher was asked to replace them: try again in a minute"

if [ -n "$KEY" ]; then
  for route in "POST /v1/idcard/ocr" "POST /v1/bankcard/ocr" "GET /v1/idcard/results/smoke0" \
    "GET /v1/bankcard/results/smoke0" "DELETE /v1/idcard/results/smoke0" "DELETE /v1/bankcard/results/smoke0"; do
    req ${route% *} "${route#* }" "${json[@]}" --data-binary '{}'
    [ "$status" = 401 ] && [ "$(field code)" = unauthorized ] || fail "${route} without a key answered $status, not 401 unauthorized"
  done
fi

req POST /v1/idcard/ocr "${auth[@]}" "${json[@]}" --data-binary '{"side":"sideways","image":"AAAA"}'
[ "$status" = 400 ] && [ "$(field code)" = invalid_request ] || fail "a bad ID card request answered $status, not 400 invalid_request"
req POST /v1/bankcard/ocr "${auth[@]}" "${json[@]}" --data-binary '{}'
[ "$status" = 400 ] || fail "a bank card request without an image answered $status, not 400"

req GET /v1/idcard/results/cardocrSelfCheck0 "${auth[@]}"
case "$status:$(field upstreamCode)" in
  404:66660020) echo "smoke: a signed result query was accepted upstream (no result; not billed)" ;;
  503:*) fail "tickets unavailable: $(field message)" ;;
  *) fail "the sentinel result query answered $status (want 404 with upstream code 66660020)" ;;
esac

if [ "$SUBMIT" != 1 ]; then
  echo "smoke: OK (no billable call; SMOKE_SUBMIT=1 also sends a card)"
  exit 0
fi

req POST /v1/idcard/ocr "${auth[@]}" -F side=front -F "image=@$IMAGE"
if [ "$status" = 422 ] && [ "${SMOKE_ALLOW_UNRECOGNIZED:-0}" = 1 ]; then
  echo "smoke: OK (422 recognition_failed accepted; result query skipped)"
  exit 0
fi
[ "$status" = 200 ] || fail "ID card OCR answered $status"
order=$(field orderNo)
[[ "$order" =~ ^[A-Za-z0-9]{1,32}$ ]] || fail "no valid orderNo in the OCR answer"
echo "smoke: orderNo: $order"

req GET "/v1/idcard/results/$order" "${auth[@]}"
[ "$status" = 200 ] || fail "result query answered $status"
[ "$(field orderNo)" = "$order" ] || fail "the result is not for order $order"

for p in ${SMOKE_PROVIDERS:-}; do
  req POST /v1/idcard/ocr "${auth[@]}" -F side=front -F provider="$p" -F "image=@$IMAGE"
  [ "$status" = 200 ] || fail "ID card OCR with provider $p answered $status"
  [ "$(field provider)" = "$p" ] || fail "the answer is not from provider $p"
done
echo "smoke: OK"
