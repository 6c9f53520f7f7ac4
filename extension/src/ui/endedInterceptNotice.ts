/**
 * Says when the traffic-manager ended one of this workstation's intercepts by itself (the user
 * lost the right to it in the cluster): the debug session keeps running, but no request reaches it
 * any more, and the developer should know why.
 */
import * as vscode from 'vscode';
import { newEndedIntercepts } from '../status/endedIntercepts.js';
import type { UiContext } from './uiContext.js';

export function watchEndedIntercepts(ui: UiContext): vscode.Disposable {
  const told = new Set<string>();
  return ui.link.onDidChange(() => {
    for (const e of newEndedIntercepts(ui.link.status, told)) {
      ui.log.warn(`the traffic-manager ended intercept ${e.name}: ${e.reason}`);
      void vscode.window.showWarningMessage(`Telepath: the cluster ended the intercept ${e.name}${e.workload ? ` of ${e.workload}` : ''}: ${e.reason}`);
    }
  });
}
