# shellcheck shell=bash
# hack/lib/node.sh: the local plane's node (kubelet + containerd + runc + kube-proxy), sourced
# by hack/control-plane for `up --node`, `down`, `status`. See docs/control-plane.md, "The node".
#
# One node per machine: kubelet and containerd write a few machine-wide paths (below), and the
# node's bridge has one fixed name and subnet. `up --node` refuses when another plane's node runs.
#
# Network, all on one Linux bridge that only this machine's own processes reach:
#   certwright0      10.244.0.1/24: the node's address (kubelet's InternalIP) and the gateway of
#                    the pods, which containerd's CNI bridge plugin puts on 10.244.0.0/24.
#                    kube-apiserver binds this address in node mode (not 127.0.0.1), so pods
#                    reach it; its `kubernetes` Service endpoint is this address (lease endpoint
#                    reconciler), and kube-proxy (iptables mode) routes ClusterIPs, so pods use
#                    the in-cluster config as in any cluster (10.0.0.1:443), and kube-apiserver
#                    reaches webhook Services by their ClusterIP.
#   No cluster DNS: pods get the machine's resolv.conf (kubelet's ClusterDNS is unset).

NODE_NAME=certwright-node
NODE_BRIDGE=certwright0
NODE_IP=10.244.0.1
POD_CIDR=10.244.0.0/24
# The pause image containerd runs as every pod's sandbox (built by hack/image, no registry).
PAUSE_IMAGE=registry.k8s.io/pause:3.10
# Who owns the machine's node: the state dir of the plane whose node runs.
NODE_OWNER_FILE=/run/certwright-node.owner
# The machine-wide paths kubelet and containerd 1.6 use whatever their root dirs are.
NODE_SYSTEM_DIRS=(/var/lib/kubelet/device-plugins /var/lib/kubelet /var/log/containers /run/containerd/s
  /run/containerd/runc/k8s.io /run/containerd/runc /run/containerd/fifo /run/containerd)
# The iptables chains kubelet makes for itself (kube-proxy's own go with `kube-proxy --cleanup`).
KUBELET_CHAINS=(KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT)
# Sysctls the node needs, restored on down: forwarding between the bridge's pods (a ClusterIP
# that kube-proxy DNATs to another pod leaves the host again), and iptables on bridged traffic
# (kube-proxy's rules must see pod-to-pod Service traffic on the same bridge).
NODE_SYSCTLS=(net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1)

NODE=$STATE/node

node_mode() { [[ -f $STATE/node-mode ]]; }

# ensure_node_runtime installs what the node needs from Debian's packages when missing:
#   containerd 1.6 + runc: the container runtime kubelet drives through CRI (Debian's
#     packages; kubelet 1.37 still accepts containerd 1.6, see docs/control-plane.md);
#   containernetworking-plugins: the CNI bridge, host-local and loopback plugins for pod IPs;
#   iptables, conntrack: kube-proxy's Service routing;
#   busybox-static, gcc: hack/image's test and pause images.
ensure_node_runtime() {
  local missing=() c
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v conntrack >/dev/null || missing+=(conntrack)
  [[ -x /bin/busybox ]] || missing+=(busybox-static)
  ((${#missing[@]} == 0)) && return 0
  ((EUID == 0)) || die "the node needs ${missing[*]} (Debian packages) and root to install them"
  log "installing the node's runtime from Debian: ${missing[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
    die "apt-get install ${missing[*]} failed"
  for c in containerd runc iptables conntrack; do command -v "$c" >/dev/null || die "$c is still missing"; done
}

node_preflight() {
  ((EUID == 0)) || die "the node (kubelet, containerd) must run as root"
  local owner
  if [[ -f $NODE_OWNER_FILE ]]; then
    owner=$(<"$NODE_OWNER_FILE")
    if [[ $owner != "$STATE" && -f $owner/node-mode ]] &&
      STATE=$owner pid_of kubelet >/dev/null 2>&1; then
      die "the plane in $owner runs this machine's node (one node per machine); stop it first:" \
        "CERTWRIGHT_CP_DIR=$owner $0 down"
    fi
  fi
  if ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
    log "removing a stale $NODE_BRIDGE bridge (no running node owns it)"
    ip link del "$NODE_BRIDGE"
  fi
  ensure_node_runtime
}

# node_network creates the bridge with the node's address (before kube-apiserver binds it) and
# sets the sysctls, saving their old values for down.
node_network() {
  mkdir -p "$NODE"
  printf '%s\n' "$STATE" >"$NODE_OWNER_FILE"
  ip link add "$NODE_BRIDGE" type bridge
  ip addr add "$NODE_IP/24" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up
  local kv key value
  : >"$NODE/sysctl.saved"
  for kv in "${NODE_SYSCTLS[@]}"; do
    key=${kv%%=*} value=${kv#*=}
    printf '%s=%s\n' "$key" "$(sysctl -n "$key")" >>"$NODE/sysctl.saved"
    sysctl -q -w "$key=$value" >/dev/null
  done
  # The address appears once the bridge is up; kube-apiserver cannot bind it before.
  local i
  for ((i = 0; i < 50; i++)); do
    ip -4 addr show dev "$NODE_BRIDGE" | grep -q "inet $NODE_IP/" && return 0
    sleep 0.1
  done
  die "$NODE_IP did not appear on $NODE_BRIDGE"
}

# The node's certificates, from the plane's CA: its client certificate (the Node authorizer and
# NodeRestriction know the node by CN=system:node:<name>, O=system:nodes), its serving
# certificate (kube-apiserver checks it for logs and exec), kube-apiserver's client certificate
# for the kubelet, and the scheduler's and kube-proxy's client certificates (the bootstrap RBAC
# policy's system:kube-scheduler and system:kube-proxy users).
node_pki() {
  cat >>"$PKI/openssl.cnf" <<EOF
[kubelet-serving]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = IP:$NODE_IP, DNS:$NODE_NAME
EOF
  issue kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" client
  issue kubelet-serving "/CN=$NODE_NAME" kubelet-serving
  issue apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" client
  issue kube-scheduler "/CN=system:kube-scheduler" client
  issue kube-proxy "/CN=system:kube-proxy" client
}

node_kubeconfigs() {
  write_kubeconfig "$STATE/kubelet.kubeconfig" "system:node:$NODE_NAME" kubelet
  write_kubeconfig "$STATE/kube-scheduler.kubeconfig" system:kube-scheduler kube-scheduler
  write_kubeconfig "$STATE/kube-proxy.kubeconfig" system:kube-proxy kube-proxy
}

# The extra kube-apiserver flags of node mode (start_apiserver reads NODE_APISERVER_ARGS).
# shellcheck disable=SC2034,SC2054 # the commas are part of the flag values
node_apiserver_args() {
  NODE_APISERVER_ARGS=(
    --enable-admission-plugins=NodeRestriction
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt"
    --kubelet-client-key="$PKI/apiserver-kubelet-client.key"
    --kubelet-certificate-authority="$PKI/ca.crt"
    --kubelet-preferred-address-types=InternalIP,Hostname
  )
}

scheduler_healthy() { [[ $(curl -fsSk --max-time 5 "https://127.0.0.1:$SCHEDULER_PORT/healthz") == ok ]]; }

start_scheduler() {
  local kubeconfig=$STATE/kube-scheduler.kubeconfig
  start kube-scheduler "$KUBE_BIN/kube-scheduler" \
    --kubeconfig="$kubeconfig" \
    --authentication-kubeconfig="$kubeconfig" --authorization-kubeconfig="$kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" --leader-elect=false
  wait_for kube-scheduler "/healthz ok" scheduler_healthy
}

# containerd with everything under the state dir but what 1.6 keeps machine-wide (its shims'
# sockets in /run/containerd/s). restrict_oom_score_adj: this VM lacks CAP_SYS_RESOURCE, and
# without it runc fails every sandbox ("can't get final child's PID from pipe: EOF").
write_containerd_config() {
  mkdir -p "$NODE"/{containerd/root,containerd/state,containerd/opt,cni,cni-ipam}
  cat >"$NODE/containerd.toml" <<EOF
version = 2
root = "$NODE/containerd/root"
state = "$NODE/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$NODE/containerd.sock"
[ttrpc]
  address = "$NODE/containerd.sock.ttrpc"
[debug]
  address = "$NODE/containerd-debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$NODE/containerd/opt"
[plugins."io.containerd.gc.v1.scheduler"]
  pause_threshold = 0.02
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  enable_unprivileged_ports = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
EOF
  # The pods' network: the bridge above, host-local addresses, no masquerading (nothing beyond
  # this machine is reachable anyway), hairpin so a pod reaches itself through its Service.
  cat >"$NODE/cni/10-certwright.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "certwright",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$NODE_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$NODE/cni-ipam",
        "ranges": [[{"subnet": "$POD_CIDR", "rangeStart": "10.244.0.10", "gateway": "$NODE_IP"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
EOF
}

ctr_node() { ctr --address "$NODE/containerd.sock" -n k8s.io "$@"; }
containerd_ready() { ctr --address "$NODE/containerd.sock" version; }

start_containerd() {
  write_containerd_config
  start containerd containerd --config "$NODE/containerd.toml" --log-level warn
  wait_for containerd "its socket answering" containerd_ready
  log "importing the pause and busybox images (hack/image) into the node's containerd"
  "$HACK_DIR/image" import --address "$NODE/containerd.sock" pause busybox >>"$STATE/logs/image.log" 2>&1 ||
    die "hack/image import failed; see $STATE/logs/image.log"
}

# kube-proxy in iptables mode, told not to touch the machine beyond its own chains: no
# conntrack sysctls, NodePorts only on the node's bridge address, none on localhost (that
# would set route_localnet).
start_kube_proxy() {
  cat >"$NODE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $STATE/kube-proxy.kubeconfig
mode: iptables
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:$PROXY_HEALTHZ_PORT
metricsBindAddress: 127.0.0.1:$PROXY_METRICS_PORT
nodePortAddresses: ["$NODE_IP/32"]
iptables:
  localhostNodePorts: false
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
EOF
  # Its /healthz says ok once it has synced its rules for the Node, which kubelet registers:
  # start_node waits for it after kubelet.
  start kube-proxy "$KUBE_BIN/kube-proxy" --config="$NODE/kube-proxy.yaml"
}
proxy_healthy() { curl -fsS --max-time 5 "http://127.0.0.1:$PROXY_HEALTHZ_PORT/healthz"; }

start_kubelet() {
  mkdir -p "$NODE"/{kubelet,pod-logs}
  cat >"$NODE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$NODE/containerd.sock
podLogsDir: $NODE/pod-logs
# This machine has no systemd, and cgroup v1 (kubelet 1.35+ refuses v1 unless told).
cgroupDriver: cgroupfs
failCgroupV1: false
clusterDomain: cluster.local
# Images come from hack/image, never a registry: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
# Evict only when the machine is nearly full (a test machine's disk is shared).
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  imagefs.available: 1%
  nodefs.inodesFree: 1%
maxPods: 110
serializeImagePulls: false
EOF
  # Restarted when it exits, as systemd restarts a node's kubelet (hack/lib/supervise says why).
  start kubelet "$HACK_DIR/lib/supervise" 2 "$KUBE_BIN/kubelet" \
    --config="$NODE/kubelet.yaml" --kubeconfig="$STATE/kubelet.kubeconfig" \
    --root-dir="$NODE/kubelet" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP"
  wait_for kubelet "/healthz ok" kubelet_healthy
  wait_for kubelet "Node $NODE_NAME Ready" node_ready
}
kubelet_healthy() { [[ $(curl -fsS --max-time 5 "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz") == ok ]]; }
node_ready() {
  [[ $(curl_api "/api/v1/nodes/$NODE_NAME" | python3 -c '
import json, sys
node = json.load(sys.stdin)
print(next((c["status"] for c in node["status"].get("conditions", []) if c["type"] == "Ready"), ""))') == True ]]
}

# start_node starts scheduler, containerd, kube-proxy and kubelet (kube-apiserver and
# kube-controller-manager run already).
start_node() {
  log "starting kube-scheduler"
  start_scheduler
  log "starting containerd ($NODE/containerd.sock)"
  start_containerd
  log "starting kube-proxy (iptables)"
  start_kube_proxy
  log "starting kubelet ($NODE_NAME, $NODE_IP:$KUBELET_PORT)"
  start_kubelet
  wait_for kube-proxy "/healthz ok" proxy_healthy
  log "node $NODE_NAME Ready"
}

# stop_node undoes start_node and node_network: the pods first, through kubelet (so CNI
# releases their addresses and the sandboxes' network namespaces go), then every container
# still left, containerd and its shims, kube-proxy's iptables rules, the mounts under the state
# dir, the bridge, the sysctls and the machine-wide directories kubelet and containerd made.
stop_node() {
  [[ -d $NODE ]] || return 0
  local pid i
  stop kube-scheduler
  stop kube-controller-manager
  if pid_of kubelet >/dev/null && pid_of kube-apiserver >/dev/null; then
    "$KUBE_BIN/kubectl" --kubeconfig "$STATE/kubeconfig" delete pods --all --all-namespaces \
      --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
    for ((i = 0; i < 150; i++)); do
      [[ -z $(ctr_node tasks ls -q 2>/dev/null) ]] && break
      sleep 0.2
    done
  fi
  stop kubelet
  if pid_of containerd >/dev/null; then
    local id
    for id in $(ctr_node tasks ls -q 2>/dev/null); do
      ctr_node tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
    done
    for ((i = 0; i < 50; i++)); do
      [[ -z $(ctr_node tasks ls -q 2>/dev/null) ]] && break
      sleep 0.1
    done
  fi
  stop containerd
  # Shims outlive containerd by design; ours name our socket on their command line.
  for pid in $(pgrep -f "containerd-shim.*-address $NODE/containerd.sock" || true); do
    kill -KILL "$pid" 2>/dev/null || true
  done
  if pid_of kube-proxy >/dev/null; then
    stop kube-proxy
    "$KUBE_BIN/kube-proxy" --cleanup --config="$NODE/kube-proxy.yaml" >>"$STATE/logs/kube-proxy.log" 2>&1 || true
  fi
  node_remove_kubelet_chains
  node_unmount
  ip link del "$NODE_BRIDGE" 2>/dev/null || true
  if [[ -f $NODE/sysctl.saved ]]; then
    local key value
    while IFS='=' read -r key value; do
      if [[ -n $key && $value =~ ^[0-9]+$ ]]; then sysctl -q -w "$key=$value" >/dev/null 2>&1 || true; fi
    done <"$NODE/sysctl.saved"
  fi
  node_clean_system_dirs
  [[ -f $NODE_OWNER_FILE && $(<"$NODE_OWNER_FILE") == "$STATE" ]] && rm -f "$NODE_OWNER_FILE"
  node_remove_cgroups
}

# node_unmount unmounts everything mounted under the state dir (pods' volumes, containerd's
# rootfs and network namespaces), deepest first.
node_unmount() {
  local m
  while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done < <(awk -v p="$STATE/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
}

# node_clean_system_dirs removes what kubelet and containerd left in the machine-wide paths:
# our pods' log links, and the directories, when they are empty and were made by our node.
node_clean_system_dirs() {
  local link d
  for link in /var/log/containers/*.log; do
    [[ -L $link && $(readlink "$link") == "$NODE/"* ]] && rm -f "$link"
  done
  [[ -f $NODE/system-dirs.made ]] || return 0
  while read -r d; do
    [[ -n $d ]] || continue
    [[ $d == /var/lib/kubelet/device-plugins ]] && rm -f "$d/kubelet.sock" "$d/kubelet_internal_checkpoint"
    rmdir "$d" 2>/dev/null || true
  done <"$NODE/system-dirs.made"
}

# node_record_system_dirs notes which of the machine-wide directories do not exist yet, so that
# down removes only those.
node_record_system_dirs() {
  local d
  : >"$NODE/system-dirs.made"
  for d in "${NODE_SYSTEM_DIRS[@]}"; do [[ -e $d ]] || printf '%s\n' "$d" >>"$NODE/system-dirs.made"; done
}

# node_remove_cgroups removes the empty cgroups kubelet made for pods (cgroupfs driver: a
# kubepods tree in every v1 hierarchy, or in the v2 root).
node_remove_cgroups() {
  local root
  for root in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [[ -d $root ]] || continue
    find "$root" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

# node_remove_kubelet_chains deletes kubelet's own iptables chains and the rules that jump to
# them, in every table, for IPv4 and IPv6.
node_remove_kubelet_chains() {
  local cmd table chain rule
  for cmd in iptables ip6tables; do
    command -v "$cmd" >/dev/null || continue
    for table in filter nat mangle; do
      for chain in "${KUBELET_CHAINS[@]}"; do
        "$cmd" -t "$table" -S "$chain" >/dev/null 2>&1 || continue
        while read -r rule; do
          # shellcheck disable=SC2086 # a rule from -S is split into its words on purpose
          "$cmd" -t "$table" ${rule/#-A/-D} 2>/dev/null || true
        done < <("$cmd" -t "$table" -S 2>/dev/null | grep -e "^-A [A-Z]* .*-j $chain\$" || true)
        "$cmd" -t "$table" -F "$chain" 2>/dev/null || true
        "$cmd" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}
