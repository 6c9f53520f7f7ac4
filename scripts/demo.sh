#!/usr/bin/env bash
# npm run demo: works on a fresh clone — test/cluster/up installs what is missing (Debian
# packages, npm packages, the Kubernetes binaries, images) and starts the local cluster; then
# scripts/demo.ts shows an intercept end to end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# up's stdout (the kubeconfig's path) is not for the demo's reader; its progress and, on failure,
# the step that failed and why go to stderr.
bash test/cluster/up >/dev/null || {
  status=$?
  echo "demo: the local cluster did not come up (test/cluster/up exited $status; the line above says where); its components' logs are in .cluster/logs/" >&2
  exit $status
}
exec node --import tsx scripts/demo.ts "$@"
