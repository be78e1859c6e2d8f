#!/usr/bin/env bash
# e2e/awskms_issuer_test.sh: the awsKMS issuer type (issue #6) end to end: a KMS-compatible
# server of the test's own (hack/kms-server), a CA key made in it with `certwright ca init`, an
# Issuer whose credentials come from a Secret, Certificates issued and verified with openssl, and
# the faults an admin meets (wrong key id, server down, restart). CERTWRIGHT_SKIP_KMS=1 skips it.
#
#   e2e/awskms_issuer_test.sh path/to/certwright
if [ "${CERTWRIGHT_SKIP_KMS:-0}" = 1 ]; then echo "e2e.awskms: skipped (CERTWRIGHT_SKIP_KMS=1)"; exit 0; fi
source "$(dirname "$0")/lib.sh"
e2e_init awskms "$1"

export CERTWRIGHT_KMS_DIR=$WORK/kms
KMS_PORT=$(free_port)
kms_up() { "$REPO_ROOT/hack/kms-server" up "$KMS_PORT" >"$WORK/kms.env" 2>"$WORK/kms.err" || abort "hack/kms-server up: $(cat "$WORK/kms.err")"; }
kms_down() { "$REPO_ROOT/hack/kms-server" down; }
trap 'kms_down >/dev/null 2>&1; _cleanup' EXIT
# The CA key is seeded (fixed id and key material) so that it is still there after the server
# restarts below, as a real KMS key would be; moto keeps everything else in memory.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/seed.key" 2>/dev/null
python3 - "$WORK/seed.key" "alias/$NS-ca" >"$WORK/seed.json" <<'PY'
import json, sys
print(json.dumps([{"KeyId": "6d1f6c3e-0000-4000-8000-00000000e2e0", "KeySpec": "ECC_NIST_P256",
                   "PrivateKeyPem": open(sys.argv[1]).read(), "Aliases": [sys.argv[2]]}]))
PY
export KMS_SEED_PATH=$WORK/seed.json
kms_up
ENDPOINT=http://127.0.0.1:$KMS_PORT
REGION=eu-west-1
ACCESS=AKIDE2E
SECRET_KEY='e2e/secret+key'
CREDS="access-key-id=$ACCESS&secret-access-key=${SECRET_KEY//\//%2F}"
CREDS=${CREDS//+/%2B}

# The CA key, created in KMS (SIGN_VERIFY, never exportable), and its self-signed root.
check "certwright ca init makes a root for the KMS key (which never leaves KMS)" \
  "$CW" ca init --key "awskms:key-id=alias/$NS-ca;region=$REGION?endpoint=$ENDPOINT&$CREDS" \
  --subject "CN=e2e KMS root" --key-type ecdsa-p256 --duration 8760h --out "$WORK/kms-root.pem"
k create secret generic kms-credentials --from-literal=AWS_ACCESS_KEY_ID="$ACCESS" \
  --from-literal=AWS_SECRET_ACCESS_KEY="$SECRET_KEY" >/dev/null
k create secret generic kms-ca --from-file=tls.crt="$WORK/kms-root.pem" >/dev/null
apply <<YAML
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: kms}
spec:
  awsKMS:
    keyID: alias/$NS-ca
    region: $REGION
    endpoint: $ENDPOINT
    credentialsSecretRef: {name: kms-credentials}
    caSecretRef: {name: kms-ca}
---
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: web}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  issuerRef: {name: kms}
---
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: rsa}
spec:
  secretName: rsa-tls
  commonName: rsa client
  usages: [digital signature, key encipherment, client auth]
  privateKey: {algorithm: RSA, size: 2048}
  issuerRef: {name: kms}
YAML
# A namespaced Issuer may name only the KMS endpoints the admin allowed (docs/policy.md, "Custody").
start_controller --issuer-kms-endpoints "$ENDPOINT"
wait_for 60 "the awsKMS Issuer is Ready" has_condition issuers.certwright.dev/kms Ready True KeyVerified
check_contains "its message names the key (redacted) and the CA" "awskms:key-id=alias" condition issuers.certwright.dev/kms Ready message
check "no secret appears in the Issuer's status" bash -c "! kubectl -n $NS get issuers.certwright.dev/kms -o yaml | grep -qF -- '$SECRET_KEY'"
wait_for 60 "an ECDSA Certificate from the KMS key becomes Ready" ready cwcert/web
wait_for 60 "an RSA Certificate from the KMS key becomes Ready" ready cwcert/rsa
for c in web rsa; do
  save_secret "$c-tls" "$WORK/$c"
  check "$c: the certificate verifies against the KMS root" verifies "$WORK/$c" "$WORK/kms-root.pem"
  check "$c: the key matches the certificate" key_matches_cert "$WORK/$c"
done
check "no secret appears in the controller's log" bash -c "! grep -qF -- '$SECRET_KEY' '$CONTROLLER_LOG'"
check "no secret appears in the Events" bash -c "! kubectl -n $NS get events -o yaml | grep -qF -- '$SECRET_KEY'"

# Bootstrap SelfSigned with an existing KMS key: the root is made by KMS and kept in a Secret.
check "certwright ca init creates an RSA-2048 key in KMS (CreateKey + CreateAlias)" \
  "$CW" ca init --key "awskms:key-id=alias/$NS-boot;region=$REGION?endpoint=$ENDPOINT&$CREDS" --subject "CN=unused" \
  --key-type rsa-2048 --out "$WORK/unused.pem"
apply <<YAML
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: kms-boot}
spec:
  awsKMS:
    keyID: alias/$NS-boot
    region: $REGION
    endpoint: $ENDPOINT
    credentialsSecretRef: {name: kms-credentials}
    bootstrap: {mode: SelfSigned, subject: {commonName: e2e KMS bootstrap root}}
YAML
wait_for 60 "a bootstrap SelfSigned awsKMS Issuer is Ready" has_condition issuers.certwright.dev/kms-boot Ready True
check "its root is kept in kms-boot-bootstrap-ca" bash -c \
  "kubectl -n $NS get secret kms-boot-bootstrap-ca -o jsonpath='{.data.tls\\.crt}' | base64 -d | openssl x509 -noout -subject | grep -q 'e2e KMS bootstrap root'"

# Bad input: a key that does not exist.
apply <<YAML
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: kms-missing}
spec:
  awsKMS:
    keyID: alias/$NS-nope
    region: $REGION
    endpoint: $ENDPOINT
    credentialsSecretRef: {name: kms-credentials}
    caSecretRef: {name: kms-ca}
YAML
wait_for 60 "an Issuer naming a missing KMS key is Ready=False NotFound" has_condition issuers.certwright.dev/kms-missing Ready False NotFound
check_contains "the message names the key" "alias/$NS-nope" condition issuers.certwright.dev/kms-missing Ready message
check "an Event says so" event_recorded kms-missing NotFound

# Faults: the server goes away, then comes back.
kms_down
sleep 1
k annotate cwcert web "certwright.dev/poke=$(date +%s)" --overwrite >/dev/null
k patch cwcert web --type=merge -p '{"spec":{"dnsNames":["web.example.com","www.example.com"]}}' >/dev/null
wait_for 90 "with KMS down, re-issuance fails and the Certificate says why" has_condition cwcert/web Issuing False Failed
check_contains "the failure names the KMS key" "KMS key" condition cwcert/web Issuing message
kms_up
wait_for 120 "when KMS is back, the Certificate is re-issued with the new name" bash -c \
  "kubectl -n $NS get secret web-tls -o jsonpath='{.data.tls\\.crt}' | base64 -d | openssl x509 -noout -ext subjectAltName | grep -q www.example.com"
wait_for 60 "and is Ready again" ready cwcert/web

finish
