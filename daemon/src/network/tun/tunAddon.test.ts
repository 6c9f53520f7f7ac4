import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { findTunAddon, loadTunAddon, setTunAddonDirectory, tunAddonCandidates, TUN_ADDON_ENV } from './tunAddon.js';

test('an explicit path wins, then TELEPATH_TUN_ADDON, then the addon directory', () => {
  assert.deepEqual(tunAddonCandidates('/opt/x/tun.node', { [TUN_ADDON_ENV]: '/env/tun.node' }), ['/opt/x/tun.node']);
  assert.deepEqual(tunAddonCandidates(undefined, { [TUN_ADDON_ENV]: '/env/tun.node' }), ['/env/tun.node']);
  // From the sources, the build output is found relative to this directory.
  const fromSources = tunAddonCandidates(undefined, {});
  assert.ok(fromSources.includes(path.resolve(__dirname, '../../../native/build/Release/tun.node')), fromSources.join());
});

test('from a bundle in dist/, the addon is looked for next to it and in the checkout', () => {
  setTunAddonDirectory('/srv/telepath/dist');
  try {
    assert.deepEqual(tunAddonCandidates(undefined, {}), [
      '/srv/telepath/dist/tun.node',
      '/srv/telepath/dist/native/tun.node',
      '/native/build/Release/tun.node', // the sources' candidate (daemon/src/network/tun -> daemon/native), meaningless here
      '/srv/telepath/daemon/native/build/Release/tun.node',
    ]);
  } finally {
    setTunAddonDirectory(__dirname);
  }
});

test('a missing addon is a clear error that says how to build it', () => {
  assert.equal(findTunAddon('/nonexistent/tun.node'), undefined);
  assert.throws(() => loadTunAddon('/nonexistent/tun.node'), /not found; tried \/nonexistent\/tun\.node\. Build it with daemon\/native\/build\.sh/);
});
