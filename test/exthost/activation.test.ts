/** Activation: only a Telepath command (or the view, or a debug launch) wakes the extension, and no daemon is started for nothing. */
import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { PRODUCT_VERSION } from '../../protocol/src/version.js';
import { daemonPids, extension, logTail } from './exthostHarness.js';

describe('activation', () => {
  it('the extension is loaded but idle until a Telepath command runs', () => {
    const ext = extension();
    assert.equal(ext.packageJSON.version, PRODUCT_VERSION);
    assert.equal(ext.isActive, false, 'nothing activated it before the tests');
  });

  it('"Telepath: Show Version" activates it; no daemon is started for that', async () => {
    await vscode.commands.executeCommand('telepath.showVersion');
    const ext = extension();
    assert.equal(ext.isActive, true);
    const api = ext.exports;
    assert.equal(api.view().state, 'disconnected', logTail(api));
    assert.deepEqual(daemonPids(), [], 'a daemon of this extension runs');
  });
});
