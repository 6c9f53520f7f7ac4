/** Connect: the extension starts the daemon on VS Code's own Node and connects it to the local cluster. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { statusPresentation } from '../../extension/src/status/statusPresentation.js';
import { daemonPids, logTail, processFacts, telepath } from './exthostHarness.js';

describe('connection', () => {
  it('"Telepath: Connect" starts the daemon and connects to telepath-local/samples (telepath.namespace)', async function () {
    this.timeout(240_000);
    const api = await telepath();
    await vscode.commands.executeCommand('telepath.connect');
    const view = api.view();
    assert.equal(view.state, 'connected', logTail(api));
    assert.equal(view.daemon, 'running');
    assert.equal(view.context, 'telepath-local');
    assert.equal(view.namespace, 'samples');
    assert.deepEqual(view.intercepts, []);
    assert.equal(statusPresentation(view).text, '$(plug) Telepath: telepath-local/samples');
  });

  it("the daemon runs the extension's own bundle on the extension host's Node", () => {
    const pids = daemonPids();
    assert.equal(pids.length, 1, `daemons of this extension: ${pids.join(' ')}`);
    const daemon = processFacts(pids[0]!);
    assert.equal(daemon.exe, processFacts(process.pid).exe, 'the same executable as the extension host');
    // VS Code's Electron runs as plain Node with this; the Node of code-server ignores it.
    assert.equal(daemon.env.ELECTRON_RUN_AS_NODE, '1');
    // It inherits the editor's environment: the kubeconfig, and where its socket goes.
    assert.equal(daemon.env.KUBECONFIG, process.env.KUBECONFIG);
    assert.ok(process.env.TELEPATH_RUN_DIR, 'the driver sets TELEPATH_RUN_DIR');
    assert.ok(existsSync(path.join(process.env.TELEPATH_RUN_DIR, 'daemon.sock')), 'its socket');
  });
});
