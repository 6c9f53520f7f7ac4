#!/usr/bin/env bash
# npm run demo: works on a fresh clone — test/cluster/up installs what is missing (Debian
# packages, npm packages, the Kubernetes binaries, images) and starts the local cluster; then
# scripts/demo.ts shows an intercept end to end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash test/cluster/up >/dev/null
exec node --import tsx scripts/demo.ts "$@"
