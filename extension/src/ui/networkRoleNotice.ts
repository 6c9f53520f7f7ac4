/**
 * Says once per connection when outbound access is off because the network role (root) does not
 * run, and offers the command that starts it. Intercepts and debugging do not need it.
 */
import * as vscode from 'vscode';
import type { Operations } from './operations.js';
import type { UiContext } from './uiContext.js';

const MUTED_KEY = 'telepath.networkRoleNotice.muted';

export function watchNetworkRole(ui: UiContext, ops: Operations): vscode.Disposable {
  let told = '';
  return ui.link.onDidChange(() => {
    const view = ops.view();
    if (view.state !== 'connected' || !view.outboundInactive) {
      if (view.state === 'disconnected') told = '';
      return;
    }
    const key = `${view.context}/${view.namespace}`;
    if (told === key || ui.extension.globalState.get<boolean>(MUTED_KEY)) return;
    told = key;
    ui.log.warn(`outbound access is off: ${view.outboundInactive}`);
    const start = 'Start Outbound Access…';
    const mute = "Don't Show Again";
    void vscode.window
      .showWarningMessage(
        `Telepath is connected to ${key}, but this workstation cannot reach cluster Services by name or IP: ` +
          "that needs Telepath's network role, which runs as root. Intercepts and debugging work without it.",
        start,
        mute,
      )
      .then(async (choice) => {
        if (choice === start) await vscode.commands.executeCommand('telepath.startNetworkRole');
        else if (choice === mute) await ui.extension.globalState.update(MUTED_KEY, true);
      });
  });
}
