/** Shows a failure to the user, worded by errors/errorPresentation.ts, and logs it. */
import * as vscode from 'vscode';
import { presentError } from '../errors/errorPresentation.js';
import type { UiContext } from './uiContext.js';

const SHOW_LOG = 'Show Log';
const OPEN_DAEMON_LOG = 'Open Daemon Log';
const RESTART_DAEMON = 'Restart Daemon';

/** A command handler that shows its failure (as `doing: …`) instead of letting it escape. */
export function reportingErrors(ui: UiContext, doing: string, f: (arg: unknown) => Promise<void>): (arg: unknown) => Promise<void> {
  return async (arg: unknown) => {
    try {
      await f(arg);
    } catch (e) {
      showError(ui, e, doing);
    }
  };
}

/** Never waits for the user: the returned promise ends when the message is shown, not answered. */
export function showError(ui: UiContext, error: unknown, doing?: string): void {
  const p = presentError(error, doing);
  if (!p.message) {
    ui.log.info(`${doing ?? 'an operation'} was cancelled`);
    return;
  }
  if (p.category === 'internal' && error instanceof Error) ui.log.error(error);
  ui.log.error(`[${p.category}] ${p.message}`);
  const buttons = [...(p.offerLog ? [SHOW_LOG, OPEN_DAEMON_LOG] : []), ...(p.offerRestart ? [RESTART_DAEMON] : [])];
  const shown = p.severity === 'error' ? vscode.window.showErrorMessage(p.message, ...buttons) : vscode.window.showWarningMessage(p.message, ...buttons);
  void shown.then(async (choice) => {
    if (choice === SHOW_LOG) ui.log.show(true);
    else if (choice === OPEN_DAEMON_LOG) await vscode.window.showTextDocument(vscode.Uri.file(ui.daemonLogFile)).then(undefined, () => ui.log.show(true));
    else if (choice === RESTART_DAEMON) await vscode.commands.executeCommand('telepath.restartDaemon');
  });
}
