/**
 * The editor harness end to end, without the cluster: the packaged .vsix installed into a real VS Code
 * (code-server), the workbench opened in headless Chromium, a command run from the palette as a user
 * would, its notification read, and everything stopped without a process left behind.
 * Needs `npm run build` first (it packages the bundles, it does not build them) and root the first
 * time (scripts/installCodeServer.sh). Run: npm run test:e2e
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../cluster/harness.js';
import { packageVsix, processesMentioning, startCodeServer, type CodeServer } from './codeServer.js';
import { Workbench } from './browser.js';

const version = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;

/** Chromium processes now running (to tell the ones this test started). */
const chromiums = (): Set<number> => new Set(processesMentioning('--remote-debugging-pipe'));

describe('the extension in VS Code (code-server, no cluster)', () => {
  let workspace: string;
  let server: CodeServer | undefined;
  let wb: Workbench | undefined;
  let chromiumsBefore: Set<number>;

  before(async () => {
    const vsix = packageVsix();
    workspace = mkdtempSync(path.join(os.tmpdir(), 'telepath-e2e-ws-'));
    writeFileSync(path.join(workspace, 'hello.txt'), 'hello from the smoke test\n');
    chromiumsBefore = chromiums();
    const t0 = Date.now();
    server = await startCodeServer({ workspace, extensions: [vsix], name: 'smoke' });
    const t1 = Date.now();
    wb = await Workbench.open(server);
    console.log(`# code-server up in ${t1 - t0} ms (extension installed), workbench shown in ${Date.now() - t1} ms`);
  });

  after(async () => {
    await wb?.close().catch(() => undefined);
    await server?.stop();
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  test('Telepath: Show Version shows the version in a notification', async () => {
    await wb!.runCommand('Telepath: Show Version');
    const message = await wb!.waitForNotification(`Telepath ${version}`);
    assert.match(message, new RegExp(`^Telepath ${version.replace(/\./g, '\\.')}\\b`));
    await wb!.screenshot('smoke-show-version');
  });

  test('a file opens from the Explorer tree', async () => {
    await wb!.clickTreeRow('hello.txt');
    const tab = wb!.page.locator('.tabs-container .tab', { hasText: 'hello.txt' });
    await tab.waitFor({ state: 'visible', timeout: 15_000 });
    await wb!.page.locator('.view-lines', { hasText: 'hello from the smoke test' }).waitFor({ timeout: 15_000 });
    assert.equal(await wb!.waitForStatusBar(/^Ln \d+, Col \d+$/), 'Ln 1, Col 1');
    assert.ok((await wb!.statusBarText()).includes('Ln 1, Col 1'));
    await wb!.screenshot('smoke-explorer');
    assert.deepEqual(wb!.pageErrors, []);
  });

  test('stopping leaves no process behind', async () => {
    const s = server!;
    assert.ok(s.processes().length >= 2, `code-server and its extension host run: ${s.processes().join(' ')}`);
    await wb!.close();
    wb = undefined;
    await s.stop();
    assert.deepEqual(s.processes(), [], 'code-server process group');
    assert.deepEqual(processesMentioning(`${s.tempDir}/`), [], 'processes running from its directories');
    const leftover = [...chromiums()].filter((p) => !chromiumsBefore.has(p));
    assert.deepEqual(leftover, [], 'Chromium processes');
  });
});
