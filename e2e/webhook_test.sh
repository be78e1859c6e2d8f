#!/usr/bin/env bash
# e2e/webhook_test.sh: `certwright webhook` called by the real kube-apiserver (issue #11). Webhook
# configurations with `url: https://127.0.0.1:<port>/...` and no caBundle are applied; the webhook
# makes its own CA and serving certificate in a Secret, fills caBundle, and from then on
# `kubectl apply` of a bad manifest is refused with the field or the policy rule named, valid ones
# pass (and get their defaults), CSRs that policy denies are refused at create, the serving
# certificate is replaced under load without a failed request, an edited caBundle is repaired, and
# a restart keeps the CA.
#
# The configurations select only this scenario's namespace (namespaceSelector), cluster-scoped
# objects labelled certwright.dev/e2e=$NS (objectSelector) and CSRs for this namespace's issuers
# (matchConditions), so a configuration left behind cannot block anyone else; ctest runs it
# serially all the same (webhook configurations are cluster-scoped).
#
#   e2e/webhook_test.sh path/to/certwright
source "$(dirname "$0")/lib.sh"
# `producer | refused ...`: the checks count in this shell, not in a pipeline's subshell.
shopt -s lastpipe
e2e_init webhook "$1"
T=45
WEBHOOK_LOG=$WORK/webhook.log
EXTRA_LOGS+=("$WEBHOOK_LOG")
WEBHOOK_PID=

# ---- an issuer for the Certificates and CSRs below ----
offline_ca "$WORK/root" "/CN=e2e webhook root/O=certwright"
k create secret tls root-ca --cert="$WORK/root.crt" --key="$WORK/root.key" >/dev/null
softhsm_token webhook 1234
k create secret generic hsm-pin --from-literal=pin=1234 >/dev/null
start_controller
apply <<YAML
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: web-ca}
spec: {ca: {secretName: root-ca}, maxDuration: 2160h}
---
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: hsm-ca}
spec:
  pkcs11:
    modulePath: $MODULE
    keyURI: "pkcs11:token=webhook;object=root"
    pinSecretRef: {name: hsm-pin}
    bootstrap: {mode: SelfSigned, subject: {commonName: webhook e2e HSM root}, keyAlgorithm: ECDSA, keySize: 384}
YAML
wait_for $T "the CA Issuer is Ready" ready issuer/web-ca
wait_for $T "the HSM Issuer is Ready" ready issuer/hsm-ca
# Without a webhook, the controller picks the key the webhook would default: the HSM issuer's
# bootstrap key type, for a Certificate that writes neither privateKey.algorithm nor size.
apply <<YAML
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: before-webhook}
spec:
  secretName: before-webhook-tls
  dnsNames: [before.$NS.svc]
  issuerRef: {name: hsm-ca}
YAML
wait_for $T "a Certificate applied before any webhook is issued" ready cwcert/before-webhook
check_eq "its spec has no privateKey.algorithm" "$(field cwcert/before-webhook .spec.privateKey.algorithm)" ""
check_contains "... and the controller made a P-384 key, the HSM issuer's type" "secp384r1" bash -c \
  "kubectl -n $NS get secret before-webhook-tls -o jsonpath='{.data.tls\\.crt}' | base64 -d | openssl x509 -noout -text"

# ---- the webhook configurations, before any webhook runs ----
PORT=$(free_port)
HEALTH_PORT=$(free_port)
cluster_object "validatingwebhookconfiguration/$NS-validate"
cluster_object "mutatingwebhookconfiguration/$NS-mutate"
kubectl apply -f - >"$WORK/apply.out" 2>&1 <<YAML || abort "apply the webhook configurations: $(cat "$WORK/apply.out")"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: $NS-validate}
webhooks:
- name: validate.certwright.dev
  clientConfig: {url: "https://127.0.0.1:$PORT/validate"}
  rules:
  - {apiGroups: [certwright.dev], apiVersions: [v1alpha1], operations: [CREATE, UPDATE], resources: [certificates, issuers], scope: Namespaced}
  namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: $NS}}
  failurePolicy: Fail
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 5
- name: cluster.validate.certwright.dev
  clientConfig: {url: "https://127.0.0.1:$PORT/validate"}
  rules:
  - {apiGroups: [certwright.dev], apiVersions: [v1alpha1], operations: [CREATE, UPDATE], resources: [clusterissuers, certificatepolicies], scope: Cluster}
  objectSelector: {matchLabels: {certwright.dev/e2e: $NS}}
  failurePolicy: Fail
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 5
- name: csr.validate.certwright.dev
  clientConfig: {url: "https://127.0.0.1:$PORT/validate"}
  rules:
  - {apiGroups: [certificates.k8s.io], apiVersions: [v1], operations: [CREATE], resources: [certificatesigningrequests], scope: Cluster}
  matchConditions:
  - {name: for-this-namespace, expression: "object.spec.signerName.startsWith('issuers.certwright.dev/$NS.')"}
  failurePolicy: Fail
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 5
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: $NS-mutate}
webhooks:
- name: mutate.certwright.dev
  clientConfig: {url: "https://127.0.0.1:$PORT/mutate"}
  rules:
  - {apiGroups: [certwright.dev], apiVersions: [v1alpha1], operations: [CREATE, UPDATE], resources: [certificates], scope: Namespaced}
  namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: $NS}}
  failurePolicy: Fail
  reinvocationPolicy: IfNeeded
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 5
YAML

# A valid Certificate, applied many times below.
cat >"$WORK/valid.yaml" <<YAML
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: web, namespace: $NS}
spec:
  secretName: web-tls
  dnsNames: [web.$NS.svc, web.$NS.svc.cluster.local]
  issuerRef: {name: web-ca}
YAML
check_contains "with failurePolicy Fail and no webhook running, a Certificate is refused" "failed calling webhook" \
  bash -c "! kubectl apply -f $WORK/valid.yaml 2>&1"

# ---- the webhook ----
start_webhook() {
  echo "==== start $(date -u +%H:%M:%S.%N) ====" >>"$WEBHOOK_LOG"
  "$CW" webhook --kubeconfig "$KUBECONFIG" --namespace "$NS" --listen "127.0.0.1:$PORT" \
    --health-address "127.0.0.1:$HEALTH_PORT" --serving-ip-addresses 127.0.0.1 \
    --validating-webhook-configuration "$NS-validate" --mutating-webhook-configuration "$NS-mutate" \
    --resync-interval 2s --serving-certificate-duration 60s --log-level debug "$@" </dev/null >>"$WEBHOOK_LOG" 2>&1 &
  WEBHOOK_PID=$!
  BACKGROUND_PIDS+=("$WEBHOOK_PID")
  local deadline=$((SECONDS + 60))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HEALTH_PORT/readyz")" = 200 ]; do
    kill -0 "$WEBHOOK_PID" 2>/dev/null || abort "the webhook exited while starting: $(tail -n 20 "$WEBHOOK_LOG")"
    ((SECONDS < deadline)) || abort "the webhook is not ready within 60s"
    sleep 0.2
  done
}
stop_webhook() {
  kill -TERM "$WEBHOOK_PID" 2>/dev/null || true
  wait "$WEBHOOK_PID" 2>/dev/null || true
}
ca_in_secret() { k get secret certwright-webhook-tls -o jsonpath='{.data.ca\.crt}'; }
ca_bundle() { kubectl get "$1" "$2" -o jsonpath="{.webhooks[${3:-0}].clientConfig.caBundle}"; }
bundles_match() {
  local want
  want=$(ca_in_secret)
  [ -n "$want" ] || return 1
  local i
  for i in 0 1 2; do [ "$(ca_bundle validatingwebhookconfiguration "$NS-validate" $i)" = "$want" ] || return 1; done
  [ "$(ca_bundle mutatingwebhookconfiguration "$NS-mutate")" = "$want" ]
}
serving_fingerprint() {
  k get secret certwright-webhook-tls -o jsonpath='{.data.tls\.crt}' | base64 -d |
    openssl x509 -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2
}
presented_fingerprint() {
  openssl s_client -connect "127.0.0.1:$PORT" -servername 127.0.0.1 </dev/null 2>/dev/null |
    openssl x509 -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2
}

note "1. the webhook makes its serving certificate and fills caBundle"
start_webhook
check "the Secret holds tls.crt, tls.key, ca.crt and ca.key" bash -c \
  "[ \$(kubectl -n $NS get secret certwright-webhook-tls -o go-template='{{len .data}}') = 4 ]"
wait_for $T "caBundle of every webhook is the Secret's CA" bundles_match
k get secret certwright-webhook-tls -o jsonpath='{.data.ca\.crt}' | base64 -d >"$WORK/webhook-ca.crt"
check "the serving certificate verifies against that CA for 127.0.0.1" bash -c \
  "openssl s_client -connect 127.0.0.1:$PORT -CAfile $WORK/webhook-ca.crt -verify_ip 127.0.0.1 -verify_return_error </dev/null 2>&1 | grep -q 'Verify return code: 0'"
check_eq "the certificate served is the Secret's" "$(presented_fingerprint)" "$(serving_fingerprint)"

note "2. bad manifests are refused at kubectl apply, with the field named"
# refused NAME FIELD MESSAGE < manifest: refused, naming the field, with the message. What the CRD
# schema (with its CEL rules) can check is refused by the API server before any webhook; the rest by
# ours, which uses the same messages as the controller.
refused() {
  local name=$1 field=$2 text=$3
  if kubectl -n "$NS" apply -f - >"$WORK/refused.out" 2>&1; then
    fail "$name: applied, not refused"
  elif ! grep -qF -- "$field" "$WORK/refused.out" || ! grep -qF -- "$text" "$WORK/refused.out"; then
    fail "$name: refused without '$field' and '$text': $(cat "$WORK/refused.out")"
  else
    pass "$name"
  fi
}
# refused_by_webhook NAME TEXT < manifest: refused by our webhook, with TEXT in the message.
refused_by_webhook() {
  local name=$1 text=$2
  if kubectl -n "$NS" apply -f - >"$WORK/refused.out" 2>&1; then
    fail "$name: applied, not refused"
  elif ! grep -qF 'admission webhook "validate.certwright.dev" denied the request' "$WORK/refused.out" &&
    ! grep -qF 'admission webhook "cluster.validate.certwright.dev" denied the request' "$WORK/refused.out" &&
    ! grep -qF 'admission webhook "csr.validate.certwright.dev" denied the request' "$WORK/refused.out"; then
    fail "$name: refused, but not by the webhook: $(cat "$WORK/refused.out")"
  elif ! grep -qF -- "$text" "$WORK/refused.out"; then
    fail "$name: refused without '$text': $(cat "$WORK/refused.out")"
  else
    pass "$name"
  fi
}
cert() { # NAME SPEC-LINES...
  printf 'apiVersion: certwright.dev/v1alpha1\nkind: Certificate\nmetadata: {name: %s}\nspec:\n  secretName: %s-tls\n  issuerRef: {name: web-ca}\n' "$1" "$1"
  shift
  printf '  %s\n' "$@"
}
# Only the webhook can check these.
cert bad-dns 'dnsNames: [ok.example.com, "bad_name!.example.com"]' |
  refused_by_webhook "an invalid DNS name" 'spec.dnsNames[1]: "bad_name!.example.com" is not a valid DNS name'
cert bad-wildcard 'dnsNames: ["a.*.example.com"]' | refused_by_webhook "a wildcard that is not the first label" 'spec.dnsNames[0]: "a.*.example.com"'
cert bad-label 'dnsNames: ["'"$(printf 'a%.0s' $(seq 64))"'.example.com"]' |
  refused_by_webhook "a DNS label longer than 63 characters" 'spec.dnsNames[0]'
cat <<YAML | refused_by_webhook "a namespaced awsKMS Issuer without its own credentials (custody)" \
  'spec.awsKMS.credentialsSecretRef is required for a namespaced Issuer'
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: borrowing}
spec: {awsKMS: {keyID: "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", region: eu-west-1, caSecretRef: {name: root-ca, key: tls.crt}}}
YAML
# The schema refuses these first; the message is the one the webhook and controller give too.
cert bad-ip 'dnsNames: [a.example.com]' 'ipAddresses: [300.1.2.3]' | refused "an invalid IP address" 'spec.ipAddresses[0]' '"300.1.2.3"'
cert bad-uri 'uris: ["not a uri"]' | refused "an invalid URI" 'spec.uris[0]' 'absolute URI'
cert bad-email 'emailAddresses: ["@nowhere"]' | refused "an invalid email address" 'spec.emailAddresses[0]' '"@nowhere"'
cert bad-renew 'dnsNames: [a.example.com]' 'duration: 24h' 'renewBefore: 48h' |
  refused "renewBefore not shorter than duration" 'spec.renewBefore' 'renewBefore must be shorter than duration'
cert bad-key 'dnsNames: [a.example.com]' 'privateKey: {algorithm: RSA, size: 1024}' |
  refused "an RSA key too small" 'spec.privateKey.size' 'RSA keys must have size 2048, 3072 or 4096'
cert bad-ed 'dnsNames: [a.example.com]' 'privateKey: {algorithm: Ed25519, size: 256}' |
  refused "an Ed25519 key with a size" 'spec.privateKey.size' 'Ed25519 keys have no size'
cert bad-ecdsa 'dnsNames: [a.example.com]' 'privateKey: {size: 521}' |
  refused "an ECDSA size with the algorithm unset" 'spec.privateKey.size' 'ECDSA keys must have size 256 or 384'
cluster_object "certificatepolicies.certwright.dev/$NS-bad"
cat <<YAML | refused "a CertificatePolicy with a glob the engine refuses" 'spec.allowed.dnsNames[0]' '"**" must be a whole DNS label'
apiVersion: certwright.dev/v1alpha1
kind: CertificatePolicy
metadata: {name: $NS-bad, labels: {certwright.dev/e2e: $NS}}
spec:
  selector: {namespaces: {names: [$NS]}}
  allowed: {dnsNames: ["foo**.example.com"]}
YAML
cat <<YAML | refused "an Issuer with minDuration above maxDuration" 'spec.minDuration' 'minDuration must not be longer than maxDuration'
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: bad-limits}
spec: {ca: {secretName: root-ca}, minDuration: 720h, maxDuration: 24h}
YAML
check "nothing refused was stored" bash -c \
  "! kubectl -n $NS get cwcert bad-dns bad-wildcard bad-ip bad-key 2>/dev/null | grep -q bad"

note "3. valid manifests pass, with their defaults"
check "a valid Certificate is applied" kubectl apply -f "$WORK/valid.yaml"
check_eq "a ca Issuer's key type is not known to the webhook: no default is guessed" \
  "$(field cwcert/web .spec.privateKey.algorithm)" ""
wait_for $T "the Certificate is issued (with the controller's default, ECDSA P-256)" ready cwcert/web
check_contains "... and its key is P-256" "prime256v1" bash -c \
  "kubectl -n $NS get secret web-tls -o jsonpath='{.data.tls\\.crt}' | base64 -d | openssl x509 -noout -text"
cat <<YAML | kubectl -n "$NS" apply -f - >"$WORK/hsm.out" 2>&1 || fail "the HSM Certificate is applied: $(cat "$WORK/hsm.out")"
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: on-hsm}
spec:
  secretName: on-hsm-tls
  dnsNames: [on-hsm.$NS.svc]
  issuerRef: {name: hsm-ca}
YAML
check_eq "privateKey is defaulted from the HSM issuer's CA key (ECDSA P-384)" \
  "$(field cwcert/on-hsm .spec.privateKey.algorithm)/$(field cwcert/on-hsm .spec.privateKey.size)" "ECDSA/384"
check "applying it again is a no-op (the default is idempotent)" bash -c \
  "kubectl apply -f $WORK/valid.yaml | grep -q unchanged"
cert durable 'dnsNames: [durable.example.com]' 'duration: 8760h' >"$WORK/durable.yaml"
check_contains "a duration above the issuer's maxDuration passes with a warning" "Warning: spec.duration" \
  kubectl -n "$NS" apply -f "$WORK/durable.yaml"

note "4. policy at admission: Certificates and CSRs"
cluster_object "certificatepolicies.certwright.dev/$NS-dns"
kubectl apply -f - >"$WORK/apply.out" 2>&1 <<YAML || fail "apply the policy: $(cat "$WORK/apply.out")"
apiVersion: certwright.dev/v1alpha1
kind: CertificatePolicy
metadata: {name: $NS-dns, labels: {certwright.dev/e2e: $NS}}
spec:
  selector: {namespaces: {names: [$NS]}}
  allowed:
    dnsNames: ["*.{{namespace}}.svc", "*.{{namespace}}.svc.cluster.local", "*.example.com"]
YAML
policy_refuses() {
  cert evil 'dnsNames: [web.'"$NS"'.svc, api.evil.com]' | kubectl -n "$NS" apply -f - >"$WORK/policy.out" 2>&1 && return 1
  grep -qF "CertificatePolicy \"$NS-dns\": allowed.dnsNames: \"api.evil.com\"" "$WORK/policy.out"
}
wait_for $T "a Certificate outside the policy is refused at apply, naming the policy and rule" policy_refuses
check "the Certificate the policy allows still applies" kubectl apply -f "$WORK/valid.yaml"
csr() { # NAME SAN
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/$1.key" -out "$WORK/$1.csr" \
    -subj "/CN=$2" -addext "subjectAltName=DNS:$2" 2>/dev/null
  cluster_object "csr/$NS-$1"
  cat <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: $NS-$1}
spec:
  signerName: issuers.certwright.dev/$NS.web-ca
  request: $(base64 -w0 <"$WORK/$1.csr")
  usages: [digital signature, server auth]
YAML
}
csr evil-csr api.evil.com | refused_by_webhook "a CSR the policy denies is refused at create, naming the policy" \
  "CertificatePolicy \"$NS-dns\": allowed.dnsNames: \"api.evil.com\""
check "the refused CSR was not stored" bash -c "! kubectl get csr $NS-evil-csr 2>/dev/null"
# A requester who may create CSRs but lacks "reference" on our signer learns nothing of the issuer
# or its policies: the webhook asks a SubjectAccessReview first, as the CSR signer does.
cluster_object "clusterrole/$NS-csr-creator"
cluster_object "clusterrolebinding/$NS-csr-creator"
k create serviceaccount tenant >/dev/null
kubectl create clusterrole "$NS-csr-creator" --verb=create,get --resource=certificatesigningrequests.certificates.k8s.io >/dev/null
kubectl create clusterrolebinding "$NS-csr-creator" --clusterrole="$NS-csr-creator" --serviceaccount="$NS:tenant" >/dev/null
csr tenant-csr api.evil.com >"$WORK/tenant-csr.yaml"
if kubectl --as="system:serviceaccount:$NS:tenant" apply -f "$WORK/tenant-csr.yaml" >"$WORK/tenant.out" 2>&1; then
  fail "a CSR from a requester without the reference right is refused: it was created"
elif grep -qF "user \"system:serviceaccount:$NS:tenant\" may not use Issuer $NS/web-ca: it needs the verb \"reference\"" "$WORK/tenant.out" &&
  ! grep -qF "CertificatePolicy" "$WORK/tenant.out"; then
  pass "a CSR from a requester without the reference right is refused for that, not for the policy"
else
  fail "a CSR from a requester without the reference right is refused for that: $(cat "$WORK/tenant.out")"
fi
csr good-csr "good.$NS.svc" | kubectl apply -f - >"$WORK/csr.out" 2>&1 && pass "a CSR the policy allows is created" ||
  fail "a CSR the policy allows is created: $(cat "$WORK/csr.out")"
printf 'not a CSR' >"$WORK/garbage.csr"
cat <<YAML | refused "a CSR whose request is not PEM is refused at create" 'spec.request' 'CERTIFICATE REQUEST'
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: $NS-garbage}
spec:
  signerName: issuers.certwright.dev/$NS.web-ca
  request: $(base64 -w0 <"$WORK/garbage.csr")
  usages: [digital signature]
YAML

note "5. what is not an AdmissionReview, straight to the HTTPS port"
curl_webhook() { curl -s --cacert "$WORK/webhook-ca.crt" -o "$WORK/curl.out" -w '%{http_code}' "$@"; }
check_eq "a body that is not JSON is a 400" "$(curl_webhook -X POST --data-binary 'garbage' "https://127.0.0.1:$PORT/validate")" 400
check_contains "... saying why" "not an AdmissionReview" cat "$WORK/curl.out"
head -c 5000000 /dev/zero | tr '\0' 'a' >"$WORK/huge.json"
check_eq "a 5 MB body is a 413, not read" "$(curl_webhook -X POST --data-binary @"$WORK/huge.json" "https://127.0.0.1:$PORT/validate")" 413
check_eq "GET /validate is a 405" "$(curl_webhook "https://127.0.0.1:$PORT/validate")" 405
check_eq "an unknown path is a 404" "$(curl_webhook -X POST -d '{}' "https://127.0.0.1:$PORT/nowhere")" 404
check_eq "/healthz answers on the HTTPS port too" "$(curl_webhook "https://127.0.0.1:$PORT/healthz")" 200
metrics_of_webhook() { curl -fsS "http://127.0.0.1:$HEALTH_PORT/metrics"; }
check_contains "/metrics counts denied Certificate reviews" 'certwright_webhook_requests_total{operation="CREATE",path="/validate",resource="certificates",result="denied"}' metrics_of_webhook
check_contains "/metrics has review latency" 'certwright_webhook_request_duration_seconds_bucket' metrics_of_webhook
check "the webhook is still up" kill -0 "$WEBHOOK_PID"

note "6. the serving certificate is replaced under load, without a failed request"
before=$(serving_fingerprint)
(
  n=0 bad=0
  while [ ! -e "$WORK/stop-load" ]; do
    if kubectl apply --dry-run=server -f "$WORK/valid.yaml" >"$WORK/load-last.out" 2>&1; then
      n=$((n + 1))
    else
      bad=$((bad + 1))
      cat "$WORK/load-last.out" >>"$WORK/load-failures.out"
    fi
  done
  echo "$n $bad" >"$WORK/load.result"
) &
LOAD_PID=$!
BACKGROUND_PIDS+=("$LOAD_PID")
wait_for 90 "the serving certificate is renewed at two thirds of its minute (plus backdate)" \
  bash -c "[ \"\$(kubectl -n $NS get secret certwright-webhook-tls -o jsonpath='{.data.tls\\.crt}' | base64 -d | openssl x509 -noout -fingerprint -sha256 | cut -d= -f2)\" != '$before' ]"
renewed=$(serving_fingerprint)
wait_for 20 "new connections are served the renewed certificate" bash -c "[ \"\$(openssl s_client -connect 127.0.0.1:$PORT </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 | cut -d= -f2)\" = '$renewed' ]"
sleep 3
touch "$WORK/stop-load"
wait "$LOAD_PID" || true
read -r load_ok load_bad <"$WORK/load.result" || { load_ok=0; load_bad=unknown; }
note "load: $load_ok reviews through the API server, $load_bad failed"
check_eq "no request failed while the certificate was replaced" "$load_bad" 0
check "and requests did flow ($load_ok)" test "$load_ok" -ge 20
check_eq "the CA stayed the same" "$(k get secret certwright-webhook-tls -o jsonpath='{.data.ca\.crt}' | base64 -d | openssl x509 -noout -fingerprint -sha256 | cut -d= -f2)" \
  "$(openssl x509 -in "$WORK/webhook-ca.crt" -noout -fingerprint -sha256 | cut -d= -f2)"

note "7. an edited caBundle is repaired"
kubectl patch validatingwebhookconfiguration "$NS-validate" --type=json \
  -p "[{\"op\":\"replace\",\"path\":\"/webhooks/0/clientConfig/caBundle\",\"value\":\"$(base64 -w0 <"$WORK/root.crt")\"}]" >/dev/null
wait_for $T "the webhook writes its CA back into caBundle" bundles_match
wait_for $T "and Certificates apply again" kubectl apply -f "$WORK/valid.yaml"

note "8. a restart keeps the CA"
ca_before=$(ca_in_secret)
stop_webhook
start_webhook
check_eq "the CA in the Secret is the same" "$(ca_in_secret)" "$ca_before"
check "caBundle is unchanged" bundles_match
cert bad-after-restart 'dnsNames: ["bad_name!.example.com"]' | refused_by_webhook "bad manifests are still refused" 'spec.dnsNames[0]'
check "valid ones still pass" kubectl apply -f "$WORK/valid.yaml"
check "the webhook logged no key material" bash -c "! grep -q 'PRIVATE KEY' $WEBHOOK_LOG"
stop_webhook
finish
