#!/usr/bin/env bash
# End-to-end: Certificates, Issuers and ClusterIssuers, from kubectl apply to a renewing Secret,
# with the real `certwright controller`, a real API server and real SoftHSM2 tokens.
#
#   e2e/certificates_test.sh path/to/certwright     (KUBECONFIG, or a running hack/control-plane)
#
# Covers: issuance (the Secret, its chain, names, usages, key, annotations, status, columns);
# renewal; re-issuance on a spec change, a deleted Secret, a tampered key or certificate;
# rotationPolicy Never and Always; every issuer type (selfSigned, ca, pkcs11 with bootstrap
# SelfSigned, with caSecretRef, with bootstrap CSR signed by an offline root) and a
# ClusterIssuer; bad input (schema, missing issuer, wrong PIN, another owner's Secret, missing
# HSM module or token, minDuration), each recovering once fixed; a restart (nothing re-issued,
# nothing flips to not Ready); /metrics, /healthz, /readyz.
source "$(dirname "$0")/lib.sh"
e2e_init certificates "${1:-}"

PIN=1234
softhsm_token e2e "$PIN"
start_controller
T=60 # seconds any single state change may take

# --- Issuers ---------------------------------------------------------------------------------------
note "issuers"
# An offline root made with openssl: the ca Issuer's key pair, and later the parent of a pkcs11
# intermediate whose key stays in the token.
offline_ca "$WORK/root" "/CN=e2e offline root/O=certwright"
k create secret tls ca-root --cert="$WORK/root.crt" --key="$WORK/root.key" >/dev/null
k create secret generic hsm-pin --from-literal=pin="$PIN" >/dev/null

apply <<EOF
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: selfsigned}
spec: {selfSigned: {}}
---
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: ca}
spec: {ca: {secretName: ca-root}}
---
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: hsm-root}
spec:
  pkcs11:
    modulePath: $MODULE
    keyURI: "pkcs11:token=e2e;object=root"
    pinSecretRef: {name: hsm-pin}
    bootstrap:
      mode: SelfSigned
      subject: {commonName: e2e HSM root, organizations: [certwright]}
      duration: 8760h
      keyAlgorithm: ECDSA
      keySize: 256
EOF
wait_for $T "selfSigned Issuer becomes Ready (IsReady)" has_condition issuer/selfsigned Ready True IsReady
wait_for $T "ca Issuer becomes Ready (KeyPairVerified)" has_condition issuer/ca Ready True KeyPairVerified
wait_for $T "pkcs11 bootstrap SelfSigned Issuer becomes Ready (KeyVerified)" \
  has_condition issuer/hsm-root Ready True KeyVerified
check "the bootstrap root is stored in Secret hsm-root-bootstrap-ca" k get secret hsm-root-bootstrap-ca
mkdir -p "$WORK/boot"
secret_data hsm-root-bootstrap-ca tls.crt >"$WORK/boot/tls.crt" 2>/dev/null || true
secret_data hsm-root-bootstrap-ca ca.crt >"$WORK/boot/ca.crt" 2>/dev/null || true
check "the bootstrap root is a self-signed CA with the requested subject" bash -c "
  openssl x509 -in '$WORK/boot/tls.crt' -noout -subject -text | grep -q 'CN *= *e2e HSM root' &&
  openssl x509 -in '$WORK/boot/tls.crt' -noout -text | grep -q 'CA:TRUE' &&
  openssl verify -CAfile '$WORK/boot/tls.crt' '$WORK/boot/tls.crt'"
check "the bootstrap Secret's ca.crt is its tls.crt" cmp "$WORK/boot/tls.crt" "$WORK/boot/ca.crt"
token_objects e2e "$PIN" >"$WORK/objects.txt"
check_contains "pkcs11-tool lists the key the controller created in the token" "label: root" cat "$WORK/objects.txt"
check_contains "pkcs11-tool shows the CA key never extractable" "never extractable" cat "$WORK/objects.txt"
check_contains "pkcs11-tool shows the CA key sensitive" "sensitive" cat "$WORK/objects.txt"
check "the bootstrap root's public key is the token's key" bash -c "
  pkcs11-tool --module '$MODULE' --token-label e2e --read-object --type pubkey --label root -o '$WORK/root-pub.der' &&
  [ \"\$(openssl pkey -pubin -inform DER -in '$WORK/root-pub.der' -pubout)\" = \"\$(openssl x509 -in '$WORK/boot/tls.crt' -noout -pubkey)\" ]"
check "a KeyCreated Event on the Issuer" event_recorded hsm-root KeyCreated

# --- Issue -------------------------------------------------------------------------------------------
note "issue"
apply <<EOF
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: web}
spec:
  secretName: web-tls
  commonName: web.example.com
  dnsNames: [web.example.com, web.$NS.svc.cluster.local]
  ipAddresses: [10.0.0.10]
  uris: ["spiffe://cluster.local/ns/$NS/sa/web"]
  subject: {organizations: [Example]}
  duration: 24h
  privateKey: {algorithm: ECDSA, size: 256, encoding: PKCS8}
  usages: [digital signature, server auth, client auth]
  issuerRef: {name: ca}
  secretTemplate:
    labels: {app.kubernetes.io/name: web}
    annotations: {example.com/owner: team-web}
EOF
wait_for $T "Certificate web becomes Ready" ready cwcert/web
save_secret web-tls "$WORK/web" || fail "read Secret web-tls"
check_eq "the Secret is of type kubernetes.io/tls" "$(field secret/web-tls .type)" kubernetes.io/tls
check "openssl verify: the leaf verifies against ca.crt with the chain in tls.crt" verifies "$WORK/web"
check "ca.crt is the issuer's CA certificate" cmp "$WORK/web/ca.crt" "$WORK/root.crt"
check "tls.crt starts with the leaf, signed by the CA" bash -c \
  "openssl x509 -in '$WORK/web/tls.crt' -noout -subject | grep -q web.example.com"
check "tls.key matches tls.crt" key_matches_cert "$WORK/web"
check "tls.key is PKCS#8 (privateKey.encoding PKCS8)" grep -q 'BEGIN PRIVATE KEY' "$WORK/web/tls.key"
openssl x509 -in "$WORK/web/tls.crt" -noout -text >"$WORK/web.txt"
check_contains "the subject is as requested" "CN = web.example.com" openssl x509 -in "$WORK/web/tls.crt" -noout -subject
check_contains "the subject has the requested organization" "O = Example" openssl x509 -in "$WORK/web/tls.crt" -noout -subject
check_contains "the SANs are the requested DNS names, IP and URI" \
  "DNS:web.example.com, DNS:web.$NS.svc.cluster.local, IP Address:10.0.0.10, URI:spiffe://cluster.local/ns/$NS/sa/web" \
  cat "$WORK/web.txt"
check_contains "the key usage is digitalSignature" "Digital Signature" cat "$WORK/web.txt"
check_contains "the extended key usages are server and client auth" \
  "TLS Web Server Authentication, TLS Web Client Authentication" cat "$WORK/web.txt"
check "the leaf is not a CA" bash -c "! grep -q 'CA:TRUE' '$WORK/web.txt'"
check_contains "the key is ECDSA P-256" "prime256v1" cat "$WORK/web.txt"
lifetime=$(($(date -d "$(openssl x509 -in "$WORK/web/tls.crt" -noout -enddate | cut -d= -f2)" +%s) - $(date +%s)))
check "the certificate lives about 24h (duration)" test "$lifetime" -gt 86000 -a "$lifetime" -le 86400
check_eq "label certwright.dev/managed=true" "$(field secret/web-tls '.metadata.labels.certwright\.dev/managed')" true
check_eq "secretTemplate label copied" "$(field secret/web-tls '.metadata.labels.app\.kubernetes\.io/name')" web
check_eq "secretTemplate annotation copied" "$(field secret/web-tls '.metadata.annotations.example\.com/owner')" team-web
check_eq "annotation certificate-name" "$(field secret/web-tls '.metadata.annotations.certwright\.dev/certificate-name')" web
check_eq "annotation issuer-name" "$(field secret/web-tls '.metadata.annotations.certwright\.dev/issuer-name')" ca
check_eq "annotation issuer-kind" "$(field secret/web-tls '.metadata.annotations.certwright\.dev/issuer-kind')" Issuer
serial_annotation=$(field secret/web-tls '.metadata.annotations.certwright\.dev/serial')
check_eq "annotation serial is the certificate's serial" "${serial_annotation^^}" "$(serial_of "$WORK/web")"
check "annotation spec-hash is set" test -n "$(field secret/web-tls '.metadata.annotations.certwright\.dev/spec-hash')"
ca_sha=$(openssl x509 -in "$WORK/root.crt" -outform DER | sha256sum | cut -d' ' -f1)
check_eq "annotation issuer-ca-sha256 is the CA certificate's SHA-256" \
  "$(field secret/web-tls '.metadata.annotations.certwright\.dev/issuer-ca-sha256')" "$ca_sha"
check_eq "status Ready reason is Ready" "$(condition cwcert/web Ready reason)" Ready
check_eq "status revision is 1" "$(field cwcert/web .status.revision)" 1
check_eq "status notAfter is the certificate's notAfter" "$(field cwcert/web .status.notAfter)" \
  "$(date -u -d "$(openssl x509 -in "$WORK/web/tls.crt" -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)"
check "status renewalTime is set" test -n "$(field cwcert/web .status.renewalTime)"
check_eq "no Issuing condition after a success" "$(condition cwcert/web Issuing)" ""
check_contains "kubectl get cwcert shows Ready, Secret and Issuer" "web True web-tls ca" k get cwcert web
check_contains "kubectl get cwissuer shows the issuers Ready" "hsm-root True" k get cwissuer
check "an Issued Event on the Certificate" event_recorded web Issued

# --- Renewal ---------------------------------------------------------------------------------------------
note "renewal"
# The shortest lifetime the CRD allows is 1h and renewBefore must be at least 5m and shorter than
# the duration: renewBefore 59m55s renews 5 s after issuance.
apply <<EOF
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: renew}
spec:
  secretName: renew-tls
  dnsNames: [renew.example.com]
  duration: 1h
  renewBefore: 59m55s
  issuerRef: {name: ca}
EOF
wait_for $T "Certificate renew becomes Ready" ready cwcert/renew
first_serial=$(secret_serial renew-tls)
wait_for 30 "the certificate is renewed at its renewal time (revision >= 2)" \
  bash -c "[ \"\$(kubectl -n $NS get cwcert renew -o jsonpath='{.status.revision}')\" -ge 2 ]"
check_ne "the renewed certificate has a new serial" "$(secret_serial renew-tls)" "$first_serial"
save_secret renew-tls "$WORK/renew" || true
check "the renewed Secret's key matches its certificate" key_matches_cert "$WORK/renew"
check "the renewed certificate verifies" verifies "$WORK/renew"
check "a Renewed Event on the Certificate" event_recorded renew Renewed
k delete cwcert renew --wait=false >/dev/null # it would renew every 5 s

# --- Re-issue on a spec change, with rotationPolicy Always (the default) ---------------------------------
note "spec change"
old_serial=$(serial_of "$WORK/web")
old_pub=$(pubkey_of "$WORK/web")
k patch cwcert web --type=json -p '[{"op":"add","path":"/spec/dnsNames/-","value":"new.example.com"}]' >/dev/null
wait_for $T "a new dnsName re-issues the certificate" serial_changed web-tls "$old_serial"
wait_for $T "web is Ready again for the new generation" ready cwcert/web
save_secret web-tls "$WORK/web2" || true
check_contains "the new certificate has the new dnsName" "DNS:new.example.com" \
  openssl x509 -in "$WORK/web2/tls.crt" -noout -ext subjectAltName
check "the new certificate verifies" verifies "$WORK/web2"
check "the new key matches the new certificate" key_matches_cert "$WORK/web2"
check_ne "rotationPolicy Always: a new private key" "$(pubkey_of "$WORK/web2")" "$old_pub"
check_eq "revision is 2" "$(field cwcert/web .status.revision)" 2

# --- rotationPolicy Never --------------------------------------------------------------------------
note "rotationPolicy Never"
apply <<EOF
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: keep}
spec:
  secretName: keep-tls
  dnsNames: [keep.example.com]
  privateKey: {algorithm: RSA, size: 2048, rotationPolicy: Never}
  issuerRef: {name: ca}
EOF
wait_for $T "Certificate keep becomes Ready" ready cwcert/keep
save_secret keep-tls "$WORK/keep" || true
check "tls.key is PKCS#1 by default (RSA PRIVATE KEY)" grep -q 'BEGIN RSA PRIVATE KEY' "$WORK/keep/tls.key"
k patch cwcert keep --type=json -p '[{"op":"add","path":"/spec/dnsNames/-","value":"keep2.example.com"}]' >/dev/null
wait_for $T "a spec change re-issues keep" serial_changed keep-tls "$(serial_of "$WORK/keep")"
save_secret keep-tls "$WORK/keep2" || true
check_eq "rotationPolicy Never: the same public key after re-issuance" "$(pubkey_of "$WORK/keep2")" "$(pubkey_of "$WORK/keep")"
check "the re-issued keep certificate has the new name" bash -c \
  "openssl x509 -in '$WORK/keep2/tls.crt' -noout -ext subjectAltName | grep -q keep2.example.com"
check "the re-issued keep certificate verifies" verifies "$WORK/keep2"

# --- A deleted Secret is recreated ---------------------------------------------------------------------
note "deleted Secret"
old_serial=$(secret_serial web-tls)
k delete secret web-tls >/dev/null
wait_for $T "the deleted Secret is recreated" bash -c "kubectl -n $NS get secret web-tls"
wait_for $T "the recreated Secret holds a new certificate" serial_changed web-tls "$old_serial"
save_secret web-tls "$WORK/web3" || true
check "the recreated Secret verifies" verifies "$WORK/web3"
check "the recreated Secret's key matches" key_matches_cert "$WORK/web3"
wait_for $T "web is Ready after the Secret was recreated" ready cwcert/web

# --- A tampered Secret is repaired ----------------------------------------------------------------------
note "tampered Secret"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/other.key" 2>/dev/null
old_serial=$(secret_serial web-tls)
k patch secret web-tls --type=merge -p "{\"data\":{\"tls.key\":\"$(base64 -w0 <"$WORK/other.key")\"}}" >/dev/null
wait_for $T "a replaced tls.key re-issues the certificate" serial_changed web-tls "$old_serial"
save_secret web-tls "$WORK/web4" || true
check "after the repair the key matches the certificate" key_matches_cert "$WORK/web4"
check "after the repair the certificate verifies" verifies "$WORK/web4"
check "the repair did not keep the foreign key" bash -c \
  "[ \"\$(openssl pkey -in '$WORK/other.key' -pubout)\" != \"\$(openssl pkey -in '$WORK/web4/tls.key' -pubout)\" ]"
old_serial=$(serial_of "$WORK/web4")
k patch secret web-tls --type=merge -p "{\"data\":{\"tls.crt\":\"$(printf 'garbage' | base64 -w0)\"}}" >/dev/null
wait_for $T "a garbage tls.crt is re-issued" bash -c \
  "kubectl -n $NS get secret web-tls -o 'go-template={{index .data \"tls.crt\"}}' | base64 -d | openssl x509 -noout"
save_secret web-tls "$WORK/web5" || true
check "after the second repair the key matches the certificate" key_matches_cert "$WORK/web5"
check "after the second repair the certificate verifies" verifies "$WORK/web5"
wait_for $T "web is Ready after the repairs" ready cwcert/web

# --- The issuer's CA changes: its Certificates are re-issued ------------------------------------------
note "issuer CA rotated"
offline_ca "$WORK/root2" "/CN=e2e offline root 2/O=certwright"
old_serial=$(secret_serial web-tls)
k create secret tls ca-root --cert="$WORK/root2.crt" --key="$WORK/root2.key" --dry-run=client -o yaml |
  kubectl -n "$NS" apply -f - >/dev/null
wait_for $T "a new CA in the ca Issuer's Secret re-issues its Certificates" serial_changed web-tls "$old_serial"
save_secret web-tls "$WORK/web6" || true
check "the re-issued certificate verifies against the new CA" verifies "$WORK/web6" "$WORK/root2.crt"
check "and no longer against the old one" bash -c "! openssl verify -CAfile '$WORK/root.crt' '$WORK/web6/tls.crt'"
check_eq "ca.crt is the new CA" "$(openssl x509 -in "$WORK/web6/ca.crt" -noout -fingerprint)" \
  "$(openssl x509 -in "$WORK/root2.crt" -noout -fingerprint)"
check "a Reissued Event names the new CA as the reason" bash -c \
  "kubectl -n $NS get events --field-selector involvedObject.name=web,reason=Reissued -o jsonpath='{.items[*].message}' | grep -q \"issuer's CA certificate changed\""
wait_for $T "web is Ready with the new CA" ready cwcert/web
# Back to the first root, which the pkcs11 intermediate below is signed by.
old_serial=$(secret_serial web-tls)
k create secret tls ca-root --cert="$WORK/root.crt" --key="$WORK/root.key" --dry-run=client -o yaml |
  kubectl -n "$NS" apply -f - >/dev/null
wait_for $T "and back to the first root" serial_changed web-tls "$old_serial"
wait_for $T "web verifies against the first root again" bash -c \
  "kubectl -n $NS get secret web-tls -o 'go-template={{index .data \"tls.crt\"}}' | base64 -d | openssl verify -CAfile '$WORK/root.crt'"
wait_for $T "web is Ready again" ready cwcert/web

# --- pkcs11 issuers ---------------------------------------------------------------------------------------
note "pkcs11 issuers"
apply <<EOF
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: hsm-leaf}
spec:
  secretName: hsm-leaf-tls
  dnsNames: [hsm.example.com]
  usages: [digital signature, server auth]
  issuerRef: {name: hsm-root}
---
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: hsm-chain}
spec:
  pkcs11:
    modulePath: $MODULE
    keyURI: "pkcs11:token=e2e;object=root"
    pinSecretRef: {name: hsm-pin}
    caSecretRef: {name: hsm-root-bootstrap-ca}
---
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: chain-leaf}
spec:
  secretName: chain-leaf-tls
  dnsNames: [chain.example.com]
  issuerRef: {name: hsm-chain}
EOF
wait_for $T "a Certificate from the pkcs11 bootstrap SelfSigned issuer becomes Ready" ready cwcert/hsm-leaf
save_secret hsm-leaf-tls "$WORK/hsm-leaf" || true
check "it verifies against the bootstrap root" verifies "$WORK/hsm-leaf" "$WORK/boot/tls.crt"
check "its ca.crt is the bootstrap root" cmp "$WORK/hsm-leaf/ca.crt" "$WORK/boot/tls.crt"
check "its key matches" key_matches_cert "$WORK/hsm-leaf"
wait_for $T "a pkcs11 Issuer with caSecretRef becomes Ready (KeyVerified)" \
  has_condition issuer/hsm-chain Ready True KeyVerified
wait_for $T "a Certificate from the caSecretRef issuer becomes Ready" ready cwcert/chain-leaf
save_secret chain-leaf-tls "$WORK/chain-leaf" || true
check "it verifies against the root in the caSecretRef Secret" verifies "$WORK/chain-leaf" "$WORK/boot/tls.crt"

# Bootstrap CSR: the key is made in the token, the CSR goes to status, an offline root signs it.
apply <<EOF
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: hsm-sub}
spec:
  pkcs11:
    modulePath: $MODULE
    keyURI: "pkcs11:token=e2e;object=sub"
    pinSecretRef: {name: hsm-pin}
    bootstrap:
      mode: CSR
      subject: {commonName: e2e issuing CA, organizations: [certwright]}
EOF
wait_for $T "bootstrap CSR: Ready False WaitingForCACertificate" \
  has_condition issuer/hsm-sub Ready False WaitingForCACertificate
field issuer/hsm-sub .status.csr >"$WORK/sub.csr"
check "status.csr is a PEM CSR whose signature verifies" openssl req -in "$WORK/sub.csr" -noout -verify
check_contains "the CSR has the bootstrap subject" "CN = e2e issuing CA" openssl req -in "$WORK/sub.csr" -noout -subject
check_contains "the CSR's key is in the token" "label: sub" token_objects e2e "$PIN"
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' \
  >"$WORK/sub.ext"
check "the offline root signs the CSR (openssl x509 -req)" openssl x509 -req -in "$WORK/sub.csr" -CA "$WORK/root.crt" \
  -CAkey "$WORK/root.key" -CAcreateserial -days 20 -extfile "$WORK/sub.ext" -out "$WORK/sub.crt"
cat "$WORK/sub.crt" "$WORK/root.crt" >"$WORK/sub-chain.pem"
k create secret generic hsm-sub-chain --from-file=tls.crt="$WORK/sub-chain.pem" >/dev/null
k patch issuer.certwright.dev hsm-sub --type=merge \
  -p '{"spec":{"pkcs11":{"bootstrap":null,"caSecretRef":{"name":"hsm-sub-chain"}}}}' >/dev/null
wait_for $T "with the signed chain in caSecretRef the Issuer becomes Ready" has_condition issuer/hsm-sub Ready True KeyVerified
check_eq "status.csr is gone" "$(field issuer/hsm-sub .status.csr)" ""
apply <<EOF
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: sub-leaf}
spec:
  secretName: sub-leaf-tls
  dnsNames: [sub.example.com]
  issuerRef: {name: hsm-sub}
EOF
wait_for $T "a Certificate from the intermediate becomes Ready" ready cwcert/sub-leaf
save_secret sub-leaf-tls "$WORK/sub-leaf" || true
check "it verifies against the offline root through the intermediate in tls.crt" verifies "$WORK/sub-leaf" "$WORK/root.crt"
check_contains "its issuer is the intermediate" "CN = e2e issuing CA" openssl x509 -in "$WORK/sub-leaf/tls.crt" -noout -issuer
check "tls.crt carries the intermediate after the leaf" bash -c \
  "grep -c 'BEGIN CERTIFICATE' '$WORK/sub-leaf/tls.crt' | grep -qx '[23]' &&
   openssl crl2pkcs7 -nocrl -certfile '$WORK/sub-leaf/tls.crt' | openssl pkcs7 -print_certs -noout | grep -q 'subject=.*e2e issuing CA'"

# --- ClusterIssuer ------------------------------------------------------------------------------------
note "ClusterIssuer"
CI=$NS-root
cluster_object "clusterissuer.certwright.dev/$CI"
apply <<EOF
apiVersion: certwright.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: $CI, labels: {certwright.dev/e2e: $NS}}
spec:
  pkcs11:
    modulePath: $MODULE
    keyURI: "pkcs11:token=e2e;object=cluster-root"
    pinSecretRef: {name: hsm-pin}
    bootstrap:
      mode: SelfSigned
      subject: {commonName: e2e cluster root}
---
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: cluster-leaf}
spec:
  secretName: cluster-leaf-tls
  dnsNames: [cluster.example.com]
  issuerRef: {name: $CI, kind: ClusterIssuer}
EOF
wait_for $T "the ClusterIssuer (PIN in the cluster-resource namespace) becomes Ready" \
  has_condition "clusterissuer.certwright.dev/$CI" Ready True KeyVerified
check "its bootstrap root is in the cluster-resource namespace" k get secret "$CI-bootstrap-ca"
wait_for $T "a Certificate from the ClusterIssuer becomes Ready" ready cwcert/cluster-leaf
save_secret cluster-leaf-tls "$WORK/cluster-leaf" || true
secret_data "$CI-bootstrap-ca" tls.crt >"$WORK/cluster-root.crt" 2>/dev/null || true
check "it verifies against the ClusterIssuer's root" verifies "$WORK/cluster-leaf" "$WORK/cluster-root.crt"
check_eq "annotation issuer-kind is ClusterIssuer" \
  "$(field secret/cluster-leaf-tls '.metadata.annotations.certwright\.dev/issuer-kind')" ClusterIssuer
check_contains "kubectl get cwclusterissuer shows it Ready" "$CI True" kubectl get cwclusterissuer "$CI"

# --- Bad input ------------------------------------------------------------------------------------
note "bad input"
if k apply -f - >"$WORK/out" 2>&1 <<EOF; then
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: typo}
spec:
  secretName: typo-tls
  dnsName: [typo.example.com]
  issuerRef: {name: ca}
EOF
  fail "a manifest with a misspelt field is refused: it was accepted"
else
  check_contains "a manifest with a misspelt field is refused with the schema's message" \
    'unknown field "spec.dnsName"' cat "$WORK/out"
fi

# Issuer not found, then created.
apply <<EOF
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: orphan}
spec:
  secretName: orphan-tls
  commonName: orphan.example.com
  dnsNames: [orphan.example.com]
  issuerRef: {name: later}
EOF
wait_for $T "a Certificate whose Issuer does not exist: Ready False IssuerNotFound" \
  has_condition cwcert/orphan Ready False IssuerNotFound
check_contains "the message names the missing Issuer" "later" condition cwcert/orphan Ready message
wait_for 10 "an IssuerNotFound Event on the Certificate" event_recorded orphan IssuerNotFound
check "no Secret is written meanwhile" bash -c "! kubectl -n $NS get secret orphan-tls"
apply <<EOF
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: later}
spec: {selfSigned: {}}
EOF
wait_for $T "once the Issuer exists the Certificate becomes Ready" ready cwcert/orphan
save_secret orphan-tls "$WORK/orphan" || true
check "the selfSigned certificate verifies against itself" openssl verify -CAfile "$WORK/orphan/tls.crt" "$WORK/orphan/tls.crt"
check "the selfSigned certificate's key matches" key_matches_cert "$WORK/orphan"

# Wrong PIN, then fixed.
k create secret generic wrong-pin --from-literal=pin=97531 >/dev/null
apply <<EOF
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: hsm-wrongpin}
spec:
  pkcs11:
    modulePath: $MODULE
    keyURI: "pkcs11:token=e2e;object=root"
    pinSecretRef: {name: wrong-pin}
    caSecretRef: {name: hsm-root-bootstrap-ca}
---
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: wp}
spec:
  secretName: wp-tls
  dnsNames: [wp.example.com]
  issuerRef: {name: hsm-wrongpin}
EOF
wait_for $T "a wrong PIN: Issuer Ready False PermissionDenied" has_condition issuer/hsm-wrongpin Ready False PermissionDenied
check_contains "the message says the PIN is wrong" "PIN" condition issuer/hsm-wrongpin Ready message
check "the message does not show the PIN" bash -c "! kubectl -n $NS get issuer.certwright.dev hsm-wrongpin -o yaml | grep -q 97531"
wait_for $T "its Certificate: Ready False IssuerNotReady" has_condition cwcert/wp Ready False IssuerNotReady
check "a Warning Event on the Issuer" event_recorded hsm-wrongpin PermissionDenied
k create secret generic wrong-pin --from-literal=pin="$PIN" --dry-run=client -o yaml | k apply -f - >/dev/null
wait_for $T "with the PIN fixed the Issuer becomes Ready" has_condition issuer/hsm-wrongpin Ready True
wait_for $T "and its Certificate becomes Ready" ready cwcert/wp

# Another owner's Secret at secretName.
k create secret generic taken-tls --from-literal=owner=someone-else >/dev/null
taken_rv=$(field secret/taken-tls .metadata.resourceVersion)
apply <<EOF
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: taken}
spec:
  secretName: taken-tls
  dnsNames: [taken.example.com]
  issuerRef: {name: ca}
EOF
wait_for $T "another owner's Secret: Ready False SecretConflict" has_condition cwcert/taken Ready False SecretConflict
sleep 2
check_eq "the other owner's Secret is untouched" "$(field secret/taken-tls .metadata.resourceVersion)" "$taken_rv"
check_eq "it still holds only its own data" "$(secret_data taken-tls owner)" someone-else
k delete secret taken-tls >/dev/null
wait_for $T "once that Secret is deleted the Certificate becomes Ready" ready cwcert/taken
check_eq "the new Secret is managed" "$(field secret/taken-tls '.metadata.labels.certwright\.dev/managed')" true

# HSM unreachable: a module that is not there, a token that is not there.
apply <<EOF
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: hsm-gone}
spec:
  pkcs11:
    modulePath: /nonexistent/libsofthsm2.so
    keyURI: "pkcs11:token=e2e;object=root"
    pinSecretRef: {name: hsm-pin}
    caSecretRef: {name: hsm-root-bootstrap-ca}
---
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: hsm-notoken}
spec:
  pkcs11:
    modulePath: $MODULE
    keyURI: "pkcs11:token=absent;object=root"
    pinSecretRef: {name: hsm-pin}
    caSecretRef: {name: hsm-root-bootstrap-ca}
EOF
wait_for $T "a missing PKCS#11 module: Issuer Ready False" has_condition issuer/hsm-gone Ready False
check_contains "the message names the module" "/nonexistent/libsofthsm2.so" condition issuer/hsm-gone Ready message
wait_for $T "a missing token: Issuer Ready False" has_condition issuer/hsm-notoken Ready False
check_contains "the message names the token" "absent" condition issuer/hsm-notoken Ready message
note "hsm-gone: $(condition issuer/hsm-gone Ready reason): $(condition issuer/hsm-gone Ready message)"
note "hsm-notoken: $(condition issuer/hsm-notoken Ready reason): $(condition issuer/hsm-notoken Ready message)"
k patch issuer.certwright.dev hsm-gone --type=merge -p "{\"spec\":{\"pkcs11\":{\"modulePath\":\"$MODULE\"}}}" >/dev/null
k patch issuer.certwright.dev hsm-notoken --type=merge -p '{"spec":{"pkcs11":{"keyURI":"pkcs11:token=e2e;object=root"}}}' >/dev/null
wait_for $T "with the module path fixed the Issuer becomes Ready" has_condition issuer/hsm-gone Ready True
wait_for $T "with the token label fixed the Issuer becomes Ready" has_condition issuer/hsm-notoken Ready True

# An issuer's minDuration refuses a shorter certificate (terminal: backs off, does not spin).
apply <<EOF
apiVersion: certwright.dev/v1alpha1
kind: Issuer
metadata: {name: strict}
spec:
  selfSigned: {}
  minDuration: 48h
---
apiVersion: certwright.dev/v1alpha1
kind: Certificate
metadata: {name: short}
spec:
  secretName: short-tls
  commonName: short.example.com
  dnsNames: [short.example.com]
  duration: 24h
  issuerRef: {name: strict}
EOF
wait_for $T "a duration under minDuration: Issuing False Failed" has_condition cwcert/short Issuing False Failed
check_eq "and Ready False IssuanceFailed" "$(condition cwcert/short Ready reason)" IssuanceFailed
check_contains "the message names minDuration" "minDuration" condition cwcert/short Issuing message
check "failedIssuanceAttempts is counted" test "$(field cwcert/short .status.failedIssuanceAttempts)" -ge 1
check "lastFailureTime is set" test -n "$(field cwcert/short .status.lastFailureTime)"
k patch cwcert short --type=merge -p '{"spec":{"duration":"72h"}}' >/dev/null
wait_for $T "with a long enough duration it becomes Ready" ready cwcert/short
check_eq "and the Issuing condition is gone" "$(condition cwcert/short Issuing)" ""

# --- A restart ------------------------------------------------------------------------------------
# A new process (the Lease is released on SIGTERM) must find everything up to date: no new
# certificate, and no Certificate that flips to not Ready while the issuers are checked again.
note "restart"
serial_before=$(secret_serial web-tls)
transitions() {
  k get cwcert -o jsonpath='{range .items[*]}{.metadata.name}: Ready={.status.conditions[?(@.type=="Ready")].status} since {.status.conditions[?(@.type=="Ready")].lastTransitionTime}{"\n"}{end}'
}
warnings() { k get events --field-selector type=Warning -o jsonpath='{range .items[*]}{.reason}{"\n"}{end}' | sort | uniq -c; }
transitions >"$WORK/ready-before"
warnings >"$WORK/warnings-before"
stop_controller
start_controller
sleep 5
transitions >"$WORK/ready-after"
warnings >"$WORK/warnings-after"
check_eq "after a restart the certificate is not re-issued" "$(secret_serial web-tls)" "$serial_before"
check "after a restart every Certificate's Ready condition is unchanged (no flip while issuers are re-checked)" \
  diff "$WORK/ready-before" "$WORK/ready-after"
check "after a restart no new Warning Event" diff "$WORK/warnings-before" "$WORK/warnings-after"

# --- Metrics and health -------------------------------------------------------------------------------
note "metrics"
check_contains "/metrics has the expiry of Certificate web" \
  "certwright_certificate_expiration_timestamp_seconds{" bash -c \
  "curl -fsS http://127.0.0.1:$METRICS_PORT/metrics | grep 'certwright_certificate_expiration_timestamp_seconds{' | grep 'name=\"web\"' | grep 'namespace=\"$NS\"'"
web_expiry=$(metrics | grep 'certwright_certificate_expiration_timestamp_seconds{' | grep 'name="web"' | awk '{print $NF}')
save_secret web-tls "$WORK/web-now" || true
check_eq "the metric is the certificate's notAfter" "$(printf '%.0f' "${web_expiry:-0}")" \
  "$(date -d "$(openssl x509 -in "$WORK/web-now/tls.crt" -noout -enddate | cut -d= -f2)" +%s)"
check_eq "/healthz is 200" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$METRICS_PORT/healthz")" 200
check_eq "/readyz is 200" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$METRICS_PORT/readyz")" 200
check "the controller is still running" kill -0 "$CONTROLLER_PID"
check "the PIN never appears in the controller's log" bash -c "! grep -q 'pin-value=$PIN' '$CONTROLLER_LOG'"

finish
