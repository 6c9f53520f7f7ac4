import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { daemonCommand } from './daemonLauncher.js';
import { networkRoleCommand } from './networkRoleCommand.js';

describe('commands that run the bundled CLI', () => {
  test('the daemon: the extension host\'s Node, "--" before the bundle, Electron as Node', () => {
    const c = daemonCommand({ execPath: '/opt/code/code', daemonPath: '/ext/dist/telepathd.js', env: { HOME: '/home/a' } });
    assert.deepEqual(c, { command: '/opt/code/code', args: ['--', '/ext/dist/telepathd.js', 'daemon-foreground'], env: { HOME: '/home/a', ELECTRON_RUN_AS_NODE: '1' } });
  });

  test('outbound access: sudo network-role, with env for Electron, quoted for a shell', () => {
    assert.equal(
      networkRoleCommand({ execPath: '/usr/share/code/code', cliPath: "/home/a/.vscode/ext's/dist/telepath.js", electron: true }),
      "sudo env ELECTRON_RUN_AS_NODE=1 /usr/share/code/code -- '/home/a/.vscode/ext'\\''s/dist/telepath.js' network-role",
    );
    assert.equal(networkRoleCommand({ execPath: '/usr/bin/node', cliPath: '/x/telepath.js', electron: false }), 'sudo /usr/bin/node -- /x/telepath.js network-role');
  });
});
