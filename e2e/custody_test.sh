#!/usr/bin/env bash
# e2e/custody_test.sh: key custody and CertificatePolicy against the real control plane (issue
# #10). Each custody defect found in review is replayed as an attack by a namespace user who holds
# only namespaced rights (a ServiceAccount token from TokenRequest, bound to a Role in NS), and
# shown refused; then CertificatePolicies applied with kubectl change what both doors sign.
#
#   e2e/custody_test.sh path/to/certwright
source "$(dirname "$0")/lib.sh"
e2e_init custody "$1"
T=45

# ---- the cluster admin's side: a SoftHSM2 ClusterIssuer whose root key the admin made ----
softhsm_token cluster 1234
k create secret generic cluster-pin --from-literal=pin=1234 >/dev/null
ROOT=$NS-root
cluster_object "clusterissuers.certwright.dev/$ROOT"
cluster_object "clusterissuers.certwright.dev/$NS-strict"
cluster_object "clusterissuers.certwright.dev/$NS-broken"
apply <<YAML
apiVersion: certwright.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: $ROOT, labels: {certwright.dev/e2e: $NS}}
spec:
  pkcs11:
    modulePath: $MODULE
    keyURI: "pkcs11:token=cluster;object=root"
    pinSecretRef: {name: cluster-pin}
    bootstrap: {mode: SelfSigned, subject: {commonName: custody e2e cluster root}}
---
apiVersion: certwright.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: $NS-strict, labels: {certwright.dev/e2e: $NS}}
spec:
  policy: Required
  pkcs11:
    modulePath: $MODULE
    keyURI: "pkcs11:token=cluster;object=root"
    pinSecretRef: {name: cluster-pin}
    caSecretRef: {name: $ROOT-bootstrap-ca, key: tls.crt}
---
apiVersion: certwright.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: $NS-broken, labels: {certwright.dev/e2e: $NS}}
spec:
  pkcs11:
    modulePath: $MODULE
    keyURI: "pkcs11:token=cluster;object=root"
    pinSecretRef: {name: admin-only-pin-xq7}
    caSecretRef: {name: $ROOT-bootstrap-ca, key: tls.crt}
YAML

# An internal service that must never be readable through a KMS endpoint.
INTERNAL_PORT=$(free_port)
python3 - "$INTERNAL_PORT" >"$WORK/internal.log" 2>&1 <<'PY' &
import http.server, sys
class Internal(http.server.BaseHTTPRequestHandler):
    def answer(self):
        body = b"<html>internal-secret-page-7f3a</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        print("REQUEST", self.command, self.path, flush=True)
    do_GET = do_POST = answer
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Internal).serve_forever()
PY
INTERNAL_PID=$!
trap 'kill $INTERNAL_PID 2>/dev/null || true; _cleanup' EXIT
INTERNAL=http://127.0.0.1:$INTERNAL_PORT

start_controller --kubernetes-signers-issuer "ClusterIssuer/$ROOT"
wait_for $T "the admin's ClusterIssuer is Ready" has_condition "clusterissuers.certwright.dev/$ROOT" Ready True

# ---- the tenant: may create Issuers, Certificates, Secrets and CSRs in NS, nothing more ----
k create serviceaccount tenant >/dev/null
apply <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: tenant}
rules:
  - apiGroups: [certwright.dev]
    resources: [issuers, certificates]
    verbs: [get, list, watch, create, update, patch, delete]
  - apiGroups: [""]
    resources: [secrets]
    verbs: [get, list, create, update, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: tenant}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: tenant}
subjects: [{kind: ServiceAccount, name: tenant, namespace: $NS}]
YAML
cluster_object "clusterrole/$NS-tenant-csr"
cluster_object "clusterrolebinding/$NS-tenant-csr"
# CSRs are cluster-scoped: creating them, and referencing the ClusterIssuer's signer name, take a
# ClusterRole (docs/csr-signer.md).
kubectl apply -f - >/dev/null <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: $NS-tenant-csr}
rules:
  - apiGroups: [certificates.k8s.io]
    resources: [certificatesigningrequests]
    verbs: [create, get, list]
  - apiGroups: [certwright.dev]
    resources: [signers]
    verbs: [reference]
    resourceNames: [clusterissuers.certwright.dev/$ROOT]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: $NS-tenant-csr}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: $NS-tenant-csr}
subjects: [{kind: ServiceAccount, name: tenant, namespace: $NS}]
YAML
TOKEN=$(k create token tenant --duration=30m)
SERVER=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
CAFILE=$WORK/apiserver-ca.crt
kubectl config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$CAFILE"
tenant() { kubectl --kubeconfig=/dev/null --server="$SERVER" --certificate-authority="$CAFILE" --token="$TOKEN" -n "$NS" "$@"; }
as_tenant() { tenant apply -f - >"$WORK/tenant.out" 2>&1 || { fail "tenant apply: $(cat "$WORK/tenant.out")"; return 1; }; }
check "the tenant cannot read ClusterIssuers" bash -c "! kubectl --kubeconfig=/dev/null --server=$SERVER --certificate-authority=$CAFILE --token=$TOKEN get clusterissuers.certwright.dev 2>/dev/null"
tenant create secret generic guess --from-literal=pin=0000 >/dev/null

ready_false_reason() { has_condition "issuers.certwright.dev/$1" Ready False "$2"; }
# tenant_hsm_issuer NAME MODULE_PATH [TOKEN]: the tenant's pkcs11 Issuer for the cluster's key
# object "root", with the tenant's guessed PIN.
tenant_hsm_issuer() {
  as_tenant <<YAML
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: $1}
spec:
  pkcs11:
    modulePath: "$2"
    keyURI: "pkcs11:token=${3:-cluster};object=root"
    pinSecretRef: {name: guess}
    caSecretRef: {name: $ROOT-bootstrap-ca, key: tls.crt}
YAML
}
message_of() { condition "issuers.certwright.dev/$1" Ready message; }

# ---- 1. the cluster's HSM key through another spelling of the module path, with a wrong PIN ----
note "1. module path aliases with a wrong PIN"
ln -s "$(readlink -f "$MODULE")" "$WORK/alias.so"
i=0
for path in "$(dirname "$MODULE")//$(basename "$MODULE")" "$(dirname "$MODULE")/./$(basename "$MODULE")" "$WORK/alias.so"; do
  i=$((i + 1))
  tenant_hsm_issuer "alias$i" "$path"
done
for i in 1 2 3; do
  wait_for $T "alias $i: the Issuer is refused with PermissionDenied (the PIN is compared, not ridden on)" \
    ready_false_reason "alias$i" PermissionDenied
done
as_tenant <<YAML
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: via-alias}
spec:
  secretName: via-alias-tls
  commonName: via-alias
  issuerRef: {name: alias1}
YAML
sleep 2
check "no Secret was signed with the cluster's key through the alias" bash -c "! kubectl -n $NS get secret via-alias-tls 2>/dev/null"
check "the PIN guesses back off (the back-off is keyed by the token itself, not the spelling)" \
  grep -q "back off" "$CONTROLLER_LOG"

# ---- 2. modules the admin did not list: refused before dlopen, and no file-existence oracle ----
note "2. modules not on the list"
cp "$(readlink -f "$MODULE")" "$WORK/evil.so"
i=0
for path in "$WORK/evil.so" /etc/passwd /nonexistent/lib.so; do
  i=$((i + 1))
  tenant_hsm_issuer "module$i" "$path"
done
for i in 1 2 3; do
  wait_for $T "module $i: Ready False CustodyDenied" ready_false_reason "module$i" CustodyDenied
done
m1=$(message_of module1)
m2=$(message_of module2)
m3=$(message_of module3)
check_contains "the message says which modules are allowed and which flag sets them" "--issuer-pkcs11-modules" message_of module1
check_eq "an existing file and a missing one get the same message (no oracle)" "${m2/\/etc\/passwd/X}" "${m3/\/nonexistent\/lib.so/X}"
check_eq "a copy of the allowed module is not the allowed module" "${m1/$WORK\/evil.so/X}" "${m3/\/nonexistent\/lib.so/X}"

# ---- 3. a wrong token label: no list of the HSM's tokens in status ----
note "3. token listing"
tenant_hsm_issuer notoken "$MODULE" nope
wait_for $T "an unknown token: Ready False NotFound" ready_false_reason notoken NotFound
check "its message does not list the HSM's tokens" bash -c "! grep -q '\"cluster\"' <<<\"$(message_of notoken)\""

# ---- 4. the controller's AWS credentials and network position ----
note "4. awsKMS: ambient credentials and endpoints"
tenant create secret generic kms-credentials --from-literal=AWS_ACCESS_KEY_ID=AKIDEXAMPLE \
  --from-literal=AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI >/dev/null
as_tenant <<YAML
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: ambient}
spec:
  awsKMS: {keyID: alias/org-root, region: us-east-1, caSecretRef: {name: whatever, key: tls.crt}}
---
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: internal}
spec:
  awsKMS:
    keyID: alias/org-root
    region: us-east-1
    endpoint: $INTERNAL
    credentialsSecretRef: {name: kms-credentials}
    caSecretRef: {name: whatever, key: tls.crt}
YAML
wait_for $T "no credentialsSecretRef: Ready False CustodyDenied" ready_false_reason ambient CustodyDenied
check_contains "the message names the flag that would allow it" "--issuer-ambient-credentials" message_of ambient
wait_for $T "an endpoint the admin did not allow: Ready False CustodyDenied" ready_false_reason internal CustodyDenied
check_eq "the internal service was never dialled" "$(grep -c REQUEST "$WORK/internal.log" || true)" 0
stop_controller
note "the admin allows the endpoint: the reply is reported by status and type, never by its body"
start_controller --kubernetes-signers-issuer "ClusterIssuer/$ROOT" --issuer-kms-endpoints "$INTERNAL"
wait_for $T "the allowed endpoint is dialled and fails" bash -c \
  "kubectl -n $NS get issuers.certwright.dev internal -o jsonpath='{.status.conditions[0].reason}' | grep -qv CustodyDenied"
check "the controller did dial it now" grep -q REQUEST "$WORK/internal.log"
check "the reply's body is in no status" bash -c "! kubectl -n $NS get issuers.certwright.dev internal -o yaml | grep -q internal-secret-page"
check "nor in the controller's log" bash -c "! grep -q internal-secret-page '$CONTROLLER_LOG'"

# ---- 5. cluster-admin through the drop-in's issuer ----
note "5. the kubernetes.io drop-in's issuer from the Certificate door"
as_tenant <<YAML
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: masters}
spec:
  secretName: masters-tls
  commonName: mallory
  subject: {organizations: [system:masters]}
  usages: [digital signature, client auth]
  issuerRef: {name: $ROOT, kind: ClusterIssuer}
YAML
wait_for $T "a Certificate naming the drop-in's issuer is refused" has_condition cwcert/masters Ready False IssuanceFailed
check_contains "the message says why" "signs only kubernetes.io/kube-apiserver-client and kubernetes.io/kubelet-serving" condition cwcert/masters Ready message
check "no Secret" bash -c "! kubectl -n $NS get secret masters-tls 2>/dev/null"
stop_controller
start_controller
note "controller without the drop-in from here on"

# ---- 6. CA certificates need a policy ----
note "6. isCA"
as_tenant <<YAML
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: subca}
spec:
  secretName: subca-tls
  commonName: tenant sub CA
  isCA: true
  issuerRef: {name: $ROOT, kind: ClusterIssuer}
YAML
wait_for $T "isCA without a policy is refused" has_condition cwcert/subca Ready False IssuanceFailed
check_contains "the message names the missing policy" "CA certificates need a CertificatePolicy with allowed.isCA: true" condition cwcert/subca Ready message
cluster_object "certificatepolicies.certwright.dev/$NS-subcas"
apply <<YAML
apiVersion: certwright.dev/v1alpha1
kind: CertificatePolicy
metadata: {name: $NS-subcas}
spec:
  selector:
    issuerRefs: [{name: $ROOT, kind: ClusterIssuer}]
    namespaces: {names: [$NS]}
  allowed: {isCA: true, maxPathLength: 0}
YAML
wait_for $T "the policy is Ready" has_condition "certificatepolicies.certwright.dev/$NS-subcas" Ready True Valid
# A new generation retries at once (an unchanged spec retries on its back-off schedule).
k patch cwcert subca --type=merge -p '{"spec":{"duration":"2159h"}}' >/dev/null
wait_for $T "with the policy, the sub-CA is issued" ready cwcert/subca
save_secret subca-tls "$WORK/subca"
check_contains "it is a CA with the policy's pathLen 0" "CA:TRUE, pathlen:0" openssl x509 -in "$WORK/subca/tls.crt" -noout -ext basicConstraints
k delete cwcert subca >/dev/null
kubectl delete certificatepolicies.certwright.dev "$NS-subcas" >/dev/null

# ---- 7. policy: Required, and policies changing what both doors sign ----
note "7. policy: Required; allowed and denied rules at the Certificate and CSR doors"
as_tenant <<YAML
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: strict}
spec:
  secretName: strict-tls
  dnsNames: [web.$NS.svc]
  issuerRef: {name: $NS-strict, kind: ClusterIssuer}
YAML
wait_for $T "an issuer with policy: Required and no policy signs nothing" has_condition cwcert/strict Ready False IssuanceFailed
check_contains "the message says a policy is required" "requires a CertificatePolicy (policy: Required)" condition cwcert/strict Ready message
cluster_object "certificatepolicies.certwright.dev/$NS-web"
apply <<YAML
apiVersion: certwright.dev/v1alpha1
kind: CertificatePolicy
metadata: {name: $NS-web}
spec:
  selector:
    namespaces: {names: [$NS]}
  allowed:
    dnsNames: ["*.{{namespace}}.svc"]
  denied:
    dnsNames: ["admin.*.svc"]
YAML
wait_for $T "the web policy is Ready" has_condition "certificatepolicies.certwright.dev/$NS-web" Ready True Valid
k patch cwcert strict --type=merge -p '{"spec":{"duration":"2159h"}}' >/dev/null
wait_for $T "with a policy selecting it, the Required issuer signs" ready cwcert/strict
as_tenant <<YAML
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: evil}
spec:
  secretName: evil-tls
  dnsNames: [api.evil.com]
  issuerRef: {name: $ROOT, kind: ClusterIssuer}
---
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: admin}
spec:
  secretName: admin-tls
  dnsNames: [admin.$NS.svc]
  issuerRef: {name: $ROOT, kind: ClusterIssuer}
YAML
wait_for $T "a name outside allowed.dnsNames is refused" has_condition cwcert/evil Ready False IssuanceFailed
check_contains "the condition names the policy, the rule and the name" "CertificatePolicy \"$NS-web\": allowed.dnsNames: \"api.evil.com\"" condition cwcert/evil Ready message
wait_for $T "an IssuanceFailed Event says the same" bash -c \
  "kubectl -n $NS get events --field-selector involvedObject.name=evil,reason=IssuanceFailed -o jsonpath='{.items[*].message}' | grep -q 'allowed.dnsNames'"
wait_for $T "a denied name is refused whatever allowed says" has_condition cwcert/admin Ready False IssuanceFailed
check_contains "the denial names the denied rule" "denied.dnsNames" condition cwcert/admin Ready message
check "the denials are audited with policy and rule" audit_has door=Certificate decision=denied "policy.policy=$NS-web" policy.rule=allowed.dnsNames

# The same policy at the CSR door (the tenant is the requester; NS is its ServiceAccount's namespace).
csr_as_tenant() {
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/$1.key" -out "$WORK/$1.csr" \
    -subj "/CN=$1" -addext "subjectAltName=DNS:$2" 2>/dev/null
  cluster_object "csr/$NS-$1"
  tenant apply -f - >"$WORK/csr.out" 2>&1 <<YAML || fail "create CSR $NS-$1: $(cat "$WORK/csr.out")"
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: $NS-$1}
spec:
  signerName: clusterissuers.certwright.dev/$ROOT
  request: $(base64 -w0 <"$WORK/$1.csr")
  usages: [digital signature, server auth]
YAML
  kubectl certificate approve "$NS-$1" >/dev/null
}
csr_failed() {
  local r
  r=$(kubectl get csr "$NS-$1" -o jsonpath='{.status.conditions[?(@.type=="Failed")].reason}')
  echo "Failed reason '$r': $(kubectl get csr "$NS-$1" -o jsonpath='{.status.conditions[?(@.type=="Failed")].message}')"
  [ "$r" = "$2" ]
}
csr_as_tenant good "api.$NS.svc"
csr_as_tenant bad "api.evil.com"
wait_for $T "a CSR the policy allows is signed" bash -c "[ -n \"\$(kubectl get csr $NS-good -o jsonpath='{.status.certificate}')\" ]"
wait_for $T "a CSR the policy refuses gets Failed PolicyDenied" csr_failed bad PolicyDenied
check_contains "its Failed condition names the policy and the rule" "CertificatePolicy \"$NS-web\": allowed.dnsNames" \
  kubectl get csr "$NS-bad" -o jsonpath='{.status.conditions[?(@.type=="Failed")].message}'
check "the CSR denial is audited with the requester" audit_has door=CertificateSigningRequest decision=denied \
  "requester.serviceAccount=$NS/tenant"
kubectl delete certificatepolicies.certwright.dev "$NS-web" >/dev/null

# ---- 8. an invalid policy denies what it selects ----
note "8. an invalid policy"
cluster_object "certificatepolicies.certwright.dev/$NS-bad"
# The schema accepts the glob; the engine refuses "**" inside a label (see docs/policy.md).
kubectl apply -f - >"$WORK/apply.out" 2>&1 <<YAML || note "the API server refused it at apply: $(cat "$WORK/apply.out")"
apiVersion: certwright.dev/v1alpha1
kind: CertificatePolicy
metadata: {name: $NS-bad}
spec:
  selector: {namespaces: {names: [$NS]}}
  allowed: {ipAddresses: ["10.0.0.0/33"]}
YAML
if kubectl get certificatepolicies.certwright.dev "$NS-bad" >/dev/null 2>&1; then
  wait_for $T "the invalid policy reports Ready False Invalid" has_condition "certificatepolicies.certwright.dev/$NS-bad" Ready False Invalid
  as_tenant <<YAML
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: under-invalid}
spec:
  secretName: under-invalid-tls
  dnsNames: [x.$NS.svc]
  issuerRef: {name: $ROOT, kind: ClusterIssuer}
YAML
  wait_for $T "a request it selects is denied (fail closed)" has_condition cwcert/under-invalid Ready False IssuanceFailed
  check_contains "naming the invalid policy" "CertificatePolicy \"$NS-bad\" is invalid" condition cwcert/under-invalid Ready message
else
  pass "the API server's schema refused the invalid CIDR at apply time"
fi
kubectl delete certificatepolicies.certwright.dev "$NS-bad" --ignore-not-found >/dev/null

# ---- 9. a ClusterIssuer's trouble is not told to namespaces ----
note "9. ClusterIssuer errors"
wait_for $T "the broken ClusterIssuer is not Ready" has_condition "clusterissuers.certwright.dev/$NS-broken" Ready False
as_tenant <<YAML
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: on-broken}
spec:
  secretName: on-broken-tls
  dnsNames: [b.$NS.svc]
  issuerRef: {name: $NS-broken, kind: ClusterIssuer}
YAML
wait_for $T "the Certificate says its ClusterIssuer is not ready" has_condition cwcert/on-broken Ready False IssuerNotReady
check "its message does not name the ClusterIssuer's Secret" bash -c "! grep -q admin-only-pin-xq7 <<<\"$(condition cwcert/on-broken Ready message)\""
check "nor does any Event in the namespace" bash -c "! kubectl -n $NS get events -o yaml | grep -q admin-only-pin-xq7"
check_contains "the ClusterIssuer itself keeps the detail" "admin-only-pin-xq7" condition "clusterissuers.certwright.dev/$NS-broken" Ready message

# ---- 10. a CA made by another tool, with a non-SHA-1 key identifier ----
note "10. AKI from a foreign CA"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/foreign.key" -out "$WORK/foreign.crt" \
  -days 30 -subj "/CN=foreign root" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -addext "subjectKeyIdentifier=0123456789abcdef0123456789abcdef01234567fedcba98" \
  -addext "authorityKeyIdentifier=keyid:always" 2>/dev/null
check "the foreign root verifies by itself" openssl verify -CAfile "$WORK/foreign.crt" "$WORK/foreign.crt"
k create secret tls foreign --cert="$WORK/foreign.crt" --key="$WORK/foreign.key" >/dev/null
apply <<YAML
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: foreign}
spec: {ca: {secretName: foreign}}
---
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: foreign-leaf}
spec:
  secretName: foreign-leaf-tls
  dnsNames: [leaf.$NS.svc]
  issuerRef: {name: foreign}
YAML
wait_for 60 "a leaf of the foreign CA is issued" ready cwcert/foreign-leaf
save_secret foreign-leaf-tls "$WORK/foreign-leaf"
check "openssl verify accepts it against the foreign root" verifies "$WORK/foreign-leaf" "$WORK/foreign.crt"
check_contains "its AKI is the foreign CA's SKI" "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:FE:DC:BA:98" \
  openssl x509 -in "$WORK/foreign-leaf/tls.crt" -noout -ext authorityKeyIdentifier

finish
