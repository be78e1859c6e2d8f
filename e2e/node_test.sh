#!/usr/bin/env bash
# e2e/node_test.sh: the local plane's node (hack/control-plane up --node) runs pods as a real
# cluster does: the Node is Ready under its own identity (Node authorizer, NodeRestriction),
# projected volumes (ServiceAccount token, ConfigMap) are mounted, pods reach the API server
# through the `kubernetes` Service, and a pod with a `podCertificate` volume waits in
# ContainerCreating until its PodCertificateRequest is signed (here by the test, with openssl:
# the node side only), then starts with the key and chain mounted.
#
#   e2e/node_test.sh path/to/certwright     (run by ctest as e2e.node, label kube)
# Fails, never skips, when the plane has no Ready node.
# shellcheck source=e2e/lib.sh
source "$(dirname "$0")/lib.sh"
e2e_init node "$1"
require_node

T=60

note "the node's identity: system:node:$NODE_NAME in system:nodes, limited by the Node authorizer"
NODE_KUBECONFIG=$(dirname "$KUBECONFIG")/kubelet.kubeconfig
check "the node's kubeconfig is the plane's" test -f "$NODE_KUBECONFIG"
check_eq "the node's client certificate names system:node:$NODE_NAME in system:nodes" \
  "$(kubectl --kubeconfig "$NODE_KUBECONFIG" auth whoami -o jsonpath='{.status.userInfo.username} {.status.userInfo.groups[0]}')" \
  "system:node:$NODE_NAME system:nodes"
k create secret generic unrelated --from-literal=k=v >/dev/null
check_contains "the Node authorizer refuses the node a Secret no pod of it uses" "Forbidden" \
  sh -c "! kubectl --kubeconfig '$NODE_KUBECONFIG' -n '$NS' get secret unrelated 2>&1"
check_contains "NodeRestriction refuses the node a label under node-restriction.kubernetes.io/" "forbidden" \
  sh -c "! kubectl --kubeconfig '$NODE_KUBECONFIG' label node '$NODE_NAME' node-restriction.kubernetes.io/x=y 2>&1"

note "a Pod with a ServiceAccount token and a ConfigMap in one projected volume"
k create configmap greeting --from-literal=greeting=hello-from-configmap >/dev/null
created=$(date +%s%N)
apply < <(
  sleeper_pod projected projected
  cat <<EOF
    projected:
      sources:
      - serviceAccountToken: {path: token, expirationSeconds: 3600, audience: e2e-node}
      - configMap: {name: greeting}
EOF
)
wait_for $T "the Pod is Running" pod_phase projected Running
note "pod create to Running: $((($(date +%s%N) - created) / 1000000)) ms"
check_eq "the pod runs on $NODE_NAME" "$(field pod/projected .spec.nodeName)" "$NODE_NAME"
check_eq "the ConfigMap key is mounted" "$(k exec projected -- cat /projected/greeting)" hello-from-configmap
TOKEN=$(k exec projected -- cat /projected/token)
review=$(kubectl create -o json -f - <<EOF
{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
 "spec": {"token": "$TOKEN", "audiences": ["e2e-node"]}}
EOF
)
check_eq "the mounted token authenticates as the pod's ServiceAccount, bound to the pod" \
  "$(python3 -c 'import json,sys; s=json.load(sys.stdin)["status"]; u=s["user"]; print(s.get("authenticated"), u["username"], u["extra"]["authentication.kubernetes.io/pod-name"][0])' <<<"$review")" \
  "True system:serviceaccount:$NS:default projected"
# kube-proxy routes the ClusterIP to kube-apiserver on the node's bridge address: a plain-HTTP
# request gets the Go TLS server's answer, which proves the connection reached kube-apiserver.
# shellcheck disable=SC2016 # expanded by the pod's shell
check_eq "the pod's in-cluster environment names the kubernetes Service" \
  "$(k exec projected -- sh -c 'echo $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT')" \
  "$(kubectl get service kubernetes -n default -o jsonpath='{.spec.clusterIP}'):443"
# shellcheck disable=SC2016 # expanded by the pod's shell
check_contains "the pod reaches kube-apiserver through the kubernetes Service" \
  "Client sent an HTTP request to an HTTPS server" \
  k exec projected -- sh -c 'printf "GET / HTTP/1.0\r\n\r\n" | nc -w 5 $KUBERNETES_SERVICE_HOST $KUBERNETES_SERVICE_PORT'
check_contains "kubectl logs reaches the kubelet (kube-apiserver to kubelet, serving certificate verified)" \
  "hello" sh -c "kubectl -n '$NS' run logs-probe --image='$BUSYBOX_IMAGE' --image-pull-policy=Never --restart=Never \
    --command -- echo hello >/dev/null && kubectl -n '$NS' wait --for=jsonpath='{.status.phase}'=Succeeded pod/logs-probe --timeout=${T}s >/dev/null && kubectl -n '$NS' logs logs-probe"

note "a Pod with a podCertificate volume waits for its PodCertificateRequest to be signed"
SIGNER=clusterissuers.certwright.dev/$NS-node
offline_ca "$WORK/ca" "/CN=e2e node test CA"
apply < <(podcert_pod podcert "$SIGNER" ECDSAP256)
pod_created=$(date +%s%N)
wait_for $T "kubelet asks for the pod's certificate with a PodCertificateRequest" pcr_of podcert
PCR=$(pcr_of podcert)
pcr_seen=$(date +%s%N)
note "pod create to PodCertificateRequest: $(((pcr_seen - pod_created) / 1000000)) ms"
check_eq "the request names our signer, the pod, its ServiceAccount and the node" \
  "$(field "podcertificaterequest/$PCR" '.spec.signerName} {.spec.podName} {.spec.serviceAccountName} {.spec.nodeName')" \
  "$SIGNER podcert default $NODE_NAME"
sleep 3
check_eq "unsigned, the pod waits in ContainerCreating" \
  "$(field pod/podcert '.status.containerStatuses[0].state.waiting.reason')" ContainerCreating
check_ne "unsigned, the pod has not started" "$(field pod/podcert .status.phase)" Running

# Sign as a signer would: the stub CSR proves possession of the key kubelet made on the node.
field "podcertificaterequest/$PCR" .spec.stubPKCS10Request | base64 -d >"$WORK/stub.der"
check "the stub PKCS#10 request is signed by the requested key (proof of possession)" \
  openssl req -inform DER -in "$WORK/stub.der" -verify -noout
printf 'subjectAltName = URI:spiffe://e2e.test/ns/%s/sa/default\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth, serverAuth\n' \
  "$NS" >"$WORK/leaf.ext"
openssl x509 -req -inform DER -in "$WORK/stub.der" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" \
  -set_serial "0x$(openssl rand -hex 16)" -days 1 -sha256 -extfile "$WORK/leaf.ext" -out "$WORK/leaf.crt" 2>"$WORK/sign.err" ||
  abort "openssl could not sign the stub request: $(cat "$WORK/sign.err")"
python3 - "$WORK/leaf.crt" >"$WORK/status.json" <<'EOF'
import datetime, json, subprocess, sys
def date(flag):
    out = subprocess.run(["openssl", "x509", "-in", sys.argv[1], "-noout", "-" + flag, "-dateopt", "iso_8601"],
                         check=True, capture_output=True, text=True).stdout.split("=", 1)[1].strip()
    return datetime.datetime.strptime(out, "%Y-%m-%d %H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")
not_before, not_after = date("startdate"), date("enddate")
now = datetime.datetime.now(datetime.timezone.utc)
print(json.dumps({"status": {
    "certificateChain": open(sys.argv[1]).read(),
    "notBefore": rfc3339(not_before), "notAfter": rfc3339(not_after),
    "beginRefreshAt": rfc3339(not_before + (not_after - not_before) / 2),
    "conditions": [{"type": "Issued", "status": "True", "reason": "Issued", "message": "signed by e2e/node_test.sh",
                    "lastTransitionTime": rfc3339(now)}]}}))
EOF
check "the signer's status update is accepted" \
  kubectl -n "$NS" patch "podcertificaterequest/$PCR" --subresource=status --type=merge --patch-file "$WORK/status.json"
signed=$(date +%s%N)
wait_for $T "signed, the pod starts" pod_phase podcert Running
note "PodCertificateRequest signed to pod Running: $((($(date +%s%N) - signed) / 1000000)) ms"
k exec podcert -- cat /identity/credentials.pem >"$WORK/bundle.pem"
check_contains "the mounted bundle holds the private key" "BEGIN PRIVATE KEY" cat "$WORK/bundle.pem"
openssl x509 -in "$WORK/bundle.pem" -out "$WORK/mounted.crt" 2>/dev/null || true
check_eq "the mounted chain is the certificate the signer wrote" \
  "$(openssl x509 -in "$WORK/mounted.crt" -noout -fingerprint -sha256 2>&1)" \
  "$(openssl x509 -in "$WORK/leaf.crt" -noout -fingerprint -sha256)"
check_eq "the mounted key is the certificate's key (made on the node, never seen by the signer)" \
  "$(openssl pkey -in "$WORK/bundle.pem" -pubout 2>&1)" "$(openssl x509 -in "$WORK/leaf.crt" -noout -pubkey)"
check "the mounted certificate verifies against the signer's CA" \
  openssl verify -CAfile "$WORK/ca.crt" "$WORK/mounted.crt"

finish
