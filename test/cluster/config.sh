# Writes the node's configuration files into $STATE/config (sourced by up).
write_configs() {
  local c=$STATE/config any=0.0.0.0/0 proxy_bind=
  if [ "$IP_FAMILY" = 6 ]; then
    any=::/0
    # kube-proxy takes its primary IP family from this address: IPv6 for a single-stack IPv6 node.
    proxy_bind="bindAddress: \"$NODE_IP\""
  fi
  mkdir -p "$c" "$STATE/cni/net.d" "$STATE/ws"

  cat >"$c/containerd.toml" <<TOML
version = 2
root = "$STATE/containerd"
state = "$RUN/containerd"
[grpc]
  address = "$RUN/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  # root here cannot lower oom_score_adj (no CAP_SYS_RESOURCE); see shared/notes/local-cluster.md
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
TOML

  cat >"$STATE/cni/net.d/10-telepath.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "telepath-pods",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$STATE/cni/ipam",
        "ranges": [[{ "subnet": "$NODE_POD_CIDR" }]],
        "routes": [{ "dst": "$any" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } },
    { "type": "loopback" }
  ]
}
JSON

  # No nameserver outside the cluster: pods with dnsPolicy Default resolve nothing.
  printf '# the local test node has no upstream resolver\nsearch .\n' >"$c/node-resolv.conf"

  cat >"$c/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$STATE/pki/ca.crt"}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
# every pod cgroup lives under /telepath in each hierarchy, so down removes exactly those
cgroupRoot: /telepath
containerRuntimeEndpoint: "unix://$RUN/containerd.sock"
failSwapOn: false
oomScoreAdj: 0
# The pause image cannot be pulled again once collected (no registry): never collect images.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
clusterDNS: ["$DNS_SVC_IP"]
clusterDomain: cluster.local
resolvConf: "$c/node-resolv.conf"
podLogsDir: "$STATE/pod-logs"
healthzBindAddress: 127.0.0.1
healthzPort: 10248
serializeImagePulls: false
rotateCertificates: false
serverTLSBootstrap: false
syncFrequency: 10s
fileCheckFrequency: 10s
nodeStatusReportFrequency: 10s
YAML

  cat >"$c/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$c/kube-proxy.kubeconfig"}
mode: iptables
clusterCIDR: "$POD_CIDR"
hostnameOverride: "$NODE_NAME"
oomScoreAdj: 0
# leave the (namespace-shared) conntrack sysctls alone
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false}
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
YAML
  [ -z "$proxy_bind" ] || echo "$proxy_bind" >>"$c/kube-proxy.yaml"

  local w
  for w in ws ws2; do
    mkdir -p "$STATE/$w"
    [ -f "$STATE/$w/resolv.conf" ] ||
      printf '# the workstation namespace has no resolver until a test or Telepath provides one\nnameserver 127.0.0.1\n' \
        >"$STATE/$w/resolv.conf"
  done
}
