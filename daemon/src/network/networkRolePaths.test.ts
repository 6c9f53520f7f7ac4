import assert from 'node:assert/strict';
import { test } from 'node:test';
import { daemonPaths } from '../../../common/src/daemonPaths.js';
import { networkRolePaths } from './networkRolePaths.js';

test("the network role's places are root's, and its journal is not the root daemon's", () => {
  const p = networkRolePaths({});
  assert.equal(p.socket, '/run/telepath/network.sock');
  assert.equal(p.logFile, '/var/log/telepath/network-role.log');
  assert.equal(p.journalDir, '/var/lib/telepath/journal/network-role');
  assert.notEqual(p.journalDir, daemonPaths({}, 0).journalDir);
  const t = networkRolePaths({ TELEPATH_NETWORK_SOCKET: '/tmp/t/net.sock', TELEPATH_STATE_DIR: '/tmp/t/state' });
  assert.equal(t.socket, '/tmp/t/net.sock');
  assert.equal(t.journalDir, '/tmp/t/state/journal/network-role');
});
