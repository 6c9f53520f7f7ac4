#!/usr/bin/env bash
# Builds the TUN addon into daemon/native/build/Release/tun.node without npm or network access.
#   daemon/native/build.sh            compile with cc against the running Node's headers (needs a C
#                                     compiler and Node's headers: Debian gcc + libc6-dev, and
#                                     /usr/include/node from the nodejs package or libnode-dev)
#   daemon/native/build.sh --node-gyp the same through binding.gyp with the node-gyp bundled in npm
#                                     (also needs make and python3); --nodedir keeps it offline
# NODE_INCLUDE=/path/to/include/node overrides where the headers are looked for.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
node_bin="$(command -v node)"
prefix="$(dirname "$(dirname "$(readlink -f "$node_bin")")")"

if [[ "${1:-}" == --node-gyp ]]; then
  gyp="$prefix/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"
  [[ -f "$gyp" ]] || { echo "build.sh: node-gyp not found at $gyp" >&2; exit 1; }
  cd "$here"
  exec node "$gyp" rebuild --nodedir="$prefix"
fi

include="${NODE_INCLUDE:-}"
if [[ -z "$include" ]]; then
  for dir in "$prefix/include/node" /usr/include/node /usr/local/include/node; do
    if [[ -f "$dir/node_api.h" ]]; then include="$dir"; break; fi
  done
fi
[[ -n "$include" && -f "$include/node_api.h" ]] || {
  echo "build.sh: Node's headers (node_api.h) not found; set NODE_INCLUDE or install libnode-dev" >&2
  exit 1
}
out="$here/build/Release"
mkdir -p "$out"
# The addon resolves napi_* and uv_* from the node binary when it is loaded.
"${CC:-cc}" -O2 -Wall -Wextra -Wno-unused-parameter -fPIC -fvisibility=hidden -shared \
  -DNAPI_VERSION=8 -I"$include" -o "$out/tun.node.tmp" "$here/tun.c"
mv "$out/tun.node.tmp" "$out/tun.node"
echo "build.sh: built $out/tun.node"
# A checkout that was packaged has dist/native/tun.node, which the bundle finds first: replace it
# too, or the daemon keeps loading the addon from before this build.
packaged="$here/../../dist/native/tun.node"
if [[ -f "$packaged" ]]; then
  cp "$out/tun.node" "$packaged.tmp" && mv "$packaged.tmp" "$packaged"
  echo "build.sh: and replaced dist/native/tun.node"
fi
