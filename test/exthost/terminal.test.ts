/** The terminal the network-role command is typed into: typed once its shell is about to draw a prompt. */
import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { whenShellReady } from '../../extension/src/ui/shellReady.js';

describe('a terminal to type a command into', () => {
  it('is ready once bash reports, through shell integration, that it is about to draw its prompt', async function () {
    this.timeout(60_000);
    const t = vscode.window.createTerminal({ name: 'telepath-test bash', shellPath: '/bin/bash' });
    try {
      t.show(true);
      assert.deepEqual(await whenShellReady(t, 45_000), { state: 'ready' });
      assert.ok(t.shellIntegration?.cwd, 'the shell reported its working directory, as it does before a prompt');
    } finally {
      t.dispose();
    }
  });

  it('is reported closed, with its exit code, when its shell does not start', async function () {
    this.timeout(60_000);
    const t = vscode.window.createTerminal({ name: 'telepath-test false', shellPath: '/bin/false' });
    try {
      t.show(true);
      assert.deepEqual(await whenShellReady(t, 45_000), { state: 'closed', exitCode: 1 });
    } finally {
      t.dispose();
    }
  });
});
