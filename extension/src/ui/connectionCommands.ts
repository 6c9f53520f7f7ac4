/** Connect, Disconnect, Switch Namespace, the status bar menu, the log, outbound access, versions. */
import * as vscode from 'vscode';
import { daemonRequests } from '../../../protocol/src/daemon';
import { PRODUCT_VERSION, PROTOCOL_VERSION } from '../../../protocol/src/version.js';
import { networkRoleCommand } from '../daemon/networkRoleCommand.js';
import type { ClusterNode } from '../tree/clusterNode.js';
import { reportingErrors } from './errors.js';
import type { Operations } from './operations.js';
import { pickNamespace } from './pickers.js';
import { SHELL_REPORT_WAIT_MS, whenShellReady } from './shellReady.js';
import type { UiContext } from './uiContext.js';

export function registerConnectionCommands(ui: UiContext, ops: Operations, refreshTree: () => void): vscode.Disposable[] {
  const run = (doing: string, f: (arg: unknown) => Promise<void>) => reportingErrors(ui, doing, f);
  return [
    vscode.commands.registerCommand('telepath.connect', run('Cannot connect', (arg) => connect(ui, ops, arg))),
    vscode.commands.registerCommand('telepath.disconnect', run('Cannot disconnect', () => disconnect(ui, ops))),
    vscode.commands.registerCommand('telepath.switchNamespace', run('Cannot switch the namespace', (arg) => switchNamespace(ui, ops, arg))),
    vscode.commands.registerCommand('telepath.showLog', () => ui.log.show()),
    vscode.commands.registerCommand('telepath.refresh', () => refreshTree()),
    vscode.commands.registerCommand('telepath.statusMenu', run('Telepath', () => statusMenu(ui, ops))),
    vscode.commands.registerCommand('telepath.startNetworkRole', run('Cannot start outbound access', () => startNetworkRole(ui))),
    vscode.commands.registerCommand('telepath.restartDaemon', run('Cannot restart the daemon', () => restartDaemon(ui))),
    vscode.commands.registerCommand('telepath.showVersion', run('Cannot show the version', () => showVersion(ui))),
  ];
}

async function connect(ui: UiContext, ops: Operations, arg: unknown): Promise<void> {
  const node = arg as ClusterNode | undefined;
  const context = typeof arg === 'string' ? arg : node?.kind === 'context' ? node.context : undefined;
  await ui.link.ensureUp();
  const status = ui.link.status;
  const active = status && status.state !== 'disconnected' && status.state !== 'error';
  if (active && context && status.context !== context) {
    if (!(await confirmReconnect(ui, `Disconnect from ${status.context} and connect to ${context}?`))) return;
    await ops.disconnect();
  } else if (active && status.state !== 'connecting') {
    void vscode.window.showInformationMessage(`Telepath is already connected to ${status.context}/${status.namespace}.`);
    return;
  }
  const st = await ops.connect(context ? { context } : {});
  void vscode.window.setStatusBarMessage(`Telepath: connected to ${st.context}/${st.namespace}`, 5000);
}

/** Asks before anything that ends intercepts. */
async function confirmReconnect(ui: UiContext, question: string): Promise<boolean> {
  const n = ui.link.status?.intercepts?.length ?? 0;
  const detail = n > 0 ? `This ends your ${n} intercept${n === 1 ? '' : 's'}.` : undefined;
  const yes = 'Continue';
  return (await vscode.window.showWarningMessage(question, { modal: true, ...(detail ? { detail } : {}) }, yes)) === yes;
}

async function disconnect(ui: UiContext, ops: Operations): Promise<void> {
  await ui.link.ensureUp();
  const status = ui.link.status;
  if (!status || status.state === 'disconnected') {
    void vscode.window.showInformationMessage('Telepath is not connected.');
    return;
  }
  if ((status.intercepts?.length ?? 0) > 0 && !(await confirmReconnect(ui, `Disconnect from ${status.context}?`))) return;
  await ops.disconnect();
  void vscode.window.setStatusBarMessage('Telepath: disconnected', 5000);
}

/**
 * The daemon connects to one namespace (short DNS names resolve in it), so switching reconnects.
 * Workloads of any namespace can be intercepted without switching.
 */
async function switchNamespace(ui: UiContext, ops: Operations, arg: unknown): Promise<void> {
  const node = arg as ClusterNode | undefined;
  const status = await ops.ensureConnected();
  const namespace = node?.kind === 'namespace' ? node.namespace : await pickNamespace(ops, 'Telepath: Switch Namespace', status.namespace);
  if (!namespace || namespace === status.namespace) return;
  if ((status.intercepts?.length ?? 0) > 0 && !(await confirmReconnect(ui, `Reconnect to namespace ${namespace}?`))) return;
  await ops.disconnect();
  await ops.connect({ ...(status.context ? { context: status.context } : {}), namespace });
}

interface MenuItem extends vscode.QuickPickItem {
  command?: string;
}

async function statusMenu(ui: UiContext, ops: Operations): Promise<void> {
  const view = ops.view();
  const connected = view.state === 'connected' || view.state === 'reconnecting';
  const n = view.intercepts.length;
  const items: MenuItem[] = [];
  if (!connected) items.push({ label: '$(plug) Connect', description: ui.settings().context || 'current context', command: 'telepath.connect' });
  if (connected || view.state === 'connecting') items.push({ label: '$(debug-disconnect) Disconnect', description: view.context, command: 'telepath.disconnect' });
  if (connected) items.push({ label: '$(symbol-namespace) Switch Namespace…', description: view.namespace, command: 'telepath.switchNamespace' });
  items.push({ label: '$(list-unordered) Show Intercepts', description: `${n} active`, command: 'telepath.showIntercepts' });
  if (connected) items.push({ label: '$(debug-alt) Intercept and Debug…', command: 'telepath.interceptAndDebug' });
  if (view.outboundInactive) items.push({ label: '$(globe) Start Outbound Access…', description: 'network role (root)', command: 'telepath.startNetworkRole' });
  if (view.daemon === 'failed') items.push({ label: '$(debug-restart) Restart Daemon', command: 'telepath.restartDaemon' });
  items.push({ label: '$(output) Show Log', command: 'telepath.showLog' });
  const title = view.message ? `Telepath: ${view.state} — ${view.message}` : `Telepath: ${view.state}${view.context ? ` (${view.context}/${view.namespace})` : ''}`;
  const picked = await vscode.window.showQuickPick(items, { title, placeHolder: 'Telepath' });
  if (picked?.command) await vscode.commands.executeCommand(picked.command);
}

/** Outbound access needs root: show the command in a terminal, for the user to run (and type a password). */
async function startNetworkRole(ui: UiContext): Promise<void> {
  const command = networkRoleCommand({ execPath: process.execPath, cliPath: ui.cliPath, electron: process.versions.electron !== undefined });
  const terminal = 'Open Terminal';
  const copy = 'Copy Command';
  const choice = await vscode.window.showInformationMessage(
    'Outbound access (cluster Services and Pods by name and IP) needs Telepath\'s network role, which runs as root. ' +
      'Run this command in a terminal: the running connection picks it up by itself, and it ends when the daemon quits. ' +
      'Intercepts and debugging work without it.',
    { modal: true, detail: command },
    terminal,
    copy,
  );
  const copyCommand = async (): Promise<void> => {
    await vscode.env.clipboard.writeText(command);
    void vscode.window.setStatusBarMessage('Copied the command', 5000);
    ui.log.info(`network role: copied the command: ${command}`);
  };
  if (choice === copy) {
    await copyCommand();
  } else if (choice === terminal) {
    const t = vscode.window.createTerminal({ name: 'Telepath (root)' });
    t.show();
    const shell = await whenShellReady(t);
    if (shell.state === 'closed') {
      const code = shell.exitCode === undefined ? '' : ` with exit code ${shell.exitCode}`;
      ui.log.warn(`network role: the terminal "Telepath (root)" closed${code} before its shell showed a prompt; the command was not typed`);
      const profile = `terminal.integrated.defaultProfile.${process.platform === 'darwin' ? 'osx' : process.platform === 'win32' ? 'windows' : 'linux'}`;
      const again = await vscode.window.showErrorMessage(
        `Telepath: the terminal closed${code} before its shell showed a prompt, so the network-role command was not typed. ` +
          `Check the terminal profile (${profile}) and your shell, or copy the command and run it in a terminal of your own.`,
        copy,
      );
      if (again === copy) await copyCommand();
      return;
    }
    // Not executed: the user reads it and presses Enter (sudo asks for a password).
    t.sendText(command, false);
    const when = shell.state === 'ready' ? 'at its prompt' : `with no word of a prompt from the shell in ${SHELL_REPORT_WAIT_MS / 1000} s (no shell integration)`;
    ui.log.info(`network role: typed the command into the terminal "Telepath (root)" ${when}: ${command}`);
  } else {
    ui.log.info('network role: the command was shown, and dismissed');
  }
}

async function restartDaemon(ui: UiContext): Promise<void> {
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Telepath: restarting the daemon' }, () => ui.link.restartDaemon());
  void vscode.window.setStatusBarMessage(`Telepath: daemon ${ui.link.daemonVersion ?? ''} running`, 5000);
}

async function showVersion(ui: UiContext): Promise<void> {
  const daemon = ui.link.state === 'up' ? await ui.link.request(daemonRequests.version, {}).catch(() => undefined) : undefined;
  const parts = [`Telepath ${PRODUCT_VERSION} (protocol ${PROTOCOL_VERSION})`];
  parts.push(daemon ? `daemon ${daemon.daemonVersion} (protocol ${daemon.protocolVersion})` : 'daemon not running');
  if (daemon?.managerVersion) parts.push(`traffic-manager ${daemon.managerVersion}`);
  // What connect found and did with it: "traffic-manager 0.1.0 found (this client 0.2.0): upgrading it".
  if (daemon?.manager) parts.push(daemon.manager.message);
  void vscode.window.showInformationMessage(parts.join(' · '));
}
