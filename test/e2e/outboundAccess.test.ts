/**
 * Issue #5 end to end, as a developer's machine has it: VS Code (code-server) runs as a regular user
 * (65534), so the daemon the extension starts is that user's and cannot route or resolve. Connect
 * from the status bar: the extension says outbound access is off and the status bar warns; "Start
 * Outbound Access…" shows the `sudo … network-role` command (read from the dialog, copied to the
 * clipboard, typed into a terminal). The test, as root in place of sudo, runs that command's
 * network-role part: with no further action in VS Code the warning goes away and echo.samples
 * answers the user by name. Disconnect restores the routes and the workstation's resolv.conf;
 * quitting the daemon ends the network role; nothing is left running. Screenshots:
 * test/e2e/artifacts/outbound-*.png.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildBundles, ensureCluster, kubeconfig, pidsWhere, repoRoot, stateDir, until, ws, type RunResult } from '../cluster/harness.js';
import { packageVsix, processesMentioning, startCodeServer, type CodeServer } from './codeServer.js';
import { Workbench } from './browser.js';

const UID = 65534;
const version = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
/** The network role's socket and pid file: private to this test (TELEPATH_NETWORK_SOCKET, for both processes). */
const roleRunDir = '/run/telepath-e2e-outbound';
const roleSocket = path.join(roleRunDir, 'network.sock');
const rolePidFile = path.join(roleRunDir, 'network.pid');
const roleState = path.join(stateDir, 'telepath-e2e-outbound-role');
const wsResolvConf = path.join(stateDir, 'ws/resolv.conf');

interface Status {
  state: string;
  routedSubnets: string[];
  dns?: { state: string; message?: string };
  networkRole?: { process: string; pid?: number };
}

const alive = (pid: number): boolean => existsSync(`/proc/${pid}`);

/** The real uid of a process (/proc/PID/status). */
function uidOf(pid: number): number {
  return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

const cmdline = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((w) => w !== '');
/** Pids whose working directory is under `dir`: the shell of a terminal opened in the workspace. */
function processesWorkingIn(dir: string): number[] {
  return pidsWhere((pid) => `${readlinkSync(`/proc/${pid}/cwd`)}/`.startsWith(`${dir}/`));
}

/** The last lines of each log file with one of these names under `dir` (VS Code's logs folder). */
function logTails(dir: string, names: string[], lines = 8): string {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else if (names.includes(e.name)) out.push(`  ${full}:\n${readFileSync(full, 'utf8').trimEnd().split('\n').slice(-lines).map((l) => `    ${l}`).join('\n')}`);
    }
  };
  try {
    walk(dir);
  } catch (e) {
    out.push(`  ${dir}: ${String(e)}`);
  }
  return out.join('\n');
}

const routes = () => ws(['ip', 'route', 'show']).stdout;

describe('outbound access from VS Code running as a user', () => {
  let userDir: string;
  let server: CodeServer | undefined;
  /** VS Code's logs folder of this window (the extension's, the pty host's, the remote agent's). */
  const vsLogs = (): string => path.join(server!.userDataDir, 'logs');
  let wb: Workbench | undefined;
  let routesBefore = '';
  let resolvBefore = '';
  /** What "Start Outbound Access…" showed. */
  let command = '';
  let daemonPid = 0;
  let rolePid = 0;

  /** A program as the test user in the workstation namespace, with the editor's kubeconfig and daemon. */
  const asUser = (args: string[], timeoutMs = 60_000): RunResult =>
    ws(
      [
        'setpriv', `--reuid=${UID}`, `--regid=${UID}`, '--clear-groups', '--',
        'env', `HOME=${userDir}`, `KUBECONFIG=${userDir}/kubeconfig`, `TELEPATH_RUN_DIR=${userDir}/run`,
        `TELEPATH_STATE_DIR=${userDir}/state`, `TELEPATH_NETWORK_SOCKET=${roleSocket}`, ...args,
      ],
      { timeoutMs },
    );
  const status = (): Status => {
    const r = asUser(['node', '--', path.join(repoRoot, 'dist/telepath.js'), 'status', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Status;
  };
  const curlEcho = () => asUser(['curl', '-sS', '--max-time', '5', 'http://echo.samples:8080/']);
  /** The Telepath entry of the status bar. */
  const telepathItem = () => wb!.page.locator('.statusbar-item', { hasText: /Telepath:/ }).first();
  /** What the page's clipboard holds (the tests have no DOM types: the expression as a string). */
  const clipboard = async (): Promise<string> => String(await wb!.page.evaluate('navigator.clipboard.readText()'));
  /** Whether VS Code draws it with the warning background (statusBarItem.warningBackground). */
  const warns = async (): Promise<boolean> => /\bwarning-kind\b/.test((await telepathItem().getAttribute('class')) ?? '');

  before(async () => {
    ensureCluster();
    buildBundles('extension', 'telepath', 'traffic-manager', 'traffic-agent');
    const vsix = packageVsix();
    userDir = mkdtempSync(path.join(os.tmpdir(), 'telepath-e2e-outbound-'));
    const workspace = path.join(userDir, 'workspace');
    mkdirSync(workspace);
    writeFileSync(path.join(workspace, 'README.md'), 'a workspace of the test user\n');
    // The user's own copy of the kubeconfig (the cluster's is root's, 0600).
    writeFileSync(path.join(userDir, 'kubeconfig'), readFileSync(kubeconfig), { mode: 0o600 });
    for (const p of [userDir, workspace, path.join(workspace, 'README.md'), path.join(userDir, 'kubeconfig')]) chownSync(p, UID, UID);
    rmSync(roleRunDir, { recursive: true, force: true });
    routesBefore = routes();
    resolvBefore = readFileSync(wsResolvConf, 'utf8');
    server = await startCodeServer({
      workspace,
      inWorkstation: true,
      user: { uid: UID, gid: UID },
      extensions: [vsix],
      name: 'outbound',
      env: {
        KUBECONFIG: path.join(userDir, 'kubeconfig'),
        TELEPATH_RUN_DIR: path.join(userDir, 'run'),
        TELEPATH_STATE_DIR: path.join(userDir, 'state'),
        TELEPATH_NETWORK_SOCKET: roleSocket,
      },
      // The terminal drawn with the DOM renderer (no WebGL canvas): its rows can be read as text.
      settings: { 'telepath.namespace': 'samples', 'terminal.integrated.gpuAcceleration': 'off' },
    });
    wb = await Workbench.open(server, { permissions: ['clipboard-read', 'clipboard-write'] });
  });

  after(async () => {
    await wb?.close().catch(() => undefined);
    if (userDir) asUser(['node', '--', path.join(repoRoot, 'dist/telepath.js'), 'quit']);
    if (rolePid && alive(rolePid)) process.kill(rolePid, 'SIGTERM');
    await server?.stop();
    if (userDir) rmSync(userDir, { recursive: true, force: true });
    rmSync(roleRunDir, { recursive: true, force: true });
  });

  test('connected as the user: a notice says outbound access is off, the status bar warns', async () => {
    const s = server!;
    const notRoot = s.processes().filter((p) => uidOf(p) !== UID);
    assert.deepEqual(notRoot, [], `code-server's processes run as ${UID}`);
    const page = wb!.page;
    await page.locator('.activitybar .action-item a[aria-label^="Telepath"]').first().click();
    await wb!.waitForStatusBar(/Telepath: disconnected$/, 60_000);
    await wb!.pickFrom(telepathItem(), /^\s*Connect/);
    await wb!.waitForStatusBar(/Telepath: telepath-local\/samples$/, 240_000);
    const notice = await wb!.waitForNotification(/cannot reach cluster Services by name or IP/, 30_000);
    assert.match(notice, /Telepath is connected to telepath-local\/samples/);
    assert.match(notice, /network role, which runs as root/);
    await until('the status bar to warn', 10_000, warns);
    await page.locator('.notification-toast', { hasText: /connecting to the cluster/ }).waitFor({ state: 'hidden', timeout: 15_000 });
    await wb!.screenshot('outbound-1-connected-notice');

    daemonPid = Number(readFileSync(path.join(userDir, 'run/daemon.pid'), 'utf8').trim());
    assert.equal(uidOf(daemonPid), UID, 'the daemon the extension started runs as the user');
    const st = status();
    assert.equal(st.state, 'connected');
    assert.equal(st.networkRole?.process, 'none');
    assert.equal(st.dns?.state, 'inactive');
    assert.match(st.dns?.message ?? '', /sudo telepath network-role/);
    assert.deepEqual(st.routedSubnets, []);
    assert.notEqual(curlEcho().code, 0, 'no route and no DNS yet');
  });

  test('"Start Outbound Access…" shows the network-role command: in the dialog, copied, typed into a terminal', async () => {
    const page = wb!.page;
    const toast = page.locator('.notification-toast', { hasText: /cannot reach cluster Services/ });
    await toast.locator('.monaco-button', { hasText: 'Start Outbound Access…' }).click();
    const dialog = page.locator('.monaco-dialog-box');
    await dialog.waitFor({ state: 'visible', timeout: 15_000 });
    assert.match(await dialog.locator('.dialog-message-text').innerText(), /needs Telepath's network role, which runs as root/);
    command = (await dialog.locator('.dialog-message-detail').innerText()).trim();
    await wb!.screenshot('outbound-2-command');

    // sudo, the extension host's Node (code-server's Node is no Electron: no ELECTRON_RUN_AS_NODE),
    // the CLI bundle of the installed extension, network-role.
    const cli = path.join(server!.tempDir, `extensions/telepath.telepath-${version}/dist/telepath.js`);
    const m = /^sudo (?:env ELECTRON_RUN_AS_NODE=1 )?(\S+) -- (\S+) network-role$/.exec(command);
    assert.ok(m, `the command's shape: ${command}`);
    assert.equal(m[2], cli);
    assert.equal(realpathSync(m[1]!), realpathSync(`/proc/${daemonPid}/exe`), 'the Node the daemon (and the extension host) runs on');
    // The daemon is its own bundle beside the CLI (daemon/src/network/programs.ts).
    assert.ok(cmdline(daemonPid).includes(path.join(path.dirname(cli), 'telepathd.js')), `the bundle the daemon runs: ${cmdline(daemonPid).join(' ')}`);

    await dialog.locator('.monaco-button', { hasText: 'Copy Command' }).click();
    await dialog.waitFor({ state: 'hidden', timeout: 15_000 });
    await wb!.waitForStatusBar('Copied the command', 10_000);
    assert.equal(await clipboard(), command);

    // The status bar menu offers it too; Open Terminal types it without running it.
    await wb!.pickFrom(telepathItem(), /Start Outbound Access…/);
    await dialog.waitFor({ state: 'visible', timeout: 15_000 });
    await dialog.locator('.monaco-button', { hasText: 'Open Terminal' }).click();
    await dialog.waitFor({ state: 'hidden', timeout: 15_000 });
    // The terminal's tab comes once the pty host has made its shell; that took longer than 15 s in
    // one CI run (the only time, with nothing kept to say why), so wait longer and, if it still
    // does not come, say what the window and the machine show.
    const tab = page.locator('.terminal-tab, .single-terminal-tab', { hasText: 'Telepath (root)' }).first();
    await tab.waitFor({ state: 'visible', timeout: 60_000 }).catch(async (e: unknown) => {
      const shot = await wb!.screenshot('outbound-3-no-terminal').catch((err: unknown) => String(err));
      const panel = await page.locator('.part.panel').first().innerText({ timeout: 1_000 }).catch(() => '(no panel)');
      const shells = processesWorkingIn(userDir).map((pid) => `${pid}: ${cmdline(pid).join(' ')}`);
      throw new Error(
        `no "Telepath (root)" terminal tab: ${String(e)}\n  panel: ${JSON.stringify(panel)}\n  notifications: ${JSON.stringify(await wb!.notifications())}` +
          `\n  processes working in the workspace: ${JSON.stringify(shells)}\n  screenshot: ${shot}` +
          `\n${logTails(vsLogs(), ['Telepath.log', 'ptyhost.log', 'remoteagent.log'])}`,
      );
    });
    // Read from the terminal's rows, not through Select All and a copy: those need the terminal to
    // have the keyboard focus, which the palette and a just-opened editor take away now and then.
    // The rows hold a long line wrapped, so compare without any whitespace: the command must be
    // the last thing shown (typed on the prompt line, not run: no output or new prompt after it).
    const squeeze = (t: string): string => t.replace(/[\s\u00a0]+/g, '');
    let seen = '';
    await until(
      'the command typed in the terminal',
      15_000,
      async () => {
        seen = await page.locator('.terminal-wrapper.active .xterm-rows').first().innerText({ timeout: 1_000 }).catch(() => '');
        return squeeze(seen).endsWith(squeeze(command));
      },
      () => `the terminal shows: ${JSON.stringify(seen)}\n${logTails(vsLogs(), ['Telepath.log'])}`,
    );
    // Typed once bash was about to draw its prompt: text sent before that was echoed ahead of the
    // prompt and the line redrawn garbled (seen in runs started with an empty environment).
    assert.match(logTails(vsLogs(), ['Telepath.log'], 20), /typed the command into the terminal "Telepath \(root\)" at its prompt/);
    const shells = processesWorkingIn(userDir);
    assert.ok(shells.length > 0 && shells.every((p) => uidOf(p) === UID), `the terminal's shell runs as the user: ${shells.join(' ')}`);
    await wb!.screenshot('outbound-3-terminal');
  });

  test('the network-role part run as root: the warning goes away by itself, echo.samples answers', async () => {
    const words = command.split(' ');
    assert.equal(words[0], 'sudo');
    // Root in place of sudo (the test user has none): no kubeconfig; --user says whose daemon to serve.
    const r = ws(['env', '-u', 'KUBECONFIG', 'HOME=/nonexistent', `TELEPATH_STATE_DIR=${roleState}`, `TELEPATH_NETWORK_SOCKET=${roleSocket}`, ...words.slice(1), '--user', String(UID)], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /network role started \(pid \d+\)/);
    rolePid = Number(readFileSync(rolePidFile, 'utf8').trim());
    assert.equal(uidOf(rolePid), 0);

    // Nothing done in VS Code: the daemon picks the role up and tells the extension.
    await until('the status bar warning to go away', 30_000, async () => !(await warns()), () => JSON.stringify(status()));
    assert.match((await telepathItem().innerText()).trim(), /Telepath: telepath-local\/samples$/);
    await wb!.screenshot('outbound-4-outbound-on');
    const st = status();
    assert.deepEqual(st.networkRole, { process: 'separate', pid: rolePid });
    assert.equal(st.dns?.state, 'active');
    assert.ok(st.routedSubnets.length > 0);

    const name = asUser(['getent', 'hosts', 'echo.samples']);
    assert.equal(name.code, 0, `echo.samples resolves: ${name.stderr}`);
    const answer = curlEcho();
    assert.equal(answer.code, 0, answer.stderr);
    assert.match(answer.stdout, /hello from echo/);
  });

  test('Disconnect restores routes and resolv.conf; quitting the daemon ends the network role; nothing is left', async () => {
    await wb!.pickFrom(telepathItem(), /^\s*Disconnect/);
    await wb!.waitForStatusBar(/Telepath: disconnected$/, 60_000);
    await until('routes and resolv.conf as before', 15_000, () => routes() === routesBefore && readFileSync(wsResolvConf, 'utf8') === resolvBefore, () => routes());
    assert.notEqual(curlEcho().code, 0, 'no route and no DNS after disconnect');
    await wb!.screenshot('outbound-5-disconnected');

    // The daemon outlives the window, as for users; the network role ends with it.
    const quit = asUser(['node', '--', path.join(repoRoot, 'dist/telepath.js'), 'quit']);
    assert.equal(quit.code, 0, quit.stderr);
    await until('the daemon to end', 15_000, () => !alive(daemonPid));
    await until('the network role to end with it', 15_000, () => !alive(rolePid));
    assert.equal(existsSync(roleSocket), false, 'its socket is gone');
    assert.equal(routes(), routesBefore);
    assert.equal(readFileSync(wsResolvConf, 'utf8'), resolvBefore);

    const s = server!;
    await wb!.close();
    wb = undefined;
    await s.stop();
    assert.deepEqual(s.processes(), [], 'code-server process group');
    assert.deepEqual(processesMentioning(`${s.tempDir}/`), [], 'processes running from its directories');
    assert.deepEqual(processesMentioning(`${userDir}/`), [], "processes running from the user's directory");
    assert.deepEqual(processesWorkingIn(userDir), [], 'processes working in the workspace (the terminal)');
  });
});
