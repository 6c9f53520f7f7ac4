#!/usr/bin/env bash
# Regenerates every generated file of protocol/ from its source of truth:
#   protocol/proto/**/*.proto          -> protocol/src/gen/**.ts       (protoc + ts-proto)
#   protocol/src/daemon/daemonApi.ts   -> protocol/daemonApi.openrpc.json
# The output is committed, so building Telepath never needs protoc; protocol/src/generated.test.ts
# fails when it is stale.
#
#   scripts/genProto.sh             write into the repository
#   scripts/genProto.sh --out DIR   write the same tree under DIR instead (used by the test)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root"
if [[ "${1:-}" == "--out" && -n "${2:-}" ]]; then
  out="$(mkdir -p "$2" && cd "$2" && pwd)"
elif [[ $# -gt 0 ]]; then
  echo "usage: scripts/genProto.sh [--out DIR]" >&2
  exit 2
fi

protoc="${PROTOC:-protoc}"
command -v "$protoc" >/dev/null || { echo "genProto: protoc not found (apt-get install protobuf-compiler)" >&2; exit 3; }

# Options, and why:
#   outputServices=grpc-js       service definitions and client constructors for @grpc/grpc-js
#   (env left at its default)    bytes are Uint8Arrays: decode then returns views into the received
#                                buffer, where env=node would copy every payload into a new Buffer
#   outputJsonMethods=to-only    toJSON for logs; no fromJSON(object: any), nothing parses proto JSON
#   useOptionals=messages        message fields are `field?:`, so literals need not spell out undefined
#   oneof=unions-value           oneofs become { $case, value } unions that narrow in a switch
#   forceLong=number             no 64-bit fields today; if one comes, it must fit 2^53
#   removeEnumPrefix=true        Protocol.TCP rather than Protocol.PROTOCOL_TCP
#   importSuffix=.js             imports look like the rest of the tree ('./x.js')
#   annotateFilesWithVersion=false  output depends on the .proto only, so the staleness test is
#                                   stable across protoc builds
opts="outputServices=grpc-js,esModuleInterop=true,useOptionals=messages,oneof=unions-value,outputJsonMethods=to-only"
opts="$opts,forceLong=number,removeEnumPrefix=true,importSuffix=.js,annotateFilesWithVersion=false"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cd "$root/protocol/proto"
mapfile -t protos < <(find . -name '*.proto' | sed 's|^\./||' | LC_ALL=C sort)
"$protoc" \
  --plugin=protoc-gen-ts_proto="$root/node_modules/.bin/protoc-gen-ts_proto" \
  --ts_proto_out="$tmp" --ts_proto_opt="$opts" \
  -I . "${protos[@]}"

# Replace the whole folder so that a deleted .proto leaves no orphan behind.
mkdir -p "$out/protocol/src"
rm -rf "$out/protocol/src/gen"
mv "$tmp" "$out/protocol/src/gen"
chmod -R u=rwX,go=rX "$out/protocol/src/gen"
trap - EXIT

cd "$root"
node --import tsx protocol/src/daemon/writeApiDocument.ts "$out/protocol/daemonApi.openrpc.json"
