#!/usr/bin/env bash
# e2e/pod_rotation_test.sh: a pod's certificate is rotated on time, on the plane's real node.
#   - a ClusterIssuer whose key is in SoftHSM2 (bootstrap: CSR, signed by an offline root), with
#     podCertificates.backdate 4m and refreshBefore 50m, answers a pod's
#     one-hour request with notBefore 4 minutes back and beginRefreshAt at notBefore + 10m (the
#     earliest the API accepts), so kubelet rotates it 6 minutes after issuance plus kubelet's own
#     jitter (up to 5 min) and refresh pass (every 1-2 min);
#   - after beginRefreshAt, kubelet asks again with a new key; the pod's mounted credential bundle
#     changes to a new leaf for the same SPIFFE ID that verifies against the issuer's CA; each
#     issuance is audited once.
# It waits up to ROTATION_TIMEOUT seconds (default 1200) for the rotation, so ctest runs it in the
# background (e2e/background.sh) while the other Kubernetes tests run.
#
#   e2e/pod_rotation_test.sh path/to/certwright     (ctest: e2e.pod_rotation.start + e2e.pod_rotation)
# Fails, never skips, when the plane has no Ready node.
# shellcheck source=e2e/lib.sh
source "$(dirname "$0")/lib.sh"
e2e_init podrotation "$1"
require_node

TD=e2e.test
CA=$NS-rotating
SIGNER=clusterissuers.certwright.dev/$CA
cluster_object "clusterissuer.certwright.dev/$CA"
cluster_object "clustertrustbundle/clusterissuers.certwright.dev:$CA:ca"

note "a ClusterIssuer whose key is made in SoftHSM2, that backdates 4m and refreshes 50m before the end"
softhsm_token e2e 1234
k create secret generic hsm-pin --from-literal=pin=1234 >/dev/null
apply <<EOF
apiVersion: certwright.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: $CA, labels: {certwright.dev/e2e: $NS}}
spec:
  pkcs11:
    modulePath: $MODULE
    keyURI: "pkcs11:token=e2e;object=rotating"
    pinSecretRef: {name: hsm-pin}
    bootstrap:
      mode: CSR
      subject: {commonName: e2e rotation issuing CA}
  podCertificates: {trustDomain: $TD, backdate: 4m, refreshBefore: 50m}
EOF
start_controller
wait_for 30 "the key is made in the token and its CSR published" \
  has_condition "cwclusterissuer/$CA" Ready False WaitingForCACertificate
check_contains "the key is in SoftHSM2" "label: rotating" token_objects e2e 1234
# An offline root and the issuing CA's certificate, both from 30 minutes ago: a certificate never
# starts before its CA, and the 4m backdate needs a CA older than that.
aged_ca "$WORK/root" "/CN=e2e rotation root" 30
field "cwclusterissuer/$CA" .status.csr >"$WORK/issuing.csr"
aged_sign "$WORK/root" "$WORK/issuing.csr" "$WORK/issuing.crt" 30
cat "$WORK/issuing.crt" "$WORK/root.crt" >"$WORK/chain.pem"
k create secret generic rotating-ca --from-file=tls.crt="$WORK/chain.pem" >/dev/null
kubectl patch clusterissuer.certwright.dev "$CA" --type=merge \
  -p '{"spec":{"pkcs11":{"bootstrap":null,"caSecretRef":{"name":"rotating-ca"}}}}' >/dev/null
wait_for 30 "with the signed chain the ClusterIssuer is Ready" ready "cwclusterissuer/$CA"

note "a pod with a one-hour podCertificate volume"
apply < <(podcert_pod rotating "$SIGNER" ECDSAP256 default maxExpirationSeconds=3600)
wait_for 90 "the pod runs with its certificate" pod_phase rotating Running

# mounted_leaf FILE: the leaf of the pod's mounted credential bundle, and the bundle beside it.
mounted_leaf() {
  k exec rotating -- cat /identity/credentials.pem >"$1.bundle" 2>/dev/null || return 1
  openssl x509 -in "$1.bundle" -out "$1" 2>/dev/null
}
# epoch TIME: seconds since 1970 of an RFC 3339 time or an openssl date.
epoch() { date -u -d "$1" +%s; }
not_before() { epoch "$(openssl x509 -in "$1" -noout -startdate | cut -d= -f2)"; }

mounted_leaf "$WORK/first.crt" || abort "no credential bundle in the running pod"
FIRST_SERIAL=$(openssl x509 -in "$WORK/first.crt" -noout -serial | cut -d= -f2)
PCR=$(pcr_of rotating) || abort "no PodCertificateRequest for the pod"
pcr_time() { epoch "$(k get podcertificaterequest "$PCR" -o "jsonpath={.$1}")"; }
CREATED=$(pcr_time metadata.creationTimestamp)
NOT_BEFORE=$(pcr_time status.notBefore)
REFRESH=$(pcr_time status.beginRefreshAt)
NOT_AFTER=$(pcr_time status.notAfter)
check_eq "the mounted leaf is the one the request was answered with" "$(not_before "$WORK/first.crt")" "$NOT_BEFORE"
check "it verifies against the root, through the issuing CA" \
  openssl verify -CAfile "$WORK/root.crt" -untrusted "$WORK/issuing.crt" "$WORK/first.crt"
check "notBefore is the issuer's 4m backdate before the request (within 30 s)" \
  test $((CREATED - NOT_BEFORE)) -ge 225 -a $((CREATED - NOT_BEFORE)) -le 270
check_eq "the lifetime is the hour the volume asked for" $((NOT_AFTER - NOT_BEFORE)) 3600
check_eq "beginRefreshAt is refreshBefore (50m) before notAfter: notBefore + 10m" $((REFRESH - NOT_BEFORE)) 600
note "issued at $(date -u -d "@$CREATED" +%T), beginRefreshAt $(date -u -d "@$REFRESH" +%T)"
# The setup is done (run by e2e/background.sh: the other tests may start now).
if [ -n "${E2E_BACKGROUND_READY:-}" ]; then : >"$E2E_BACKGROUND_READY"; fi

# rotated: the pod's mounted leaf is a new one, requested after the first one's beginRefreshAt
# (its notBefore is backdated 4m from the request). A leaf that changed earlier (kubelet restarted
# and asked again from scratch) is noted, and the wait goes on to its own refresh.
EARLY_SEEN=
rotated() {
  mounted_leaf "$WORK/now.crt" || return 1
  local serial
  serial=$(openssl x509 -in "$WORK/now.crt" -noout -serial | cut -d= -f2)
  [ "$serial" != "$FIRST_SERIAL" ] || return 1
  if (($(not_before "$WORK/now.crt") + 240 < REFRESH)); then
    [ -n "$EARLY_SEEN" ] || note "the leaf changed to $serial before beginRefreshAt (kubelet restarted?): waiting for its own refresh"
    EARLY_SEEN=1
    return 1
  fi
  cp "$WORK/now.crt" "$WORK/second.crt"
  cp "$WORK/now.crt.bundle" "$WORK/second.bundle"
}
wait_for "${ROTATION_TIMEOUT:-1200}" "kubelet fetches a new certificate after beginRefreshAt" rotated
[ -f "$WORK/second.crt" ] || abort "no new certificate was mounted: the checks of the rotated one cannot run"
ROTATED=$(date -u +%s)
note "rotated $((ROTATED - REFRESH)) s after beginRefreshAt, $((ROTATED - CREATED)) s after the first issuance"

check_ne "the new leaf has a new serial" "$(openssl x509 -in "$WORK/second.crt" -noout -serial)" \
  "$(openssl x509 -in "$WORK/first.crt" -noout -serial)"
check_ne "and a new key (made by kubelet for the new request)" "$(openssl x509 -in "$WORK/second.crt" -noout -pubkey)" \
  "$(openssl x509 -in "$WORK/first.crt" -noout -pubkey)"
check_eq "the mounted key is the new leaf's" "$(openssl pkey -in "$WORK/second.bundle" -pubout 2>&1)" \
  "$(openssl x509 -in "$WORK/second.crt" -noout -pubkey 2>&1)"
check "the new leaf verifies against the root, through the issuing CA (its key in SoftHSM2)" \
  openssl verify -CAfile "$WORK/root.crt" -untrusted "$WORK/issuing.crt" "$WORK/second.crt"
check_contains "it carries the same SPIFFE ID" "URI:spiffe://$TD/ns/$NS/sa/default" \
  openssl x509 -in "$WORK/second.crt" -noout -ext subjectAltName
check_eq "the pod kept running through the rotation (no restart)" \
  "$(field pod/rotating '.status.containerStatuses[0].restartCount')" 0
# Each request is signed once. A kubelet restarted meanwhile (hack/lib/supervise) asks again from
# scratch, so there may be more than the first and the rotation's (a CI run saw 3).
issued_objects() {
  grep '"decision":"issued"' "$CONTROLLER_LOG" | grep -F "\"pod\":\"$NS/rotating\"" |
    grep -o '"object":"PodCertificateRequest [^"]*"' || true
}
issued=$(issued_objects | wc -l)
check "every issuance was audited: the first and the rotation's at least ($issued)" test "$issued" -ge 2
check_eq "no request was signed twice" "$(issued_objects | sort -u | wc -l)" "$issued"
finish
