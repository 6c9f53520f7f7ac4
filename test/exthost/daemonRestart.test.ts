/**
 * The daemon outlives windows and may stop or be restarted behind the extension's back (a crash,
 * `telepath quit`, the CLI): the status says so, the next Telepath action starts it again, and a
 * daemon started by the CLI is found again without one.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { daemonPids, extension, logTail, processGone, telepath, until } from './exthostHarness.js';

/** Stops the one daemon of this extension (SIGTERM: it undoes what it changed) and waits until the extension noticed. */
async function stopDaemon(): Promise<number> {
  const api = await telepath();
  const [pid, ...more] = daemonPids();
  assert.ok(pid !== undefined && more.length === 0, `one daemon of this extension runs: ${daemonPids().join(' ')}`);
  process.kill(pid, 'SIGTERM');
  await until(`daemon ${pid} to exit`, 30_000, () => processGone(pid));
  const view = await until('the extension to notice', 15_000, () => {
    const v = api.view();
    return v.daemon !== 'running' && v;
  }, () => JSON.stringify(api.view()));
  // Reconnecting, then after a while (30 s) "disconnected (the daemon starts when needed)".
  assert.ok(view.state === 'reconnecting' || view.state === 'disconnected', JSON.stringify(view));
  return pid;
}

const connectedToSamples = async (): Promise<boolean> => {
  const v = (await telepath()).view();
  return v.state === 'connected' && v.daemon === 'running' && v.context === 'telepath-local' && v.namespace === 'samples';
};

describe('daemon restarts', () => {
  it('when the daemon stops, "Telepath: Connect" starts a new one and connects again', async function () {
    this.timeout(240_000);
    const api = await telepath();
    const old = await stopDaemon();
    await vscode.commands.executeCommand('telepath.connect');
    assert.ok(await connectedToSamples(), `${JSON.stringify(api.view())}; ${logTail(api)}`);
    const pids = daemonPids();
    assert.equal(pids.length, 1);
    assert.notEqual(pids[0], old);
  });

  it('a daemon started again by the CLI is found by itself, with its connection', async function () {
    this.timeout(240_000);
    const api = await telepath();
    const old = await stopDaemon();
    // As a user would in a terminal: `telepath connect` starts a daemon and connects it. The
    // extension does nothing but look for the daemon now and then (backoff up to 5 s).
    const cli = path.join(extension().extensionPath, 'dist/telepath.js');
    await promisify(execFile)(process.execPath, ['--', cli, 'connect', '--namespace', 'samples'], {
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
      timeout: 180_000,
    });
    await until('the extension to find the new daemon, connected', 30_000, connectedToSamples, () => `${JSON.stringify(api.view())}; ${logTail(api)}`);
    const pids = daemonPids();
    assert.equal(pids.length, 1);
    assert.notEqual(pids[0], old);
  });
});
