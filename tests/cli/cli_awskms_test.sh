#!/usr/bin/env bash
# End-to-end test of `certwright ca init` and `certwright sign` with CA keys in AWS KMS: a
# KMS-compatible server of the test's own (hack/kms-server) on a free loopback port, and OpenSSL
# as the relying party. Usage: cli_awskms_test.sh path/to/certwright
# CERTWRIGHT_SKIP_KMS=1 skips it (documented in README); a server that cannot start fails it.
set -uo pipefail

CW=$(realpath "${1:?usage: cli_awskms_test.sh path/to/certwright}")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ "${CERTWRIGHT_SKIP_KMS:-0}" = 1 ]; then echo "cli.awskms: skipped (CERTWRIGHT_SKIP_KMS=1)"; exit 0; fi

WORK=$(mktemp -d)
export CERTWRIGHT_KMS_DIR=$WORK/kms
trap '"$ROOT/hack/kms-server" down >/dev/null 2>&1; rm -rf "$WORK"' EXIT
cd "$WORK"
if ! up=$("$ROOT/hack/kms-server" up 2>kms-up.err); then
  echo "FAIL: hack/kms-server up: $(cat kms-up.err)"; exit 1
fi
eval "$up"

source "$ROOT/tests/cli/checks.sh"

SECRET='cli-secret/with+chars'
CREDS="access-key-id=AKIDCLI&secret-access-key=${SECRET//\//%2F}"
CREDS=${CREDS//+/%2B}
uri() { echo "awskms:key-id=$1;region=eu-west-1?endpoint=$CERTWRIGHT_KMS_ENDPOINT&$CREDS"; }

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -subj /CN=web.example.com \
  -addext "subjectAltName=DNS:web.example.com" -out leaf.csr 2>/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout rsaleaf.key -subj /CN=rsa.example.com \
  -addext "subjectAltName=DNS:rsa.example.com" -out rsaleaf.csr 2>/dev/null

for type in ecdsa-p256 ecdsa-p384 rsa-2048 rsa-3072; do
  alias="alias/cli-$type"
  expect_ok "ca init creates a $type KMS key and a root" "$CW" ca init --key "$(uri "$alias")" --key-type "$type" \
    --subject "CN=KMS $type Root,O=certwright" --out "ca-$type.pem"
  grep -q "created $type key awskms:key-id=$alias" err.txt && pass "ca init says it created the $type key" || fail "stderr: $(cat err.txt)"
  grep -qF -- "$SECRET" err.txt && fail "the secret appears in the output" || pass "the secret never appears in the output ($type)"
  openssl verify -CAfile "ca-$type.pem" "ca-$type.pem" >verify.txt 2>&1 && pass "openssl verifies the $type self-signed root" \
    || fail "root verify: $(cat verify.txt)"
  for csr in leaf rsaleaf; do
    expect_ok "sign a $csr CSR with the $type KMS key" "$CW" sign --ca-key "$(uri "$alias")" --ca-cert "ca-$type.pem" \
      --csr "$csr.csr" --usage "server auth" --out "$csr-$type.pem"
    openssl verify -purpose sslserver -x509_strict -CAfile "ca-$type.pem" "$csr-$type.pem" >verify.txt 2>&1 \
      && pass "openssl verify accepts the $csr leaf of the $type CA" || fail "leaf verify: $(cat verify.txt)"
  done
done
expect_ok "RSA-PSS signing through KMS" "$CW" sign --ca-key "$(uri alias/cli-rsa-2048)" --ca-cert ca-rsa-2048.pem \
  --csr leaf.csr --rsa-pss --out pss.pem
openssl x509 -in pss.pem -noout -text | grep -q "rsassaPss" && pass "the leaf is signed with RSASSA-PSS" || fail "not PSS"
# A PSS-signed leaf under a PKCS#1-signed root: verify the leaf's signature with the root key.
openssl verify -CAfile ca-rsa-2048.pem pss.pem >verify.txt 2>&1 && pass "openssl verifies the PSS leaf" || fail "PSS verify: $(cat verify.txt)"

expect_ok "ca init again reuses the KMS key" "$CW" ca init --key "$(uri alias/cli-ecdsa-p256)" --subject "CN=again" --out again.pem
grep -q "using existing ecdsa-p256 key" err.txt && pass "ca init reuses an existing alias" || fail "reuse: $(cat err.txt)"
[ "$(openssl x509 -in ca-ecdsa-p256.pem -noout -pubkey)" = "$(openssl x509 -in again.pem -noout -pubkey)" ] \
  && pass "same public key" || fail "key changed"
expect_fail "ca init refuses another key type for an existing alias" 1 "already exists and is ecdsa-p256, not rsa-2048" \
  "$CW" ca init --key "$(uri alias/cli-ecdsa-p256)" --key-type rsa-2048 --subject "CN=x" --out x.pem
expect_fail "ca init cannot create a raw key id" 1 "KMS chooses key ids itself, so a key is created under an alias" \
  "$CW" ca init --key "$(uri 1234abcd-12ab-34cd-56ef-1234567890ab)" --subject "CN=x" --out x.pem
expect_fail "ca init refuses Ed25519 in KMS" 1 "cannot create ed25519 keys" \
  "$CW" ca init --key "$(uri alias/cli-ed)" --key-type ed25519 --subject "CN=x" --out x.pem
expect_fail "sign with a missing alias" 1 "KMS key \"alias/absent\" in eu-west-1" \
  "$CW" sign --ca-key "$(uri alias/absent)" --ca-cert ca-ecdsa-p256.pem --csr leaf.csr
grep -q "NotFoundException" err.txt && pass "the cause is named" || fail "cause: $(cat err.txt)"
expect_fail "sign without credentials" 1 "no AWS credentials for KMS key \"alias/cli-ecdsa-p256\"" \
  env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_ROLE_ARN -u AWS_WEB_IDENTITY_TOKEN_FILE HOME="$WORK" \
  "$CW" sign --ca-key "awskms:key-id=alias/cli-ecdsa-p256;region=eu-west-1?endpoint=$CERTWRIGHT_KMS_ENDPOINT" \
  --ca-cert ca-ecdsa-p256.pem --csr leaf.csr
expect_ok "credentials from the environment" env AWS_ACCESS_KEY_ID=AKIDENV AWS_SECRET_ACCESS_KEY=envsecret \
  "$CW" sign --ca-key "awskms:key-id=alias/cli-ecdsa-p256;region=eu-west-1?endpoint=$CERTWRIGHT_KMS_ENDPOINT" \
  --ca-cert ca-ecdsa-p256.pem --csr leaf.csr --out env.pem
expect_fail "an attribute in the wrong part" 1 "awskms URI attribute \"endpoint\" belongs in the query (after '?')" \
  "$CW" sign --ca-key "awskms:key-id=alias/x;region=eu-west-1;endpoint=$CERTWRIGHT_KMS_ENDPOINT" --ca-cert ca-ecdsa-p256.pem --csr leaf.csr
"$ROOT/hack/kms-server" down
expect_fail "sign while the server is down" 1 "no answer from $CERTWRIGHT_KMS_ENDPOINT" \
  "$CW" sign --ca-key "$(uri alias/cli-ecdsa-p256)" --ca-cert ca-ecdsa-p256.pem --csr leaf.csr

echo
echo "cli.awskms: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
