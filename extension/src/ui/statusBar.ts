/** The connection indicator: renders the connection state; a click opens the Telepath menu. */
import * as vscode from 'vscode';
import { statusPresentation } from '../status/statusPresentation.js';
import { applyStatus } from './converter.js';
import type { Operations } from './operations.js';
import type { UiContext } from './uiContext.js';

export const STATUS_ITEM_ID = 'telepath.status';

export class TelepathStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly subscription: vscode.Disposable;

  constructor(ui: UiContext, private readonly ops: Operations) {
    this.item = vscode.window.createStatusBarItem(STATUS_ITEM_ID, vscode.StatusBarAlignment.Left, 10);
    this.item.name = 'Telepath';
    this.item.command = 'telepath.statusMenu';
    this.subscription = ui.link.onDidChange(() => this.render());
    this.render();
    this.item.show();
  }

  private render(): void {
    applyStatus(this.item, statusPresentation(this.ops.view()));
  }

  dispose(): void {
    this.subscription.dispose();
    this.item.dispose();
  }
}
