#!/usr/bin/env bash
# Packs the VS Code extension into dist/telepath-<version>.vsix with @vscode/vsce, from the bundles
# `npm run build` made (it does not build them). What goes in is listed in .vscodeignore: the four
# bundles, the TUN addon and the manifest; no node_modules (--no-dependencies), no sources, no maps.
#   scripts/package.sh          prints the .vsix path on stdout, vsce's output on stderr
# The daemon (dist/telepathd.js) and the network role (dist/telepath-network.js) find the addon next to itself as dist/native/tun.node (see
# daemon/src/network/tun/tunAddon.ts), so it is copied there from daemon/native/build/Release.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
die() { echo "package: $*" >&2; exit 1; }

for f in extension telepath telepathd telepath-network traffic-manager traffic-agent; do
  [ -f "dist/$f.js" ] || die "dist/$f.js is missing: run npm run build first"
done
addon=daemon/native/build/Release/tun.node
[ -f "$addon" ] || die "$addon is missing: run daemon/native/build.sh first"
mkdir -p dist/native
cp "$addon" dist/native/tun.node

version="$(node -p 'require("./package.json").version')"
out="dist/telepath-$version.vsix"
rm -f "$out"
# No LICENSE file and no `repository` in package.json yet: without these flags vsce asks y/N
# questions (and fails when nobody answers). README links are relative to the repository; vsce
# would otherwise want a repository URL to rewrite them.
flags=(--no-dependencies --no-rewrite-relative-links --allow-missing-repository)
[ -f LICENSE ] || flags+=(--skip-license)
node_modules/.bin/vsce package "${flags[@]}" --out "$out" </dev/null >&2

# Every file the manifest names (main, icons, schemas, ...) must have made it past .vscodeignore.
unzip -Z1 "$out" | node -e '
  const entries = new Set(require("node:fs").readFileSync(0, "utf8").split("\n"));
  const p = require("./package.json");
  const named = [];
  (function walk(v) {
    if (typeof v === "string") {
      if (/^(\.\/)?[\w.\/-]+\.(js|json|png|svg|jpg|gif|md|node)$/.test(v) && !/^https?:/.test(v)) named.push(v);
    } else if (v && typeof v === "object") Object.values(v).forEach(walk);
  })([p.main, p.icon, p.contributes]);
  const missing = named.filter((f) => !entries.has("extension/" + require("node:path").posix.normalize(f)));
  if (missing.length) {
    console.error("package: the .vsix lacks files package.json names: " + missing.join(", ") + " (see .vscodeignore)");
    process.exit(1);
  }
'
echo "$root/$out"
