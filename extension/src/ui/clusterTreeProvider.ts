/**
 * The "Clusters" view: VS Code's side of tree/clusterTree.ts, which decides what to fetch and
 * when. Answers VS Code at once from what is loaded (or with "Loading…"), redraws the nodes whose
 * children changed, shows the view's progress bar while daemon requests run, and passes the
 * daemon's status changes on — debounced, so a burst of statusChanged notifications is handled
 * once, and without any polling.
 */
import * as vscode from 'vscode';
import type { CancellationToken } from 'vscode-jsonrpc';
import type { ClusterNode } from '../tree/clusterNode.js';
import { ClusterTree } from '../tree/clusterTree.js';
import { TREE_COMMANDS } from '../tree/treeModel.js';
import { toTreeItem } from './converter.js';
import type { Operations } from './operations.js';
import type { UiContext } from './uiContext.js';

const STATUS_DELAY_MS = 150;

export class ClusterTreeProvider implements vscode.TreeDataProvider<ClusterNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<ClusterNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly model: ClusterTree;
  private readonly subscriptions: vscode.Disposable[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    ui: UiContext,
    ops: Operations,
    private readonly viewId: string,
  ) {
    this.model = new ClusterTree(
      {
        contexts: async (token: CancellationToken) => {
          await ui.link.ensureUp(token);
          return ops.contexts(token);
        },
        namespaces: (token) => ops.namespaces(token),
        list: (namespace, token) => ops.list(namespace, token),
      },
      () => ops.view(),
      { log: (message) => ui.log.warn(message) },
    );
    this.subscriptions.push(
      this.model,
      this.changed,
      this.model.onDidChange((node) => this.changed.fire(node)),
      this.model.onDidChangeBusy((busy) => {
        if (busy) void vscode.window.withProgress({ location: { viewId: this.viewId } }, () => this.model.whenIdle());
      }),
      ui.link.onDidChange(() => this.statusChanged()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('telepath.kubeconfig')) this.refresh();
      }),
      vscode.commands.registerCommand(TREE_COMMANDS.retry, (id: unknown) => typeof id === 'string' && this.model.retry(id)),
      vscode.commands.registerCommand(TREE_COMMANDS.showMore, (id: unknown) => typeof id === 'string' && this.model.showMore(id)),
    );
  }

  /** The Refresh button: everything on screen is fetched again, a few requests at a time. */
  refresh(): void {
    this.model.refresh();
  }

  getTreeItem(node: ClusterNode): vscode.TreeItem {
    return toTreeItem(node);
  }

  getChildren(node?: ClusterNode): ClusterNode[] {
    return this.model.children(node);
  }

  dispose(): void {
    clearTimeout(this.timer);
    for (const s of this.subscriptions) s.dispose();
  }

  /** The model tells what the change concerns (often nothing: the status repeats itself). */
  private statusChanged(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.model.statusChanged(), STATUS_DELAY_MS);
  }
}
