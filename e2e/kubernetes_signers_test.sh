#!/usr/bin/env bash
# e2e/kubernetes_signers_test.sh: the drop-in for kube-controller-manager's signer (issue #5):
# `certwright controller --kubernetes-signers-issuer` signs kubernetes.io/kubelet-serving and
# kubernetes.io/kube-apiserver-client CSRs with an HSM-backed issuer (a SoftHSM2 key), applying
# the rules kube-controller-manager applies to those signer names; without the flag it leaves them
# alone. The local control plane runs kube-controller-manager without its signing controller, so
# nothing else signs them. CSRs are cluster-scoped: every name starts with the test's namespace,
# and the scenario runs serially (ctest RUN_SERIAL).
#
# The issuer is a namespaced pkcs11 Issuer (Issuer/<ns>/<name>); a ClusterIssuer works the same
# (ClusterIssuer/<name>), and is what a cluster would use.
#
#   e2e/kubernetes_signers_test.sh path/to/certwright
source "$(dirname "$0")/lib.sh"
e2e_init k8s-signers "$1"

# ---- fixture: a pkcs11 Issuer whose root key is made in a SoftHSM2 token ----
softhsm_token kubesigners 1234
k create secret generic hsm-pin --from-literal=pin=1234 >/dev/null
apply <<YAML
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: hsm}
spec:
  pkcs11:
    modulePath: $MODULE
    keyURI: "pkcs11:token=kubesigners;object=ca"
    pinSecretRef: {name: hsm-pin}
    bootstrap: {mode: SelfSigned, subject: {commonName: kubernetes signers e2e HSM root}}
YAML

KS=kubernetes.io/kubelet-serving
KC=kubernetes.io/kube-apiserver-client

# csr SHORT SIGNER SUBJECT SANS USAGES [EXPIRATION]: an openssl key and CSR, and the
# CertificateSigningRequest NS-SHORT (as the admin, or as CSR_KUBECTL). SANS may be empty;
# CSR_KEY=rsa:2048 for an RSA key (default EC P-256).
csr() {
  local short=$1 signer=$2 subj=$3 san=$4 usages=$5 exp=${6:-} keyopt=() sanopt=()
  [ "${CSR_KEY:-ec}" = ec ] && keyopt=(-pkeyopt ec_paramgen_curve:P-256)
  [ -n "$san" ] && sanopt=(-addext "subjectAltName=$san")
  openssl req -new -newkey "${CSR_KEY:-ec}" "${keyopt[@]}" -nodes -keyout "$WORK/$short.key" -out "$WORK/$short.csr" \
    -subj "$subj" "${sanopt[@]}" 2>/dev/null
  cluster_object "csr/$NS-$short"
  ${CSR_KUBECTL:-kubectl} apply -f - >"$WORK/csr.out" 2>&1 <<YAML || { fail "create CSR $NS-$short: $(cat "$WORK/csr.out")"; return 1; }
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: $NS-$short}
spec:
  signerName: $signer
  request: $(base64 -w0 <"$WORK/$short.csr")
  ${exp:+expirationSeconds: $exp}
  usages: [$usages]
YAML
}
approve() { kubectl certificate approve "$NS-$1" >/dev/null; }
signed() { [ -n "$(kubectl get csr "$NS-$1" -o jsonpath='{.status.certificate}')" ]; }
cert_of() { kubectl get csr "$NS-$1" -o jsonpath='{.status.certificate}' | base64 -d >"$WORK/$1.crt" && [ -s "$WORK/$1.crt" ]; }
failed_reason() { kubectl get csr "$NS-$1" -o jsonpath='{.status.conditions[?(@.type=="Failed")].reason}'; }
failed_message() { kubectl get csr "$NS-$1" -o jsonpath='{.status.conditions[?(@.type=="Failed")].message}'; }
csr_failed() {
  echo "Failed reason '$(failed_reason "$1")': $(failed_message "$1")"
  [ "$(failed_reason "$1")" = "$2" ]
}
# untouched SHORT: no certificate and no Failed condition.
untouched() { [ -z "$(kubectl get csr "$NS-$1" -o jsonpath='{.status.certificate}{.status.conditions[?(@.type=="Failed")].reason}')" ]; }
lifetime() {
  echo $(($(date -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s) - \
    $(date -d "$(openssl x509 -in "$1" -noout -startdate | cut -d= -f2)" +%s)))
}

NODE_SUBJ="/O=system:nodes/CN=system:node:node-1"

# ---- 1. without the flag: kubernetes.io CSRs are not ours ----
note "controller without --kubernetes-signers-issuer"
start_controller
wait_for 60 "the HSM Issuer is Ready" ready issuers.certwright.dev/hsm
k get secret hsm-bootstrap-ca -o jsonpath='{.data.ca\.crt}' | base64 -d >"$WORK/root.crt"
csr early "$KS" "$NODE_SUBJ" "DNS:node-1,IP:10.0.0.11" "digital signature, key encipherment, server auth"
approve early
csr earlybad "$KS" "/CN=system:node:node-1" "DNS:node-1" "digital signature, server auth"
approve earlybad
csr earlyclient "$KC" "/O=devs/CN=alice" "" "digital signature, client auth"
approve earlyclient
sleep 3
check "an approved kubelet-serving CSR is not signed" untouched early
check "an approved kubelet-serving CSR that breaks the rules is not marked Failed either" untouched earlybad
check "an approved kube-apiserver-client CSR is not signed" untouched earlyclient
check "the controller did not look at them (no log line names them)" bash -c "! grep -q '$NS-early' '$CONTROLLER_LOG'"
stop_controller

# ---- 2. with the flag ----
note "controller with --kubernetes-signers-issuer Issuer/$NS/hsm"
start_controller --kubernetes-signers-issuer "Issuer/$NS/hsm"
wait_for 30 "the kubelet-serving CSR approved earlier is signed once the drop-in is on" signed early
wait_for 30 "the kube-apiserver-client CSR approved earlier is signed" signed earlyclient
wait_for 30 "the earlier kubelet-serving CSR without O=system:nodes gets Failed PolicyDenied" csr_failed earlybad PolicyDenied

note "kubelet-serving"
CSR_KEY=rsa:2048 csr node "$KS" "$NODE_SUBJ" "DNS:node-1,DNS:node-1.cluster.local,IP:10.0.0.11" \
  "digital signature, key encipherment, server auth"
approve node
wait_for 30 "an approved kubelet-serving CSR is signed" signed node
cert_of node
check "it verifies against the HSM Issuer's root" openssl verify -CAfile "$WORK/root.crt" -untrusted "$WORK/node.crt" "$WORK/node.crt"
check "the certificate's key is the CSR's" bash -c \
  "[ \"\$(openssl x509 -in $WORK/node.crt -noout -pubkey)\" = \"\$(openssl req -in $WORK/node.csr -noout -pubkey)\" ]"
check_contains "subject O=system:nodes, CN=system:node:node-1" "O = system:nodes, CN = system:node:node-1" \
  openssl x509 -in "$WORK/node.crt" -noout -subject -nameopt oneline
check_contains "SANs: the DNS names and the IP" "DNS:node-1, DNS:node-1.cluster.local, IP Address:10.0.0.11" \
  openssl x509 -in "$WORK/node.crt" -noout -ext subjectAltName
check_contains "extended key usage: server auth" "TLS Web Server Authentication" \
  openssl x509 -in "$WORK/node.crt" -noout -ext extendedKeyUsage
check "no client auth" bash -c "! openssl x509 -in $WORK/node.crt -noout -ext extendedKeyUsage | grep -q Client"
check_contains "key usage: digital signature and key encipherment (RSA key)" "Digital Signature, Key Encipherment" \
  openssl x509 -in "$WORK/node.crt" -noout -ext keyUsage
check "not a CA" bash -c "! openssl x509 -in $WORK/node.crt -noout -ext basicConstraints | grep -q 'CA:TRUE'"
secs=$(lifetime "$WORK/node.crt")
check "no expirationSeconds: the default of one year (lifetime $secs s)" bash -c \
  "[ $secs -ge $((365 * 86400)) ] && [ $secs -le $((365 * 86400 + 3600)) ]"
check "a Signed Event names the HSM Issuer" bash -c \
  "kubectl get events -n default --field-selector involvedObject.name=$NS-node,reason=Signed -o jsonpath='{.items[*].note}{.items[*].message}' | grep -q 'Issuer $NS/hsm'"
check "the audit record names the door, the signer and the pkcs11 backend" \
  audit_has door=KubernetesSigner "object=CertificateSigningRequest $NS-node" "details.signerName=$KS" \
  issuer.kind=Issuer issuer.namespace="$NS" issuer.name=hsm backend=pkcs11 decision=issued

csr node2 "$KS" "/O=system:nodes/CN=system:node:node-2" "IP:10.0.0.12" "digital signature, server auth" 3600
approve node2
wait_for 30 "a kubelet-serving CSR with an EC key, an IP SAN only, without key encipherment, is signed" signed node2
cert_of node2
secs=$(lifetime "$WORK/node2.crt")
check "expirationSeconds 3600 is honoured (lifetime $secs s)" bash -c "[ $secs -ge 3600 ] && [ $secs -le 3700 ]"

note "kube-apiserver-client"
csr alice "$KC" "/O=devs/CN=alice" "" "client auth"
approve alice
wait_for 30 "an approved kube-apiserver-client CSR (client auth only) is signed" signed alice
cert_of alice
check "it verifies against the HSM Issuer's root" openssl verify -CAfile "$WORK/root.crt" -untrusted "$WORK/alice.crt" "$WORK/alice.crt"
check_contains "subject O=devs, CN=alice" "O = devs, CN = alice" \
  openssl x509 -in "$WORK/alice.crt" -noout -subject -nameopt oneline
check_contains "extended key usage: client auth" "TLS Web Client Authentication" \
  openssl x509 -in "$WORK/alice.crt" -noout -ext extendedKeyUsage
check "no server auth" bash -c "! openssl x509 -in $WORK/alice.crt -noout -ext extendedKeyUsage | grep -q Server"
# kube-apiserver's CertificateSubjectRestriction admission plugin refuses this one itself.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/masters.key" -out "$WORK/masters.csr" \
  -subj /O=system:masters/CN=eve 2>/dev/null
cat >"$WORK/masters.yaml" <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: $NS-masters}
spec: {signerName: $KC, usages: [client auth], request: $(base64 -w0 <"$WORK/masters.csr")}
YAML
cluster_object "csr/$NS-masters"
check_contains "kube-apiserver itself refuses a kube-apiserver-client CSR for O=system:masters" \
  "use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed" \
  bash -c "kubectl create -f $WORK/masters.yaml 2>&1 || true"

note "what kube-controller-manager would refuse: Failed PolicyDenied, never signed"
csr noorg "$KS" "/CN=system:node:node-1" "DNS:node-1" "digital signature, server auth"
csr wrongorg "$KS" "/O=system:nodes/O=admins/CN=system:node:node-1" "DNS:node-1" "digital signature, server auth"
csr nocnprefix "$KS" "/O=system:nodes/CN=node-1" "DNS:node-1" "digital signature, server auth"
csr uri "$KS" "$NODE_SUBJ" "DNS:node-1,URI:spiffe://cluster.local/node-1" "digital signature, server auth"
csr email "$KS" "$NODE_SUBJ" "DNS:node-1,email:node@example.com" "digital signature, server auth"
csr nosan "$KS" "$NODE_SUBJ" "" "digital signature, server auth"
csr nodeclient "$KS" "$NODE_SUBJ" "DNS:node-1" "digital signature, server auth, client auth"
csr nodenoserver "$KS" "$NODE_SUBJ" "DNS:node-1" "digital signature, key encipherment"
csr clientserver "$KC" "/O=devs/CN=bob" "" "client auth, server auth"
csr clientnoclient "$KC" "/O=devs/CN=bob" "" "digital signature"
csr clientcasign "$KC" "/O=devs/CN=bob" "" "client auth, cert sign"
for n in noorg wrongorg nocnprefix uri email nosan nodeclient nodenoserver clientserver clientnoclient clientcasign; do
  approve "$n"
done
expect_denied() {
  wait_for 30 "$1: Failed PolicyDenied" csr_failed "$2" PolicyDenied
  check_contains "$1: the message says why" "$3" failed_message "$2"
}
expect_denied "kubelet-serving without O=system:nodes" noorg 'requires the subject organization to be exactly "system:nodes"'
expect_denied "kubelet-serving with a second organization" wrongorg 'exactly "system:nodes"'
expect_denied "kubelet-serving with CN=node-1" nocnprefix 'requires the common name "system:node:<node name>", not "node-1"'
expect_denied "kubelet-serving with a URI SAN" uri "forbids URI and email subjectAltNames"
expect_denied "kubelet-serving with an email SAN" email "forbids URI and email subjectAltNames"
expect_denied "kubelet-serving without SANs" nosan "requires at least one DNS or IP subjectAltName"
expect_denied "kubelet-serving asking for client auth" nodeclient 'kubernetes.io/kubelet-serving allows exactly the usages'
expect_denied "kubelet-serving without server auth" nodenoserver 'kubernetes.io/kubelet-serving allows exactly the usages'
expect_denied "kube-apiserver-client asking for server auth" clientserver 'allows only the usages "digital signature", "key encipherment" and "client auth", not "server auth"'
expect_denied "kube-apiserver-client without client auth" clientnoclient 'requires the usage "client auth"'
expect_denied "kube-apiserver-client asking for cert sign" clientcasign '"cert sign" is not allowed'
for n in noorg wrongorg nocnprefix uri email nosan nodeclient nodenoserver clientserver clientnoclient clientcasign; do
  check "$n was never signed" bash -c "[ -z \"\$(kubectl get csr $NS-$n -o jsonpath='{.status.certificate}')\" ]"
done
check "a PolicyDenied Warning Event is recorded" bash -c \
  "kubectl get events -n default --field-selector involvedObject.name=$NS-uri,reason=PolicyDenied -o name | grep -q ."

note "approval is the gate for the kubernetes.io signers (no 'reference' check)"
csr pending "$KS" "$NODE_SUBJ" "DNS:node-1" "digital signature, server auth"
k create serviceaccount requester >/dev/null
cluster_object "clusterrole/$NS-csr-creator"
cluster_object "clusterrolebinding/$NS-csr-creator"
kubectl create clusterrole "$NS-csr-creator" --verb=create,get --resource=certificatesigningrequests >/dev/null
kubectl create clusterrolebinding "$NS-csr-creator" --clusterrole="$NS-csr-creator" --serviceaccount="$NS:requester" >/dev/null
TOKEN=$(k create token requester --duration=10m)
SERVER=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
kubectl config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$WORK/apiserver-ca.crt"
as_requester() { kubectl --kubeconfig=/dev/null --server="$SERVER" --certificate-authority="$WORK/apiserver-ca.crt" --token="$TOKEN" "$@"; }
CSR_KUBECTL=as_requester csr bysa "$KC" "/O=devs/CN=carol" "" "client auth"
approve bysa
wait_for 30 "a ServiceAccount's approved kube-apiserver-client CSR is signed without 'reference' on any signer" signed bysa
sleep 1
check "an unapproved kubelet-serving CSR stays untouched" untouched pending

check "the controller's log shows no error" bash -c "! grep -F '[error]' '$CONTROLLER_LOG'"

finish
