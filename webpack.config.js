// One bundle per part: the VS Code extension, the daemon with the `telepath` CLI, and the two
// in-cluster programs, which the daemon ships into the cluster as ConfigMaps (see docs/architecture.md).
'use strict';
const path = require('node:path');
const webpack = require('webpack');

/** @param {string} name @param {string} entry @param {Partial<import('webpack').Configuration>} extra */
function bundle(name, entry, extra = {}) {
  return {
    name,
    target: 'node20',
    entry: { [name]: entry },
    output: {
      path: path.resolve(__dirname, 'dist'),
      filename: '[name].js',
      libraryTarget: 'commonjs2',
    },
    devtool: 'source-map',
    resolve: {
      extensions: ['.ts', '.js'],
      // Sources import siblings as './x.js' (NodeNext style); map that to the .ts file.
      extensionAlias: { '.js': ['.ts', '.js'] },
    },
    module: {
      rules: [{ test: /\.ts$/, loader: 'esbuild-loader', options: { target: 'node20' } }],
    },
    optimization: { minimize: false },
    performance: { hints: false },
    stats: 'errors-warnings',
    ...extra,
  };
}

/** `#!/usr/bin/env -S node --`: each program runs as an executable too. */
function shebang() {
  return new webpack.BannerPlugin({ banner: '#!/usr/bin/env -S node --', raw: true, entryOnly: true });
}

module.exports = [
  bundle('extension', './extension/src/extension.ts', { externals: { vscode: 'commonjs vscode' } }),
  // The workstation's three programs (daemon/src/network/programs.ts): the CLI, which must start
  // fast and loads no daemon code; the daemon; and the root process of the network role.
  bundle('telepath', './daemon/src/user/cli/bin.ts', { plugins: [shebang()] }),
  bundle('telepathd', './daemon/src/user/daemonBin.ts', {
    // ws loads these native speed-ups only when present; it works without them. So does ssh2,
    // which the daemon uses to make each volume mount's key pair (see the agent's bundle below).
    externals: { bufferutil: 'commonjs bufferutil', 'utf-8-validate': 'commonjs utf-8-validate', 'cpu-features': 'commonjs cpu-features' },
    plugins: [shebang(), new webpack.IgnorePlugin({ resourceRegExp: /\.node$/, contextRegExp: /ssh2/ })],
  }),
  bundle('telepath-network', './daemon/src/network/networkBin.ts', { plugins: [shebang()] }),
  bundle('traffic-manager', './traffic-manager/src/main.ts'),
  bundle('traffic-agent', './traffic-agent/src/main.ts', {
    // ssh2 loads its optional native speed-ups (sshcrypto.node, cpu-features) in try/catch and
    // falls back to JavaScript; the bundle that ships in a ConfigMap carries no native code.
    externals: { 'cpu-features': 'commonjs cpu-features' },
    plugins: [new webpack.IgnorePlugin({ resourceRegExp: /\.node$/, contextRegExp: /ssh2/ })],
  }),
];
