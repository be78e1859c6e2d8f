#!/usr/bin/env bash
# End-to-end test of the certwright binary against a real SoftHSM2 token and OpenSSL.
# Usage: cli_test.sh path/to/certwright
set -uo pipefail

CW=$(realpath "${1:?usage: cli_test.sh path/to/certwright}")
HERE=$(cd "$(dirname "$0")" && pwd)
MODULE=/usr/lib/softhsm/libsofthsm2.so
for tool in softhsm2-util pkcs11-tool openssl; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed (run hack/install-deps)"; exit 1; }
done
[ -r "$MODULE" ] || { echo "FAIL: $MODULE missing (run hack/install-deps)"; exit 1; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
mkdir tokens
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$WORK" > softhsm2.conf
export SOFTHSM2_CONF=$WORK/softhsm2.conf
softhsm2-util --init-token --free --label cli --so-pin 12345678 --pin 5678 >/dev/null
echo 5678 > pin
echo 0000 > wrong-pin

source "$HERE/checks.sh"

URI="pkcs11:token=cli;object=root?module-path=$MODULE&pin-source=$WORK/pin"

# --- version and usage ---------------------------------------------------------------------
expect_ok "version" "$CW" version
grep -q '^certwright [0-9]' out.txt && pass "version prints the version" || fail "version output: $(cat out.txt)"
expect_fail "no command" 2 "" "$CW"
expect_fail "unknown command" 2 'unknown command "frobnicate"' "$CW" frobnicate
expect_fail "missing --key" 2 "flag --key is required" "$CW" ca init --subject CN=x
expect_fail "unknown flag" 2 "unknown flag --colour" "$CW" sign --colour red

# --- ca init in SoftHSM2 ---------------------------------------------------------------------
expect_ok "ca init creates a key and a root" "$CW" ca init --key "$URI" --subject "CN=CLI Root CA,O=certwright" --out ca.pem
grep -q "created ecdsa-p256 key" err.txt && pass "ca init says it created the key" || fail "ca init stderr: $(cat err.txt)"
grep -q "pin-source=$WORK/pin" err.txt && ! grep -q 5678 err.txt && pass "the PIN never appears in output" || fail "PIN handling: $(cat err.txt)"
openssl x509 -in ca.pem -noout -text > ca.txt
grep -q "CA:TRUE" ca.txt && grep -q "Certificate Sign, CRL Sign" ca.txt && pass "root is a CA with keyCertSign" || fail "root extensions: $(cat ca.txt)"
pkcs11-tool --module "$MODULE" --token-label cli --login --pin 5678 --list-objects --type privkey > objects.txt 2>&1
grep -q "never extractable" objects.txt && grep -q "sensitive" objects.txt && pass "pkcs11-tool shows the key never extractable" \
  || fail "pkcs11-tool objects: $(cat objects.txt)"
expect_ok "ca init again reuses the key" "$CW" ca init --key "$URI" --subject "CN=CLI Root CA,O=certwright" --out ca2.pem
grep -q "using existing ecdsa-p256 key" err.txt && pass "ca init reuses an existing key" || fail "reuse: $(cat err.txt)"
[ "$(openssl x509 -in ca.pem -noout -pubkey)" = "$(openssl x509 -in ca2.pem -noout -pubkey)" ] && pass "same public key" || fail "key changed"
expect_fail "ca init refuses a different key type for an existing key" 1 "already exists and is ecdsa-p256, not rsa-2048; it is never replaced" \
  "$CW" ca init --key "$URI" --key-type rsa-2048 --subject "CN=x" --out ca3.pem
[ ! -e ca3.pem ] && pass "nothing written on failure" || fail "ca3.pem written on failure"

expect_ok "ca init --csr-out for an offline root" "$CW" ca init --key "pkcs11:token=cli;object=sub?module-path=$MODULE&pin-source=$WORK/pin" \
  --key-type ecdsa-p384 --subject "CN=CLI Issuing CA" --csr-out sub.csr
openssl req -in sub.csr -noout -verify 2>&1 | grep -qi "verify OK" && pass "openssl verifies the CA CSR" || fail "CA CSR does not verify"

# --- sign ------------------------------------------------------------------------------------
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -subj /CN=web.example.com \
  -addext "subjectAltName=DNS:web.example.com,IP:10.0.0.1" -out leaf.csr 2>/dev/null
expect_ok "sign a CSR" "$CW" sign --ca-key "$URI" --ca-cert ca.pem --csr leaf.csr --usage "server auth" --duration 720h --out leaf.pem
openssl verify -CAfile ca.pem leaf.pem >verify.txt 2>&1 && pass "openssl verify accepts the leaf" || fail "verify: $(cat verify.txt)"
openssl verify -purpose sslserver -x509_strict -CAfile ca.pem leaf.pem >/dev/null 2>&1 && pass "strict TLS server purpose" || fail "strict verify"
openssl x509 -in leaf.pem -noout -text > leaf.txt
grep -q "DNS:web.example.com, IP Address:10.0.0.1" leaf.txt && pass "leaf carries the CSR's names" || fail "leaf SANs: $(cat leaf.txt)"
! grep -q "Certificate Sign" leaf.txt && pass "leaf has no keyCertSign" || fail "leaf has keyCertSign"
days=$(( ($(date -d "$(openssl x509 -in leaf.pem -noout -enddate | cut -d= -f2)" +%s) - $(date +%s)) / 86400 ))
[ "$days" -ge 29 ] && [ "$days" -le 30 ] && pass "--duration 720h gives 30 days" || fail "validity $days days"
[ "$(openssl x509 -in leaf.pem -noout -pubkey)" = "$(openssl pkey -in leaf.key -pubout)" ] && pass "leaf key matches the CSR key" || fail "leaf key"
expect_ok "sign from stdin to stdout" bash -c "\"$CW\" sign --ca-key \"$URI\" --ca-cert ca.pem --csr - < leaf.csr"
grep -q "BEGIN CERTIFICATE" out.txt && pass "stdout carries the certificate" || fail "no certificate on stdout"

# file: backend
expect_ok "ca init with a file key" "$CW" ca init --key "file:$WORK/file-ca.key" --key-type ed25519 --subject "CN=File CA" --out file-ca.pem
[ "$(stat -c %a file-ca.key)" = 600 ] && pass "file key is mode 0600" || fail "file key mode $(stat -c %a file-ca.key)"
expect_ok "sign with a file key" "$CW" sign --ca-key "file:$WORK/file-ca.key" --ca-cert file-ca.pem --csr leaf.csr --out leaf2.pem
openssl verify -CAfile file-ca.pem leaf2.pem >/dev/null 2>&1 && pass "openssl verifies the Ed25519-signed leaf" || fail "Ed25519 chain"

# --- bad input -------------------------------------------------------------------------------
# Change the requested name after signing (same length, so the DER stays well formed).
openssl req -in leaf.csr -outform DER -out leaf.der
LC_ALL=C sed 's/web\.example\.com/wab.example.com/g' leaf.der > tampered.der
cmp -s leaf.der tampered.der && fail "tampering changed nothing"
expect_fail "tampered CSR" 1 "certificate request signature does not verify" "$CW" sign --ca-key "$URI" --ca-cert ca.pem --csr tampered.der
head -c 300 leaf.csr > truncated.csr
expect_fail "truncated PEM" 1 "certificate request: PEM block 1 is malformed" "$CW" sign --ca-key "$URI" --ca-cert ca.pem --csr truncated.csr
head -c 300000 /dev/zero | tr '\0' 'A' > huge.csr
expect_fail "oversized input" 1 "file is 300000 bytes; the limit is 262144" "$CW" sign --ca-key "$URI" --ca-cert ca.pem --csr huge.csr
openssl req -new -newkey rsa:1024 -nodes -keyout weak.key -subj /CN=weak -out weak.csr 2>/dev/null
expect_fail "RSA-1024 CSR" 1 "RSA 1024 key is too weak: RSA keys must be at least 2048 bits" "$CW" sign --ca-key "$URI" --ca-cert ca.pem --csr weak.csr
openssl genpkey -genparam -algorithm DSA -pkeyopt dsa_paramgen_bits:2048 -out dsa.param 2>/dev/null
openssl req -new -newkey param:dsa.param -nodes -keyout dsa.key -subj /CN=dsa -out dsa.csr 2>/dev/null
expect_fail "DSA CSR" 1 "DSA is deprecated" "$CW" sign --ca-key "$URI" --ca-cert ca.pem --csr dsa.csr
expect_fail "zero duration" 1 "--duration: must be positive, got \"0s\"" "$CW" sign --ca-key "$URI" --ca-cert ca.pem --csr leaf.csr --duration 0s
expect_fail "negative duration" 1 "--duration: must be positive, got \"-5h\"" "$CW" sign --ca-key "$URI" --ca-cert ca.pem --csr leaf.csr --duration=-5h
expect_fail "malformed duration" 1 "duration \"ten days\" is invalid" "$CW" sign --ca-key "$URI" --ca-cert ca.pem --csr leaf.csr --duration "ten days"
expect_fail "duration beyond the CA" 1 "after the issuing CA certificate expires at" "$CW" sign --ca-key "$URI" --ca-cert ca.pem --csr leaf.csr --duration 131400h
expect_fail "wrong PIN" 1 "CKR_PIN_INCORRECT (the PIN is wrong)" "$CW" sign --ca-key "pkcs11:token=cli;object=root?module-path=$MODULE&pin-source=$WORK/wrong-pin" --ca-cert ca.pem --csr leaf.csr
expect_fail "missing token" 1 "no token \"absent\" in PKCS#11 module" "$CW" sign --ca-key "pkcs11:token=absent;object=root?module-path=$MODULE&pin-source=$WORK/pin" --ca-cert ca.pem --csr leaf.csr
expect_fail "missing object" 1 "no private key with object \"nope\" on token \"cli\"" "$CW" sign --ca-key "pkcs11:token=cli;object=nope?module-path=$MODULE&pin-source=$WORK/pin" --ca-cert ca.pem --csr leaf.csr
expect_fail "module that does not load" 1 "PKCS#11 module /etc/hostname cannot be loaded" "$CW" sign --ca-key "pkcs11:token=cli;object=root?module-path=/etc/hostname&pin-source=$WORK/pin" --ca-cert ca.pem --csr leaf.csr
expect_fail "bad key URI" 1 "pkcs11 URI needs \"module-path\"" "$CW" sign --ca-key "pkcs11:token=cli;object=root" --ca-cert ca.pem --csr leaf.csr
expect_fail "key that does not match the CA" 1 "does not match the public key of the CA certificate" "$CW" sign --ca-key "file:$WORK/file-ca.key" --ca-cert ca.pem --csr leaf.csr
expect_fail "leaf as CA certificate" 1 "is not a CA: it lacks basicConstraints cA=TRUE" "$CW" sign --ca-key "file:$WORK/leaf.key" --ca-cert leaf2.pem --csr leaf.csr
expect_fail "unknown usage" 1 "unknown usage \"teleport\"" "$CW" sign --ca-key "$URI" --ca-cert ca.pem --csr leaf.csr --usage teleport
expect_fail "cert sign on a leaf" 1 "only allowed for CA certificates" "$CW" sign --ca-key "$URI" --ca-cert ca.pem --csr leaf.csr --usage "cert sign"
expect_fail "duration beyond 100 years" 1 "duration 1000000h is longer than the maximum of 876000h (100 years)" "$CW" ca init --key "file:$WORK/y.key" --subject "CN=y" --duration 1000000h
expect_fail "bad subject" 1 "--subject: unknown attribute type \"XX\"" "$CW" ca init --key "file:$WORK/x.key" --subject "XX=1"
[ ! -e x.key ] && pass "no key created for a bad subject" || fail "x.key created despite a bad subject"

# certwright controller: flag errors are usage errors (exit 2) that name the flag, before any
# connection is tried.
expect_fail "controller: unknown log format" 2 '--log-format "yaml" is not one of text, json' "$CW" controller --log-format yaml
expect_fail "controller: workers out of range" 2 '--workers "0" must be a number from 1 to 64' "$CW" controller --workers 0
expect_fail "controller: event-qps not a number" 2 '--event-qps "fast" must be a number from 0 to 10000' "$CW" controller --event-qps fast
expect_fail "controller: event-burst out of range" 2 '--event-burst "0" must be a number from 1 to 10000' "$CW" controller --event-burst 0
expect_fail "controller: leader-elect not a boolean" 2 "--leader-elect must be true or false" "$CW" controller --leader-elect yes
expect_fail "controller: bad kubernetes-signers-issuer" 2 "must be ClusterIssuer/<name> or Issuer/<namespace>/<name>" \
  "$CW" controller --kubernetes-signers-issuer Issuer/only-a-name
expect_fail "controller: no cluster" 1 "kubeconfig" env -u KUBECONFIG "$CW" controller --kubeconfig "$WORK/no-such-kubeconfig"

# certwright webhook: the same, for its own flags and the issuance flags it shares.
expect_fail "webhook: unknown flag" 2 "unknown flag --bogus" "$CW" webhook --bogus
expect_fail "webhook: threads out of range" 2 '--threads "0" must be a number from 1 to 64' "$CW" webhook --threads 0
expect_fail "webhook: serving certificate duration not positive" 2 \
  '--serving-certificate-duration "-1h" is not a positive duration' "$CW" webhook --serving-certificate-duration=-1h
expect_fail "webhook: resync interval not a duration" 2 '--resync-interval "often" is not a positive duration' \
  "$CW" webhook --resync-interval often
expect_fail "webhook: bad issuer-kms-endpoints" 2 'is not an http or https URL' "$CW" webhook --issuer-kms-endpoints ftp://x
expect_fail "webhook: no cluster" 1 "kubeconfig" env -u KUBECONFIG "$CW" webhook --kubeconfig "$WORK/no-such-kubeconfig"

echo
echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
