/** Disconnect at the end: nothing of this window's stays in the cluster's way. */
import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { children, daemonPids, fromClientPod, HEADER, logTail, telepath, treePath } from './exthostHarness.js';

describe('disconnect', () => {
  it('"Telepath: Disconnect" ends the connection; the pods answer every request again', async function () {
    this.timeout(120_000);
    const api = await telepath();
    await vscode.commands.executeCommand('telepath.disconnect');
    const view = api.view();
    assert.equal(view.state, 'disconnected', logTail(api));
    assert.deepEqual(view.intercepts, []);
    // The daemon stays, as for the CLI (the driver quits it); the view offers to connect.
    assert.equal(daemonPids().length, 1);
    const local = await treePath(api, 'telepath-local');
    assert.deepEqual((await children(api, local)).map((n) => n.label), ['Connect to telepath-local']);
    const answer = JSON.parse(await fromClientPod('http://echo.samples:8080/', HEADER)) as { pod?: string };
    assert.match(answer.pod ?? '', /^echo-/);
  });
});
