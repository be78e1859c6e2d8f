#!/usr/bin/env bash
# e2e/trust_test.sh: trust distribution (issue #14, parts 1, 2 and 5) against the real control
# plane: CA injection into a ValidatingWebhookConfiguration and a CRD's conversion webhook (set,
# repaired after an edit, updated when the CA changes, left alone when the source is missing),
# and a TrustBundle published to labelled namespaces only, as PEM, JKS (read by keytool) and
# PKCS#12 (read by openssl and keytool), updated when an issuer's CA changes, written only when
# its content changes, never over someone else's ConfigMap, and left as it was when a source
# fails. Cluster-scoped objects are named after NS and deleted at exit; the scenario runs serially.
#
#   e2e/trust_test.sh path/to/certwright
source "$(dirname "$0")/lib.sh"
e2e_init trust "$1"
command -v keytool >/dev/null || abort "keytool (Debian's openjdk-17-jre-headless) is needed; hack/install-deps installs it"

# ---- fixtures: a CA Issuer, a Certificate from it, three more CAs, one expired ----
offline_ca "$WORK/ca" "/CN=trust e2e CA one" 60
offline_ca "$WORK/two" "/CN=trust e2e CA two" 60
offline_ca "$WORK/three" "/CN=trust e2e CA three" 60
offline_ca "$WORK/next" "/CN=trust e2e CA next" 60
aged_ca "$WORK/old" "/CN=trust e2e CA expired" 2880
openssl ca -batch -notext -config "$WORK/aged-ca-old/ca.cnf" -selfsign -keyfile "$WORK/old.key" \
  -in "$WORK/aged-ca-old/req.csr" -out "$WORK/expired.crt" -extensions root \
  -startdate "$(date -u -d '-2 days' +%Y%m%d%H%M%SZ)" -enddate "$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)" \
  >>"$WORK/openssl.err" 2>&1 || abort "openssl: an expired root: $(cat "$WORK/openssl.err")"
k create secret tls ca --cert="$WORK/ca.crt" --key="$WORK/ca.key" >/dev/null
k create secret generic store-pass --from-literal=password='s3cret pass' >/dev/null
k create configmap extra-roots --from-file=roots.pem=<(cat "$WORK/two.crt" "$WORK/expired.crt") >/dev/null
apply <<YAML
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: ca}
spec: {ca: {secretName: ca}}
---
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: serving}
spec:
  secretName: serving-tls
  dnsNames: [webhook.$NS.svc]
  issuerRef: {name: ca, kind: Issuer}
YAML
# The drill below re-issues at 5 per second.
start_controller --reissue-qps 5
wait_for 60 "the serving Certificate is Ready" ready cwcert/serving
save_secret serving-tls "$WORK/serving"

b64() { base64 -w0 <"$1"; }
cluster_field() { kubectl get "$1" -o "jsonpath={$2}" 2>/dev/null || true; }

# ---- 1. CA injection ----
note "CA injection"
VWC=$NS-inject
VWC_MISSING=$NS-missing
CRD=widgets.$NS.e2e.certwright.dev
cluster_object "validatingwebhookconfiguration/$VWC"
cluster_object "validatingwebhookconfiguration/$VWC_MISSING"
cluster_object "crd/$CRD"
# Webhooks that never match anything (an object selector no object has), so no test is slowed.
webhook() {
  cat <<YAML
  - name: $1.$NS.e2e.certwright.dev
    clientConfig: {url: "https://127.0.0.1:9/validate"${2:+, caBundle: $2}}
    rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}]
    objectSelector: {matchLabels: {never: "$NS"}}
    failurePolicy: Ignore
    sideEffects: None
    admissionReviewVersions: [v1]
YAML
}
kubectl apply -f - >"$WORK/apply.out" 2>&1 <<YAML || fail "create the webhook configurations: $(cat "$WORK/apply.out")"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: $VWC
  annotations: {certwright.dev/inject-ca-from: $NS/serving}
webhooks:
$(webhook a)
$(webhook b "$(printf old | base64)")
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: $VWC_MISSING
  annotations: {certwright.dev/inject-ca-from: $NS/no-such-certificate}
webhooks:
$(webhook c "$(printf keep | base64)")
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: $CRD
  annotations: {certwright.dev/inject-ca-from-issuer: $NS/ca}
spec:
  group: $NS.e2e.certwright.dev
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  conversion:
    strategy: Webhook
    webhook:
      conversionReviewVersions: [v1]
      clientConfig: {url: "https://127.0.0.1:9/convert"}
  versions:
    - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}
YAML
SERVING_CA=$(b64 "$WORK/serving/ca.crt")
ISSUER_CA=$(b64 "$WORK/ca.crt")
wait_for 30 "both webhooks of the configuration get the Certificate's ca.crt" \
  bash -c "[ \"\$(kubectl get validatingwebhookconfiguration $VWC -o jsonpath='{.webhooks[*].clientConfig.caBundle}')\" = '$SERVING_CA $SERVING_CA' ]"
wait_for 30 "the CRD's conversion webhook gets the Issuer's CA" bash -c "[ \"\$(kubectl get crd $CRD -o jsonpath='{.spec.conversion.webhook.clientConfig.caBundle}')\" = '$ISSUER_CA' ]"
kubectl patch validatingwebhookconfiguration "$VWC" --type=json \
  -p "[{\"op\":\"replace\",\"path\":\"/webhooks/1/clientConfig/caBundle\",\"value\":\"$(printf edited | base64)\"}]" >/dev/null
wait_for 30 "an edited caBundle is repaired" \
  bash -c "[ \"\$(kubectl get validatingwebhookconfiguration $VWC -o jsonpath='{.webhooks[1].clientConfig.caBundle}')\" = '$SERVING_CA' ]"
kubectl patch crd "$CRD" --type=json \
  -p '[{"op":"remove","path":"/spec/conversion/webhook/clientConfig/caBundle"}]' >/dev/null
wait_for 30 "a removed CRD caBundle is put back" bash -c "[ \"\$(kubectl get crd $CRD -o jsonpath='{.spec.conversion.webhook.clientConfig.caBundle}')\" = '$ISSUER_CA' ]"
wait_for 30 "a missing source gets a Warning Event on the object (in default)" \
  bash -c "kubectl -n default get events --field-selector involvedObject.name=$VWC_MISSING,reason=InjectionFailed -o jsonpath='{.items[*].message}' | grep -q 'no-such-certificate'"
check_eq "and its caBundle is left as it was" \
  "$(kubectl get validatingwebhookconfiguration "$VWC_MISSING" -o jsonpath='{.webhooks[0].clientConfig.caBundle}')" \
  "$(printf keep | base64)"
check_contains "injections are counted" 'certwright_cainjector_writes_total{kind="ValidatingWebhookConfiguration"}' metrics

# ---- 2. TrustBundle ----
note "TrustBundle"
# A second installation that serves other TrustBundles (another selector) runs alongside: it must
# leave this one's targets alone (CI once saw another scenario's controller delete them).
OTHER_LOG=$WORK/other-controller.log
"$CW" controller --kubeconfig "$KUBECONFIG" --namespace "$NS-other" --cluster-resource-namespace "$NS-other" \
  --cluster-issuer-selector "certwright.dev/e2e=$NS-other" --trust-bundle-selector "certwright.dev/e2e=$NS-other" \
  --leader-elect false --metrics-address "127.0.0.1:$(free_port)" </dev/null >"$OTHER_LOG" 2>&1 &
OTHER_PID=$!
BUNDLE=$NS-bundle
A=$NS-a B=$NS-b C=$NS-c D=$NS-d
for n in "$A" "$B" "$C" "$D"; do
  cluster_object "namespace/$n"
  kubectl create namespace "$n" >/dev/null
done
kubectl label namespace "$A" "$B" "trust=$NS" >/dev/null
# Someone else's ConfigMap of the bundle's name in D: never overwritten.
kubectl -n "$D" create configmap "$BUNDLE" --from-literal=ca.crt=theirs >/dev/null
cluster_object "trustbundle.certwright.dev/$BUNDLE"
inline=$(sed 's/^/        /' "$WORK/three.crt")
kubectl apply -f - >"$WORK/apply.out" 2>&1 <<YAML || fail "create the TrustBundle: $(cat "$WORK/apply.out")"
apiVersion: certwright.dev/v1alpha1
kind: TrustBundle
metadata: {name: $BUNDLE, labels: {certwright.dev/e2e: $NS}}
spec:
  sources:
    - issuer: {kind: Issuer, namespace: $NS, name: ca}
    - configMap: {name: extra-roots, key: roots.pem}
    - inLine: |
$inline
  target:
    configMap: {key: ca.crt}
    secret: {key: ca.crt}
    additionalFormats:
      jks: {key: truststore.jks, passwordSecretRef: {name: store-pass, key: password}}
      pkcs12: {key: truststore.p12}
    namespaceSelector: {matchLabels: {trust: $NS}}
YAML
bundle_field() { cluster_field "trustbundle.certwright.dev/$BUNDLE" "$1"; }
bundle_ready() {
  echo "Ready=$(bundle_field '.status.conditions[?(@.type=="Ready")].status') $(bundle_field '.status.conditions[?(@.type=="Ready")].message')"
  [ "$(bundle_field '.status.conditions[?(@.type=="Ready")].status')" = True ] &&
    [ "$(bundle_field .status.observedGeneration)" = "$(bundle_field .metadata.generation)" ]
}
cm_pem() { kubectl -n "$1" get configmap "$BUNDLE" -o 'go-template={{index .data "ca.crt"}}' 2>/dev/null || true; }
count_certs() { grep -c 'BEGIN CERTIFICATE' || true; }
wait_for 60 "the TrustBundle is Ready" bundle_ready
wait_for 30 "a ConfigMap reaches labelled namespace A" bash -c "kubectl -n $A get configmap $BUNDLE"
wait_for 30 "and labelled namespace B, as a Secret too" bash -c "kubectl -n $B get configmap $BUNDLE && kubectl -n $B get secret $BUNDLE"
check "namespace C (not labelled) gets nothing" bash -c "! kubectl -n $C get configmap $BUNDLE 2>/dev/null && ! kubectl -n $C get secret $BUNDLE 2>/dev/null"
check_eq "three certificates: the issuer's, the ConfigMap's valid one, the inline one" "$(cm_pem "$A" | count_certs)" 3
check_eq "status says 3" "$(bundle_field .status.certificates)" 3
check_eq "status counts the 2 namespaces" "$(bundle_field .status.namespaces)" 2
check_contains "the expired certificate is named in status" "CN=trust e2e CA expired" bundle_field .status.droppedCertificates
wait_for 20 "and in a Warning Event" bash -c "kubectl -n default get events --field-selector involvedObject.name=$BUNDLE,reason=CertificatesDropped -o jsonpath='{.items[*].message}' | grep -q 'trust e2e CA expired'"
cm_pem "$A" >"$WORK/bundle-a.pem"
check "a leaf of the Issuer verifies against the bundle in its namespace" verifies "$WORK/serving" "$WORK/bundle-a.pem"
check "the Secret target holds the same PEM" bash -c "[ \"\$(kubectl -n $B get secret $BUNDLE -o 'go-template={{index .data \"ca.crt\"}}' | base64 -d)\" = \"\$(cat $WORK/bundle-a.pem)\" ]"
check_eq "targets carry the bundle's hash" "$(kubectl -n "$A" get configmap "$BUNDLE" -o 'jsonpath={.metadata.annotations.certwright\.dev/trust-bundle-hash}')" "$(bundle_field .status.bundleHash)"
check_eq "and an ownerReference to the TrustBundle" "$(kubectl -n "$A" get configmap "$BUNDLE" -o 'jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}')" "TrustBundle/$BUNDLE"

kubectl -n "$A" get configmap "$BUNDLE" -o 'go-template={{index .binaryData "truststore.jks"}}' | base64 -d >"$WORK/a.jks"
kubectl -n "$A" get configmap "$BUNDLE" -o 'go-template={{index .binaryData "truststore.p12"}}' | base64 -d >"$WORK/a.p12"
check_eq "keytool opens the JKS with the Secret's password: 3 trusted entries" \
  "$(keytool -list -keystore "$WORK/a.jks" -storetype JKS -storepass 's3cret pass' 2>&1 | grep -c trustedCertEntry)" 3
check "keytool refuses it with another password" bash -c "! keytool -list -keystore $WORK/a.jks -storetype JKS -storepass wrong >/dev/null 2>&1"
check_eq "openssl pkcs12 opens the PKCS#12 with the default password: 3 certificates" \
  "$(openssl pkcs12 -in "$WORK/a.p12" -passin pass:changeit -nokeys 2>/dev/null | count_certs)" 3
check_eq "keytool sees 3 trusted entries in the PKCS#12" \
  "$(keytool -list -keystore "$WORK/a.p12" -storetype PKCS12 -storepass changeit 2>&1 | grep -c trustedCertEntry)" 3
check "openssl refuses the PKCS#12 with another password" bash -c "! openssl pkcs12 -in $WORK/a.p12 -passin pass:wrong -nokeys >/dev/null 2>&1"

check "the other installation is running and deleted nothing" bash -c \
  "kill -0 $OTHER_PID && ! grep -q 'no longer selected' $OTHER_LOG"
note "writes only on change"
writes() { metrics | awk -v b="$BUNDLE" '$1 ~ "^certwright_trustbundle_target_writes_total" && index($1, "bundle=\"" b "\"") {s += $2} END {print s + 0}'; }
rv_a=$(kubectl -n "$A" get configmap "$BUNDLE" -o jsonpath='{.metadata.resourceVersion}')
w0=$(writes)
kubectl annotate trustbundle.certwright.dev "$BUNDLE" touched=1 >/dev/null
sleep 3
check_eq "a reconcile with nothing new writes nothing" "$(writes)" "$w0"
check_eq "the target's resourceVersion stays" "$(kubectl -n "$A" get configmap "$BUNDLE" -o jsonpath='{.metadata.resourceVersion}')" "$rv_a"
check_eq "4 targets were written in all (2 namespaces x ConfigMap + Secret)" "$w0" 4

note "repair, selection changes, someone else's ConfigMap"
kubectl -n "$B" patch configmap "$BUNDLE" --type=merge -p '{"data":{"ca.crt":"tampered"}}' >/dev/null
wait_for 30 "an edited target is repaired" bash -c "[ \"\$(kubectl -n $B get configmap $BUNDLE -o 'go-template={{index .data \"ca.crt\"}}')\" = \"\$(cat $WORK/bundle-a.pem)\" ]"
kubectl -n "$B" delete secret "$BUNDLE" >/dev/null
wait_for 30 "a deleted target is re-created" bash -c "kubectl -n $B get secret $BUNDLE"
kubectl label namespace "$C" "trust=$NS" >/dev/null
wait_for 30 "a namespace labelled later gets the bundle" bash -c "kubectl -n $C get configmap $BUNDLE"
kubectl label namespace "$A" trust- >/dev/null
wait_for 30 "a namespace unlabelled loses it" bash -c "! kubectl -n $A get configmap $BUNDLE 2>/dev/null && ! kubectl -n $A get secret $BUNDLE 2>/dev/null"
kubectl label namespace "$D" "trust=$NS" >/dev/null
wait_for 30 "someone else's ConfigMap of that name: TargetConflict" \
  bash -c "[ \"\$(kubectl get trustbundle.certwright.dev $BUNDLE -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].reason}')\" = TargetConflict ]"
check_eq "and it is left alone" "$(kubectl -n "$D" get configmap "$BUNDLE" -o 'go-template={{index .data "ca.crt"}}')" theirs
wait_for 30 "the Secret target there is still written" bash -c "kubectl -n $D get secret $BUNDLE"
kubectl -n "$D" delete configmap "$BUNDLE" >/dev/null
wait_for 60 "once it is gone, the bundle's ConfigMap is written and Ready returns" \
  bash -c "kubectl -n $D get configmap $BUNDLE -o jsonpath='{.metadata.labels}' | grep -q trust-bundle && [ \"\$(kubectl get trustbundle.certwright.dev $BUNDLE -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].reason}')\" = Synced ]"

note "an issuer's CA changes"
hash0=$(bundle_field .status.bundleHash)
k create secret tls ca --cert="$WORK/next.crt" --key="$WORK/next.key" --dry-run=client -o yaml | k apply -f - >/dev/null
wait_for 60 "the bundle holds the issuer's new CA" \
  bash -c "kubectl -n $B get configmap $BUNDLE -o 'go-template={{index .data \"ca.crt\"}}' | openssl storeutl -noout -text -certs /dev/stdin 2>/dev/null | grep -q 'CA next'"
check "and no longer the old one" bash -c "! kubectl -n $B get configmap $BUNDLE -o 'go-template={{index .data \"ca.crt\"}}' | openssl storeutl -noout -text -certs /dev/stdin 2>/dev/null | grep -q 'CA one'"
check_ne "the bundle's hash changed" "$(bundle_field .status.bundleHash)" "$hash0"
kubectl -n "$B" get configmap "$BUNDLE" -o 'go-template={{index .binaryData "truststore.jks"}}' | base64 -d >"$WORK/b.jks"
check "the JKS was rewritten too" bash -c "keytool -list -v -keystore $WORK/b.jks -storetype JKS -storepass 's3cret pass' | grep -q 'CA next'"
wait_for 60 "the CRD injected from the Issuer follows the new CA" \
  bash -c "[ \"\$(kubectl get crd $CRD -o jsonpath='{.spec.conversion.webhook.clientConfig.caBundle}')\" = '$(b64 "$WORK/next.crt")' ]"
wait_for 90 "the Certificate is re-issued by the new CA, and the webhook configuration follows its ca.crt" \
  bash -c "[ \"\$(kubectl get validatingwebhookconfiguration $VWC -o jsonpath='{.webhooks[0].clientConfig.caBundle}')\" = '$(b64 "$WORK/next.crt")' ]"
wait_for 30 "the issuer's ClusterTrustBundle holds the new CA" \
  bash -c "kubectl get clustertrustbundle 'issuers.certwright.dev:$NS.ca:ca' -o jsonpath='{.spec.trustBundle}' | openssl x509 -noout -subject | grep -q 'CA next'"

note "a source that fails"
hash1=$(bundle_field .status.bundleHash)
rv_b=$(kubectl -n "$B" get configmap "$BUNDLE" -o jsonpath='{.metadata.resourceVersion}')
k delete configmap extra-roots >/dev/null
wait_for 30 "a missing source: Ready=False SourceError naming it" \
  bash -c "kubectl get trustbundle.certwright.dev $BUNDLE -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].reason} {.status.conditions[?(@.type==\"Ready\")].message}' | grep -q 'SourceError.*ConfigMap $NS/extra-roots'"
check_eq "the targets keep what they hold" "$(kubectl -n "$B" get configmap "$BUNDLE" -o jsonpath='{.metadata.resourceVersion}')" "$rv_b"
k create configmap extra-roots --from-file=roots.pem="$WORK/two.crt" >/dev/null
wait_for 30 "the source back: Ready again" bundle_ready
check_eq "with the same content (the expired one was never in it)" "$(bundle_field .status.bundleHash)" "$hash1"

note "the mass re-issue drill"
for i in $(seq 1 19); do
  printf -- '---\napiVersion: certwright.dev/v1alpha1\nkind: Certificate\nmetadata: {name: drill-%s}\nspec: {secretName: drill-%s, dnsNames: [drill-%s.example], issuerRef: {name: ca, kind: Issuer}}\n' "$i" "$i" "$i"
done | apply
all_ready() {
  local n
  n=$(kubectl -n "$NS" get cwcert -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True)
  echo "$n of 20 Ready"
  [ "$n" = 20 ]
}
wait_for 120 "20 Certificates of the Issuer are Ready" all_ready
declare -A serial_before
for i in $(seq 1 19); do serial_before[$i]=$(secret_serial "drill-$i"); done
t0=$SECONDS
k annotate cwissuer ca certwright.dev/reissue=drill-1 >/dev/null
drill_done() {
  local p
  p=$(field cwissuer/ca .status.reissue.progress)
  echo "progress '$p'"
  [ "$p" = 20/20 ] && [ -n "$(field cwissuer/ca .status.reissue.completedAt)" ]
}
wait_for 120 "the issuer's status counts the drill to 20/20" drill_done
elapsed=$((SECONDS - t0))
check "at 5/s, 20 re-issues take at least 3 s (took ${elapsed}s)" test "$elapsed" -ge 3
check_contains "kubectl get -o wide shows the progress" "20/20" kubectl -n "$NS" get cwissuer ca -o wide
changed=0
for i in $(seq 1 19); do
  [ "$(secret_serial "drill-$i")" != "${serial_before[$i]}" ] && changed=$((changed + 1))
done
check_eq "every Certificate got a new certificate" "$changed" 19
check_eq "each Secret records the token" "$(kubectl -n "$NS" get secret drill-7 -o 'jsonpath={.metadata.annotations.certwright\.dev/reissue-token}')" drill-1
check "the audit says why" audit_has --count 20 details.reason=ReissueRequested
check "ReissueStarted and ReissueCompleted Events on the issuer" bash -c \
  "kubectl -n $NS get events --field-selector involvedObject.name=ca,reason=ReissueStarted -o name | grep -q . && kubectl -n $NS get events --field-selector involvedObject.name=ca,reason=ReissueCompleted -o name | grep -q ."
sleep 2
check "a finished drill re-issues nothing more" audit_has --count 20 details.reason=ReissueRequested

note "bad specs are refused at apply"
# refused MESSAGE SPEC: kubectl apply of a TrustBundle with SPEC fails with MESSAGE.
refused() {
  if kubectl apply -f - >"$WORK/refused.out" 2>&1 <<YAML; then
apiVersion: certwright.dev/v1alpha1
kind: TrustBundle
metadata: {name: $NS-bad}
spec: $2
YAML
    cluster_object "trustbundle.certwright.dev/$NS-bad"
    echo "accepted"
    return 1
  fi
  cat "$WORK/refused.out"
  grep -qF -- "$1" "$WORK/refused.out"
}
check "a source with two kinds" refused "spec.sources[0]: Invalid value: set exactly one of issuer, configMap, secret, inLine, useDefaultCAs" \
  '{sources: [{inLine: x, useDefaultCAs: true}], target: {configMap: {key: ca.crt}}}'
check "an Issuer without its namespace" refused "spec.sources[0].issuer.namespace: Invalid value: is required for an Issuer" \
  '{sources: [{issuer: {name: x, kind: Issuer}}], target: {configMap: {key: ca.crt}}}'
check "a target with neither ConfigMap nor Secret" refused "spec.target: Invalid value: set configMap, secret or both" \
  '{sources: [{issuer: {name: x}}], target: {}}'
check "useDefaultCAs: false" refused "must be true when set (omit the source instead)" \
  '{sources: [{useDefaultCAs: false}], target: {configMap: {key: ca.crt}}}'

check "the other installation never touched this bundle's targets" bash -c "! grep -q '$BUNDLE' $OTHER_LOG"
kill "$OTHER_PID" 2>/dev/null || true
wait "$OTHER_PID" 2>/dev/null || true

note "deleting the TrustBundle removes what it wrote"
kubectl delete trustbundle.certwright.dev "$BUNDLE" >/dev/null
wait_for 60 "no target is left" bash -c "! kubectl get configmaps,secrets -A -l certwright.dev/trust-bundle=$BUNDLE -o name | grep -q ."
check_contains "bundle metrics were exported" "certwright_trustbundle_target_writes_total" metrics
check_contains "issuer CA expiry is exported" "certwright_issuer_ca_expiration_timestamp_seconds{issuer_kind=\"Issuer\",issuer_name=\"ca\",issuer_namespace=\"$NS\"}" metrics

finish
