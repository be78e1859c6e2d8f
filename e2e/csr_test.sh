#!/usr/bin/env bash
# e2e/csr_test.sh: Kubernetes CertificateSigningRequests signed by certwright's issuers (issue #5),
# with kubectl and openssl against the real control plane. CSRs are cluster-scoped: every name
# here starts with the test's namespace, and the scenario runs serially (ctest RUN_SERIAL).
#
#   e2e/csr_test.sh path/to/certwright
source "$(dirname "$0")/lib.sh"
e2e_init csr "$1"

# ---- fixtures: a CA Issuer, a pkcs11 ClusterIssuer with a SoftHSM2 key ----
offline_ca "$WORK/ca" "/CN=csr e2e CA" 60
k create secret tls ca --cert="$WORK/ca.crt" --key="$WORK/ca.key" >/dev/null
softhsm_token csr 1234
k create secret generic hsm-pin --from-literal=pin=1234 >/dev/null
CI=$NS-hsm
cluster_object "clusterissuers.certwright.dev/$CI"
apply <<YAML
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: ca}
spec: {ca: {secretName: ca}, maxDuration: 720h}
---
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: self}
spec: {selfSigned: {}}
---
apiVersion: certwright.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: $CI, labels: {certwright.dev/e2e: $NS}}
spec:
  pkcs11:
    modulePath: $MODULE
    keyURI: "pkcs11:token=csr;object=ca"
    pinSecretRef: {name: hsm-pin}
    bootstrap: {mode: SelfSigned, subject: {commonName: csr e2e HSM root}}
YAML

# csr NAME SIGNER USAGES(comma list) [EXPIRATION] [KEYOPTS...]: makes a key and CSR with openssl
# and creates the CertificateSigningRequest NS-NAME (as the current kubectl user).
csr() {
  local short=$1 name=$NS-$1 signer=$2 usages=$3 exp=${4:-}
  local subj=${CSR_SUBJ:-/CN=$short} san=${CSR_SAN:-DNS:$short.example.com} keyopt=()
  [ "${CSR_KEY:-ec}" = ec ] && keyopt=(-pkeyopt ec_paramgen_curve:P-256)
  openssl req -new -newkey "${CSR_KEY:-ec}" "${keyopt[@]}" -nodes -keyout "$WORK/$short.key" \
    -out "$WORK/$short.csr" -subj "$subj" -addext "subjectAltName=$san" 2>/dev/null
  local u x list=""
  IFS=, read -ra u <<<"$usages"
  for x in "${u[@]}"; do list+="    - $x"$'\n'; done
  cluster_object "csr/$name"
  ${CSR_KUBECTL:-kubectl} apply -f - >"$WORK/csr.out" 2>&1 <<YAML || { fail "create CSR $name: $(cat "$WORK/csr.out")"; return 1; }
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: $name}
spec:
  signerName: $signer
  request: $(base64 -w0 <"$WORK/$1.csr")
  ${exp:+expirationSeconds: $exp}
  usages:
$list
YAML
}
approve() { kubectl certificate approve "$NS-$1" >/dev/null; }
cert_of() { kubectl get csr "$NS-$1" -o jsonpath='{.status.certificate}' | base64 -d >"$WORK/$1.crt" && [ -s "$WORK/$1.crt" ]; }
signed() { [ -n "$(kubectl get csr "$NS-$1" -o jsonpath='{.status.certificate}')" ]; }
csr_failed() {
  local r
  r=$(kubectl get csr "$NS-$1" -o jsonpath='{.status.conditions[?(@.type=="Failed")].reason}')
  echo "Failed reason '$r': $(kubectl get csr "$NS-$1" -o jsonpath='{.status.conditions[?(@.type=="Failed")].message}')"
  [ "$r" = "$2" ]
}
failed_message() { kubectl get csr "$NS-$1" -o jsonpath='{.status.conditions[?(@.type=="Failed")].message}'; }

# ---- 1. approved while the controller is down: signed once it starts ----
note "a CSR approved while the controller is down"
csr early "issuers.certwright.dev/$NS.ca" "digital signature,server auth" ""
approve early
sleep 1
check "nothing signs it while the controller is down" bash -c "! kubectl get csr $NS-early -o jsonpath='{.status.certificate}' | grep -q ."

start_controller --cluster-issuer-selector "certwright.dev/e2e=$NS" --log-format json
wait_for 60 "the Issuer and ClusterIssuer are Ready" bash -c \
  "kubectl -n $NS wait --for=condition=Ready issuers.certwright.dev/ca --timeout=1s && kubectl wait --for=condition=Ready clusterissuers.certwright.dev/$CI --timeout=1s"
wait_for 30 "the early CSR is signed after the controller starts" signed early
check "its certificate verifies against the Issuer's CA" bash -c "cert_of(){ :; }; kubectl get csr $NS-early -o jsonpath='{.status.certificate}' | base64 -d > $WORK/early.crt && openssl verify -CAfile $WORK/ca.crt $WORK/early.crt"
check_eq "it is signed once (one Signed event)" \
  "$(kubectl get events -n default --field-selector "involvedObject.name=$NS-early,reason=Signed" -o name | wc -l)" 1

# ---- 2. a namespaced Issuer: names and usages exactly as requested ----
note "Issuer: names and usages as requested, expirationSeconds honoured"
CSR_SAN="DNS:web.example.com,DNS:www.example.com,IP:10.1.2.3" csr web "issuers.certwright.dev/$NS.ca" \
  "digital signature,key encipherment,server auth" 7200
approve web
wait_for 30 "the approved CSR is signed" signed web
cert_of web
check "status.certificate verifies against the Issuer's CA" openssl verify -CAfile "$WORK/ca.crt" "$WORK/web.crt"
check "the certificate's key is the CSR's" bash -c "[ \"\$(openssl x509 -in $WORK/web.crt -noout -pubkey)\" = \"\$(openssl req -in $WORK/web.csr -noout -pubkey)\" ]"
check_contains "SANs: exactly the requested DNS names and IP" "DNS:web.example.com, DNS:www.example.com, IP Address:10.1.2.3" \
  openssl x509 -in "$WORK/web.crt" -noout -ext subjectAltName
check_contains "extended key usage: server auth only" "TLS Web Server Authentication" \
  openssl x509 -in "$WORK/web.crt" -noout -ext extendedKeyUsage
check "no client auth was added" bash -c "! openssl x509 -in $WORK/web.crt -noout -ext extendedKeyUsage | grep -q 'Client'"
check_contains "key usage: digital signature (key encipherment dropped for an EC key)" "Digital Signature" \
  openssl x509 -in "$WORK/web.crt" -noout -ext keyUsage
secs=$(( $(date -d "$(openssl x509 -in "$WORK/web.crt" -noout -enddate | cut -d= -f2)" +%s) - $(date -d "$(openssl x509 -in "$WORK/web.crt" -noout -startdate | cut -d= -f2)" +%s) ))
check "expirationSeconds 7200 honoured (lifetime $secs s incl. backdate)" bash -c "[ $secs -ge 7200 ] && [ $secs -le 7300 ]"
check "a Signed Event is recorded on the CSR" bash -c "kubectl get events -n default --field-selector involvedObject.name=$NS-web,reason=Signed -o name | grep -q ."

# ---- 3. the HSM ClusterIssuer; expirationSeconds clamped to 600 s minimum ----
note "ClusterIssuer with a SoftHSM2 key"
CSR_KEY=rsa:2048 csr rsa "clusterissuers.certwright.dev/$CI" "digital signature,key encipherment,client auth" 600
approve rsa
wait_for 30 "the RSA CSR is signed by the HSM ClusterIssuer" signed rsa
cert_of rsa
k get secret "$CI-bootstrap-ca" -o jsonpath='{.data.ca\.crt}' | base64 -d >"$WORK/hsm-root.crt"
check "it verifies against the HSM root" openssl verify -CAfile "$WORK/hsm-root.crt" "$WORK/rsa.crt"
secs=$(( $(date -d "$(openssl x509 -in "$WORK/rsa.crt" -noout -enddate | cut -d= -f2)" +%s) - $(date -d "$(openssl x509 -in "$WORK/rsa.crt" -noout -startdate | cut -d= -f2)" +%s) ))
check "expirationSeconds 600, the minimum the API server accepts, is honoured (lifetime $secs s)" bash -c "[ $secs -ge 600 ] && [ $secs -le 700 ]"
csr long "issuers.certwright.dev/$NS.ca" "digital signature,client auth" 8640000
approve long
wait_for 30 "a 100-day request is signed" signed long
cert_of long
secs=$(( $(date -d "$(openssl x509 -in "$WORK/long.crt" -noout -enddate | cut -d= -f2)" +%s) - $(date -d "$(openssl x509 -in "$WORK/long.crt" -noout -startdate | cut -d= -f2)" +%s) ))
check "it is clamped to the Issuer's maxDuration 720h (lifetime $secs s)" bash -c "[ $secs -le $((720 * 3600 + 120)) ] && [ $secs -ge $((720 * 3600 - 5)) ]"

# ---- 4. unapproved, denied, other signers: never touched ----
note "unapproved, denied and foreign CSRs"
csr waiting "issuers.certwright.dev/$NS.ca" "digital signature,server auth" ""
csr denied "issuers.certwright.dev/$NS.ca" "digital signature,server auth" ""
kubectl certificate deny "$NS-denied" >/dev/null
csr foreign "example.com/other-signer" "digital signature,server auth" ""
approve foreign
sleep 3
check "an unapproved CSR stays unsigned" bash -c "! signed(){ :; }; [ -z \"\$(kubectl get csr $NS-waiting -o jsonpath='{.status.certificate}')\" ]"
check "a denied CSR stays unsigned" bash -c "[ -z \"\$(kubectl get csr $NS-denied -o jsonpath='{.status.certificate}')\" ]"
check "a CSR for another signer is untouched (no certificate, no Failed)" bash -c \
  "[ -z \"\$(kubectl get csr $NS-foreign -o jsonpath='{.status.certificate}{.status.conditions[?(@.type==\"Failed\")].reason}')\" ]"

# ---- 5. bad input: Failed with a clear message, never signed ----
note "bad input"
printf 'garbage' >"$WORK/garbage"
# A CSR whose signature does not verify: flip a byte near the end of the DER (the signature).
# kube-apiserver checks CSR signatures itself, so this one never reaches a signer (the signer's
# own check is in tests/controllers/csr_signer_test.cc).
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/t.key" -subj /CN=tampered \
  -outform DER -out "$WORK/t.der" 2>/dev/null
python3 - "$WORK/t.der" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[-5] ^= 0x01; open(p, "wb").write(bytes(b))
PY
openssl req -inform DER -in "$WORK/t.der" -out "$WORK/tampered.csr" 2>/dev/null || cp "$WORK/t.der" "$WORK/tampered.csr"
cat >"$WORK/tampered.yaml" <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: $NS-tampered}
spec:
  signerName: issuers.certwright.dev/$NS.ca
  request: $(base64 -w0 <"$WORK/tampered.csr")
  usages: [digital signature, server auth]
YAML
check "kube-apiserver refuses a CSR whose signature does not verify" bash -c \
  "! kubectl apply -f $WORK/tampered.yaml 2>&1 | tee /dev/stderr | grep -q created"

CSR_KEY=rsa:1024 csr weak "issuers.certwright.dev/$NS.ca" "digital signature,server auth" ""
approve weak
wait_for 30 "an RSA-1024 CSR gets Failed InvalidRequest" csr_failed weak InvalidRequest
check_contains "the message says the key is too weak" "1024" failed_message weak

csr causage "issuers.certwright.dev/$NS.ca" "digital signature,cert sign" ""
approve causage
wait_for 30 "a CSR asking for 'cert sign' gets Failed PolicyDenied" csr_failed causage PolicyDenied
check_contains "the message names the usage" '"cert sign" is not allowed' failed_message causage

csr noissuer "issuers.certwright.dev/$NS.nope" "digital signature,server auth" ""
approve noissuer
wait_for 30 "a CSR for a missing Issuer gets Failed IssuerNotFound" csr_failed noissuer IssuerNotFound
check_contains "the message names the Issuer" "Issuer $NS/nope does not exist" failed_message noissuer

apply <<YAML
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: broken}
spec: {ca: {secretName: no-such-secret}}
YAML
wait_for 30 "the broken Issuer is not Ready" has_condition issuers.certwright.dev/broken Ready False
csr notready "issuers.certwright.dev/$NS.broken" "digital signature,server auth" ""
approve notready
wait_for 30 "a CSR for a not-Ready Issuer gets Failed IssuerNotReady" csr_failed notready IssuerNotReady
check_contains "the message says why the Issuer is not Ready" "no-such-secret" failed_message notready

csr selfsigned "issuers.certwright.dev/$NS.self" "digital signature,server auth" ""
approve selfsigned
wait_for 30 "a CSR for a selfSigned Issuer gets Failed" csr_failed selfsigned PolicyDenied

csr malformed "issuers.certwright.dev/$NS" "digital signature,server auth" ""
approve malformed
wait_for 30 "a malformed signer name of ours gets Failed InvalidSignerName" csr_failed malformed InvalidSignerName
for n in weak causage noissuer notready selfsigned malformed; do
  check "$n was never signed" bash -c "[ -z \"\$(kubectl get csr $NS-$n -o jsonpath='{.status.certificate}')\" ]"
done

# ---- 6. a user without the reference right (a ServiceAccount token from TokenRequest) ----
note "a requester without 'reference' on the signer"
k create serviceaccount requester >/dev/null
cluster_object "clusterrole/$NS-csr-creator"
cluster_object "clusterrolebinding/$NS-csr-creator"
kubectl create clusterrole "$NS-csr-creator" --verb=create,get,list --resource=certificatesigningrequests >/dev/null
kubectl create clusterrolebinding "$NS-csr-creator" --clusterrole="$NS-csr-creator" \
  --serviceaccount="$NS:requester" >/dev/null
TOKEN=$(k create token requester --duration=10m)
SERVER=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
CAFILE=$WORK/apiserver-ca.crt
kubectl config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$CAFILE"
as_requester() { kubectl --kubeconfig=/dev/null --server="$SERVER" --certificate-authority="$CAFILE" --token="$TOKEN" "$@"; }
CSR_KUBECTL=as_requester csr nopermission "issuers.certwright.dev/$NS.ca" "digital signature,client auth" ""
check_eq "the CSR records the ServiceAccount as requester" \
  "$(kubectl get csr "$NS-nopermission" -o jsonpath='{.spec.username}')" "system:serviceaccount:$NS:requester"
approve nopermission
wait_for 30 "it gets Failed PermissionDenied" csr_failed nopermission PermissionDenied
check_contains "the message names the user and the missing right" "needs the verb \"reference\" on resource \"signers\"" \
  failed_message nopermission
check "it was never signed" bash -c "[ -z \"\$(kubectl get csr $NS-nopermission -o jsonpath='{.status.certificate}')\" ]"

# Granting the right (docs/csr-signer.md shows this Role) lets the next request through.
apply <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: csr-requester}
rules:
  - apiGroups: [certwright.dev]
    resources: [signers]
    verbs: [reference]
    resourceNames: [issuers.certwright.dev/$NS.ca]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: csr-requester}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: csr-requester}
subjects: [{kind: ServiceAccount, name: requester, namespace: $NS}]
YAML
CSR_KUBECTL=as_requester csr permitted "issuers.certwright.dev/$NS.ca" "digital signature,client auth" ""
approve permitted
wait_for 30 "with 'reference' granted, the ServiceAccount's CSR is signed" signed permitted

# The controller ran with --log-format json: every line it wrote is one JSON object.
check "every controller log line is a JSON object with ts, level and msg" python3 - "$CONTROLLER_LOG" <<'PY'
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip() and not l.startswith("====")]
assert lines, "no log lines"
for l in lines:
    o = json.loads(l)
    assert set(o) == {"ts", "level", "msg"}, o
print(len(lines), "lines")
PY
check "the audit records are in it" audit_has door=CertificateSigningRequest decision=issued

finish
