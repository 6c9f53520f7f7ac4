# Shared settings and helpers of the local cluster harness (sourced by up, down, status, ws).
# Everything lives in two network namespaces that these scripts create:
#   tp-node  the node: etcd, the control plane, containerd, kubelet, kube-proxy and the pods;
#            its only way out is a veth whose peer is down, so nothing leaves the machine.
#   tp-ws    the "workstation": a veth to the node that reaches the API server and nothing else.
# Node-side processes also share one private mount namespace, so every mount they make (overlay
# rootfs, volume tmpfs, pod netns handles) disappears with them.
set -euo pipefail

CLUSTER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$CLUSTER_DIR/../.." && pwd)
. "$CLUSTER_DIR/build/versions.sh"

STATE=$REPO/.cluster                 # kubeconfig, kubectl, pki, logs, data (git-ignored)
RUN=/run/telepath-cluster            # sockets, pid files, namespace handles
# A service manager or `env -i` may start us without HOME; the caches, Go and npm all need it.
[ -n "${HOME:-}" ] || { HOME=$(getent passwd "$(id -u)" | cut -d: -f6); export HOME; }
CACHE=${TELEPATH_CACHE:-$HOME/.cache/telepath}
NODE_NS=tp-node
WS_NS=tp-ws
WS2_NS=tp-ws2                        # a second workstation (issue 16): two laptops at once
NODE_NAME=tp-node
# cluster_addresses PROFILES: the addresses of a cluster started with these profiles. The default
# is IPv4 throughout; the profile ipv6 makes every one of them IPv6 (single stack): unique local
# addresses for the links, the service and the pod ranges.
cluster_addresses() {
  if [[ ",${1:-}," == *,ipv6,* ]]; then
    IP_FAMILY=6
    NODE_IP=fd00:250::1              # node end of the workstation link; the API server's address
    WS_IP=fd00:250::2
    WS2_NODE_IP=fd00:250:0:1::1      # node end of the second workstation's link
    WS2_IP=fd00:250:0:1::2
    LINK_PREFIX=64
    POD_CIDR=fd00:10:244::/56
    NODE_POD_CIDR=fd00:10:244::/64   # the first /64 of POD_CIDR, as the controller-manager allocates it
    NODE_CIDR_MASK=64
    SERVICE_CIDR=fd00:10:96::/112    # IPv6 service ranges may be no wider than /108
    KUBERNETES_SVC_IP=fd00:10:96::1
    DNS_SVC_IP=fd00:10:96::a
    APISERVER="https://[$NODE_IP]:6443"
    APISERVER_CERT=apiserver-ipv6    # its own: certificates are made once, and the default's has no IPv6 SAN
  else
    IP_FAMILY=4
    NODE_IP=10.250.0.1               # node end of the workstation link; the API server's address
    WS_IP=10.250.0.2
    WS2_NODE_IP=10.250.0.5           # node end of the second workstation's link
    WS2_IP=10.250.0.6
    LINK_PREFIX=30
    POD_CIDR=10.244.0.0/16
    NODE_POD_CIDR=10.244.0.0/24
    NODE_CIDR_MASK=24
    SERVICE_CIDR=10.96.0.0/16
    KUBERNETES_SVC_IP=10.96.0.1
    DNS_SVC_IP=10.96.0.10
    APISERVER=https://$NODE_IP:6443
    APISERVER_CERT=apiserver
  fi
}
# Those of the running cluster (up sets them again for the profiles it was asked for).
cluster_addresses "$(cat "$RUN/profile" 2>/dev/null || true)"
KUBECONFIG_ADMIN=$STATE/kubeconfig
KUBECONFIG_ADMIN2=$STATE/kubeconfig-ws2  # the second workstation's user (telepath-admin2)
MNT_NS=$RUN/ns/mnt                   # the node's mount namespace
WS_MNT_NS=$RUN/ns/ws-mnt             # the workstation's (own /etc/resolv.conf)
WS2_MNT_NS=$RUN/ns/ws2-mnt           # the second workstation's (its own resolv.conf and /run/telepath)

K8S_BIN=$CACHE/k8s-$K8S_VERSION/bin
ETCD_BIN=$CACHE/etcd-$ETCD_VERSION/bin
COREDNS_BIN=$CACHE/coredns-$COREDNS_VERSION/bin

log() { printf '%s cluster: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Every command that ends a script through `set -e` says so on stderr: the step it was in (step
# NAME), the command, its exit status, and the script and line. The callers hide stdout (demo, CI's
# prepare), and a silent exit 1 told a user on a fresh machine nothing (issue 12). -E carries the
# trap into functions; only the script's own process reports (a failure inside $(...) or ( ... )
# is reported once, as the command that contains it).
CURRENT_STEP=""
step() { CURRENT_STEP=$*; log "$*"; }
on_error() { # status line command
  [ "$BASHPID" = "$$" ] || return "$1"
  trap - ERR
  log "error: ${CURRENT_STEP:+while $CURRENT_STEP: }'$3' exited $1 (${BASH_SOURCE[1]#"$REPO"/}:$2)"
  exit "$1"
}
set -E
trap 'on_error $? $LINENO "$BASH_COMMAND"' ERR

need_root() { [ "$(id -u)" = 0 ] || die "the local cluster needs root (network namespaces, containerd, kubelet); run as root"; }

# Runs a command inside the node (its network and mount namespaces).
in_node() { nsenter --net=/run/netns/$NODE_NS --mount=$MNT_NS -- "$@"; }

# Runs a command in the workstation namespace with the admin kubeconfig and kubectl on PATH.
in_ws() {
  nsenter --net=/run/netns/$WS_NS --mount=$WS_MNT_NS --wd="$PWD" -- \
    env KUBECONFIG="${KUBECONFIG_WS:-$KUBECONFIG_ADMIN}" PATH="$STATE/bin:$PATH" "$@"
}

kubectl_node() { in_node "$K8S_BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

pid_alive() { [ -f "$RUN/pids/$1" ] && kill -0 "$(cat "$RUN/pids/$1")" 2>/dev/null; }

# Starts a long-running node process in the background, logging to $STATE/logs/NAME.log.
start_node_proc() {
  local name=$1; shift
  if pid_alive "$name"; then return; fi
  mkdir -p "$RUN/pids" "$STATE/logs"
  setsid nsenter --net=/run/netns/$NODE_NS --mount=$MNT_NS -- "$@" \
    >>"$STATE/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/pids/$name"
}

# Waits until a command succeeds; prints the last output on timeout.
wait_for() {
  local what=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs)) out
  while ! out=$("$@" 2>&1); do
    if ((SECONDS >= deadline)); then
      log "timed out after ${secs}s waiting for $what: $out"
      return 1
    fi
    sleep 0.5
  done
}
