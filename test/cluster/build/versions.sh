# Versions of the local test cluster's parts. Sourced by build.sh and the harness.
# Kubernetes 1.34 is the newest release that runs on cgroup v1 without an opt-out
# (1.35 needs failCgroupV1: false) and still speaks CRI v1 to containerd 1.6.
K8S_VERSION=v1.34.4
K8S_STAGING_VERSION=v0.34.4
ETCD_VERSION=v3.6.16
COREDNS_VERSION=v1.12.4
