#!/usr/bin/env bash
# End-to-end check of the CRDs in crds/ against a real API server, with kubectl.
#
#   KUBECONFIG=/path/to/kubeconfig e2e/crds_test.sh
#
# Applies the CRDs (server-side) and waits for them to be Established; in a namespace of its
# own, applies the examples in crds/examples/ (they must be accepted) and a table of invalid
# manifests (each must be refused with its expected message); checks defaults, kubectl explain,
# printer columns, the status subresource, and that every field is documented. Deletes what it
# created except the CRDs. The last line is "crds: N passed, M failed"; exits 1 on any failure.
#
# kubectl is taken from PATH, else from the cache of hack/control-plane.
set -uo pipefail
# Rows are piped into reject/accept: run the last command of a pipeline in this shell, so its
# pass/fail counts are kept.
shopt -s lastpipe
cd "$(dirname "$0")/.."

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
finish() {
  echo "crds: $passed passed, $failed failed"
  [ "$failed" = 0 ]
  exit
}

if [ -z "${KUBECONFIG:-}" ]; then
  fail "KUBECONFIG is not set: point it at a cluster (eval \"\$(hack/control-plane env)\")"
  finish
fi
if ! command -v kubectl >/dev/null; then
  cache=${CERTWRIGHT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/certwright}
  for k in "$cache"/kubernetes-*/bin/kubectl; do [ -x "$k" ] && PATH=$(dirname "$k"):$PATH; done
fi
if ! command -v kubectl >/dev/null; then
  fail "kubectl is neither on PATH nor in ${cache}/kubernetes-*/bin (run hack/control-plane build)"
  finish
fi

WORK=$(mktemp -d)
NS=crds-test-$(date +%s)-$$
# Cluster-scoped objects get names of their own too, so concurrent runs do not collide.
CLUSTER_ISSUERS=()
CLUSTER_POLICIES=()
cleanup() {
  kubectl delete namespace "$NS" --ignore-not-found --wait=false >/dev/null 2>&1
  for name in "${CLUSTER_ISSUERS[@]}"; do
    kubectl delete clusterissuers.certwright.dev "$name" --ignore-not-found >/dev/null 2>&1
  done
  for name in "${CLUSTER_POLICIES[@]}"; do
    kubectl delete certificatepolicies.certwright.dev "$name" --ignore-not-found >/dev/null 2>&1
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# expect_ok NAME CMD... : the command exits 0.
expect_ok() {
  local name=$1; shift
  if "$@" >"$WORK/out" 2>"$WORK/err"; then pass "$name"; else fail "$name: exit $?: $(cat "$WORK/err")"; fi
}
# accept NAME < MANIFEST : kubectl apply accepts the manifest.
accept() {
  local name=$1
  if kubectl apply -n "$NS" -f - >"$WORK/out" 2>"$WORK/err"; then
    pass "accepts: $name"
  else
    fail "accepts: $name: $(cat "$WORK/err")"
  fi
}
# reject NAME MESSAGE < MANIFEST : kubectl apply refuses the manifest, with MESSAGE in its error,
# and without a CEL evaluation error (a rule that runs on a value it cannot handle).
reject() {
  local name=$1 message=$2
  if kubectl apply -n "$NS" -f - >"$WORK/out" 2>"$WORK/err"; then
    fail "rejects: $name: was accepted"
  elif ! grep -qF -- "$message" "$WORK/err"; then
    fail "rejects: $name: error lacks '$message': $(cat "$WORK/err")"
  elif grep -qF -- "evaluating rule" "$WORK/err"; then
    fail "rejects: $name: a CEL rule failed to evaluate: $(cat "$WORK/err")"
  else
    pass "rejects: $name"
  fi
}
# expect_field NAME RESOURCE JSONPATH WANT : the field of the stored object is WANT.
expect_field() {
  local name=$1 resource=$2 path=$3 want=$4 got
  got=$(kubectl get -n "$NS" "$resource" -o "jsonpath={$path}" 2>&1)
  if [ "$got" = "$want" ]; then pass "$name"; else fail "$name: $path is '$got', want '$want'"; fi
}
# expect_output NAME TEXT CMD... : the command succeeds and its output contains TEXT, where any
# run of spaces matches any run of spaces (kubectl pads table columns to their content).
expect_output() {
  local name=$1 text=$2 rc; shift 2
  "$@" >"$WORK/out" 2>&1
  rc=$?
  if [ "$rc" != 0 ]; then
    fail "$name: exit $rc: $(cat "$WORK/out")"
  elif ! tr -s ' \t' ' ' <"$WORK/out" | grep -qF -- "$(tr -s ' ' <<<"$text")"; then
    fail "$name: output lacks '$text': $(cat "$WORK/out")"
  else
    pass "$name"
  fi
}

# --- The CRDs ----------------------------------------------------------------------------------
expect_ok "issuer CRDs are in sync with hack/crds (hack/gen-crds --check)" hack/gen-crds --check
# The API server compiles every CEL rule and checks its cost estimate here.
if ! kubectl apply --server-side --force-conflicts --field-manager=certwright-crds-test \
  -f crds/ >"$WORK/out" 2>"$WORK/err"; then
  fail "the CRDs apply (CEL rules compile, within the cost budget): $(cat "$WORK/err")"
  finish
fi
pass "the CRDs apply (CEL rules compile, within the cost budget)"
CRDS=(certificates.certwright.dev issuers.certwright.dev clusterissuers.certwright.dev certificatepolicies.certwright.dev)
if ! kubectl wait --for=condition=Established --timeout=60s "${CRDS[@]/#/crd/}" >"$WORK/out" 2>&1; then
  fail "the CRDs are Established: $(cat "$WORK/out")"
  finish
fi
pass "the CRDs are Established"
for crd in "${CRDS[@]}"; do
  expect_output "$crd has names accepted (short names free)" True \
    kubectl get crd "$crd" -o 'jsonpath={.status.conditions[?(@.type=="NamesAccepted")].status}'
done
# A new CRD takes a moment to be served in discovery, which kubectl needs.
for _ in $(seq 50); do
  kubectl get cwcert -A >/dev/null 2>&1 && kubectl get cwciss >/dev/null 2>&1 && kubectl get cwpolicy >/dev/null 2>&1 &&
    break
  sleep 0.2
done

if ! kubectl create namespace "$NS" >"$WORK/out" 2>&1; then
  fail "create namespace $NS: $(cat "$WORK/out")"
  finish
fi

# --- Every field documented, as the API server publishes it for kubectl explain ---------------
if kubectl get --raw /openapi/v3/apis/certwright.dev/v1alpha1 >"$WORK/openapi.json" 2>"$WORK/err"; then
  if python3 - "$WORK/openapi.json" >"$WORK/out" 2>&1 <<'EOF'; then
import json, sys
schemas = json.load(open(sys.argv[1]))["components"]["schemas"]
missing = []
def walk(schema, path):
    if "$ref" in schema or "allOf" in schema:  # ObjectMeta and friends: Kubernetes' own
        return
    if "description" not in schema and not path.endswith(("[]", "{}")):
        missing.append(path)
    for name, sub in schema.get("properties", {}).items():
        walk(sub, path + "." + name)
    if "items" in schema:
        walk(schema["items"], path + "[]")
    if isinstance(schema.get("additionalProperties"), dict):
        walk(schema["additionalProperties"], path + "{}")
for kind in ("Certificate", "Issuer", "ClusterIssuer", "CertificatePolicy", "TrustBundle"):
    walk(schemas["dev.certwright.v1alpha1." + kind], kind)
print("\n".join(missing))
sys.exit(1 if missing else 0)
EOF
    pass "every field of the five kinds has a description"
  else
    fail "fields without a description: $(cat "$WORK/out")"
  fi
else
  fail "get the OpenAPI v3 document of certwright.dev/v1alpha1: $(cat "$WORK/err")"
fi
expect_output "kubectl explain documents certificate.spec.privateKey.size" \
  "RSA: 2048 (default), 3072 or 4096" kubectl explain cwcert.spec.privateKey.size
expect_output "kubectl explain documents certificate.spec.privateKey fields" \
  "rotationPolicy" kubectl explain certificates.certwright.dev.spec.privateKey
expect_output "kubectl explain documents issuer.spec.pkcs11.keyURI" \
  "RFC 7512 URI of the private key" kubectl explain cwissuer.spec.pkcs11.keyURI
expect_output "kubectl explain documents clusterissuer.spec.pkcs11.pinSecretRef" \
  "the namespace the operator runs in" kubectl explain cwclusterissuer.spec.pkcs11.pinSecretRef

# --- The examples, and defaults -----------------------------------------------------------------
accept "example Certificate" <crds/examples/certificate.yaml
accept "example ca Issuer" <crds/examples/issuer-ca.yaml
accept "example awsKMS Issuer" <crds/examples/issuer-awskms.yaml
root=$NS-hsm-root
CLUSTER_ISSUERS+=("$root")
sed "s/^  name: hsm-root$/  name: $root/" crds/examples/clusterissuer-pkcs11.yaml |
  accept "example pkcs11 ClusterIssuer (bootstrap SelfSigned)"

accept "minimal Certificate" <<'EOF'
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: minimal}
spec:
  secretName: minimal-tls
  dnsNames: [minimal.example.com]
  issuerRef: {name: team-ca}
EOF
expect_field "default duration is 2160h" cwcert/minimal .spec.duration 2160h
expect_field "privateKey.algorithm has no schema default (the webhook defaults it from the issuer, else the controller uses ECDSA)" cwcert/minimal .spec.privateKey.algorithm ""
expect_field "default privateKey.encoding is PKCS1" cwcert/minimal .spec.privateKey.encoding PKCS1
expect_field "default privateKey.rotationPolicy is Always" cwcert/minimal .spec.privateKey.rotationPolicy Always
expect_field "default privateKey.size is unset (chosen by algorithm)" cwcert/minimal .spec.privateKey.size ""
expect_field "default issuerRef.kind is Issuer" cwcert/minimal .spec.issuerRef.kind Issuer
expect_field "default issuerRef.group is certwright.dev" cwcert/minimal .spec.issuerRef.group certwright.dev
expect_field "default pinSecretRef.key is pin" "clusterissuers.certwright.dev/$root" .spec.pkcs11.pinSecretRef.key pin
expect_field "default bootstrap.duration is 87600h" "issuers.certwright.dev/kms-issuing" .spec.awsKMS.bootstrap.duration 87600h
expect_field "bootstrap.keyAlgorithm has no default" "issuers.certwright.dev/kms-issuing" .spec.awsKMS.bootstrap.keyAlgorithm ""

accept "a Certificate with renewBefore, IP, URI and email SANs, RSA key, isCA" <<'EOF'
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: full}
spec:
  secretName: full-tls
  ipAddresses: [10.0.0.1, "fd00::1"]
  uris: ["spiffe://cluster.local/ns/default/sa/web", "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"]
  emailAddresses: [ops@example.com]
  duration: 1h30m
  renewBefore: 30m
  privateKey: {algorithm: RSA, size: 3072, rotationPolicy: Never}
  isCA: true
  usages: [cert sign, crl sign, digital signature]
  issuerRef: {name: hsm-root, kind: ClusterIssuer}
EOF
accept "an Ed25519 Certificate with no size" <<'EOF'
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: ed}
spec:
  secretName: ed-tls
  commonName: ed
  privateKey: {algorithm: Ed25519, encoding: PKCS8}
  issuerRef: {name: team-ca}
EOF
accept "an Issuer with pkcs11, caSecretRef and a duration range" <<'EOF'
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: hsm-issuing}
spec:
  pkcs11:
    modulePath: /usr/lib/softhsm/libsofthsm2.so
    keyURI: "pkcs11:token=ca;object=issuing;id=%01"
    pinSecretRef: {name: hsm-pin, key: user-pin}
    caSecretRef: {name: hsm-issuing-chain}
  minDuration: 1h
  maxDuration: 2160h
EOF
expect_field "default caSecretRef.key is tls.crt" issuers.certwright.dev/hsm-issuing .spec.pkcs11.caSecretRef.key tls.crt
accept "a selfSigned Issuer" <<'EOF'
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: self}
spec:
  selfSigned: {}
EOF
accept "an awsKMS Issuer with an endpoint, caSecretRef and no credentials" <<'EOF'
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: kms-local}
spec:
  awsKMS:
    keyID: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    region: us-east-1
    endpoint: "http://127.0.0.1:4566"
    caSecretRef: {name: kms-chain}
EOF

# --- Printer columns and the status subresource ----------------------------------------------------
expect_output "kubectl get certificates shows Ready, Secret, Issuer, Expires, Age" \
  "NAME READY SECRET ISSUER EXPIRES AGE" kubectl get -n "$NS" certificates.certwright.dev
expect_output "kubectl get -o wide adds Renewal and Status" \
  "EXPIRES RENEWAL STATUS AGE" kubectl get -n "$NS" certificates.certwright.dev -o wide
expect_output "kubectl get issuers shows Ready and Age" \
  "NAME READY AGE" kubectl get -n "$NS" issuers.certwright.dev
expect_output "kubectl get clusterissuers shows Ready and Age" \
  "NAME READY AGE" kubectl get clusterissuers.certwright.dev "$root"
expect_output "the certwright category lists all three kinds" \
  "clusterissuer.certwright.dev/$root" kubectl get certwright -n "$NS"

now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
status='{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Issued","message":"Certificate is up to date","lastTransitionTime":"'$now'","observedGeneration":1}],"notBefore":"2030-01-01T00:00:00Z","notAfter":"2030-04-01T00:00:00Z","renewalTime":"2030-03-02T00:00:00Z","revision":1,"failedIssuanceAttempts":0}}'
expect_ok "status is written through the status subresource" \
  kubectl patch -n "$NS" cwcert minimal --subresource=status --type=merge -p "$status"
expect_output "the Ready and Expires columns show the status" \
  "minimal True minimal-tls team-ca 2030-04-01T00:00:00Z" kubectl get -n "$NS" cwcert minimal
expect_output "the Renewal and Status columns show the status" \
  "2030-04-01T00:00:00Z 2030-03-02T00:00:00Z Certificate is up to date" kubectl get -n "$NS" cwcert minimal -o wide
kubectl patch -n "$NS" cwcert minimal --type=merge -p '{"status":{"revision":7}}' >/dev/null 2>&1
expect_field "a write to the main resource leaves status alone" cwcert/minimal .status.revision 1
if kubectl patch -n "$NS" cwcert minimal --subresource=status --type=merge \
  -p '{"status":{"conditions":[{"type":"Ready","status":"Yes","reason":"Issued","message":"","lastTransitionTime":"'$now'"}]}}' \
  >"$WORK/out" 2>&1; then
  fail "status conditions are validated: status Yes was accepted"
elif grep -qF 'Unsupported value: "Yes"' "$WORK/out"; then
  pass "status conditions are validated"
else
  fail "status conditions are validated: $(cat "$WORK/out")"
fi

# --- Certificates that must be refused, one rule a row ---------------------------------------------
# Each heredoc is a whole manifest; only the spec differs from a valid Certificate.
cert() { printf 'apiVersion: certwright.dev/v1alpha1\nkind: Certificate\nmetadata: {name: bad}\nspec:\n%s\n' "$1"; }
ok_ref='  issuerRef: {name: team-ca}'

cert "  dnsNames: [a.example.com]
$ok_ref" | reject "missing secretName" 'spec.secretName: Required value'
cert "  secretName: a
  dnsNames: [a.example.com]" | reject "missing issuerRef" 'spec.issuerRef: Required value'
cert "  secretName: a
  dnsNames: [a.example.com]
  issuerRef: {kind: Issuer}" | reject "missing issuerRef.name" 'spec.issuerRef.name: Required value'
cert "  secretName: a
$ok_ref" | reject "no subject or SAN" \
  'at least one of commonName, dnsNames, ipAddresses, uris or emailAddresses must be set'
cert "  secretName: a
  dnsNames: []
$ok_ref" | reject "only an empty dnsNames" \
  'at least one of commonName, dnsNames, ipAddresses, uris or emailAddresses must be set'
cert "  secretName: a
  dnsNames: [a.example.com]
  renewBefore: 240h
  renewBeforePercentage: 25
$ok_ref" | reject "renewBefore with renewBeforePercentage" \
  'renewBefore and renewBeforePercentage are mutually exclusive'
cert "  secretName: a
  dnsNames: [a.example.com]
  duration: 24h
  renewBefore: 24h
$ok_ref" | reject "renewBefore equal to duration" 'renewBefore must be shorter than duration'
cert "  secretName: a
  dnsNames: [a.example.com]
  renewBefore: 3000h
$ok_ref" | reject "renewBefore longer than the default duration" 'renewBefore must be shorter than duration'
cert "  secretName: a
  dnsNames: [a.example.com]
  renewBefore: 4m59s
$ok_ref" | reject "renewBefore under 5m" 'renewBefore must be at least 5m'
cert "  secretName: a
  dnsNames: [a.example.com]
  duration: 59m
$ok_ref" | reject "duration under 1h" 'duration must be at least 1h'
cert "  secretName: a
  dnsNames: [a.example.com]
  duration: 90d
  renewBefore: 1h
$ok_ref" | reject "duration in days" 'spec.duration: Invalid value: "90d": spec.duration in body should match'
cert "  secretName: a
  dnsNames: [a.example.com]
  renewBefore: 1 h
$ok_ref" | reject "renewBefore with a space" 'spec.renewBefore: Invalid value: "1 h"'
cert "  secretName: a
  dnsNames: [a.example.com]
  duration: -2160h
$ok_ref" | reject "negative duration" 'spec.duration: Invalid value: "-2160h"'
cert "  secretName: a
  dnsNames: [a.example.com]
  renewBeforePercentage: 100
$ok_ref" | reject "renewBeforePercentage 100" 'spec.renewBeforePercentage: Invalid value: 100'
cert "  secretName: a
  dnsNames: [a.example.com]
  renewBeforePercentage: 0
$ok_ref" | reject "renewBeforePercentage 0" 'spec.renewBeforePercentage: Invalid value: 0'
cert "  secretName: a
  dnsNames: [a.example.com]
  privateKey: {algorithm: ECDSA, size: 521}
$ok_ref" | reject "ECDSA size 521" 'ECDSA keys must have size 256 or 384'
cert "  secretName: a
  dnsNames: [a.example.com]
  privateKey: {size: 2048}
$ok_ref" | reject "RSA size with the default algorithm (ECDSA)" 'ECDSA keys must have size 256 or 384'
cert "  secretName: a
  dnsNames: [a.example.com]
  privateKey: {algorithm: RSA, size: 1024}
$ok_ref" | reject "RSA size 1024" 'RSA keys must have size 2048, 3072 or 4096'
cert "  secretName: a
  dnsNames: [a.example.com]
  privateKey: {algorithm: Ed25519, size: 256}
$ok_ref" | reject "Ed25519 with a size" 'Ed25519 keys have no size; remove privateKey.size'
cert "  secretName: a
  dnsNames: [a.example.com]
  privateKey: {algorithm: DSA}
$ok_ref" | reject "unknown key algorithm" 'spec.privateKey.algorithm: Unsupported value: "DSA"'
cert "  secretName: a
  dnsNames: [a.example.com]
  privateKey: {encoding: DER}
$ok_ref" | reject "unknown key encoding" 'spec.privateKey.encoding: Unsupported value: "DER"'
cert "  secretName: a
  dnsNames: [a.example.com]
  privateKey: {rotationPolicy: Sometimes}
$ok_ref" | reject "unknown rotationPolicy" 'spec.privateKey.rotationPolicy: Unsupported value: "Sometimes"'
cert "  secretName: a
  dnsNames: [a.example.com]
  usages: [server auth, server-auth]
$ok_ref" | reject "unknown usage" 'spec.usages[1]: Unsupported value: "server-auth"'
cert "  secretName: a
  dnsNames: [a.example.com]
  issuerRef: {name: x, kind: Vault}" | reject "unknown issuer kind" 'spec.issuerRef.kind: Unsupported value: "Vault"'
cert "  secretName: a
  dnsNames: [a.example.com]
  issuerRef: {name: x, group: cert-manager.io}" | reject "cert-manager's issuer group" \
  'spec.issuerRef.group: Unsupported value: "cert-manager.io"'
cert "  secretName: a
  ipAddresses: [300.1.1.1]
$ok_ref" | reject "bad IP address" 'spec.ipAddresses[0]: Invalid value: "300.1.1.1": must be an IPv4 or IPv6 address'
cert "  secretName: a
  uris: [not a uri]
$ok_ref" | reject "relative URI" 'spec.uris[0]: Invalid value: "not a uri": must be an absolute URI with a scheme'
cert "  secretName: a
  emailAddresses: [nobody]
$ok_ref" | reject "bad email address" 'spec.emailAddresses[0]: Invalid value: "nobody": must be an email address (local-part@domain)'
cert "  secretName: a
  commonName: $(printf 'x%.0s' {1..65})
$ok_ref" | reject "commonName over 64 characters" 'spec.commonName: Too long'
cert "  secretName: a
  commonName: a
  subject: {countries: [FRA]}
$ok_ref" | reject "three-letter country" 'spec.subject.countries[0]: Invalid value: "FRA"'
cert "  secretName: Web_TLS
  commonName: a
$ok_ref" | reject "secretName not a DNS subdomain" 'spec.secretName: Invalid value: "Web_TLS"'
cert "  secretName: a
  dnsNames: [$(seq -s, -f 'h%g.example.com' 101)]
$ok_ref" | reject "101 dnsNames" 'spec.dnsNames: Too many: 101: must have at most 100 items'
cert "  secretName: a
  dnsName: [a.example.com]
$ok_ref" | reject "unknown field (strict field validation)" 'unknown field "spec.dnsName"'
cert "  secretName: a
  dnsNames: [a.example.com]
  privateKey: {sise: 256}
$ok_ref" | reject "unknown nested field" 'unknown field "spec.privateKey.sise"'

# --- Issuers and ClusterIssuers that must be refused -------------------------------------------
issuer() { printf 'apiVersion: certwright.dev/v1alpha1\nkind: %s\nmetadata: {name: %s}\nspec:\n%s\n' "$1" "$2" "$3"; }
pkcs11_head='  pkcs11:
    modulePath: /usr/lib/softhsm/libsofthsm2.so
    keyURI: "pkcs11:token=ca;object=root"
    pinSecretRef: {name: pin}'
bootstrap='    bootstrap: {mode: SelfSigned, subject: {commonName: Root}}'

issuer Issuer bad "  maxDuration: 24h" |
  reject "no issuer type" 'exactly one of selfSigned, ca, pkcs11 or awsKMS must be set'
issuer Issuer bad "  selfSigned: {}
  ca: {secretName: ca}" | reject "two issuer types" 'exactly one of selfSigned, ca, pkcs11 or awsKMS must be set'
issuer ClusterIssuer "$NS-bad" "  selfSigned: {}
  awsKMS: {keyID: k, region: us-east-1, caSecretRef: {name: c}}" |
  reject "two issuer types in a ClusterIssuer" 'exactly one of selfSigned, ca, pkcs11 or awsKMS must be set'
issuer Issuer bad "  ca: {}" | reject "ca without secretName" 'spec.ca.secretName: Required value'
issuer Issuer bad "$pkcs11_head" |
  reject "pkcs11 with neither caSecretRef nor bootstrap" 'exactly one of caSecretRef or bootstrap must be set'
issuer Issuer bad "$pkcs11_head
    caSecretRef: {name: chain}
$bootstrap" | reject "pkcs11 with caSecretRef and bootstrap" 'exactly one of caSecretRef or bootstrap must be set'
issuer Issuer bad "  pkcs11:
    modulePath: /usr/lib/softhsm/libsofthsm2.so
    keyURI: \"token=ca;object=root\"
    pinSecretRef: {name: pin}
$bootstrap" | reject "keyURI without pkcs11:" 'keyURI must start with "pkcs11:"'
issuer Issuer bad "  pkcs11:
    modulePath: /usr/lib/softhsm/libsofthsm2.so
    keyURI: \"pkcs11:token=ca;object=root?pin-value=1234\"
    pinSecretRef: {name: pin}
$bootstrap" | reject "keyURI with the PIN in it" 'keyURI must not have query attributes'
issuer Issuer bad "  pkcs11:
    modulePath: libsofthsm2.so
    keyURI: \"pkcs11:token=ca;object=root\"
    pinSecretRef: {name: pin}
$bootstrap" | reject "relative modulePath" 'modulePath must be an absolute path'
issuer Issuer bad "  pkcs11:
    modulePath: /usr/lib/softhsm/libsofthsm2.so
    keyURI: \"pkcs11:token=ca;object=root\"
$bootstrap" | reject "pkcs11 without pinSecretRef" 'spec.pkcs11.pinSecretRef: Required value'
issuer Issuer bad "$pkcs11_head
    bootstrap: {subject: {commonName: Root}}" | reject "bootstrap without mode" 'spec.pkcs11.bootstrap.mode: Required value'
issuer Issuer bad "$pkcs11_head
    bootstrap: {mode: Offline, subject: {commonName: Root}}" |
  reject "unknown bootstrap mode" 'spec.pkcs11.bootstrap.mode: Unsupported value: "Offline"'
issuer Issuer bad "$pkcs11_head
    bootstrap: {mode: CSR, subject: {organizations: [Example]}}" |
  reject "bootstrap subject without commonName" 'spec.pkcs11.bootstrap.subject.commonName: Required value'
issuer Issuer bad "$pkcs11_head
    bootstrap: {mode: SelfSigned, subject: {commonName: Root}, keyAlgorithm: RSA, keySize: 384}" |
  reject "bootstrap RSA size 384" 'RSA keys must have size 2048, 3072 or 4096'
issuer Issuer bad "$pkcs11_head
    bootstrap: {mode: SelfSigned, subject: {commonName: Root}, keyAlgorithm: ECDSA, keySize: 521}" |
  reject "bootstrap ECDSA size 521" 'ECDSA keys must have size 256 or 384'
issuer Issuer bad "$pkcs11_head
    bootstrap: {mode: SelfSigned, subject: {commonName: Root}, keyAlgorithm: Ed25519, keySize: 255}" |
  reject "bootstrap Ed25519 with a size" 'Ed25519 keys have no size; remove bootstrap.keySize'
issuer Issuer bad "$pkcs11_head
    bootstrap: {mode: SelfSigned, subject: {commonName: Root}, keySize: 256}" |
  reject "bootstrap keySize without keyAlgorithm" 'keySize needs keyAlgorithm'
issuer Issuer bad "$pkcs11_head
    bootstrap: {mode: SelfSigned, subject: {commonName: Root}, duration: 30m}" |
  reject "bootstrap duration under 1h" 'duration must be at least 1h'
issuer Issuer bad "  awsKMS: {keyID: alias/ca, caSecretRef: {name: c}}" |
  reject "awsKMS without region" 'spec.awsKMS.region: Required value'
issuer Issuer bad "  awsKMS: {keyID: alias/ca, region: us-east-1}" |
  reject "awsKMS with neither caSecretRef nor bootstrap" 'exactly one of caSecretRef or bootstrap must be set'
issuer Issuer bad "  awsKMS: {keyID: alias/ca, region: us-east-1, endpoint: \"localhost:4566\", caSecretRef: {name: c}}" |
  reject "awsKMS endpoint without a scheme" 'endpoint must be an http or https URL'
issuer Issuer bad "  selfSigned: {}
  minDuration: 48h
  maxDuration: 24h" | reject "minDuration over maxDuration" 'minDuration must not be longer than maxDuration'
issuer Issuer bad "  selfSigned: {}
  maxDuration: 1y" | reject "maxDuration in years" 'spec.maxDuration: Invalid value: "1y"'
issuer Issuer bad "  selfSigned: {foo: bar}" | reject "unknown field under selfSigned" 'unknown field "spec.selfSigned.foo"'
issuer ClusterIssuer "$NS-bad" "$pkcs11_head
    pin: \"1234\"
$bootstrap" | reject "unknown field in a ClusterIssuer" 'unknown field "spec.pkcs11.pin"'

# --- CertificatePolicies ------------------------------------------------------------------------
# Cluster-scoped: every one this test creates is named after $NS, and deleted by cleanup.
for example in crds/examples/certificatepolicy-*.yaml; do
  name=$NS-$(basename "$example" .yaml)
  CLUSTER_POLICIES+=("$name")
  sed "s/^  name: .*$/  name: $name/" "$example" | accept "example $(basename "$example")"
done
# docs/policy.md: every example (marked <!-- example: NAME -->) passes the schema and the CEL
# rules as written. Server-side dry run: the API server validates but keeps nothing.
python3 - docs/policy.md "$WORK/doc-examples" <<'PY'
import os, re, sys
text = open(sys.argv[1]).read()
os.makedirs(sys.argv[2], exist_ok=True)
for name, body in re.findall(r"<!-- example: ([a-z0-9-]+) -->\n```yaml\n(.*?)```", text, re.S):
    open(os.path.join(sys.argv[2], name + ".yaml"), "w").write(body)
PY
doc_examples=("$WORK"/doc-examples/*.yaml)
if [ "${#doc_examples[@]}" -lt 15 ] || [ ! -e "${doc_examples[0]}" ]; then
  fail "docs/policy.md has one example per rule: found ${#doc_examples[@]}"
fi
for example in "${doc_examples[@]}"; do
  [ -e "$example" ] || continue
  if kubectl apply --dry-run=server -f "$example" >"$WORK/out" 2>"$WORK/err"; then
    pass "accepts: docs/policy.md example $(basename "$example" .yaml)"
  else
    fail "accepts: docs/policy.md example $(basename "$example" .yaml): $(cat "$WORK/err")"
  fi
done

CLUSTER_POLICIES+=("$NS-full")
accept "a CertificatePolicy with every field" <<EOF2
apiVersion: certwright.dev/v1alpha1
kind: CertificatePolicy
metadata: {name: $NS-full}
spec:
  selector:
    issuerRefs: [{name: corp-ca, kind: ClusterIssuer}, {name: "team-*"}]
    namespaces:
      names: ["team-*"]
      matchLabels: {tier: web}
      matchExpressions:
        - {key: env, operator: In, values: [prod, staging]}
        - {key: legacy, operator: DoesNotExist}
    requesters: {users: [alice], groups: ["system:serviceaccounts:team-a"], serviceAccounts: ["team-a/*"]}
    doors: [CertificateSigningRequest, PodCertificateRequest]
  allowed:
    commonName: "{{name}}.{{namespace}}.svc"
    dnsNames: ["*.{{namespace}}.svc", "**.team-a.example.com", "{{serviceAccount}}.{{namespace}}.svc"]
    ipAddresses: [10.0.0.0/8, "fd00::/8", 192.0.2.1/32]
    uris: ["spiffe://cluster.local/ns/{{namespace}}/sa/{{serviceAccount}}"]
    emailAddresses: ["*@team-a.example.com", "ops@**.example.org"]
    subject:
      organizations: [Example]
      organizationalUnits: ["{{namespace}}"]
      countries: [DE, FR]
      provinces: ["*"]
      localities: ["*"]
      streetAddresses: ["*"]
      postalCodes: ["*"]
      serialNumbers: ["{{name}}"]
    usages: [digital signature, key encipherment, server auth, client auth]
    keyAlgorithms: [{algorithm: RSA, minSize: 3072}, {algorithm: ECDSA, minSize: 256}, {algorithm: Ed25519}]
    isCA: true
    maxPathLength: 0
  denied:
    dnsNames: ["**.evil.com"]
    ipAddresses: [10.96.0.0/12]
    uris: ["spiffe://cluster.local/ns/kube-system/**"]
    emailAddresses: ["ceo@**"]
  constraints: {minDuration: 1h, maxDuration: 2160h}
EOF2
CLUSTER_POLICIES+=("$NS-empty")
accept "an empty CertificatePolicy (selects everything, allows everything but CAs)" <<EOF2
apiVersion: certwright.dev/v1alpha1
kind: CertificatePolicy
metadata: {name: $NS-empty}
spec: {}
EOF2
CLUSTER_POLICIES+=("$NS-allows-none")
accept "empty allowed lists (allow nothing of their kind)" <<EOF2
apiVersion: certwright.dev/v1alpha1
kind: CertificatePolicy
metadata: {name: $NS-allows-none}
spec:
  allowed: {commonName: "", dnsNames: [], ipAddresses: [], uris: [], emailAddresses: [], usages: [], keyAlgorithms: []}
EOF2
expect_output "kubectl explain documents certificatepolicy.spec.allowed.dnsNames" \
  '"**" one or more whole labels' kubectl explain cwpolicy.spec.allowed.dnsNames
expect_output "kubectl explain documents certificatepolicy.spec.constraints.maxDuration" \
  "as an issuer's maxDuration shortens it" kubectl explain certificatepolicies.certwright.dev.spec.constraints.maxDuration
expect_output "kubectl get certificatepolicies shows Ready, Issuer and Age" \
  "NAME READY ISSUER AGE" kubectl get certificatepolicies.certwright.dev "$NS-full"
expect_output "kubectl get -o wide adds Status" "READY ISSUER STATUS AGE" kubectl get cwpolicy "$NS-full" -o wide
expect_output "the certwright category lists CertificatePolicies" \
  "certificatepolicy.certwright.dev/$NS-full" kubectl get certwright -n "$NS"
status='{"status":{"conditions":[{"type":"Ready","status":"False","reason":"Invalid","message":"no good","lastTransitionTime":"'$now'","observedGeneration":1}],"observedGeneration":1}}'
expect_ok "policy status is written through the status subresource" \
  kubectl patch cwpolicy "$NS-full" --subresource=status --type=merge -p "$status"
# A controller of another test running meanwhile (e2e.pod_rotation runs in the background) may
# write its own status over this one: the columns must show whatever status the object has.
policy_columns() {
  local ready message
  ready=$(kubectl get cwpolicy "$NS-full" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')
  message=$(kubectl get cwpolicy "$NS-full" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].message}')
  echo "$NS-full $ready corp-ca $message"
}
for _ in 1 2 3; do
  columns=$(policy_columns)
  kubectl get cwpolicy "$NS-full" -o wide >"$WORK/columns" 2>&1 || true
  [ "$(policy_columns)" = "$columns" ] && break
done
case $columns in
"$NS-full False corp-ca no good" | "$NS-full True corp-ca The policy is in force")
  pass "the status is the one written above, or a controller's" ;;
*) fail "the policy's status is neither the one written above nor a controller's: $columns" ;;
esac
expect_output "the Ready, Issuer and Status columns show the policy's status ($columns)" "$columns" \
  cat "$WORK/columns"

# CertificatePolicies that must be refused, one rule a row.
policy() { printf 'apiVersion: certwright.dev/v1alpha1\nkind: CertificatePolicy\nmetadata: {name: %s-bad}\nspec:\n%s\n' "$NS" "$1"; }

policy "  selector: {issuerRefs: []}" |
  reject "empty issuerRefs" 'spec.selector.issuerRefs: Invalid value: must not be empty; omit it to select everything'
policy "  selector: {issuerRefs: [{name: corp, kind: Vault}]}" |
  reject "unknown issuer kind" 'spec.selector.issuerRefs[0].kind: Unsupported value: "Vault"'
policy "  selector: {namespaces: {names: []}}" | reject "empty namespace names" 'must not be empty; omit it to select everything'
policy "  selector: {requesters: {groups: []}}" | reject "empty groups" 'must not be empty; omit it to select everything'
policy "  selector: {doors: []}" | reject "empty doors" 'must not be empty; omit it to select everything'
policy "  selector: {namespaces: {matchExpressions: [{key: env, operator: In}]}}" |
  reject "In without values" 'values must be set when operator is In or NotIn'
policy "  selector: {namespaces: {matchExpressions: [{key: env, operator: DoesNotExist, values: [a]}]}}" |
  reject "DoesNotExist with values" 'values must be empty when operator is Exists or DoesNotExist'
policy "  selector: {namespaces: {matchExpressions: [{key: env, operator: Equals, values: [a]}]}}" |
  reject "unknown operator" 'spec.selector.namespaces.matchExpressions[0].operator: Unsupported value: "Equals"'
policy "  selector: {requesters: {serviceAccounts: [builder]}}" |
  reject "serviceAccount without namespace" 'must be namespace/name (globs allowed, as in team-a/*)'
policy "  selector: {doors: [KubernetesSigner]}" |
  reject "the internal door" 'spec.selector.doors[0]: Unsupported value: "KubernetesSigner"'
policy "  allowed: {dnsNames: [\"web**.example.com\"]}" |
  reject "allowed DNS ** inside a label" '"**" must be a whole DNS label (as in **.example.com)'
policy "  denied: {dnsNames: [\"***.example.com\"]}" |
  reject "denied DNS ***" 'spec.denied.dnsNames[0]: Invalid value: "***.example.com": "**" must be a whole DNS label'
policy "  allowed: {dnsNames: [\"{{pod}}.example.com\"]}" | reject "unknown variable in dnsNames" \
  'uses an unknown variable; the variables are {{namespace}}, {{name}} and {{serviceAccount}}'
policy "  allowed: {uris: [\"spiffe://cluster.local/ns/{{namespace}}/sa/{{sa}}\"]}" | reject "unknown variable in uris" \
  'uses an unknown variable; the variables are {{namespace}}, {{name}} and {{serviceAccount}}'
policy "  allowed: {commonName: \"{{namespace\"}" | reject "unclosed variable in commonName" \
  'spec.allowed.commonName: Invalid value: "{{namespace": uses an unknown variable'
policy "  allowed: {subject: {localities: [\"{{city}}\"]}}" | reject "unknown variable in a subject field" \
  'uses an unknown variable; the variables are {{namespace}}, {{name}} and {{serviceAccount}}'
policy "  allowed: {ipAddresses: [10.0.0.0/8, 10.0.0.1]}" |
  reject "an IP that is not a CIDR" 'spec.allowed.ipAddresses[1]: Invalid value: "10.0.0.1": must be a CIDR such as 10.0.0.0/8 or fd00::/8'
policy "  allowed: {ipAddresses: [10.0.0.0/33]}" | reject "IPv4 prefix over 32" 'must be a CIDR such as 10.0.0.0/8 or fd00::/8'
policy "  allowed: {ipAddresses: [\"010.0.0.0/8\"]}" | reject "leading zero" 'must be a CIDR such as 10.0.0.0/8 or fd00::/8'
policy "  allowed: {ipAddresses: [\"::ffff:10.0.0.0/104\"]}" |
  reject "IPv4-mapped IPv6 range" 'must be a CIDR such as 10.0.0.0/8 or fd00::/8'
policy "  denied: {ipAddresses: [10.1.0.0/8]}" |
  reject "host bits set" 'spec.denied.ipAddresses[0]: Invalid value: "10.1.0.0/8": must have no bits set after the prefix length'
policy "  denied: {ipAddresses: [\"fd00::1/8\"]}" |
  reject "IPv6 host bits set" 'must have no bits set after the prefix length, as in 10.0.0.0/8'
policy "  allowed: {emailAddresses: [example.com]}" |
  reject "email without @" 'must be local-part@domain (globs allowed, as in *@example.com)'
policy "  denied: {emailAddresses: [\"*@mail**.example.com\"]}" |
  reject "email domain ** inside a label" '"**" must be a whole DNS label (as in **.example.com)'
policy "  allowed: {usages: [Server Auth]}" | reject "unknown usage" 'spec.allowed.usages[0]: Unsupported value: "Server Auth"'
policy "  allowed: {keyAlgorithms: [{minSize: 2048}]}" |
  reject "key algorithm missing" 'spec.allowed.keyAlgorithms[0].algorithm: Required value'
policy "  allowed: {keyAlgorithms: [{algorithm: DSA}]}" |
  reject "unknown key algorithm" 'spec.allowed.keyAlgorithms[0].algorithm: Unsupported value: "DSA"'
policy "  allowed: {keyAlgorithms: [{algorithm: Ed25519, minSize: 256}]}" |
  reject "Ed25519 with a minSize" 'Ed25519 keys have no size; remove minSize'
policy "  allowed: {maxPathLength: 1}" | reject "maxPathLength without isCA" 'maxPathLength requires isCA: true'
policy "  allowed: {isCA: false, maxPathLength: 0}" | reject "maxPathLength with isCA false" 'maxPathLength requires isCA: true'
policy "  allowed: {isCA: true, maxPathLength: -1}" | reject "negative maxPathLength" 'spec.allowed.maxPathLength: Invalid value: -1'
policy "  constraints: {minDuration: 48h, maxDuration: 24h}" |
  reject "minDuration over maxDuration" 'minDuration must not be longer than maxDuration'
policy "  constraints: {maxDuration: 30d}" | reject "maxDuration in days" 'spec.constraints.maxDuration: Invalid value: "30d"'
policy "  allowed: {dnsName: [a.example.com]}" | reject "unknown field (strict field validation)" 'unknown field "spec.allowed.dnsName"'

# --- Clean up ----------------------------------------------------------------------------------
expect_ok "delete the example ClusterIssuer" kubectl delete clusterissuers.certwright.dev "$root"
CLUSTER_ISSUERS=()
expect_ok "delete the CertificatePolicies" kubectl delete certificatepolicies.certwright.dev "${CLUSTER_POLICIES[@]}"
CLUSTER_POLICIES=()
expect_ok "delete namespace $NS" kubectl delete namespace "$NS" --wait=false
finish
