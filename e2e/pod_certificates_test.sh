#!/usr/bin/env bash
# e2e/pod_certificates_test.sh: certwright signs the PodCertificateRequests kubelet makes for pods
# with a podCertificate projected volume (Kubernetes 1.37), on the plane's real node:
#   - a Deployment's pods start with key and chain mounted; the leaf verifies against the
#     ClusterIssuer's root (its key in SoftHSM2), carries the pod's SPIFFE ID, and its key is the
#     one kubelet made (the controller never sees it); the request says when to refresh; an Event
#     on the pod;
#   - refusals with their reason, once: a namespaced Issuer's signer from another namespace,
#     DNS names no CertificatePolicy allows, an annotation the signer does not read, ECDSA P-521,
#     and a `policy: Required` issuer for a ServiceAccount no policy selects; a policy that
#     selects a ServiceAccount grants its DNS names.
#
#   e2e/pod_certificates_test.sh path/to/certwright     (ctest: e2e.pod_certificates, label kube)
# Fails, never skips, when the plane has no Ready node.
# shellcheck source=e2e/lib.sh
source "$(dirname "$0")/lib.sh"
e2e_init podcerts "$1"
require_node

T=90
TD=e2e.test
HSM=$NS-hsm
STRICT=$NS-strict
cluster_object "clusterissuer.certwright.dev/$HSM"
cluster_object "clusterissuer.certwright.dev/$STRICT"
cluster_object "certificatepolicy.certwright.dev/$NS-web"
BUNDLE=clusterissuers.certwright.dev:$HSM:ca
cluster_object "clustertrustbundle/$BUNDLE"
cluster_object "clustertrustbundle/clusterissuers.certwright.dev:$STRICT:ca"

note "a ClusterIssuer whose root key is made in SoftHSM2, and a policy: Required one"
softhsm_token e2e 1234
k create secret generic hsm-pin --from-literal=pin=1234 >/dev/null
offline_ca "$WORK/strict" "/CN=e2e strict root"
k create secret tls strict-ca --cert="$WORK/strict.crt" --key="$WORK/strict.key" >/dev/null
k create serviceaccount web >/dev/null
k create serviceaccount other >/dev/null
apply <<EOF
apiVersion: certwright.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: $HSM, labels: {certwright.dev/e2e: $NS}}
spec:
  podCertificates: {trustDomain: $TD}
  pkcs11:
    modulePath: $MODULE
    keyURI: "pkcs11:token=e2e;object=pods-root"
    pinSecretRef: {name: hsm-pin}
    bootstrap:
      mode: SelfSigned
      subject: {commonName: e2e pods root}
---
apiVersion: certwright.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: $STRICT, labels: {certwright.dev/e2e: $NS}}
spec:
  podCertificates: {trustDomain: $TD}
  ca: {secretName: strict-ca}
  policy: Required
---
apiVersion: certwright.dev/v1alpha1
kind: CertificatePolicy
metadata: {name: $NS-web, labels: {certwright.dev/e2e: $NS}}
spec:
  selector:
    issuerRefs: [{name: $STRICT, kind: ClusterIssuer}]
    namespaces: {names: [$NS]}
    requesters: {serviceAccounts: ["$NS/web"]}
    doors: [PodCertificateRequest]
  allowed:
    dnsNames: ["web.{{namespace}}.svc"]
    uris: ["spiffe://$TD/ns/{{namespace}}/sa/{{serviceAccount}}"]
EOF
start_controller
wait_for $T "the SoftHSM2 ClusterIssuer is Ready" has_condition "clusterissuer.certwright.dev/$HSM" Ready True KeyVerified
wait_for $T "the policy: Required ClusterIssuer is Ready" has_condition "clusterissuer.certwright.dev/$STRICT" Ready True
check_contains "the controller signs PodCertificateRequests" "signing PodCertificateRequests (certificates.k8s.io/v1)" \
  cat "$CONTROLLER_LOG"
secret_data "$HSM-bootstrap-ca" tls.crt >"$WORK/root.crt" 2>/dev/null || true
bundle_published() { [ "$(kubectl get clustertrustbundle "$BUNDLE" -o jsonpath='{.spec.trustBundle}')" = "$(cat "$WORK/root.crt")" ]; }
wait_for $T "the ClusterIssuer's root is published as the signer-linked ClusterTrustBundle $BUNDLE" bundle_published
check_eq "  linked to the signer" "$(kubectl get clustertrustbundle "$BUNDLE" -o jsonpath='{.spec.signerName}')" \
  "clusterissuers.certwright.dev/$HSM"

# pod_with NAME SIGNER KEYTYPE [SERVICEACCOUNT [USER_ANNOTATIONS_JSON]]: a busybox pod with a
# podCertificate volume at /identity.
pod_with() {
  local annotations=${5:-}
  [ -n "$annotations" ] || annotations='{}'
  apply < <(podcert_pod "$1" "$2" "$3" "${4:-default}" "userAnnotations=$annotations")
}
# answer POD: "<condition> <reason>" of the pod's PodCertificateRequest.
answer() {
  local pcr
  pcr=$(pcr_of "$1") || return 1
  kubectl -n "$NS" get podcertificaterequest "$pcr" \
    -o jsonpath='{range .status.conditions[*]}{.type}{" "}{.reason}{"\n"}{end}' | head -n1
}
answered() { [ -n "$(answer "$1")" ]; }
message_of() { kubectl -n "$NS" get podcertificaterequest "$(pcr_of "$1")" -o jsonpath='{.status.conditions[0].message}'; }

note "a Deployment whose pods mount certificates from the SoftHSM2 ClusterIssuer"
created=$SECONDS
apply <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  replicas: 2
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: main
        image: $BUSYBOX_IMAGE
        imagePullPolicy: Never
        command: [sleep, "3600"]
        volumeMounts: [{name: identity, mountPath: /var/run/identity, readOnly: true}]
      volumes:
      - name: identity
        projected:
          sources:
          - podCertificate:
              signerName: clusterissuers.certwright.dev/$HSM
              keyType: ED25519
              credentialBundlePath: credentials.pem
          - clusterTrustBundle:
              signerName: clusterissuers.certwright.dev/$HSM
              labelSelector: {}
              path: ca.crt
EOF
app_running() { [ "$(kubectl -n "$NS" get deployment app -o jsonpath='{.status.readyReplicas}')" = 2 ]; }
wait_for $T "both pods run with their certificates" app_running
note "Deployment applied to 2 pods Running with certificates: $((SECONDS - created)) s"
POD=$(k get pods -l app=app -o jsonpath='{.items[0].metadata.name}')
k exec "$POD" -- cat /var/run/identity/credentials.pem >"$WORK/bundle.pem"
openssl x509 -in "$WORK/bundle.pem" -out "$WORK/leaf.crt" 2>/dev/null || true
check_eq "the mounted key is the leaf's (made by kubelet on the node)" \
  "$(openssl pkey -in "$WORK/bundle.pem" -pubout 2>&1)" "$(openssl x509 -in "$WORK/leaf.crt" -noout -pubkey 2>&1)"
check_contains "the key is the Ed25519 key the volume asked for" "ED25519" \
  openssl x509 -in "$WORK/leaf.crt" -noout -text
check "the leaf verifies against the ClusterIssuer's root (its key in SoftHSM2)" \
  openssl verify -CAfile "$WORK/root.crt" "$WORK/leaf.crt"
k exec "$POD" -- cat /var/run/identity/ca.crt >"$WORK/mounted-ca.crt"
check "the leaf verifies against the trust bundle mounted beside it" \
  openssl verify -CAfile "$WORK/mounted-ca.crt" "$WORK/leaf.crt"
check_contains "the leaf carries the pod's SPIFFE ID" "URI:spiffe://$TD/ns/$NS/sa/default" \
  openssl x509 -in "$WORK/leaf.crt" -noout -ext subjectAltName
check_contains "the leaf is for TLS servers and clients" "TLS Web Server Authentication, TLS Web Client Authentication" \
  openssl x509 -in "$WORK/leaf.crt" -noout -ext extendedKeyUsage
PCR=$(pcr_of "$POD")
check "the private key never reached the controller (no PRIVATE KEY in its log)" \
  bash -c "! grep -q 'PRIVATE KEY' '$CONTROLLER_LOG'"
check "beginRefreshAt lies between notBefore + 10m and notAfter - 10m" python3 - \
  "$(field "podcertificaterequest/$PCR" '.status.notBefore} {.status.beginRefreshAt} {.status.notAfter')" <<'EOF'
import datetime, sys
nb, refresh, na = (datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ") for t in sys.argv[1].split())
ten = datetime.timedelta(minutes=10)
sys.exit(0 if nb + ten <= refresh <= na - ten and na - nb == datetime.timedelta(hours=24) else 1)
EOF
check_eq "the request's notAfter is the leaf's" "$(field "podcertificaterequest/$PCR" .status.notAfter)" \
  "$(date -u -d "$(openssl x509 -in "$WORK/leaf.crt" -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)"
wait_for $T "an Event on the pod says who signed it" event_recorded "$POD" PodCertificateIssued
check "the signature is audited with the pod" audit_has door=PodCertificateRequest decision=issued "details.pod=$NS/$POD"

note "refused requests, with their reason"
pod_with other-ns "issuers.certwright.dev/default.some-issuer" ECDSAP256
wait_for $T "a namespaced Issuer's signer from another namespace is Denied" answered other-ns
check_eq "  with the reason IssuerInAnotherNamespace" "$(answer other-ns)" "Denied IssuerInAnotherNamespace"
pod_with p521 "clusterissuers.certwright.dev/$HSM" ECDSAP521
wait_for $T "an ECDSA P-521 key is Denied" answered p521
check_eq "  with the reason UnsupportedKeyType" "$(answer p521)" "Denied UnsupportedKeyType"
check_contains "  naming the supported key types" "ECDSAP256" message_of p521
pod_with dns "clusterissuers.certwright.dev/$HSM" ECDSAP256 default '{"certwright.dev/dns-names": "web.example.com"}'
wait_for $T "DNS names no CertificatePolicy allows are Denied" answered dns
check_eq "  with the reason PolicyDenied" "$(answer dns)" "Denied PolicyDenied"
check_contains "  naming the rule" "allowed.dnsNames" message_of dns
pod_with unknown "clusterissuers.certwright.dev/$HSM" ECDSAP256 default '{"example.com/color": "blue"}'
wait_for $T "an annotation the signer does not read is Denied" answered unknown
check_contains "  naming the key" '"example.com/color" is not a key this signer reads' message_of unknown
pod_with strict-other "clusterissuers.certwright.dev/$STRICT" ECDSAP256 other
wait_for $T "a policy: Required issuer denies a ServiceAccount no policy selects" answered strict-other
check_eq "  with the reason PolicyDenied" "$(answer strict-other)" "Denied PolicyDenied"
wait_for $T "the refusal is an Event on the pod" event_recorded strict-other PodCertificateDenied
check_eq "a refused pod does not start" "$(field pod/strict-other .status.phase)" Pending

note "a CertificatePolicy grants a ServiceAccount its DNS names"
pod_with strict-web "clusterissuers.certwright.dev/$STRICT" ECDSAP384 web "{\"certwright.dev/dns-names\": \"web.$NS.svc\"}"
wait_for $T "the selected ServiceAccount's pod starts" pod_phase strict-web Running
k exec strict-web -- cat /identity/credentials.pem | openssl x509 -out "$WORK/web.crt" 2>/dev/null || true
check_contains "its leaf has the DNS name the policy allows" "DNS:web.$NS.svc" \
  openssl x509 -in "$WORK/web.crt" -noout -ext subjectAltName
check_contains "and the ServiceAccount's SPIFFE ID" "URI:spiffe://$TD/ns/$NS/sa/web" \
  openssl x509 -in "$WORK/web.crt" -noout -ext subjectAltName
check "it verifies against the strict issuer's CA" openssl verify -CAfile "$WORK/strict.crt" "$WORK/web.crt"

note "every request was answered once"
answers=$(grep -c "PodCertificateRequest $NS/[^: ]*: \(Denied\|Failed\) " "$CONTROLLER_LOG" || true)
check_eq "five refusals logged, one per refused pod" "$answers" 5
check_contains "no Event was dropped, and the counter says so" "certwright_events_dropped_total 0" metrics

finish
