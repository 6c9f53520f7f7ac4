/**
 * The "Clusters" view: fetches what a node's children need from the daemon when VS Code asks
 * (only expanded nodes are asked), and redraws when the daemon's status changes in a way the
 * tree shows — debounced, so a burst of statusChanged notifications costs one redraw, and
 * without any polling.
 */
import * as vscode from 'vscode';
import type { ContextsResult } from '../../../protocol/src/daemon';
import { presentError } from '../errors/errorPresentation.js';
import { treeRelevantKey } from '../status/connectionState.js';
import type { ClusterNode } from '../tree/clusterNode.js';
import { messageNode } from '../tree/messageNode.js';
import { contextChildren, contextNodes, portNodes, ROOT_ID, workloadNodes } from '../tree/treeModel.js';
import { toTreeItem } from './converter.js';
import type { Operations } from './operations.js';
import type { UiContext } from './uiContext.js';

const REDRAW_DELAY_MS = 150;

export class ClusterTreeProvider implements vscode.TreeDataProvider<ClusterNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<ClusterNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscriptions: vscode.Disposable[] = [];
  private contexts?: Promise<ContextsResult>;
  private namespaces?: { context: string; list: Promise<string[]> };
  private lastKey = '';
  private lastWhere = '';
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly ui: UiContext,
    private readonly ops: Operations,
  ) {
    this.subscriptions.push(
      this.changed,
      ui.link.onDidChange(() => this.statusChanged()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('telepath.kubeconfig')) this.refresh(true);
      }),
    );
    this.lastKey = this.key();
    this.lastWhere = this.where();
  }

  /** Redraws soon; `reload` also forgets the kubeconfig's contexts and the namespaces. */
  refresh(reload = false): void {
    if (reload) {
      this.contexts = undefined;
      this.namespaces = undefined;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.changed.fire(undefined), REDRAW_DELAY_MS);
  }

  getTreeItem(node: ClusterNode): vscode.TreeItem {
    return toTreeItem(node);
  }

  async getChildren(node?: ClusterNode): Promise<ClusterNode[]> {
    const parentId = node?.id ?? ROOT_ID;
    try {
      if (!node) {
        await this.ui.link.ensureUp();
        this.contexts ??= this.ops.contexts();
        return contextNodes(await this.contexts.catch((e: unknown) => {
          this.contexts = undefined;
          throw e;
        }), this.ops.view());
      }
      switch (node.kind) {
        case 'context': {
          const view = this.ops.view();
          if (!node.connected || view.context !== node.context) return contextChildren(node, view);
          if (this.namespaces?.context !== node.context) this.namespaces = { context: node.context, list: this.ops.namespaces() };
          const list = await this.namespaces.list.catch((e: unknown) => {
            this.namespaces = undefined;
            throw e;
          });
          return contextChildren(node, view, list);
        }
        case 'namespace': {
          const list = await this.ops.list(node.namespace);
          return workloadNodes(node.context, list, this.ops.view().intercepts);
        }
        case 'workload':
          return portNodes(node);
        case 'port':
        case 'message':
          return [];
      }
    } catch (e) {
      const p = presentError(e);
      this.ui.log.warn(`the cluster tree could not show ${parentId}: ${p.message ?? 'cancelled'}`);
      return [
        messageNode(parentId, p.message ?? 'Cancelled', { icon: 'error', color: 'charts.red', tooltip: p.message }),
        ...(p.offerLog ? [messageNode(parentId, 'Show the Telepath log', { icon: 'output', command: { command: 'telepath.showLog', title: 'Show Log' } })] : []),
        ...(p.offerRestart ? [messageNode(parentId, 'Restart the daemon', { icon: 'debug-restart', command: { command: 'telepath.restartDaemon', title: 'Restart Daemon' } })] : []),
      ];
    }
  }

  dispose(): void {
    clearTimeout(this.timer);
    for (const s of this.subscriptions) s.dispose();
  }

  private key(): string {
    return treeRelevantKey(this.ops.view());
  }

  /** Which daemon and cluster the cached contexts and namespaces came from. */
  private where(): string {
    const view = this.ops.view();
    return `${view.daemon}|${view.state === 'connected' ? view.context : ''}`;
  }

  private statusChanged(): void {
    const key = this.key();
    if (key === this.lastKey) return;
    this.lastKey = key;
    // A daemon that came back, or another connection, may mean another kubeconfig or cluster.
    const where = this.where();
    const reload = where !== this.lastWhere;
    this.lastWhere = where;
    this.refresh(reload);
  }
}
