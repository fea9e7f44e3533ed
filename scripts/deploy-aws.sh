#!/usr/bin/env bash
# Deploys cardocr to AWS with SAM (template.yaml): build, sam build, sam deploy,
# credentials secret, first ticket refresh. See README "Deploying".
#
#   scripts/deploy-aws.sh [--dry-run]
#
# Environment:
#   AWS_REGION                     region (required; dry-run: ap-east-1)
#   CARDOCR_STACK                  stack name, lowercase (default cardocr); also the
#                                  prefix of function, secret and bucket names
#   CARDOCR_API_KEYS               optional: comma-separated keys from before tenants, added to
#                                  tenant "default" of the tenants secret (through standard input);
#                                  new tenants and keys: go run ./cmd/tenants (README, Tenants)
#   CARDOCR_AUTH_MODE              apikey (default) or none
#   CARDOCR_PROVIDER_FALLBACK      provider chain of the submit functions, e.g. webank,tencentcloud
#                                  (tencentcloud needs tencentcloudSecretId/Key in the credentials file)
#   CARDOCR_CREDENTIALS_FILE       JSON {"webankAppId","webankSecret","wechatAppId","wechatAppSecret",
#                                  "tencentcloudSecretId","tencentcloudSecretKey","callbackSecret"} (the last five optional;
#                                  callbackSecret signs callbacks: template parameter CallbackUrl)
#                                  written to the credentials secret (first deploy,
#                                  or to change them; omit otherwise)
#   CARDOCR_KYC_BASE_URL           default https://kyc1.qcloud.com
#   CARDOCR_EVIDENCE_RETENTION_DAYS  default 180
#   CARDOCR_LOG_RETENTION_DAYS     default 30
#   CARDOCR_REFRESHER_SUBNET_IDS, CARDOCR_REFRESHER_SECURITY_GROUP_IDS
#                                  optional: run ticketrefresh in a VPC behind a NAT
#                                  gateway (fixed egress IP for WeChat's whitelist)
#
# --dry-run prints every step and command without running anything and
# without printing secret values; it needs no AWS tools.
set -euo pipefail
cd "$(dirname "$0")/.."

DRY=0
for a in "$@"; do
  case "$a" in
    --dry-run) DRY=1 ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "deploy-aws: unknown argument $a" >&2; exit 2 ;;
  esac
done

STACK=${CARDOCR_STACK:-cardocr}
AUTH_MODE=${CARDOCR_AUTH_MODE:-apikey}
REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
if [ "$DRY" = 1 ]; then
  REGION=${REGION:-ap-east-1}
fi

die() { echo "deploy-aws: $*" >&2; exit 1; }
step() { echo "== $*"; }
# run prints the command; in dry-run that is all it does. Arguments wrapped
# in the secret marker are shown masked.
run() {
  local shown=() a
  for a in "$@"; do
    case "$a" in
      *"$MASK"*) shown+=("${a%%"$MASK"*}****") ;;
      *) shown+=("$a") ;;
    esac
  done
  echo "+ ${shown[*]}"
  [ "$DRY" = 1 ] && return 0
  local real=()
  for a in "$@"; do real+=("${a//"$MASK"/}"); done
  "${real[@]}"
}
MASK=$'\x01secret\x01'
output() { # output <OutputKey>: a stack output (a placeholder in dry-run)
  if [ "$DRY" = 1 ]; then echo "<$1>"; return; fi
  aws cloudformation describe-stacks --region "$REGION" --stack-name "$STACK" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}

[[ "$STACK" =~ ^[a-z][a-z0-9-]{0,30}$ ]] || die "CARDOCR_STACK must be lowercase letters, digits and dashes (it names the S3 bucket)"
[ -n "$REGION" ] || die "set AWS_REGION"
case "$AUTH_MODE" in apikey|none) ;; *) die "CARDOCR_AUTH_MODE must be apikey or none" ;; esac
if [ -n "${CARDOCR_CREDENTIALS_FILE:-}" ] && [ "$DRY" = 0 ]; then
  [ -r "$CARDOCR_CREDENTIALS_FILE" ] || die "cannot read $CARDOCR_CREDENTIALS_FILE"
fi
if [ "$DRY" = 0 ]; then
  for t in sam aws make go; do command -v "$t" >/dev/null || die "$t is required (see README, Deploying to AWS)"; done
fi

params=(
  "AuthMode=$AUTH_MODE"
  "KycBaseUrl=${CARDOCR_KYC_BASE_URL:-https://kyc1.qcloud.com}"
  "EvidenceRetentionDays=${CARDOCR_EVIDENCE_RETENTION_DAYS:-180}"
  "LogRetentionDays=${CARDOCR_LOG_RETENTION_DAYS:-30}"
)
[ -z "${CARDOCR_PROVIDER_FALLBACK:-}" ] || params+=("ProviderFallback=$CARDOCR_PROVIDER_FALLBACK")
[ -z "${CARDOCR_REFRESHER_SUBNET_IDS:-}" ] || params+=("RefresherSubnetIds=$CARDOCR_REFRESHER_SUBNET_IDS")
[ -z "${CARDOCR_REFRESHER_SECURITY_GROUP_IDS:-}" ] || params+=("RefresherSecurityGroupIds=$CARDOCR_REFRESHER_SECURITY_GROUP_IDS")

step "build: linux/arm64 binaries into dist/aws/<fn>/bootstrap"
run make build

step "sam build: the Makefile's build-<LogicalId> targets copy them into .aws-sam/"
run sam build --template-file template.yaml

step "sam deploy: stack $STACK in $REGION"
run sam deploy --template-file .aws-sam/build/template.yaml --stack-name "$STACK" --region "$REGION" \
  --capabilities CAPABILITY_IAM --resolve-s3 --no-fail-on-empty-changeset \
  --parameter-overrides "${params[@]}"

step "secrets"
creds_arn=$(output CredentialsSecretArn)
if [ -n "${CARDOCR_CREDENTIALS_FILE:-}" ]; then
  run aws secretsmanager put-secret-value --region "$REGION" --secret-id "$creds_arn" \
    --secret-string "file://$CARDOCR_CREDENTIALS_FILE"
else
  echo "(CARDOCR_CREDENTIALS_FILE not set: credentials secret $creds_arn left as it is;"
  echo " on a first deploy set it, or the functions cannot start)"
fi
echo "(tickets secret $(output TicketsSecretArn): written only by ticketrefresh)"

step "tenants: who may call (keys stored hashed, never a stack parameter)"
tenants_url="awssm://$(output TenantsSecretArn)"
if [ -n "${CARDOCR_API_KEYS:-}" ]; then
  # Keys kept from before tenants become tenant "default", each through
  # standard input (never a command line).
  IFS=, read -ra keys <<<"$CARDOCR_API_KEYS"
  for k in "${keys[@]}"; do
    echo "+ go run ./cmd/tenants add-key default < (a key of CARDOCR_API_KEYS)"
    [ "$DRY" = 1 ] || printf '%s' "$k" | TENANTS_URL="$tenants_url" go run ./cmd/tenants add-key default
  done
fi
echo "Add a tenant: TENANTS_URL=$tenants_url go run ./cmd/tenants add <id>   (prints its key once)"

step "first ticket refresh (the schedule fires every 20 minutes; do not wait for it)"
fn=$(output TicketRefreshFunctionName)
out=${TMPDIR:-/tmp}/cardocr-refresh-$$.json
run aws lambda invoke --region "$REGION" --function-name "$fn" \
  --cli-binary-format raw-in-base64-out --payload '{}' "$out"
if [ "$DRY" = 0 ]; then
  cat "$out"; echo
  grep -q '"outcome"' "$out" || die "the first refresh did not succeed: see the log group /aws/lambda/$fn"
  rm -f "$out"
fi

step "done"
api=$(output ApiUrl)
echo "API:    $api"
echo "Queue:  $(output ResultFetchQueueUrl)"
echo "Bucket: $(output EvidenceBucketName)"
echo "Smoke:  scripts/smoke.sh $api <a tenant's key>   (bills nothing; SMOKE_SUBMIT=1 sends a card)"
