#!/usr/bin/env bash
# Builds the local cluster's binaries from their upstream Go modules into a cache outside the
# repository, keyed by version, so a warm run does nothing:
#   $TELEPATH_CACHE/k8s-$K8S_VERSION/bin/{kube-apiserver,kube-controller-manager,kube-scheduler,
#                                        kubelet,kube-proxy,kubectl}
#   $TELEPATH_CACHE/etcd-$ETCD_VERSION/bin/etcd
#   $TELEPATH_CACHE/coredns-$COREDNS_VERSION/bin/coredns
# Prints the three bin directories. The module zip of k8s.io/kubernetes has no staging/ tree, so
# each build goes through a small wrapper module that pins the staging modules to their release.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"
cache=${TELEPATH_CACHE:-$HOME/.cache/telepath}
export GOFLAGS="${GOFLAGS:-} -trimpath -buildvcs=false"
export CGO_ENABLED=${CGO_ENABLED:-1}
log() { echo "build: $*" >&2; }

wrapper() { # dir module-path go-source
  mkdir -p "$1"
  (cd "$1" && [ -f go.mod ] || go mod init "$2" >/dev/null 2>&1)
  printf '%s\n' "$3" >"$1/tools.go"
}

build_k8s() {
  local out=$cache/k8s-$K8S_VERSION
  local bins=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
  local missing=0 b
  for b in "${bins[@]}"; do [ -x "$out/bin/$b" ] || missing=1; done
  if [ $missing = 0 ]; then echo "$out/bin"; return; fi
  log "building Kubernetes $K8S_VERSION (cold: tens of minutes on 2 cores)"
  local w=$out/src
  rm -rf "$w"
  wrapper "$w" telepath.local/k8sbuild '//go:build tools

package tools

import (
	_ "k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	_ "k8s.io/component-base/metrics/prometheus/restclient"
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-proxy/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "k8s.io/kubernetes/cmd/kubelet/app"
	_ "k8s.io/kubectl/pkg/cmd"
	_ "k8s.io/kubectl/pkg/cmd/util"
)'
  (
    cd "$w"
    go mod download "k8s.io/kubernetes@$K8S_VERSION"
    local kmod
    kmod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
    go mod edit -require="k8s.io/kubernetes@$K8S_VERSION"
    # every staging module: replace the path-replace of upstream with the released version
    local m
    for m in $(sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$kmod"); do
      go mod edit -replace="$m=$m@$K8S_STAGING_VERSION"
    done
    go mod tidy -e >/dev/null
    local pkg ldf="-s -w"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldf+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=${K8S_VERSION#v}"
      ldf+=" -X $pkg.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2) -X $pkg.gitTreeState=clean"
      ldf+=" -X $pkg.buildDate=1970-01-01T00:00:00Z"
    done
    ldf=${ldf//gitMajor=${K8S_VERSION#v}/gitMajor=$(echo "${K8S_VERSION#v}" | cut -d. -f1)}
    mkdir -p "$out/bin.tmp"
    go build -ldflags "$ldf" -o "$out/bin.tmp/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet \
      k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kubectl
  )
  rm -rf "$out/bin" && mv "$out/bin.tmp" "$out/bin"
  echo "$out/bin"
}

build_etcd() {
  local out=$cache/etcd-$ETCD_VERSION
  if [ -x "$out/bin/etcd" ]; then echo "$out/bin"; return; fi
  log "building etcd $ETCD_VERSION"
  local w=$out/src
  rm -rf "$w"
  wrapper "$w" telepath.local/etcdbuild '//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3/etcdmain"'
  (
    cd "$w"
    local m
    for m in server/v3 api/v3 client/pkg/v3 client/v3 pkg/v3; do
      go mod edit -require="go.etcd.io/etcd/$m@$ETCD_VERSION"
    done
    go mod tidy -e >/dev/null
    mkdir -p "$out/bin.tmp"
    go build -ldflags "-s -w" -o "$out/bin.tmp/etcd" go.etcd.io/etcd/server/v3
  )
  rm -rf "$out/bin" && mv "$out/bin.tmp" "$out/bin"
  echo "$out/bin"
}

build_coredns() {
  local out=$cache/coredns-$COREDNS_VERSION
  if [ -x "$out/bin/coredns" ]; then echo "$out/bin"; return; fi
  log "building CoreDNS $COREDNS_VERSION"
  mkdir -p "$out"
  GOBIN="$out/bin.tmp" CGO_ENABLED=0 go install -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
  rm -rf "$out/bin" && mv "$out/bin.tmp" "$out/bin"
  echo "$out/bin"
}

case "${1:-all}" in
  k8s) build_k8s ;;
  etcd) build_etcd ;;
  coredns) build_coredns ;;
  all) build_etcd; build_coredns; build_k8s ;;
  *) echo "usage: build.sh [all|k8s|etcd|coredns]" >&2; exit 2 ;;
esac
