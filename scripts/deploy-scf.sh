#!/usr/bin/env bash
# Deploys cardocr to Tencent Cloud SCF (serverless.yml, component multi-scf):
# build, code bundle, CAM roles, SSM secrets, CMQ topic, `scf deploy`,
# reserved concurrency and Function URLs, first ticket refresh. See README
# "Deploying".
#
#   scripts/deploy-scf.sh [--dry-run]
#
# Environment (the CARDOCR_* names serverless.yml reads as ${env:…}):
#   CARDOCR_UIN, CARDOCR_APPID     account UIN and APPID (required; CAM resources, COS bucket)
#   CARDOCR_SCF_REGION             default ap-guangzhou
#   CARDOCR_STAGE                  default prod (function names: cardocr-<stage>-<fn>)
#   CARDOCR_API_KEYS               optional: comma-separated keys from before tenants, added to tenant
#                                  "default" of the tenants secret (through standard input)
#   CARDOCR_TENANTS_SECRET         SSM secret name of the tenants document, default cardocr-<stage>-tenants
#   CARDOCR_AUTH_MODE              apikey (default) or none
#   CARDOCR_CREDENTIALS_FILE       JSON {"webankAppId","webankSecret","wechatAppId","wechatAppSecret"}
#                                  (+ "callbackSecret" when CARDOCR_CALLBACK_URL is set)
#   CARDOCR_CALLBACK_URL           https URL final orders are POSTed to (docs/callbacks.md); default none
#                                  written to the credentials secret (first deploy, or to change them)
#   CARDOCR_CREDENTIALS_SECRET     SSM secret name, default cardocr-<stage>-credentials
#   CARDOCR_TICKETS_SECRET         SSM secret name, default cardocr-<stage>-tickets
#   CARDOCR_COS_BUCKET             evidence bucket <name>-<appid>, default cardocr-<stage>-<appid>;
#                                  created private if missing; its encryption and retention rules are set
#                                  at every deploy (cmd/cosbucket; needs TENCENTCLOUD_SECRET_ID/_KEY as tccli)
#   CARDOCR_RETENTION_DAYS         days evidence is kept, default 180 (docs/personal-data.md)
#   CARDOCR_AUDIT_RETENTION_DAYS   days erasure audit records are kept, default 1096
#   CARDOCR_QUOTA_STORE_URL        redis://host:port/db of a TencentDB for Redis the functions reach (serverless.yml:
#                                  VPC); off (default): billable calls are not counted
#   CARDOCR_DAILY_SPEND_CAP        billable calls per China day for the deployment (0: no cap)
#   CARDOCR_KMS_KEY                KMS key ID: the bucket and every object under SSE-KMS with it
#                                  (default empty: SSE-COS); create it in KMS first (README)
#   CARDOCR_CMQ_TOPIC              default cardocr-<stage>-resultfetch
#   CARDOCR_ROLE_PREFIX            CAM role names <prefix>-api|-refresher|-resultfetch, default cardocr-<stage>
#   CARDOCR_KYC_BASE_URL           default https://kyc1.qcloud.com
#   CARDOCR_LOG_LEVEL              default info
#   CARDOCR_TICKET_CACHE_TTL       default 30s
#   CARDOCR_PROVIDER_FALLBACK      provider chain of the submit functions, e.g. webank,tencentcloud
#                                  (default empty: webank only; tencentcloud signs with the API role)
#   CARDOCR_CONCURRENCY_CAP        reserved concurrency of each HTTP function, default 10: each instance
#                                  paces itself to the providers' and tenants' rates divided by it
#                                  (0: no reservation, each instance takes the whole rate)
#   CARDOCR_WEBANK_QPS             the WeBank account's calls per second (default 0: not paced)
#
# --dry-run prints every step and command without running anything and
# without printing secret values; it needs no Tencent tools.
set -euo pipefail
cd "$(dirname "$0")/.."

DRY=0
for a in "$@"; do
  case "$a" in
    --dry-run) DRY=1 ;;
    -h|--help) sed -n '2,41p' "$0"; exit 0 ;;
    *) echo "deploy-scf: unknown argument $a" >&2; exit 2 ;;
  esac
done

die() { echo "deploy-scf: $*" >&2; exit 1; }
step() { echo "== $*"; }
run() { # prints the command (no secret is ever an argument); runs it unless dry-run
  echo "+ $*"
  [ "$DRY" = 1 ] && return 0
  "$@"
}
exists() { # exists <command…>: true when the (read-only) command succeeds; false in dry-run
  echo "? $*"
  [ "$DRY" = 1 ] && return 1
  "$@" >/dev/null 2>&1
}

if [ "$DRY" = 1 ]; then
  : "${CARDOCR_UIN:=<CARDOCR_UIN>}" "${CARDOCR_APPID:=1250000000}"
fi
[ -n "${CARDOCR_UIN:-}" ] || die "set CARDOCR_UIN (account UIN)"
[ -n "${CARDOCR_APPID:-}" ] || die "set CARDOCR_APPID (account APPID)"
export CARDOCR_SCF_REGION=${CARDOCR_SCF_REGION:-ap-guangzhou}
export CARDOCR_STAGE=${CARDOCR_STAGE:-prod}
export CARDOCR_AUTH_MODE=${CARDOCR_AUTH_MODE:-apikey}
export CARDOCR_CREDENTIALS_SECRET=${CARDOCR_CREDENTIALS_SECRET:-cardocr-$CARDOCR_STAGE-credentials}
export CARDOCR_TICKETS_SECRET=${CARDOCR_TICKETS_SECRET:-cardocr-$CARDOCR_STAGE-tickets}
export CARDOCR_TENANTS_SECRET=${CARDOCR_TENANTS_SECRET:-cardocr-$CARDOCR_STAGE-tenants}
export CARDOCR_COS_BUCKET=${CARDOCR_COS_BUCKET:-cardocr-$CARDOCR_STAGE-$CARDOCR_APPID}
export CARDOCR_RETENTION_DAYS=${CARDOCR_RETENTION_DAYS:-180}
export CARDOCR_AUDIT_RETENTION_DAYS=${CARDOCR_AUDIT_RETENTION_DAYS:-1096}
export CARDOCR_KMS_KEY=${CARDOCR_KMS_KEY:-}
export CARDOCR_QUOTA_STORE_URL=${CARDOCR_QUOTA_STORE_URL:-off}
export CARDOCR_DAILY_SPEND_CAP=${CARDOCR_DAILY_SPEND_CAP:-0}
if [ -n "$CARDOCR_KMS_KEY" ]; then export CARDOCR_COS_SSE="&sse=cos/kms&kmsKeyId=$CARDOCR_KMS_KEY"; else export CARDOCR_COS_SSE=""; fi
export CARDOCR_CMQ_TOPIC=${CARDOCR_CMQ_TOPIC:-cardocr-$CARDOCR_STAGE-resultfetch}
export CARDOCR_ROLE_PREFIX=${CARDOCR_ROLE_PREFIX:-cardocr-$CARDOCR_STAGE}
export CARDOCR_KYC_BASE_URL=${CARDOCR_KYC_BASE_URL:-https://kyc1.qcloud.com}
export CARDOCR_LOG_LEVEL=${CARDOCR_LOG_LEVEL:-info}
export CARDOCR_TICKET_CACHE_TTL=${CARDOCR_TICKET_CACHE_TTL:-30s}
export CARDOCR_PROVIDER_FALLBACK=${CARDOCR_PROVIDER_FALLBACK:-}
export CARDOCR_CONCURRENCY_CAP=${CARDOCR_CONCURRENCY_CAP:-10}
export CARDOCR_WEBANK_QPS=${CARDOCR_WEBANK_QPS:-0}
export CARDOCR_CALLBACK_URL=${CARDOCR_CALLBACK_URL:-} # https; the secret is callbackSecret in the credentials file
R=$CARDOCR_SCF_REGION
PREFIX=cardocr-$CARDOCR_STAGE
REFRESHER_FUNCTION=$PREFIX-ticketrefresh # HTTP functions ask it to run on a rejected ticket (REFRESHER_URL)
FUNCTIONS=(ticketrefresh idcardsubmit bankcardsubmit ocrresult bankcardresult resultfetch)
HTTP_FUNCTIONS=(idcardsubmit bankcardsubmit ocrresult bankcardresult)
MEM_REFRESHER=128 # serverless.yml: ticketrefresh memorySize
MEM_HTTP=256      # serverless.yml: the HTTP functions' memorySize

case "$CARDOCR_AUTH_MODE" in apikey|none) ;; *) die "CARDOCR_AUTH_MODE must be apikey or none" ;; esac
[[ "$CARDOCR_COS_BUCKET" =~ ^[a-z0-9-]+-[0-9]+$ ]] || die "CARDOCR_COS_BUCKET must be <name>-<appid>"
[[ "$CARDOCR_CONCURRENCY_CAP" =~ ^[0-9]+$ ]] || die "CARDOCR_CONCURRENCY_CAP must be a whole number of instances"
if [ "$DRY" = 0 ]; then
  for t in make go tccli scf; do command -v "$t" >/dev/null || die "$t is required (see README, Deploying to Tencent Cloud)"; done
  [ -z "${CARDOCR_CREDENTIALS_FILE:-}" ] || [ -r "$CARDOCR_CREDENTIALS_FILE" ] || die "cannot read $CARDOCR_CREDENTIALS_FILE"
fi

step "environment for serverless.yml"
for v in CARDOCR_SCF_REGION CARDOCR_STAGE CARDOCR_AUTH_MODE CARDOCR_CREDENTIALS_SECRET CARDOCR_TICKETS_SECRET CARDOCR_TENANTS_SECRET \
  CARDOCR_COS_BUCKET CARDOCR_COS_SSE CARDOCR_RETENTION_DAYS CARDOCR_QUOTA_STORE_URL CARDOCR_DAILY_SPEND_CAP CARDOCR_CMQ_TOPIC CARDOCR_ROLE_PREFIX CARDOCR_KYC_BASE_URL CARDOCR_LOG_LEVEL CARDOCR_TICKET_CACHE_TTL CARDOCR_PROVIDER_FALLBACK CARDOCR_CONCURRENCY_CAP CARDOCR_WEBANK_QPS CARDOCR_CALLBACK_URL; do
  echo "export $v=${!v}"
done

step "build: linux/amd64 binaries into dist/scf/<fn>/bootstrap, then the multi-scf bundle"
run make build
bundle=dist/scf/bundle
if [ "$DRY" = 1 ]; then
  echo "+ assemble $bundle: bootstrap (exec \"\$(dirname \"\$0\")/\$_HANDLER/bootstrap\") + <fn>/bootstrap for: ${FUNCTIONS[*]}"
else
  rm -rf "$bundle" && mkdir -p "$bundle"
  for fn in "${FUNCTIONS[@]}"; do
    [ -x "dist/scf/$fn/bootstrap" ] || die "dist/scf/$fn/bootstrap is missing after make build"
    mkdir -p "$bundle/$fn" && cp "dist/scf/$fn/bootstrap" "$bundle/$fn/bootstrap"
  done
  # SCF Custom Runtime starts ./bootstrap; _HANDLER is the function's handler.
  printf '#!/bin/sh\nexec "$(dirname "$0")/$_HANDLER/bootstrap"\n' >"$bundle/bootstrap"
  chmod 0755 "$bundle/bootstrap" "$bundle"/*/bootstrap
fi

step "CAM roles (one per kind of function, scripts/scf/policy-*.json)"
render() { # render <policy file>: the policy with this account's names filled in
  sed -e "s/\${REGION}/$R/g" -e "s/\${UIN}/$CARDOCR_UIN/g" -e "s/\${APPID}/$CARDOCR_APPID/g" \
    -e "s/\${COS_BUCKET}/$CARDOCR_COS_BUCKET/g" -e "s/\${CREDENTIALS_SECRET}/$CARDOCR_CREDENTIALS_SECRET/g" \
    -e "s/\${TICKETS_SECRET}/$CARDOCR_TICKETS_SECRET/g" -e "s/\${TENANTS_SECRET}/$CARDOCR_TENANTS_SECRET/g" -e "s/\${REFRESHER_FUNCTION}/$REFRESHER_FUNCTION/g" "$1" | tr -d '\n'
}
for kind in api refresher resultfetch; do
  role=$CARDOCR_ROLE_PREFIX-$kind
  policy=$role-policy
  if ! exists tccli cam GetRole --RoleName "$role"; then
    run tccli cam CreateRole --RoleName "$role" --ConsoleLogin 0 --PolicyDocument "$(tr -d '\n' <scripts/scf/trust-scf.json)"
  fi
  doc=$(render "scripts/scf/policy-$kind.json")
  if [ "$DRY" = 1 ]; then
    run tccli cam CreatePolicy --PolicyName "$policy" --PolicyDocument "$doc"
  else
    id=$(tccli cam ListPolicies --Keyword "$policy" --Scope Local --filter "List[?PolicyName=='$policy'].PolicyId | [0]" 2>/dev/null || true)
    if [ -n "$id" ] && [ "$id" != null ]; then
      run tccli cam UpdatePolicy --PolicyId "$id" --PolicyDocument "$doc"
    else
      run tccli cam CreatePolicy --PolicyName "$policy" --PolicyDocument "$doc"
    fi
  fi
  run tccli cam AttachRolePolicy --AttachRoleName "$role" --PolicyName "$policy"
done
if [ -n "$CARDOCR_KMS_KEY" ]; then
  # SSE-KMS: the roles that write and read the archive use the operator's key.
  kms_policy=$CARDOCR_ROLE_PREFIX-kms
  kms_doc='{"version":"2.0","statement":[{"effect":"allow","action":["name/kms:Encrypt","name/kms:Decrypt","name/kms:GenerateDataKey"],"resource":["qcs::kms:'"$R"':uin/'"$CARDOCR_UIN"':key/creatorUin/'"$CARDOCR_UIN"'/'"$CARDOCR_KMS_KEY"'"]}]}'
  if [ "$DRY" = 1 ] || ! tccli cam GetPolicy --PolicyId "$(tccli cam ListPolicies --Keyword "$kms_policy" --Scope Local --filter "List[?PolicyName=='$kms_policy'].PolicyId | [0]" 2>/dev/null || echo 0)" >/dev/null 2>&1; then
    run tccli cam CreatePolicy --PolicyName "$kms_policy" --PolicyDocument "$kms_doc"
  fi
  for kind in api resultfetch; do
    run tccli cam AttachRolePolicy --AttachRoleName "$CARDOCR_ROLE_PREFIX-$kind" --PolicyName "$kms_policy"
  done
fi

step "SSM secrets (fixed VersionId \"current\"; only ticketrefresh writes the tickets)"
# The credentials never go on a command line (ps shows those): the secret is
# created empty, and its value written from the file through standard input.
if ! exists tccli ssm DescribeSecret --region "$R" --SecretName "$CARDOCR_CREDENTIALS_SECRET"; then
  run tccli ssm CreateSecret --region "$R" --SecretName "$CARDOCR_CREDENTIALS_SECRET" --VersionId current --SecretString '{}'
  [ -n "${CARDOCR_CREDENTIALS_FILE:-}" ] || echo "(CARDOCR_CREDENTIALS_FILE not set: write $CARDOCR_CREDENTIALS_SECRET before the functions can start)"
fi
if [ -n "${CARDOCR_CREDENTIALS_FILE:-}" ]; then
  echo "+ go run ./cmd/putsecret tencentssm://$CARDOCR_CREDENTIALS_SECRET?region=$R < $CARDOCR_CREDENTIALS_FILE"
  [ "$DRY" = 1 ] || go run ./cmd/putsecret "tencentssm://$CARDOCR_CREDENTIALS_SECRET?region=$R" <"$CARDOCR_CREDENTIALS_FILE"
fi
if ! exists tccli ssm DescribeSecret --region "$R" --SecretName "$CARDOCR_TENANTS_SECRET"; then
  run tccli ssm CreateSecret --region "$R" --SecretName "$CARDOCR_TENANTS_SECRET" --VersionId current --SecretString '{"tenants":[]}'
fi
if [ -n "${CARDOCR_API_KEYS:-}" ]; then
  # Keys kept from before tenants become tenant "default", each through
  # standard input (never a command line).
  IFS=, read -ra keys <<<"$CARDOCR_API_KEYS"
  for k in "${keys[@]}"; do
    echo "+ go run ./cmd/tenants add-key default < (a key of CARDOCR_API_KEYS)"
    [ "$DRY" = 1 ] || printf '%s' "$k" | TENANTS_URL="tencentssm://$CARDOCR_TENANTS_SECRET?region=$R" go run ./cmd/tenants add-key default
  done
fi
if ! exists tccli ssm DescribeSecret --region "$R" --SecretName "$CARDOCR_TICKETS_SECRET"; then
  run tccli ssm CreateSecret --region "$R" --SecretName "$CARDOCR_TICKETS_SECRET" --VersionId current --SecretString '{}'
fi

step "CMQ topic for resultfetch (TDMQ CMQ edition)"
if ! exists tccli tdmq DescribeCmqTopicDetail --region "$R" --TopicName "$CARDOCR_CMQ_TOPIC"; then
  run tccli tdmq CreateCmqTopic --region "$R" --TopicName "$CARDOCR_CMQ_TOPIC"
fi
step "evidence bucket: private, encrypted, retention rules (docs/personal-data.md)"
run go run ./cmd/cosbucket -bucket "$CARDOCR_COS_BUCKET" -region "$R" -prefix archive \
  -retention-days "$CARDOCR_RETENTION_DAYS" -audit-days "$CARDOCR_AUDIT_RETENTION_DAYS" -kms-key "$CARDOCR_KMS_KEY"

step "scf deploy: functions and triggers from serverless.yml"
run scf deploy

step "reserved concurrency 1 for ticketrefresh (never two refreshers at once)"
run tccli scf PutReservedConcurrencyConfig --region "$R" --FunctionName "$PREFIX-ticketrefresh" \
  --ReservedConcurrencyMem "$MEM_REFRESHER"

if [ "$CARDOCR_CONCURRENCY_CAP" -gt 0 ]; then
  # SCF reserves memory, not instances: cap × memorySize MB.
  step "reserved concurrency $CARDOCR_CONCURRENCY_CAP for each HTTP function (CONCURRENCY_CAP: the share of each instance)"
  for fn in "${HTTP_FUNCTIONS[@]}"; do
    run tccli scf PutReservedConcurrencyConfig --region "$R" --FunctionName "$PREFIX-$fn" \
      --ReservedConcurrencyMem "$((CARDOCR_CONCURRENCY_CAP * MEM_HTTP))"
  done
fi

step "Function URLs for the HTTP functions (created here if the component did not)"
for fn in "${HTTP_FUNCTIONS[@]}"; do
  if [ "$DRY" = 1 ] || ! tccli scf ListTriggers --region "$R" --FunctionName "$PREFIX-$fn" 2>/dev/null | grep -q '"Type": *"http"'; then
    run tccli scf CreateTrigger --region "$R" --FunctionName "$PREFIX-$fn" --TriggerName url --Type http \
      --TriggerDesc '{"AuthType":"NONE","NetConfig":{"EnableIntranet":false,"EnableExtranet":true}}'
  fi
done

step "first ticket refresh (the timer fires every 20 minutes; do not wait for it)"
res=$(run tccli scf Invoke --region "$R" --FunctionName "$PREFIX-ticketrefresh" --InvocationType RequestResponse \
  --ClientContext '{}' --LogType Tail)
echo "$res"
if [ "$DRY" = 0 ] && ! grep -q 'outcome' <<<"$res"; then
  die "the first refresh did not succeed: see the function's logs"
fi

step "done"
echo "Function URLs: tccli scf ListTriggers --region $R --FunctionName $PREFIX-idcardsubmit (TriggerDesc url)"
echo "Tenants:       TENANTS_URL='tencentssm://$CARDOCR_TENANTS_SECRET?region=$R' go run ./cmd/tenants add <id>   (prints its key once)"
echo "Smoke:         scripts/smoke.sh <Function URL of $PREFIX-idcardsubmit> <a tenant's key>   (bills nothing; SMOKE_SUBMIT=1 sends a card)"
