#!/usr/bin/env bash
# e2e/rbac_test.sh: the chart's RBAC is enough, and no more than enough (issue #5). Renders
# charts/certwright's ServiceAccount, ClusterRole/Binding and Role/Binding for this test's namespace
# (hack/render-chart, release name = namespace), runs `certwright controller` with a token of that
# ServiceAccount only, and drives every kind of API call it makes: informers on Secrets,
# Certificates, Issuers and CSRs; status updates; Secret create and update; a bootstrap CA Secret;
# Events; the leader-election Lease; SubjectAccessReviews; signing a CSR. The controller's log must
# show no 403. Then one rule is taken away to show that a missing right is seen.
#
#   e2e/rbac_test.sh path/to/certwright
source "$(dirname "$0")/lib.sh"
e2e_init rbac "$1"

# ---- the chart's RBAC, for a release named after the namespace ----
SA=$NS
cluster_object "clusterrole/$NS-controller"
cluster_object "clusterrolebinding/$NS-controller"
"$REPO_ROOT/hack/render-chart" --release-name "$NS" --namespace "$NS" --set "leaderElection.id=certwright-$NS" \
  --show-only templates/serviceaccount.yaml --show-only templates/rbac.yaml >"$WORK/rbac.yaml" 2>"$WORK/render.out" ||
  abort "hack/render-chart: $(cat "$WORK/render.out")"
check "the rendered RBAC applies" kubectl apply -f "$WORK/rbac.yaml"
check_contains "the rendered ClusterRole has no kubernetes.io signers by default" "issuers.certwright.dev/*" \
  kubectl get clusterrole "$NS-controller" -o jsonpath='{.rules[?(@.resources[0]=="signers")].resourceNames}'
check "... and does not name kubernetes.io/kubelet-serving" bash -c \
  "! kubectl get clusterrole $NS-controller -o yaml | grep -q kubernetes.io/kube"

# What the ServiceAccount may and may not do (kubectl auth can-i, as the ServiceAccount).
AS="system:serviceaccount:$NS:$SA"
can() { [ "$(kubectl auth can-i --as "$AS" "$@" 2>/dev/null)" = yes ]; }
cannot() { ! can "$@"; }
# signer_can VERB SIGNER: a SubjectAccessReview for the ServiceAccount on certificates.k8s.io
# signers (kubectl auth can-i cannot name a resource that is not in discovery).
signer_can() {
  local allowed
  allowed=$(kubectl create -o jsonpath='{.status.allowed}' -f - <<YAML
apiVersion: authorization.k8s.io/v1
kind: SubjectAccessReview
spec:
  user: $AS
  groups: [system:serviceaccounts, "system:serviceaccounts:$NS", system:authenticated]
  resourceAttributes: {group: certificates.k8s.io, resource: signers, verb: $1, name: "$2"}
YAML
  )
  [ "$allowed" = true ]
}
signer_cannot() { ! signer_can "$@"; }
check "may watch Secrets in every namespace" can watch secrets --all-namespaces
check "may update Secrets in another namespace (Certificates' Secrets)" can update secrets -n default
check "may not delete Secrets" cannot delete secrets -n "$NS"
check "may not patch Secrets" cannot patch secrets -n "$NS"
check "may update certificates/status" can update certificates.certwright.dev --subresource=status -n "$NS"
check "may not update Certificates themselves" cannot update certificates.certwright.dev -n "$NS"
check "may not create Issuers" cannot create issuers.certwright.dev -n "$NS"
check "may update certificatesigningrequests/status" can update certificatesigningrequests --subresource=status
check "may not update certificatesigningrequests/approval" cannot update certificatesigningrequests --subresource=approval
check "may watch podcertificaterequests in every namespace" can watch podcertificaterequests --all-namespaces
check "may update podcertificaterequests/status" can update podcertificaterequests --subresource=status -n "$NS"
check "may not create podcertificaterequests (only nodes do)" cannot create podcertificaterequests -n "$NS"
check "may not delete podcertificaterequests" cannot delete podcertificaterequests -n "$NS"
check "may sign for issuers.certwright.dev/*" signer_can sign "issuers.certwright.dev/*"
check "may sign for clusterissuers.certwright.dev/*" signer_can sign "clusterissuers.certwright.dev/*"
check "may attest (publish trust bundles) for clusterissuers.certwright.dev/*" signer_can attest "clusterissuers.certwright.dev/*"
check "may not attest for kubernetes.io/*" signer_cannot attest "kubernetes.io/*"
check "may create clustertrustbundles" can create clustertrustbundles
check "may not approve for its own signers" signer_cannot approve "issuers.certwright.dev/*"
check "may not sign kubernetes.io/kubelet-serving (kubernetesSigners.enabled is false)" \
  signer_cannot sign kubernetes.io/kubelet-serving
check "may not sign kubernetes.io/kube-apiserver-client" \
  signer_cannot sign kubernetes.io/kube-apiserver-client
check "may not sign kubernetes.io/* either" \
  signer_cannot sign "kubernetes.io/*"
check "may update its own Lease" can update "leases.coordination.k8s.io/certwright-$NS" -n "$NS"
check "may not update another Lease" cannot update leases.coordination.k8s.io/other -n "$NS"
check "may not create Leases outside the release namespace" cannot create leases.coordination.k8s.io -n default
check "may create SubjectAccessReviews" can create subjectaccessreviews.authorization.k8s.io
check "may write ConfigMaps (TrustBundle targets, trust.enabled)" can create configmaps -n default
check "may not patch ConfigMaps" cannot patch configmaps -n "$NS"
check "may patch webhook configurations (CA injection)" can patch validatingwebhookconfigurations.admissionregistration.k8s.io
check "may not create or delete them" bash -c "! [ \"\$(kubectl auth can-i --as $AS create validatingwebhookconfigurations.admissionregistration.k8s.io)\" = yes ] && ! [ \"\$(kubectl auth can-i --as $AS delete customresourcedefinitions.apiextensions.k8s.io)\" = yes ]"
check "may not delete Secrets by default (trust.secretTargets.enabled is false)" cannot delete secrets/any-bundle -n default
"$REPO_ROOT/hack/render-chart" --release-name "$NS" --namespace "$NS" --set trust.secretTargets.enabled=true \
  --set 'trust.secretTargets.authorizedSecrets={corp-roots}' --show-only templates/rbac.yaml >"$WORK/rbac-secrets.yaml"
check "trust.secretTargets grants delete on the listed Secret names only" bash -c \
  "grep -q 'resourceNames: \[\"corp-roots\"\]' $WORK/rbac-secrets.yaml"
"$REPO_ROOT/hack/render-chart" --release-name "$NS" --namespace "$NS" --set trust.enabled=false \
  --show-only templates/rbac.yaml >"$WORK/rbac-notrust.yaml"
check "trust.enabled=false grants no ConfigMaps" bash -c "! grep -q configmaps $WORK/rbac-notrust.yaml"

# With kubernetesSigners.enabled, and only then, the two kubernetes.io signers are granted.
"$REPO_ROOT/hack/render-chart" --release-name "$NS" --namespace "$NS" --set kubernetesSigners.enabled=true \
  --set kubernetesSigners.issuer=ClusterIssuer/x --show-only templates/rbac.yaml >"$WORK/rbac-k8s.yaml"
check "kubernetesSigners.enabled adds sign on the kubernetes.io signers" bash -c \
  "grep -q '^      - kubernetes.io/kubelet-serving$' $WORK/rbac-k8s.yaml && grep -q '^      - kubernetes.io/kube-apiserver-client$' $WORK/rbac-k8s.yaml"
"$REPO_ROOT/hack/render-chart" --release-name "$NS" --namespace "$NS" --set kubernetesSigners.enabled=true \
  --set kubernetesSigners.issuer=ClusterIssuer/x --show-only templates/deployment.yaml >"$WORK/deploy.yaml"
kubectl apply -f "$WORK/rbac-k8s.yaml" >/dev/null
check "applied, it lets the ServiceAccount sign kubernetes.io/kubelet-serving" signer_can sign kubernetes.io/kubelet-serving
check "... and kubernetes.io/kube-apiserver-client" signer_can sign kubernetes.io/kube-apiserver-client
check "... but not kubernetes.io/kube-apiserver-client-kubelet" signer_cannot sign kubernetes.io/kube-apiserver-client-kubelet
kubectl apply -f "$WORK/rbac.yaml" >/dev/null
check "re-applied without it, the right is gone again" signer_cannot sign kubernetes.io/kubelet-serving
check "... and the Deployment passes --kubernetes-signers-issuer" grep -q -- '- --kubernetes-signers-issuer=ClusterIssuer/x$' "$WORK/deploy.yaml"
check "the Deployment renders and passes server-side validation" kubectl apply --dry-run=server -f "$WORK/deploy.yaml"

# ---- the webhook's ServiceAccount (templates/webhook-rbac.yaml): its Secret, its two
# configurations' caBundle, reads for admission; nothing the controller may do ----
WEBHOOK_AS="system:serviceaccount:$NS:$NS-webhook"
webhook_can() { [ "$(kubectl auth can-i --as "$WEBHOOK_AS" "$@" 2>/dev/null)" = yes ]; }
webhook_cannot() { ! webhook_can "$@"; }
cluster_object "clusterrole/$NS-webhook"
cluster_object "clusterrolebinding/$NS-webhook"
"$REPO_ROOT/hack/render-chart" --release-name "$NS" --namespace "$NS" \
  --show-only templates/serviceaccount.yaml --show-only templates/webhook-rbac.yaml >"$WORK/webhook-rbac.yaml" 2>"$WORK/render.out" ||
  abort "hack/render-chart: $(cat "$WORK/render.out")"
check "the webhook's rendered RBAC applies" kubectl apply -f "$WORK/webhook-rbac.yaml"
check "the webhook may read its Secret" webhook_can get "secrets/$NS-webhook-tls" -n "$NS"
check "... and update it" webhook_can update "secrets/$NS-webhook-tls" -n "$NS"
check "... and create Secrets in the release namespace (create takes no resourceNames)" webhook_can create secrets -n "$NS"
check "the webhook may not read another Secret" webhook_cannot get secrets/ca -n "$NS"
check "... nor list Secrets" webhook_cannot list secrets -n "$NS"
check "... nor touch Secrets in another namespace" webhook_cannot create secrets -n default
check "... nor delete its own" webhook_cannot delete "secrets/$NS-webhook-tls" -n "$NS"
check "the webhook may patch its ValidatingWebhookConfiguration" \
  webhook_can patch "validatingwebhookconfigurations.admissionregistration.k8s.io/$NS-webhook"
check "... and its MutatingWebhookConfiguration" \
  webhook_can patch "mutatingwebhookconfigurations.admissionregistration.k8s.io/$NS-webhook"
check "... but not another configuration" \
  webhook_cannot patch validatingwebhookconfigurations.admissionregistration.k8s.io/other
check "... nor create or delete configurations" bash -c "! [ \"\$(kubectl auth can-i --as $WEBHOOK_AS create validatingwebhookconfigurations.admissionregistration.k8s.io)\" = yes ] && ! [ \"\$(kubectl auth can-i --as $WEBHOOK_AS delete mutatingwebhookconfigurations.admissionregistration.k8s.io/$NS-webhook)\" = yes ]"
check "the webhook may watch Issuers, ClusterIssuers, CertificatePolicies and Namespaces" bash -c \
  "for r in issuers.certwright.dev clusterissuers.certwright.dev certificatepolicies.certwright.dev namespaces; do [ \"\$(kubectl auth can-i --as $WEBHOOK_AS watch \$r --all-namespaces)\" = yes ] || exit 1; done"
check "the webhook may not write Certificates or their status" bash -c \
  "! [ \"\$(kubectl auth can-i --as $WEBHOOK_AS update certificates.certwright.dev -n $NS)\" = yes ] && ! [ \"\$(kubectl auth can-i --as $WEBHOOK_AS update certificates.certwright.dev --subresource=status -n $NS)\" = yes ]"
check "the webhook may not update CSRs' status" webhook_cannot update certificatesigningrequests --subresource=status
check "the webhook may ask SubjectAccessReviews (a CSR requester's right to our signer)" \
  webhook_can create subjectaccessreviews.authorization.k8s.io
# The Deployment, Service and configurations pass server-side validation (dry run: the
# configurations are never stored, so they cannot block the shared plane).
"$REPO_ROOT/hack/render-chart" --release-name "$NS" --namespace "$NS" --show-only templates/webhook.yaml >"$WORK/webhook.yaml"
check "the webhook's Deployment, Service and configurations pass server-side validation (CEL included)" \
  kubectl apply --dry-run=server -f "$WORK/webhook.yaml"
check "the chart sets no caBundle (the webhook writes it)" bash -c "! grep -q caBundle '$WORK/webhook.yaml'"
"$REPO_ROOT/hack/render-chart" --release-name "$NS" --namespace "$NS" --show-only templates/webhook.yaml \
  --set webhook.networkPolicy.enabled=true --set webhook.networkPolicy.apiServerCIDR=10.0.0.0/24 \
  --set custody.pkcs11Modules=/usr/lib/softhsm/libsofthsm2.so --set custody.kmsEndpoints=https://kms.internal \
  >"$WORK/webhook-np.yaml"
check "the webhook's NetworkPolicy (control plane only) passes server-side validation" bash -c \
  "grep -q 'kind: NetworkPolicy' '$WORK/webhook-np.yaml' && kubectl apply --dry-run=server -f '$WORK/webhook-np.yaml' >/dev/null"
check "the webhook gets the controller's custody flags" bash -c \
  "grep -q -- '--issuer-pkcs11-modules=/usr/lib/softhsm/libsofthsm2.so' '$WORK/webhook-np.yaml' &&
   grep -q -- '--issuer-kms-endpoints=https://kms.internal' '$WORK/webhook-np.yaml' &&
   grep -q -- '--issuer-ambient-credentials=false' '$WORK/webhook-np.yaml'"
# (The controller's CA-injection rule names the webhook configuration kinds: not a webhook.)
check "webhook.enabled=false renders no webhook" bash -c \
  "[ -z \"\$('$REPO_ROOT/hack/render-chart' --release-name $NS --namespace $NS --set webhook.enabled=false | grep -i webhook | grep -v 'resources: \[validatingwebhookconfigurations, mutatingwebhookconfigurations\]')\" ]"

# ---- a kubeconfig with the ServiceAccount's token and nothing else ----
TOKEN=$(k create token "$SA" --duration=1h)
SERVER=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
CA_DATA=$(kubectl config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
cat >"$WORK/sa.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: e2e
    cluster: {server: "$SERVER", certificate-authority-data: "$CA_DATA"}
users:
  - name: $SA
    user: {token: "$TOKEN"}
contexts:
  - name: e2e
    context: {cluster: e2e, user: $SA, namespace: $NS}
current-context: e2e
EOF
check_eq "the kubeconfig authenticates as the ServiceAccount" \
  "$(kubectl --kubeconfig "$WORK/sa.kubeconfig" auth whoami -o jsonpath='{.status.userInfo.username}' 2>&1)" "$AS"

# ---- fixtures, made by the admin ----
offline_ca "$WORK/ca" "/CN=rbac e2e CA"
k create secret tls ca --cert="$WORK/ca.crt" --key="$WORK/ca.key" >/dev/null
softhsm_token rbac 1234
k create secret generic hsm-pin --from-literal=pin=1234 >/dev/null
apply <<YAML
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: ca}
spec: {ca: {secretName: ca}}
---
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: hsm}
spec:
  pkcs11:
    modulePath: $MODULE
    keyURI: "pkcs11:token=rbac;object=ca"
    pinSecretRef: {name: hsm-pin}
    bootstrap: {mode: SelfSigned, subject: {commonName: rbac e2e HSM root}}
---
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: web}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  issuerRef: {name: ca}
---
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: hsm-leaf}
spec:
  secretName: hsm-leaf-tls
  dnsNames: [leaf.example.com]
  issuerRef: {name: hsm}
YAML

# ---- the controller, as the ServiceAccount (the last --kubeconfig wins) ----
note "controller running as $AS"
start_controller --kubeconfig "$WORK/sa.kubeconfig"
wait_for 60 "the ca Issuer becomes Ready" ready issuers.certwright.dev/ca
wait_for 60 "the pkcs11 Issuer becomes Ready (its bootstrap Secret created)" ready issuers.certwright.dev/hsm
check "the bootstrap CA Secret was created" k get secret hsm-bootstrap-ca
wait_for 60 "Certificate web is Ready" ready cwcert/web
wait_for 60 "Certificate hsm-leaf is Ready" ready cwcert/hsm-leaf
mkdir -p "$WORK/web"
save_secret web-tls "$WORK/web" || true
check "web's certificate verifies against the CA" verifies "$WORK/web" "$WORK/ca.crt"
check "an Issued Event was recorded (events.k8s.io create)" event_recorded web Issued
check_eq "the controller holds its Lease in the release namespace" \
  "$(k get lease "certwright-$NS" -o jsonpath='{.spec.holderIdentity}' | grep -c .)" 1

# A spec change: the Secret is updated in place (update, with a resourceVersion precondition).
old=$(secret_serial web-tls)
k patch cwcert web --type merge -p '{"spec":{"dnsNames":["web.example.com","www.example.com"]}}' >/dev/null
wait_for 60 "a spec change reissues into the same Secret (Secret update)" serial_changed web-tls "$old"
wait_for 30 "web is Ready for the new generation" ready cwcert/web

# A CSR for the ca Issuer, made and approved by the admin: a SubjectAccessReview, then
# certificatesigningrequests/status with `sign` on issuers.certwright.dev/*.
csr() {
  local short=$1 usages=$2
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/$short.key" \
    -out "$WORK/$short.csr" -subj "/CN=$short" -addext "subjectAltName=DNS:$short.example.com" 2>/dev/null
  cluster_object "csr/$NS-$short"
  kubectl apply -f - >"$WORK/csr.out" 2>&1 <<YAML || { fail "create CSR $NS-$short: $(cat "$WORK/csr.out")"; return 1; }
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: $NS-$short}
spec:
  signerName: issuers.certwright.dev/$NS.ca
  request: $(base64 -w0 <"$WORK/$short.csr")
  usages: [$usages]
YAML
  kubectl certificate approve "$NS-$short" >/dev/null
}
signed() { [ -n "$(kubectl get csr "$NS-$1" -o jsonpath='{.status.certificate}')" ]; }
csr_reason() { kubectl get csr "$NS-$1" -o jsonpath='{.status.conditions[?(@.type=="Failed")].reason}'; }

csr api "digital signature, client auth"
wait_for 30 "an approved CSR for issuers.certwright.dev/$NS.ca is signed" signed api
kubectl get csr "$NS-api" -o jsonpath='{.status.certificate}' | base64 -d >"$WORK/api.crt"
check "its certificate verifies against the CA" openssl verify -CAfile "$WORK/ca.crt" "$WORK/api.crt"
check "the controller logged the audit record for it" audit_has door=CertificateSigningRequest \
  "object=CertificateSigningRequest $NS-api" decision=issued
csr bad "digital signature, cert sign"
wait_for 30 "a bad CSR is marked Failed (a status write too)" bash -c "[ \"\$(kubectl get csr $NS-bad -o jsonpath='{.status.conditions[?(@.type==\"Failed\")].reason}')\" = PolicyDenied ]"

# ---- the docs' examples (docs/csr-signer.md), as written but for the names ----
note "docs/csr-signer.md: a team's requester and approver"
# The YAML blocks of the two sections, with team-a -> NS, cluster-scoped names made unique, and
# the approver a ServiceAccount (the docs bind a User).
python3 - "$REPO_ROOT/docs/csr-signer.md" "$NS" >"$WORK/docs-rbac.yaml" <<'PY'
import re, sys
text, ns = open(sys.argv[1]).read(), sys.argv[2]
def first_yaml(heading):
    section = text.split("\n## " + heading + "\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
docs = first_yaml("Letting a team request certificates") + "---\n" + first_yaml("Letting someone approve")
docs = docs.replace("name: csr-requester}", "name: team-a-csr-requester}").replace("team-a", ns)
docs = docs.replace("{kind: User, name: alice@example.com, apiGroup: rbac.authorization.k8s.io}",
                    "{kind: ServiceAccount, name: approver, namespace: %s}" % ns)
print(docs)
PY
cluster_object "clusterrole/$NS-csr-requester"
cluster_object "clusterrolebinding/$NS-csr-requester"
cluster_object "clusterrole/$NS-csr-approver"
cluster_object "clusterrolebinding/$NS-csr-approver"
k create serviceaccount builder >/dev/null
k create serviceaccount approver >/dev/null
check "the docs' RBAC examples apply" kubectl apply -f "$WORK/docs-rbac.yaml"
SERVER_CA=$WORK/apiserver-ca.crt
base64 -d <<<"$CA_DATA" >"$SERVER_CA"
BUILDER_TOKEN=$(k create token builder --duration=10m)
APPROVER_TOKEN=$(k create token approver --duration=10m)
as_builder() { kubectl --kubeconfig=/dev/null --server="$SERVER" --certificate-authority="$SERVER_CA" --token="$BUILDER_TOKEN" "$@"; }
as_approver() { kubectl --kubeconfig=/dev/null --server="$SERVER" --certificate-authority="$SERVER_CA" --token="$APPROVER_TOKEN" "$@"; }
# team_csr SHORT ISSUER: the builder creates a CSR for issuers.certwright.dev/NS.ISSUER.
team_csr() {
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/$1.key" \
    -out "$WORK/$1.csr" -subj "/CN=$1" 2>/dev/null
  cluster_object "csr/$NS-$1"
  as_builder apply -f - >"$WORK/csr.out" 2>&1 <<YAML || { fail "the builder creates CSR $NS-$1: $(cat "$WORK/csr.out")"; return 1; }
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: $NS-$1}
spec:
  signerName: issuers.certwright.dev/$NS.$2
  request: $(base64 -w0 <"$WORK/$1.csr")
  usages: [digital signature, client auth]
YAML
}
team_csr team ca
check_eq "the CSR records the builder as requester" "$(kubectl get csr "$NS-team" -o jsonpath='{.spec.username}')" \
  "system:serviceaccount:$NS:builder"
check "the approver approves it with kubectl certificate approve" as_approver certificate approve "$NS-team"
wait_for 30 "the builder's CSR is signed (reference granted by the namespaced Role)" signed team
team_csr otherissuer hsm
check_contains "the approver may not approve a CSR for another signer" "forbidden" \
  bash -c "$(declare -f as_approver); SERVER=$SERVER SERVER_CA=$SERVER_CA APPROVER_TOKEN=$APPROVER_TOKEN as_approver certificate approve $NS-otherissuer 2>&1 || true"
kubectl certificate approve "$NS-otherissuer" >/dev/null
wait_for 30 "approved by the admin, the builder's CSR for an Issuer the Role does not name gets PermissionDenied" \
  bash -c "[ \"\$(kubectl get csr $NS-otherissuer -o jsonpath='{.status.conditions[?(@.type==\"Failed\")].reason}')\" = PermissionDenied ]"

check "the controller's log shows no 403 (Forbidden)" bash -c "! grep -i 'forbidden' '$CONTROLLER_LOG'"
check "the controller's log shows no other failed API call" bash -c "! grep -Ei 'permission denied|unauthorized' '$CONTROLLER_LOG'"

# ---- a right taken away is seen: without `sign` on the signers, the CSR stays unsigned ----
note "without sign on signers"
kubectl get clusterrole "$NS-controller" -o json | python3 -c '
import json, sys
role = json.load(sys.stdin)
role["rules"] = [r for r in role["rules"] if r.get("resources") != ["signers"]]
json.dump(role, sys.stdout)' | kubectl replace -f - >/dev/null
csr nosign "digital signature, client auth"
wait_for 30 "the controller's status write is refused with 403 (seen in its log)" \
  grep -qi "forbidden.*signers\|signers.*forbidden\|forbidden" "$CONTROLLER_LOG"
check "the CSR is not signed" bash -c "! signed(){ :; }; [ -z \"\$(kubectl get csr $NS-nosign -o jsonpath='{.status.certificate}')\" ]"
check_eq "... nor marked Failed (a 403 is retried, not the requester's fault)" "$(csr_reason nosign)" ""
kubectl apply -f "$WORK/rbac.yaml" >/dev/null
wait_for 90 "with the rule back, the CSR is signed (retried with back-off)" signed nosign

finish
