#!/usr/bin/env bash
# e2e/incluster_test.sh: certwright runs in the cluster as users run it. The chart's manifests
# (hack/render-chart) are applied as they are, but for the image pull policy: the certwright
# image (hack/image, from the build tree under test) is imported into the node's containerd.
# Then:
#   - two controller replicas run with the in-cluster config and their ServiceAccount; one holds
#     the Lease, and a Certificate applied with kubectl in another namespace becomes Ready;
#   - two webhook replicas write their CA into both webhook configurations, and kube-apiserver
#     calls them through their Service (ClusterIP, routed by kube-proxy): a bad Certificate is
#     refused with the webhook's message;
#   - deleting the leader's pod hands the Lease to the other replica, which issues the next
#     Certificate.
#
#   e2e/incluster_test.sh path/to/certwright     (ctest: e2e.incluster, label kube, RUN_SERIAL:
#                                                 the chart's webhooks see the whole cluster)
# Fails, never skips, when the plane has no Ready node.
# shellcheck source=e2e/lib.sh
source "$(dirname "$0")/lib.sh"
e2e_init incluster "$1"
require_node

T=90
REL=cw$$
APPS=$NS-apps
PLANE_DIR=$(dirname "$KUBECONFIG")

note "the certwright image, built from $(dirname "$CW"), imported into the node"
check "hack/image imports the certwright image into the node's containerd" \
  env CERTWRIGHT_BUILD_DIR="$(dirname "$CW")" "$REPO_ROOT/hack/image" import \
  --address "$PLANE_DIR/node/containerd.sock" certwright

note "the chart's manifests, release $REL in $NS: 2 controller and 2 webhook replicas"
"$REPO_ROOT/hack/render-chart" --release-name "$REL" --namespace "$NS" \
  --set image.pullPolicy=Never --set replicas=2 --set "clusterIssuerSelector=certwright.dev/e2e=$NS" \
  >"$WORK/chart.yaml" 2>"$WORK/render.err" || abort "hack/render-chart: $(cat "$WORK/render.err")"
# Its cluster-scoped objects (RBAC, webhook configurations) go at exit, with the namespaces.
while read -r kind name; do
  cluster_object "$kind/$name"
done < <(python3 -c '
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and "namespace" not in d["metadata"]:
        print(d["kind"].lower(), d["metadata"]["name"])' "$WORK/chart.yaml")
kubectl create namespace "$APPS" >/dev/null
cluster_object "namespace/$APPS"
cluster_object "clustertrustbundle/issuers.certwright.dev:$APPS.root:ca"
check "the chart's manifests apply" kubectl apply -f "$WORK/chart.yaml"

deployment_ready() { # NAME REPLICAS
  [ "$(field "deployment/$1" .status.readyReplicas)" = "$2" ] &&
    [ "$(field "deployment/$1" .status.updatedReplicas)" = "$2" ]
}
wait_for $T "both controller replicas are Ready (caches synced, in-cluster config)" deployment_ready "$REL-controller" 2
wait_for $T "both webhook replicas are Ready (serving certificate loaded)" deployment_ready "$REL-webhook" 2
pods_of() { k get pods -l "app.kubernetes.io/instance=$REL,app.kubernetes.io/component=$1" -o jsonpath='{.items[*].metadata.name}'; }
check_eq "the controller pods run as the chart's ServiceAccount" \
  "$(k get pods -l "app.kubernetes.io/component=controller,app.kubernetes.io/instance=$REL" -o jsonpath='{.items[*].spec.serviceAccountName}')" \
  "$REL $REL"
# runAsNonRoot: kubelet refuses to start a container whose image user is root, so Ready pods show
# that the image runs as its non-root user.
check_eq "the chart asks runAsNonRoot, and the pods run (the image's user is not root)" \
  "$(k get pods -l "app.kubernetes.io/component=controller,app.kubernetes.io/instance=$REL" -o jsonpath='{.items[*].spec.securityContext.runAsNonRoot} {.items[*].status.containerStatuses[0].ready}')" \
  "true true true true"

LEASE=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["leaderElection"]["id"])' \
  "$REPO_ROOT/charts/certwright/values.yaml")
holder() { field "lease/$LEASE" .spec.holderIdentity; }
holder_is_a_pod() { # prints the pod whose name the holder identity starts with
  local h p
  h=$(holder)
  for p in $(pods_of controller); do
    case $h in "${p}_"*) echo "$p" && return 0 ;; esac
  done
  return 1
}
wait_for $T "one controller replica holds the Lease $LEASE" holder_is_a_pod
LEADER=$(holder_is_a_pod)
note "leader: $LEADER ($(holder))"

note "the webhook's Service answers kube-apiserver"
ca_bundles_set() {
  local kind
  for kind in validatingwebhookconfiguration mutatingwebhookconfiguration; do
    kubectl get "$kind" "$REL-webhook" -o json | python3 -c '
import sys, json
hooks = json.load(sys.stdin)["webhooks"]
sys.exit(0 if hooks and all(h["clientConfig"].get("caBundle") for h in hooks) else 1)' || return 1
  done
}
wait_for $T "the webhook writes its CA into every webhook of both configurations" ca_bundles_set
offline_ca "$WORK/root" "/CN=e2e in-cluster root"
kubectl -n "$APPS" create secret tls root-ca --cert="$WORK/root.crt" --key="$WORK/root.key" >/dev/null
cert() { # NAME DNSNAME
  printf 'apiVersion: certwright.dev/v1alpha1\nkind: Certificate\nmetadata: {name: %s}\nspec:\n  secretName: %s-tls\n  issuerRef: {name: root}\n  dnsNames: ["%s"]\n  duration: 24h\n' "$1" "$1" "$2"
}
# The webhook may be Ready before kube-apiserver's connections to it are: retry the first apply.
applied_through_webhook() {
  printf 'apiVersion: certwright.dev/v1alpha1\nkind: Issuer\nmetadata: {name: root}\nspec: {ca: {secretName: root-ca}}\n' |
    kubectl -n "$APPS" apply -f -
}
wait_for $T "an Issuer is admitted through the webhook Service" applied_through_webhook
cert bad 'bad_name!.example.com' >"$WORK/bad.yaml"
kubectl -n "$APPS" apply -f "$WORK/bad.yaml" >"$WORK/bad.out" 2>&1 && fail "a Certificate with a bad DNS name was applied"
check_contains "a Certificate with a bad DNS name is refused by our webhook, through its Service" \
  'admission webhook "resources.validate.certwright.dev" denied the request' cat "$WORK/bad.out"
check_contains "the refusal names the field" 'spec.dnsNames[0]: "bad_name!.example.com" is not a valid DNS name' \
  cat "$WORK/bad.out"

note "the in-cluster controller issues"
apps_ready() { [ "$(kubectl -n "$APPS" get "cwcert/$1" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
cert web web.example.com | kubectl -n "$APPS" apply -f - >/dev/null
wait_for $T "a Certificate applied with kubectl becomes Ready" apps_ready web
kubectl -n "$APPS" get secret web-tls -o jsonpath='{.data.tls\.crt}' | base64 -d >"$WORK/web.crt"
check "its certificate verifies against the Issuer's CA" openssl verify -CAfile "$WORK/root.crt" "$WORK/web.crt"
check_contains "its certificate names web.example.com" "DNS:web.example.com" \
  openssl x509 -in "$WORK/web.crt" -noout -ext subjectAltName

note "pods annotated certwright.dev/issuer get certificates (webhook adds the volume, controller signs)"
kubectl -n "$APPS" apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: annotated}
spec:
  replicas: 2
  selector: {matchLabels: {app: annotated}}
  template:
    metadata:
      labels: {app: annotated}
      annotations: {certwright.dev/issuer: Issuer/root, certwright.dev/key-type: ECDSAP384}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - {name: main, image: $BUSYBOX_IMAGE, imagePullPolicy: Never, command: [sleep, "3600"]}
EOF
annotated_ready() { [ "$(kubectl -n "$APPS" get deployment annotated -o jsonpath='{.status.readyReplicas}')" = 2 ]; }
wait_for $T "an annotated Deployment's pods run" annotated_ready
APOD=$(kubectl -n "$APPS" get pods -l app=annotated -o jsonpath='{.items[0].metadata.name}')
IDENTITY=/var/run/secrets/certwright.dev/identity
check_eq "the webhook mounted the identity volume read-only" \
  "$(kubectl -n "$APPS" get pod "$APOD" -o jsonpath='{.spec.containers[0].volumeMounts[?(@.name=="certwright-identity")].readOnly}')" true
kubectl -n "$APPS" exec "$APOD" -- cat "$IDENTITY/credentials.pem" >"$WORK/pod.pem" 2>/dev/null || true
kubectl -n "$APPS" exec "$APOD" -- cat "$IDENTITY/ca.crt" >"$WORK/pod-ca.crt" 2>/dev/null || true
openssl x509 -in "$WORK/pod.pem" -out "$WORK/pod.crt" 2>/dev/null || true
check "the pod's leaf verifies against the trust bundle mounted beside it" \
  openssl verify -CAfile "$WORK/pod-ca.crt" "$WORK/pod.crt"
check_eq "the mounted trust bundle is the Issuer's root" "$(openssl x509 -in "$WORK/pod-ca.crt" -noout -fingerprint 2>&1)" \
  "$(openssl x509 -in "$WORK/root.crt" -noout -fingerprint)"
check_contains "the leaf carries the pod's SPIFFE ID" "URI:spiffe://cluster.local/ns/$APPS/sa/default" \
  openssl x509 -in "$WORK/pod.crt" -noout -ext subjectAltName
check_contains "the key is the ECDSA P-384 key the annotation asked for" "NIST CURVE: P-384" \
  openssl x509 -in "$WORK/pod.crt" -noout -text
check_eq "the mounted key is the leaf's" "$(openssl pkey -in "$WORK/pod.pem" -pubout 2>&1)" \
  "$(openssl x509 -in "$WORK/pod.crt" -noout -pubkey 2>&1)"
kubectl -n "$APPS" run missing --image="$BUSYBOX_IMAGE" --image-pull-policy=Never --restart=Never \
  --annotations=certwright.dev/issuer=ClusterIssuer/no-such-issuer -- sleep 1 >"$WORK/missing.out" 2>&1 &&
  fail "a pod naming a missing issuer was created"
check_contains "a pod naming a missing issuer is refused at create, with the annotation named" \
  'metadata.annotations[certwright.dev/issuer]: ClusterIssuer no-such-issuer does not exist' cat "$WORK/missing.out"
kubectl -n "$APPS" run badkey --image="$BUSYBOX_IMAGE" --image-pull-policy=Never --restart=Never \
  --annotations=certwright.dev/issuer=Issuer/root --annotations=certwright.dev/key-type=ECDSAP521 -- sleep 1 \
  >"$WORK/badkey.out" 2>&1 && fail "a pod asking for a P-521 key was created"
check_contains "a pod asking for an unsupported key type is refused, naming the supported ones" \
  'metadata.annotations[certwright.dev/key-type]: "ECDSAP521" is not one of RSA3072' cat "$WORK/badkey.out"

note "the leader's pod is deleted: the other replica takes the Lease and issues"
k delete pod "$LEADER" --wait=false >/dev/null
new_leader() { local p; p=$(holder_is_a_pod) && [ "$p" != "$LEADER" ]; }
deleted=$SECONDS
wait_for $T "another replica takes the Lease" new_leader
note "Lease handed over $((SECONDS - deleted)) s after the leader's pod was deleted"
cert web2 web2.example.com | kubectl -n "$APPS" apply -f - >/dev/null
wait_for $T "the new leader issues the next Certificate" apps_ready web2
wait_for $T "the Deployment replaces the deleted pod" deployment_ready "$REL-controller" 2

finish
