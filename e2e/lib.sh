# e2e/lib.sh: what the controller end-to-end scenarios share. Source it, then call e2e_init.
# shellcheck shell=bash
#
#   source "$(dirname "$0")/lib.sh"
#   e2e_init certificates "$1"        # name of the scenario, path of the certwright binary
#   softhsm_token e2e 1234            # a SoftHSM2 token in this test's own token dir
#   start_controller                  # certwright controller, scoped to this test's namespace
#   check "the Secret exists" kubectl -n "$NS" get secret web-tls
#   wait_for 30 "web is Ready" ready cwcert web
#   finish
#
# Each scenario gets: a namespace of its own (NS, deleted at exit), a temporary dir (WORK), a
# SoftHSM2 config whose token dir is in WORK (SOFTHSM2_CONF, exported, so softhsm2-util,
# pkcs11-tool and the controller all see the same tokens), and a controller process with its own
# free port, Lease name and log file. The controller serves only NS (--namespace) and reads
# ClusterIssuers' Secrets from NS too (--cluster-resource-namespace), so scenarios never share a
# Secret. ClusterIssuers are cluster-scoped all the same: the controller serves only those
# labelled certwright.dev/e2e=$NS (start_controller passes --cluster-issuer-selector), so a
# scenario names its ClusterIssuers after NS and labels them so, and never touches, or fights over
# the status of, another scenario's. Such scenarios still run serially (ctest RUN_SERIAL).
#
# Checks count passes and failures like tests/cli/cli_test.sh; the last line is
# "<scenario>: N passed, M failed", and the exit status is 1 on any failure. On failure, the
# controller's log is printed.
set -Eeuo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$E2E_DIR/.." && pwd)
MODULE=${CERTWRIGHT_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
# How long a controller gets to become ready after it starts (caches synced).
CONTROLLER_START_TIMEOUT=${CONTROLLER_START_TIMEOUT:-60}

passed=0
failed=0
SCENARIO=
CW=
WORK=
NS=
CONTROLLER_PID=
CONTROLLER_LOG=
METRICS_PORT=
CLUSTER_OBJECTS=() # "resource/name" of cluster-scoped objects to delete at exit
BACKGROUND_PIDS=() # other processes of the scenario (a webhook, load loops): killed at exit
EXTRA_LOGS=()      # their logs, printed with the controller's on failure

pass() {
  passed=$((passed + 1))
  echo "ok   $*"
}
fail() {
  failed=$((failed + 1))
  echo "FAIL $*"
}
note() { echo "---- $*"; }

# finish prints the counts and exits: 0 when nothing failed.
FINISHED=
finish() {
  FINISHED=1
  echo "$SCENARIO: $passed passed, $failed failed ($SECONDS s)"
  [ "$failed" = 0 ] && exit 0
  exit 1
}

# abort MESSAGE: a failure the scenario cannot go on after.
abort() {
  fail "$*"
  finish
}

_on_error() {
  local rc=$1 line=$2 cmd=$3
  fail "line $line: command \"$cmd\" exited $rc (an unchecked command failed)"
}

_cleanup() {
  local rc=$?
  trap - ERR
  set +e
  stop_controller >/dev/null 2>&1
  local pid
  for pid in "${BACKGROUND_PIDS[@]+"${BACKGROUND_PIDS[@]}"}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${BACKGROUND_PIDS[@]+"${BACKGROUND_PIDS[@]}"}"; do wait "$pid" 2>/dev/null; done
  if [ -z "$FINISHED" ]; then
    [ "$rc" = 0 ] || [ "$failed" != 0 ] || fail "the scenario stopped early (exit $rc)"
    echo "$SCENARIO: $passed passed, $failed failed ($SECONDS s; stopped early)"
  fi
  if [ "$failed" != 0 ] || [ "$rc" != 0 ]; then
    if [ -n "$CONTROLLER_LOG" ] && [ -s "$CONTROLLER_LOG" ]; then
      echo "==== controller log ($CONTROLLER_LOG), last 400 lines ===="
      tail -n 400 "$CONTROLLER_LOG"
      echo "==== end of controller log ===="
    fi
    local log
    for log in "${EXTRA_LOGS[@]+"${EXTRA_LOGS[@]}"}"; do
      [ -s "$log" ] || continue
      echo "==== $log, last 200 lines ===="
      tail -n 200 "$log"
      echo "==== end of $log ===="
    done
    if [ -n "$NS" ] && [ -n "${KUBECONFIG:-}" ]; then
      echo "==== events in $NS ===="
      kubectl get events -n "$NS" 2>&1 | tail -n 60
    fi
  fi
  local obj
  for obj in "${CLUSTER_OBJECTS[@]+"${CLUSTER_OBJECTS[@]}"}"; do
    kubectl delete "$obj" --ignore-not-found --wait=false >/dev/null 2>&1
  done
  if [ -n "$NS" ]; then kubectl delete namespace "$NS" --ignore-not-found --wait=false >/dev/null 2>&1; fi
  if [ -n "$WORK" ]; then
    if [ "${E2E_KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
  fi
}

# e2e_init SCENARIO CERTWRIGHT_BINARY: environment, namespace, CRDs, traps.
e2e_init() {
  SCENARIO=$1
  CW=$(realpath "${2:?usage: $0 path/to/certwright}")
  [ -x "$CW" ] || {
    echo "FAIL $CW is not an executable"
    exit 1
  }
  local tool
  for tool in softhsm2-util pkcs11-tool openssl python3 curl; do
    command -v "$tool" >/dev/null || {
      echo "FAIL $tool is not installed (run hack/install-deps)"
      exit 1
    }
  done

  # The cluster: KUBECONFIG if set, else the running hack/control-plane.
  if [ -z "${KUBECONFIG:-}" ]; then
    local env
    if env=$("$REPO_ROOT/hack/control-plane" env 2>/dev/null); then
      eval "$env"
    else
      echo "FAIL KUBECONFIG is not set and no control plane is running: eval \"\$(hack/control-plane up)\""
      exit 1
    fi
  fi
  if ! command -v kubectl >/dev/null; then
    local cache=${CERTWRIGHT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/certwright} k
    for k in "$cache"/kubernetes-*/bin/kubectl; do [ -x "$k" ] && PATH=$(dirname "$k"):$PATH; done
  fi
  command -v kubectl >/dev/null || {
    echo "FAIL kubectl is neither on PATH nor in the hack/control-plane cache"
    exit 1
  }
  export KUBECONFIG PATH

  WORK=$(mktemp -d "${TMPDIR:-/tmp}/certwright-e2e-$SCENARIO-XXXXXX")
  NS=e2e-$SCENARIO-$(date +%s)-$$
  CONTROLLER_LOG=$WORK/controller.log
  trap _cleanup EXIT
  trap 'exit 130' INT TERM
  trap '_on_error $? $LINENO "$BASH_COMMAND"' ERR

  # CRDs: server-side apply is idempotent, and a field manager of our own leaves other appliers'
  # fields alone.
  kubectl apply --server-side --force-conflicts --field-manager=certwright-e2e -f "$REPO_ROOT/crds/" \
    >"$WORK/crds.out" 2>&1 || abort "apply the CRDs: $(cat "$WORK/crds.out")"
  kubectl wait --for=condition=Established --timeout=60s crd/certificates.certwright.dev \
    crd/issuers.certwright.dev crd/clusterissuers.certwright.dev >"$WORK/crds.out" 2>&1 ||
    abort "the CRDs are not Established: $(cat "$WORK/crds.out")"
  # A new CRD takes a moment to show in discovery, which kubectl needs.
  for _ in $(seq 50); do
    kubectl get cwcert -n default >/dev/null 2>&1 && kubectl get cwclusterissuer >/dev/null 2>&1 && break
    sleep 0.2
  done
  kubectl create namespace "$NS" >"$WORK/ns.out" 2>&1 || abort "create namespace $NS: $(cat "$WORK/ns.out")"

  # SoftHSM2: tokens in WORK, for every process of this test.
  mkdir -p "$WORK/tokens"
  printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$WORK" \
    >"$WORK/softhsm2.conf"
  export SOFTHSM2_CONF=$WORK/softhsm2.conf
  note "namespace $NS, work dir $WORK"
}

# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------

# check NAME CMD...: passes when the command exits 0; its output is shown when it does not.
check() {
  local name=$1
  shift
  if "$@" >"$WORK/check.out" 2>&1; then
    pass "$name"
  else
    fail "$name: exit $?: $(head -c 2000 "$WORK/check.out")"
  fi
}

# check_eq NAME GOT WANT
check_eq() {
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got '$2', want '$3'"; fi
}

# check_ne NAME A B: the two differ (and the first is not empty).
check_ne() {
  if [ -n "$2" ] && [ "$2" != "$3" ]; then pass "$1"; else fail "$1: both are '$2'"; fi
}

# check_contains NAME TEXT CMD...: the command succeeds and its output contains TEXT.
check_contains() {
  local name=$1 text=$2
  shift 2
  if ! "$@" >"$WORK/check.out" 2>&1; then
    fail "$name: exit $?: $(head -c 2000 "$WORK/check.out")"
  # grep without -q reads to the end: with -q it may exit first and tr die of SIGPIPE, which
  # pipefail would report as a failure when the text is found early in a long output.
  elif ! tr -s ' \t' ' ' <"$WORK/check.out" | grep -F -- "$(tr -s ' ' <<<"$text")" >/dev/null; then
    fail "$name: output lacks '$text': $(head -c 2000 "$WORK/check.out")"
  else
    pass "$name"
  fi
}

# wait_for SECONDS DESCRIPTION CMD...: runs CMD every half second until it succeeds; the check
# passes if it does within SECONDS, and fails otherwise. Returns 0 either way, so that the scenario
# goes on (set -e); `wait_for ... && ...` is never what you want: look at $failed instead.
wait_for() {
  local timeout=$1 what=$2 deadline
  shift 2
  deadline=$((SECONDS + timeout))
  while :; do
    if "$@" >"$WORK/wait.out" 2>&1; then
      pass "$what"
      return 0
    fi
    if ((SECONDS >= deadline)); then
      fail "$what: not within ${timeout}s; last try: $(head -c 1500 "$WORK/wait.out")"
      return 0
    fi
    sleep 0.5
  done
}

# until_ok SECONDS CMD...: like wait_for, without counting a check.
until_ok() {
  local timeout=$1 deadline
  shift
  deadline=$((SECONDS + timeout))
  until "$@" >"$WORK/wait.out" 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

# ---------------------------------------------------------------------------------------------
# Reading objects
# ---------------------------------------------------------------------------------------------

# k ARGS...: kubectl in the test namespace.
k() { kubectl -n "$NS" "$@"; }

# field RESOURCE JSONPATH: a field of an object in NS ("" when absent).
field() { kubectl -n "$NS" get "$1" -o "jsonpath={$2}" 2>/dev/null || true; }

# condition RESOURCE TYPE [WHAT]: WHAT (status, reason or message; default status) of a condition.
condition() { field "$1" ".status.conditions[?(@.type==\"$2\")].${3:-status}"; }

# has_condition RESOURCE TYPE STATUS [REASON]: the condition has that status (and reason).
has_condition() {
  local got reason
  got=$(condition "$1" "$2")
  reason=$(condition "$1" "$2" reason)
  echo "$1 $2=$got reason=$reason: $(condition "$1" "$2" message)"
  [ "$got" = "$3" ] && { [ -z "${4:-}" ] || [ "$reason" = "$4" ]; }
}

# ready RESOURCE: Ready=True, and the status is for the current generation.
ready() {
  has_condition "$1" Ready True || return 1
  local gen observed
  gen=$(field "$1" .metadata.generation)
  observed=$(field "$1" '.status.conditions[?(@.type=="Ready")].observedGeneration')
  [ -z "$observed" ] || [ "$observed" = "$gen" ]
}

# secret_data SECRET KEY: a decoded data value of a Secret in NS.
secret_data() {
  local b64
  b64=$(kubectl -n "$NS" get secret "$1" -o "go-template={{index .data \"$2\"}}" 2>/dev/null) || return 1
  [ "$b64" != "<no value>" ] || return 1
  base64 -d <<<"$b64"
}

# save_secret SECRET DIR: writes tls.crt, tls.key and ca.crt of a Secret into DIR (made fresh).
save_secret() {
  rm -rf "$2"
  mkdir -p "$2"
  secret_data "$1" tls.crt >"$2/tls.crt" && secret_data "$1" tls.key >"$2/tls.key" &&
    secret_data "$1" ca.crt >"$2/ca.crt"
}

# key_matches_cert DIR: tls.key's public key is tls.crt's (first certificate).
key_matches_cert() {
  local a b
  a=$(openssl x509 -in "$1/tls.crt" -noout -pubkey 2>&1) || return 1
  b=$(openssl pkey -in "$1/tls.key" -pubout 2>&1) || return 1
  [ -n "$a" ] && [ "$a" = "$b" ]
}

# verifies DIR [CAFILE]: tls.crt's leaf verifies against CAFILE (default DIR/ca.crt), with the
# rest of tls.crt as the untrusted chain.
verifies() {
  openssl verify -CAfile "${2:-$1/ca.crt}" -untrusted "$1/tls.crt" "$1/tls.crt"
}

# serial_of DIR: the leaf's serial number (hex, upper case, as openssl prints it).
serial_of() { openssl x509 -in "$1/tls.crt" -noout -serial 2>/dev/null | cut -d= -f2; }
pubkey_of() { openssl x509 -in "$1/tls.crt" -noout -pubkey 2>/dev/null; }

# secret_serial SECRET: the serial of the certificate in a Secret ("" if none).
secret_serial() {
  secret_data "$1" tls.crt 2>/dev/null | openssl x509 -noout -serial 2>/dev/null | cut -d= -f2 || true
}

# serial_changed SECRET OLD: the Secret holds a certificate with another serial than OLD.
serial_changed() {
  local s
  s=$(secret_serial "$1")
  echo "serial now '$s', was '$2'"
  [ -n "$s" ] && [ "$s" != "$2" ]
}

# event_recorded OBJECT_NAME REASON: an Event in NS about OBJECT_NAME with that reason.
event_recorded() {
  kubectl -n "$NS" get events --field-selector "involvedObject.name=$1,reason=$2" -o name | grep -q .
}

# apply: kubectl apply -f - in NS, with the manifest on stdin.
apply() { kubectl -n "$NS" apply -f - >"$WORK/apply.out" 2>&1 || {
  fail "kubectl apply: $(cat "$WORK/apply.out")"
  return 1
}; }

# offline_ca PATH SUBJECT [DAYS]: an ECDSA P-256 root CA made with openssl, as an admin would make
# one outside the cluster: PATH.key and PATH.crt. Aborts the scenario if openssl fails.
offline_ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.crt" \
    -days "${3:-30}" -subj "$2" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>"$WORK/openssl.err" || abort "openssl root $2: $(cat "$WORK/openssl.err")"
}

# aged_ca PATH SUBJECT MINUTES: like offline_ca, a root made MINUTES ago (notBefore in the past;
# `openssl ca -selfsign -startdate`, as OpenSSL 3.0's req has no notBefore option), valid 30 days.
# aged_sign ROOT CSR OUT MINUTES: that root signs CSR as an issuing CA (pathlen 0, AKI), valid from
# MINUTES ago for 20 days (a bootstrap: CSR issuer's certificate, made "earlier").
_aged_openssl_ca() {
  local dir=$WORK/aged-ca-${1##*/} minutes=$2 days=$3
  shift 3
  openssl ca -batch -notext -config "$dir/ca.cnf" -startdate "$(date -u -d "-$minutes minutes" +%Y%m%d%H%M%SZ)" \
    -enddate "$(date -u -d "+$days days" +%Y%m%d%H%M%SZ)" "$@" >>"$WORK/openssl.err" 2>&1
}
aged_ca() {
  local dir=$WORK/aged-ca-${1##*/}
  mkdir -p "$dir"
  : >"$dir/index.txt"
  echo 'unique_subject = no' >"$dir/index.txt.attr"
  echo 01 >"$dir/serial"
  cat >"$dir/ca.cnf" <<EOF
[ca]
default_ca = aged
[aged]
database = $dir/index.txt
new_certs_dir = $dir
serial = $dir/serial
default_md = sha256
policy = any
[any]
commonName = supplied
organizationName = optional
[root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[issuing]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$dir/req.csr" \
    -subj "$2" 2>"$WORK/openssl.err" &&
    _aged_openssl_ca "$1" "$3" 30 -selfsign -keyfile "$1.key" -in "$dir/req.csr" -out "$1.crt" -extensions root ||
    abort "openssl root $2 from $3 minutes ago: $(cat "$WORK/openssl.err")"
}
aged_sign() {
  _aged_openssl_ca "$1" "$4" 20 -cert "$1.crt" -keyfile "$1.key" -in "$2" -out "$3" -extensions issuing ||
    abort "openssl: the root ${1##*/} signs $2: $(cat "$WORK/openssl.err")"
}

# cluster_object RESOURCE/NAME: delete this cluster-scoped object at exit.
cluster_object() { CLUSTER_OBJECTS+=("$1"); }

# ---------------------------------------------------------------------------------------------
# SoftHSM2
# ---------------------------------------------------------------------------------------------

# softhsm_token LABEL PIN [SO_PIN]: a new token in this test's token dir. Make tokens before the
# controller starts: SoftHSM2 reads its token dir when the module is initialised.
softhsm_token() {
  softhsm2-util --init-token --free --label "$1" --so-pin "${3:-12345678}" --pin "$2" >"$WORK/softhsm.out" 2>&1 ||
    abort "softhsm2-util --init-token $1: $(cat "$WORK/softhsm.out")"
}

# token_objects LABEL PIN: pkcs11-tool's listing of a token's private keys.
token_objects() {
  pkcs11-tool --module "$MODULE" --token-label "$1" --login --pin "$2" --list-objects --type privkey 2>&1
}

# ---------------------------------------------------------------------------------------------
# The controller
# ---------------------------------------------------------------------------------------------

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_controller [FLAGS...]: certwright controller in the background, serving NS only (and the
# ClusterIssuers labelled certwright.dev/e2e=$NS), with a free metrics port (METRICS_PORT) and a
# Lease of its own; waits until /readyz says 200. FLAGS come last, so they override these.
start_controller() {
  METRICS_PORT=$(free_port)
  echo "==== start $(date -u +%H:%M:%S.%N) port $METRICS_PORT ====" >>"$CONTROLLER_LOG"
  "$CW" controller --kubeconfig "$KUBECONFIG" --namespace "$NS" --cluster-resource-namespace "$NS" \
    --cluster-issuer-selector "certwright.dev/e2e=$NS" --trust-bundle-selector "certwright.dev/e2e=$NS" \
    --leader-election-id "certwright-$NS" \
    --metrics-address "127.0.0.1:$METRICS_PORT" --log-level debug \
    "$@" </dev/null >>"$CONTROLLER_LOG" 2>&1 &
  CONTROLLER_PID=$!
  local deadline=$((SECONDS + CONTROLLER_START_TIMEOUT))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$METRICS_PORT/readyz")" = 200 ]; do
    if ! kill -0 "$CONTROLLER_PID" 2>/dev/null; then
      local rc=0
      wait "$CONTROLLER_PID" || rc=$?
      CONTROLLER_PID=
      abort "the controller exited ($rc) while starting: $(tail -n 20 "$CONTROLLER_LOG")"
    fi
    ((SECONDS < deadline)) || abort "the controller is not ready within ${CONTROLLER_START_TIMEOUT}s"
    sleep 0.2
  done
}

# stop_controller: SIGTERM, up to 10 s to exit, then SIGKILL.
stop_controller() {
  [ -n "$CONTROLLER_PID" ] || return 0
  kill -TERM "$CONTROLLER_PID" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$CONTROLLER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$CONTROLLER_PID" 2>/dev/null || true
  wait "$CONTROLLER_PID" 2>/dev/null || true
  CONTROLLER_PID=
}

# kill_controller: kill -9, no chance to clean up.
kill_controller() {
  [ -n "$CONTROLLER_PID" ] || return 0
  echo "==== kill -9 $(date -u +%H:%M:%S.%N) ====" >>"$CONTROLLER_LOG"
  kill -KILL "$CONTROLLER_PID" 2>/dev/null || true
  wait "$CONTROLLER_PID" 2>/dev/null || true
  CONTROLLER_PID=
}

# audit_has [--count N] FIELD=VALUE...: an audit record in the controller's log has these fields
# (dotted paths: door=Certificate, details.reason=Renewing, issuer.kind=ClusterIssuer).
audit_has() { python3 "$E2E_DIR/audit_has.py" "$CONTROLLER_LOG" "$@"; }

# metrics: the controller's /metrics page.
metrics() { curl -fsS "http://127.0.0.1:$METRICS_PORT/metrics"; }

# ---------------------------------------------------------------------------------------------
# Pods (a plane with a node: hack/control-plane up --node)
# ---------------------------------------------------------------------------------------------

# The test image hack/image imports into the node (busybox from Debian's busybox-static).
# shellcheck disable=SC2034 # read by the scenarios
BUSYBOX_IMAGE=certwright.local/busybox:latest
NODE_NAME=

# require_node: the scenario needs pods that run; fail (never skip) when no node is Ready. A node
# may report NotReady for a moment when the machine is busy (a missed status update): wait up to
# NODE_READY_TIMEOUT seconds (default 90), and say what the nodes reported if none became Ready.
ready_node() {
  kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null |
    awk '$2 == "True" { print $1; exit }'
}
require_node() {
  local deadline=$((SECONDS + ${NODE_READY_TIMEOUT:-90})) waited=$SECONDS
  NODE_NAME=$(ready_node)
  while [ -z "$NODE_NAME" ] && ((SECONDS < deadline)); do
    sleep 1
    NODE_NAME=$(ready_node)
  done
  if [ -z "$NODE_NAME" ]; then
    note "the nodes' conditions: $(kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name}: {range .status.conditions[*]}{.type}={.status} ({.reason}: {.message}) {end}{"\n"}{end}' 2>&1)"
    abort "this scenario runs pods, and the cluster has no Ready node: start the plane with 'hack/control-plane up --node' (hack/test does)"
  fi
  if ((SECONDS > waited)); then
    note "node $NODE_NAME is Ready (after $((SECONDS - waited)) s of NotReady)"
  else
    note "node $NODE_NAME is Ready"
  fi
}

# pod_phase POD PHASE: the pod in NS is in that phase.
pod_phase() { [ "$(field "pod/$1" .status.phase)" = "$2" ]; }

# pcr_of POD: prints the name of the PodCertificateRequest kubelet made for the pod in NS.
pcr_of() {
  local name
  name=$(kubectl -n "$NS" get podcertificaterequests -o jsonpath="{range .items[?(@.spec.podName==\"$1\")]}{.metadata.name}{\"\\n\"}{end}" | head -n1)
  [ -n "$name" ] && echo "$name"
}

# sleeper_pod NAME VOLUME [SERVICEACCOUNT]: the head of a busybox Pod that sleeps with VOLUME mounted
# read-only at /VOLUME; the caller adds the volume's source lines:
#   apply < <(sleeper_pod web identity; echo "    projected: ...")
sleeper_pod() {
  cat <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  serviceAccountName: ${3:-default}
  terminationGracePeriodSeconds: 0
  containers:
  - name: main
    image: $BUSYBOX_IMAGE
    imagePullPolicy: Never
    command: [sleep, "3600"]
    volumeMounts: [{name: $2, mountPath: /$2, readOnly: true}]
  volumes:
  - name: $2
EOF
}

# podcert_pod NAME SIGNER KEY_TYPE [SERVICEACCOUNT] [FIELD=VALUE...]: a sleeper_pod with a
# podCertificate volume for SIGNER mounted at /identity (credentials.pem), the FIELDs added to the
# podCertificate source (maxExpirationSeconds=3600, userAnnotations={...}):
#   apply < <(podcert_pod web "clusterissuers.certwright.dev/$CA" ECDSAP256)
podcert_pod() {
  local name=$1 signer=$2 key_type=$3 sa=${4:-default} field
  shift 3
  (($# > 0)) && shift
  sleeper_pod "$name" identity "$sa"
  cat <<EOF
    projected:
      sources:
      - podCertificate:
          signerName: $signer
          keyType: $key_type
          credentialBundlePath: credentials.pem
EOF
  for field in "$@"; do echo "          ${field%%=*}: ${field#*=}"; done
}
