#!/usr/bin/env bash
# Installs what the editor tests (test/e2e) run on: code-server (a real VS Code served to a browser,
# from the npm registry) and Debian's headless Chromium. No download outside the package registries:
# native modules are built from source and @vscode/ripgrep's GitHub download is served from a cache
# pre-filled with Debian's `rg`. As root (apt-get; code-server's postinstall).
#   scripts/installCodeServer.sh     install if missing (seconds when present); prints the
#                                    code-server binary's path on stdout, logs on stderr
# TELEPATH_CACHE (default ~/.cache/telepath) is where it goes: $TELEPATH_CACHE/code-server-<version>.
set -euo pipefail

# 4.100.3 is VS Code 1.100.3, the newest code-server that installs on Node 20 (4.103+ need Node 22).
CODE_SERVER_VERSION=4.100.3
# What that release's lib/vscode/npm-shrinkwrap.json pins, and the asset its postinstall fetches.
RIPGREP_NPM_VERSION=1.15.11
RIPGREP_ASSET=ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz

cache="${TELEPATH_CACHE:-$HOME/.cache/telepath}"
dest="$cache/code-server-$CODE_SERVER_VERSION"
bin="$dest/node_modules/.bin/code-server"
log() { printf '%s code-server: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

debs=(chromium ripgrep unzip gcc g++ make python3 pkg-config libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ -f "$dest/.installed" ] && [ -x "$bin" ] && [ ${#missing[@]} -eq 0 ]; then
  echo "$bin"
  exit 0
fi
[ "$(id -u)" = 0 ] || die "installing code-server needs root (apt-get, and code-server's postinstall); run as root"

if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -f "$dest/.installed" ] || [ ! -x "$bin" ]; then
  [ "$(node -p 'process.versions.node.split(".")[0]')" = 20 ] || die "code-server $CODE_SERVER_VERSION needs Node 20 (found $(node -v))"
  t0=$SECONDS
  log "installing code-server $CODE_SERVER_VERSION into $dest (about a minute)"
  stage="$dest.partial"
  rm -rf "$stage"
  mkdir -p "$stage/tmp"
  # @vscode/ripgrep's postinstall looks in $TMPDIR/vscode-ripgrep-cache-<its version>/ before it
  # asks GitHub; a tarball with Debian's rg at its root is what it unpacks from there.
  rgcache="$stage/tmp/vscode-ripgrep-cache-$RIPGREP_NPM_VERSION"
  mkdir -p "$rgcache"
  tar -czf "$rgcache/$RIPGREP_ASSET" -C "$(dirname "$(readlink -f "$(command -v rg)")")" rg
  node_prefix="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
  (
    export TMPDIR="$stage/tmp"
    # code-server's postinstall refuses root without unsafe_perm; yes=true lets an npx inside
    # node-pty's install proceed (an npmrc with yes=false cancels it).
    export npm_config_unsafe_perm=true npm_config_yes=true
    # node-gyp builds against the running Node's headers instead of downloading them.
    if [ -z "${npm_config_nodedir:-}" ] && [ -f "$node_prefix/include/node/common.gypi" ]; then
      export npm_config_nodedir="$node_prefix"
    fi
    # A plain install into a project of its own: with --global --prefix, npm hands the prefix to
    # the postinstall's own `npm install` in lib/vscode, which then installs into the wrong tree.
    cd "$stage"
    echo '{ "private": true }' >package.json
    npm install --no-audit --no-fund --no-save --loglevel=error \
      "code-server@$CODE_SERVER_VERSION" >"$stage/install.log" 2>&1
  ) || { tail -40 "$stage/install.log" >&2; die "npm install failed; full log in $stage/install.log"; }
  # Without --config, any code-server invocation writes a password config into ~/.config.
  printf 'auth: none\ncert: false\n' >"$stage/tmp/config.yaml"
  "$stage/node_modules/.bin/code-server" --config "$stage/tmp/config.yaml" --version >/dev/null || die "the installed code-server does not start"
  rm -rf "$stage/tmp"
  echo "$CODE_SERVER_VERSION" >"$stage/.installed"
  rm -rf "$dest"
  mv "$stage" "$dest"
  log "installed in $((SECONDS - t0))s ($(du -sm "$dest" | cut -f1) MB)"
fi
echo "$bin"
