/**
 * Issue #5 end to end, as a user: a real VS Code (code-server) with the packaged extension, running
 * in the workstation namespace, a workspace holding a small Node service; connect from the status
 * bar, find the echo workload in the tree, "Intercept and Debug" it, send a request with the
 * intercept header from the client pod inside the cluster, stop at a breakpoint in the local
 * service, read a pod env value in the debug session, continue, stop debugging — and the pod
 * answers again. A screenshot of each step lands in test/e2e/artifacts/.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildBundles, clusterDir, ensureCluster, fromClientPod, repoRoot, stateDir, until, ws } from '../cluster/harness.js';
import { packageVsix, startCodeServer, type CodeServer } from './codeServer.js';
import { Workbench } from './browser.js';

const LOCAL_PORT = 18095;
const HEADER = 'x-telepath-intercept';
const HEADER_VALUE = 'e2e';
const runDir = '/run/telepath-e2e-vscode';
const daemonEnv = { TELEPATH_RUN_DIR: runDir, TELEPATH_STATE_DIR: path.join(stateDir, 'telepath-e2e-vscode') };

const SERVICE = `const http = require('http');
http.createServer((req, res) => {
  const greeting = process.env.SAMPLE_GREETING;
  res.end('answered by the workstation: ' + greeting + '\\n');
}).listen(${LOCAL_PORT}, '127.0.0.1', () => console.log('listening on ${LOCAL_PORT}'));
`;
/** The line of `const greeting = ...` (1-based), where the breakpoint goes. */
const BREAKPOINT_LINE = 3;

/** A request from the client pod with the intercept header, in the background (it waits at the breakpoint). */
function requestInBackground(): { done: Promise<string>; child: ChildProcess } {
  const child = spawn(path.join(clusterDir, 'ws'), [
    'kubectl', 'exec', '-n', 'samples', 'client', '--', 'node', '/app/samples.js', 'http-get', 'http://echo.samples:8080/debug',
    '--header', `${HEADER}=${HEADER_VALUE}`, '--timeout', '120000',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, done: new Promise((resolve) => child.once('exit', () => resolve(out))) };
}

describe('Intercept and Debug in VS Code', () => {
  let workspace: string;
  let server: CodeServer | undefined;
  let wb: Workbench | undefined;
  let pending: { done: Promise<string>; child: ChildProcess } | undefined;

  before(async () => {
    ensureCluster();
    buildBundles('extension', 'telepath', 'traffic-manager', 'traffic-agent');
    const vsix = packageVsix();
    workspace = mkdtempSync(path.join(os.tmpdir(), 'telepath-e2e-node-'));
    writeFileSync(path.join(workspace, 'server.js'), SERVICE);
    writeFileSync(path.join(workspace, 'package.json'), JSON.stringify({ name: 'local-echo', version: '1.0.0', main: 'server.js' }, null, 2));
    mkdirSync(path.join(workspace, '.vscode'), { recursive: true });
    server = await startCodeServer({
      workspace,
      inWorkstation: true,
      extensions: [vsix],
      name: 'intercept-debug',
      env: daemonEnv,
      settings: {
        'telepath.namespace': 'samples',
        'telepath.defaultHeader': `${HEADER}=${HEADER_VALUE}`,
        'debug.openDebug': 'openOnDebugBreak',
      },
    });
    wb = await Workbench.open(server);
  });

  after(async () => {
    pending?.child.kill('SIGTERM');
    await wb?.close().catch(() => undefined);
    await server?.stop();
    const tp = (args: string[]) => ws(['env', `TELEPATH_RUN_DIR=${runDir}`, `TELEPATH_STATE_DIR=${daemonEnv.TELEPATH_STATE_DIR}`, 'node', '--', path.join(repoRoot, 'dist/telepath.js'), ...args], { timeoutMs: 240_000 });
    tp(['uninstall', '--agent', 'echo', '--namespace', 'samples']);
    tp(['quit']);
    rmSync(runDir, { recursive: true, force: true });
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  test('connect from the status bar', async () => {
    const page = wb!.page;
    // Opening the Telepath view activates the extension (its activation event), as for a user.
    await page.locator('.activitybar .action-item a[aria-label^="Telepath"]').first().click();
    await wb!.screenshot('vscode-0-view');
    await wb!.waitForStatusBar(/Telepath: disconnected$/, 60_000);
    await wb!.screenshot('vscode-1-disconnected');
    await wb!.pickFrom(page.locator('.statusbar-item', { hasText: /Telepath: disconnected$/ }).first(), /^\s*Connect/);
    await wb!.waitForStatusBar(/Telepath: telepath-local\/samples/, 240_000);
    await wb!.screenshot('vscode-2-connected');
  });

  test('the tree shows the samples namespace and its workloads', async () => {
    await wb!.treeRow('samples').waitFor({ state: 'visible', timeout: 30_000 });
    await wb!.treeRow('echo').waitFor({ state: 'visible', timeout: 30_000 });
    await wb!.treeRow('grpc-echo').waitFor({ state: 'visible', timeout: 30_000 });
    await wb!.screenshot('vscode-3-tree');
  });

  test('Intercept and Debug: a request with the header stops at the breakpoint, with the pod’s env', async () => {
    const page = wb!.page;
    // A breakpoint in the local service.
    await page.locator('.activitybar .action-item a[aria-label^="Explorer"]').first().click();
    await wb!.clickTreeRow('server.js');
    await page.locator('.view-lines', { hasText: 'answered by the workstation' }).waitFor({ timeout: 30_000 });
    // Go to the line: the quick open's ":<line>" form. Again if the palette closed by itself (the
    // editor that just opened may take the focus from it).
    const palette = page.locator('.quick-input-widget input.input');
    const atLine = new RegExp(`^Ln ${BREAKPOINT_LINE},`);
    for (let attempt = 1; ; attempt++) {
      if (!(await palette.isVisible())) await page.keyboard.press('F1');
      const went = await palette
        .fill(`:${BREAKPOINT_LINE}`, { timeout: 5_000 })
        .then(() => palette.press('Enter', { timeout: 5_000 }))
        .then(() => wb!.waitForStatusBar(atLine, 5_000))
        .then(() => true, () => false);
      if (went) break;
      if (attempt === 3) {
        await wb!.waitForStatusBar(atLine, 1); // still not there: this throws
        break;
      }
    }
    await wb!.runCommand('Debug: Toggle Breakpoint');
    await page.locator('.codicon-debug-breakpoint').first().waitFor({ state: 'visible', timeout: 15_000 });

    await wb!.runCommand('Telepath: Intercept and Debug');
    const quick = page.locator('.quick-input-widget');
    const row = (text: RegExp) => quick.locator('.quick-input-list .monaco-list-row', { hasText: text }).first();
    await row(/echo:http\/8080/).waitFor({ state: 'visible', timeout: 60_000 });
    await row(/echo:http\/8080/).click();
    const input = quick.locator('input.input');
    await input.waitFor({ state: 'visible', timeout: 15_000 });
    await input.fill(String(LOCAL_PORT));
    await input.press('Enter');
    await row(/^\s*Personal/).waitFor({ state: 'visible', timeout: 15_000 });
    await row(/^\s*Personal/).click();
    await row(/New Node\.js configuration/).waitFor({ state: 'visible', timeout: 15_000 });
    await row(/New Node\.js configuration/).click();
    await page.locator('.debug-toolbar').waitFor({ state: 'visible', timeout: 240_000 });
    await wb!.waitForStatusBar(/· 1 intercept/, 60_000);
    await wb!.screenshot('vscode-4-debugging');
    const launch = readFileSync(path.join(workspace, '.vscode/launch.json'), 'utf8');
    assert.match(launch, /"Telepath: Intercept echo \(samples\)"/);

    // The debug toolbar shows as the session starts, before the service listens; a request then
    // would get the documented 502 (nothing listening on the local port), not the breakpoint.
    await until('the debugged service to listen', 60_000, () => ws(['bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${LOCAL_PORT}`]).code === 0);
    const request = requestInBackground();
    pending = request;
    // Paused: the debug toolbar offers Continue (whichever view is open); else say what answered.
    const paused = await page
      .locator('.debug-toolbar .codicon-debug-continue')
      .first()
      .waitFor({ state: 'visible', timeout: 60_000 })
      .then(() => true, () => false);
    if (!paused) {
      await wb!.screenshot('vscode-5-not-paused');
      const finished = request.child.exitCode !== null;
      assert.fail(`no stop at the breakpoint within 60 s; the request ${finished ? `was answered: ${JSON.stringify(await request.done)}` : 'is still waiting'}; status bar: ${JSON.stringify(await wb!.statusBarText())}`);
    }
    await page.getByText(/paused on breakpoint/i).first().waitFor({ state: 'visible', timeout: 15_000 });
    await wb!.screenshot('vscode-5-breakpoint');

    // The pod's environment, read in the debug session.
    await wb!.runCommand('Debug Console: Focus on Debug Console View');
    await page.locator('.repl-input-wrapper').click();
    await page.keyboard.type('process.env.SAMPLE_SECRET');
    await page.keyboard.press('Enter');
    await page.locator('.repl-tree', { hasText: 's3cr3t-from-a-secret' }).waitFor({ state: 'visible', timeout: 15_000 });
    await wb!.screenshot('vscode-6-pod-env');

    await page.keyboard.press('F5'); // Continue
    const answer = await pending.done;
    pending = undefined;
    assert.match(answer, /answered by the workstation: hello from echo/);
  });

  test('stopping the debugger ends the intercept: the pod answers again', async () => {
    const page = wb!.page;
    await wb!.page.keyboard.press('Shift+F5'); // Stop
    await page.locator('.debug-toolbar').waitFor({ state: 'hidden', timeout: 60_000 });
    await wb!.waitForStatusBar(/Telepath: telepath-local\/samples$/, 60_000);
    await wb!.screenshot('vscode-7-stopped');
    let pod = '';
    for (let i = 0; i < 20 && !pod.startsWith('echo-'); i++) {
      const r = fromClientPod(['http-get', 'http://echo.samples:8080/', '--header', `${HEADER}=${HEADER_VALUE}`]);
      pod = r.code === 0 ? ((JSON.parse(r.stdout) as { pod: string }).pod ?? '') : '';
      if (!pod.startsWith('echo-')) await new Promise((res) => setTimeout(res, 500));
    }
    assert.match(pod, /^echo-/);
  });
});
