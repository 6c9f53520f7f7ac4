/**
 * The extension's integration tests inside VS Code's extension host (test/exthost/), the standard
 * VS Code way, against the daemon the extension starts and the local cluster: code-server runs in
 * the workstation namespace; Chromium opens the workbench with a launch payload naming the
 * extension under development (the packaged .vsix, unpacked) and the mocha suite; the page's
 * codeAutomationLog/codeAutomationExit hooks (what @vscode/test-web uses) bring the suite's
 * console and exit code back here. Each result of the suite becomes a test of this file.
 * Logs: test/e2e/artifacts/exthost.log (code-server), exthost-console.log (the forwarded console),
 * exthost-logs/ (VS Code's logs, the Telepath output channel under exthost1/).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, type WriteStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { format } from 'node:util';
import type { Browser } from 'playwright-core';
import { buildBundles, ensureCluster, repoRoot, run, stateDir, ws } from '../cluster/harness.js';
import { buildExthostSuite } from '../exthost/build.js';
import { parseEvent, type ExthostEvent } from '../exthost/suite.js';
import { launchBrowser } from './browser.js';
import { artifactsDir, packageVsix, processesMentioning, startCodeServer, stopProcessesIn, type CodeServer } from './codeServer.js';

const runDir = '/run/telepath-e2e-exthost';
const daemonEnv = { TELEPATH_RUN_DIR: runDir, TELEPATH_STATE_DIR: path.join(stateDir, 'telepath-e2e-exthost') };
/** The whole suite, connect and two intercepts included; the file's own limit is 10 min (test/run.mjs). */
const SUITE_TIMEOUT_MS = 8 * 60_000;

/** The CLI of the repository's build, in the workstation namespace, against this test's daemon. */
const tp = (args: string[]) =>
  ws(['env', `TELEPATH_RUN_DIR=${runDir}`, `TELEPATH_STATE_DIR=${daemonEnv.TELEPATH_STATE_DIR}`, 'node', '--', path.join(repoRoot, 'dist/telepath.js'), ...args], { timeoutMs: 240_000 });

/** The packaged extension, unpacked into `to` as VS Code installs it: what users get, loaded from a folder. */
function unpackVsix(vsix: string, to: string): void {
  const r = run('unzip', ['-q', vsix, 'extension/*', '-d', to]);
  if (r.code !== 0) throw new Error(`unzip ${vsix} failed (exit ${r.code}): ${r.stderr}`);
}

describe('the extension inside VS Code’s extension host, with the daemon and the cluster', () => {
  let dir: string;
  let extensionDir: string;
  let testsPath: string;
  let server: CodeServer | undefined;
  let browser: Browser | undefined;
  let consoleLog: WriteStream | undefined;

  before(async () => {
    ensureCluster();
    buildBundles('extension', 'telepath', 'traffic-manager', 'traffic-agent');
    testsPath = buildExthostSuite();
    dir = mkdtempSync(path.join(os.tmpdir(), 'telepath-exthost-'));
    unpackVsix(packageVsix(), dir);
    extensionDir = path.join(dir, 'extension');
    const workspace = path.join(dir, 'workspace');
    mkdirSync(workspace);
    const t0 = Date.now();
    server = await startCodeServer({
      workspace,
      inWorkstation: true,
      name: 'exthost',
      env: daemonEnv,
      settings: {
        'telepath.namespace': 'samples',
        'telepath.defaultHeader': 'x-telepath-intercept=exthost',
      },
    });
    browser = await launchBrowser({ inWorkstation: true });
    console.log(`# code-server and Chromium up in ${Date.now() - t0} ms`);
  });

  after(async () => {
    consoleLog?.end();
    await browser?.close().catch(() => undefined);
    await server?.stop();
    tp(['uninstall', '--agent', 'echo', '--namespace', 'samples']);
    tp(['quit']);
    if (dir) {
      await stopProcessesIn(dir);
      rmSync(dir, { recursive: true, force: true });
    }
    rmSync(runDir, { recursive: true, force: true });
  });

  test('the mocha suite in the extension host passes', async (t) => {
    const s = server!;
    const page = await (await browser!.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    mkdirSync(artifactsDir, { recursive: true });
    consoleLog = createWriteStream(path.join(artifactsDir, 'exthost-console.log'));
    const log = consoleLog;

    const events: ExthostEvent[] = [];
    let exitCode: number | undefined;
    let wake = (): void => undefined;
    await page.exposeFunction('codeAutomationLog', (type: string, args: unknown[]) => {
      const text = format(...(Array.isArray(args) ? args : [args]));
      log.write(`[${type}] ${text}\n`);
      for (const line of text.split('\n')) {
        const e = parseEvent(line);
        if (e) events.push(e);
      }
      wake();
    });
    await page.exposeFunction('codeAutomationExit', (code: number) => {
      exitCode = code;
      wake();
    });
    // Paths as the workbench sees them: files of the remote (code-server) side.
    const remote = (p: string): string => `vscode-remote://127.0.0.1:${s.port}${p}`;
    const payload = [
      ['extensionDevelopmentPath', remote(extensionDir)],
      ['extensionTestsPath', remote(testsPath)],
    ];
    const t0 = Date.now();
    await page.goto(`${s.workbenchUrl()}&payload=${encodeURIComponent(JSON.stringify(payload))}`, { timeout: 60_000 });

    const deadline = t0 + SUITE_TIMEOUT_MS;
    const seen: ExthostEvent[] = [];
    for (;;) {
      while (events.length > 0) {
        const e = events.shift()!;
        seen.push(e);
        // Each result of the suite as a test here, so it counts and shows by name.
        await t.test(e.title, { skip: e.state === 'pending' }, (st) => {
          if (e.durationMs !== undefined) st.diagnostic(`${e.durationMs} ms in the extension host`);
          if (e.state === 'failed') throw new Error(e.error ?? 'failed');
        });
      }
      if (exitCode !== undefined) break;
      if (Date.now() > deadline) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1_000);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    console.log(`# the suite ran ${seen.length} tests in ${Date.now() - t0} ms (from opening the workbench to its exit code)`);
    await page.screenshot({ path: path.join(artifactsDir, 'exthost-end.png') }).catch(() => undefined);
    assert.notEqual(exitCode, undefined, `the extension host did not finish within ${SUITE_TIMEOUT_MS} ms; see ${path.join(artifactsDir, 'exthost-console.log')}`);
    assert.ok(seen.length > 0, 'the suite reported no test: did index.js load? see exthost-console.log');
    assert.equal(exitCode, 0, `the extension host exited ${exitCode}; see exthost-console.log`);
    assert.deepEqual(pageErrors, []);
  });

  test('stopping leaves nothing running', async () => {
    const s = server!;
    await browser!.close();
    browser = undefined;
    await s.stop();
    const describe = (pids: number[]): string => pids.map((p) => `${p}: ${readFileSync(`/proc/${p}/stat`, 'utf8').slice(0, 200)}`).join('\n');
    assert.deepEqual(s.processes(), [], `code-server process group:\n${describe(s.processes())}`);
    // The daemon, started detached by the extension, outlives VS Code as it does for users: quit it.
    assert.equal(tp(['quit']).code, 0);
    for (let i = 0; i < 100 && processesMentioning(`${dir}/`).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(processesMentioning(`${dir}/`), [], 'processes running from the copied extension');
  });
});
