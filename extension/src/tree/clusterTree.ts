/**
 * The Clusters view's state: which nodes' children are loaded, loading, out of date or failed.
 * Each node's children come from the daemon on their own — the contexts, then the connected
 * context's namespace names (one call), then one namespace's workloads and ports (`list` for that
 * namespace) — and only when VS Code asks, which it does for the expanded nodes of a visible view
 * alone. Nothing here waits: a node whose children have not come yet shows "Loading…" and is
 * redrawn when they come. What may be out of date is marked so and redrawn; it is fetched again
 * when VS Code asks for it, the old children staying on screen until the new ones are here.
 * Requests go through a LoadQueue, a few at a time.
 *
 * Pure: the daemon is a ClusterTreeSource, and onDidChange names the node to redraw (undefined:
 * all of it).
 */
import { CancellationTokenSource, type CancellationToken } from 'vscode-jsonrpc';
import type { ContextsResult, InterceptInfo, ListResult } from '../../../protocol/src/daemon';
import { presentError } from '../errors/errorPresentation.js';
import type { ConnectionView } from '../status/connectionState.js';
import type { Disposable } from '../util/disposables.js';
import { Emitter, type Event } from '../util/emitter.js';
import type { ClusterNode } from './clusterNode.js';
import { LoadQueue } from './loadQueue.js';
import { namespaceNodeId } from './namespaceNode.js';
import { contextChildren, contextNodes, failureNodes, loadingNode, PAGE_SIZE, pageOf, portNodes, ROOT_ID, workloadNodes } from './treeModel.js';

/** The daemon requests the tree makes, one per node whose children are asked for. */
export interface ClusterTreeSource {
  /** The kubeconfig's contexts (starting the daemon first if it does not run). */
  contexts(token: CancellationToken): Promise<ContextsResult>;
  /** The connected cluster's namespace names: one call, nothing per namespace. */
  namespaces(token: CancellationToken): Promise<string[]>;
  /** One namespace's workloads, with their ports. */
  list(namespace: string, token: CancellationToken): Promise<ListResult>;
}

export interface ClusterTreeOptions {
  /** Requests at once; the daemon answers each `list` with several API server calls. */
  concurrency?: number;
  /** Namespaces, or workloads, a node shows before its "N more…" node. */
  pageSize?: number;
  /** Where a failed load is reported (the extension's log). */
  log?: (message: string) => void;
}

const CONCURRENCY = 4;

/** A node's children from the daemon: the last answer (kept while a newer one loads), or why there is none. */
interface Entry {
  readonly what: string;
  /** The context it belongs to: it means nothing once that context is not the connected one. */
  readonly context?: string;
  readonly load: (token: CancellationToken) => Promise<unknown>;
  value?: unknown;
  error?: unknown;
  loading: boolean;
  /** May be out of date: fetched again when next asked for. */
  stale: boolean;
  /** Changed again while loading: that answer may predate the change. */
  again: boolean;
  cancel?: CancellationTokenSource;
}

export class ClusterTree implements Disposable {
  private readonly entries = new Map<string, Entry>();
  /** The node object last handed to VS Code for each id: VS Code redraws a node given that object. */
  private readonly nodes = new Map<string, ClusterNode>();
  private readonly childIds = new Map<string, string[]>();
  private readonly shown = new Map<string, number>();
  private readonly queue: LoadQueue;
  private readonly changes = new Emitter<ClusterNode | undefined>();
  private readonly pageSize: number;
  private last: ConnectionView;
  private disposed = false;

  /** A node whose children changed: VS Code asks for them again. undefined: the whole tree. */
  readonly onDidChange: Event<ClusterNode | undefined> = this.changes.event;
  /** True while any request runs or waits (for the view's progress bar). */
  readonly onDidChangeBusy: Event<boolean>;

  constructor(
    private readonly source: ClusterTreeSource,
    private readonly view: () => ConnectionView,
    private readonly options: ClusterTreeOptions = {},
  ) {
    this.queue = new LoadQueue(options.concurrency ?? CONCURRENCY);
    this.onDidChangeBusy = this.queue.onDidChangeBusy;
    this.pageSize = options.pageSize ?? PAGE_SIZE;
    this.last = view();
  }

  /** What VS Code shows under `node` (the roots without one), at once; fetching starts if need be. */
  children(node?: ClusterNode): ClusterNode[] {
    if (this.disposed) return [];
    return this.remember(node?.id ?? ROOT_ID, this.compute(node));
  }

  /** The "Retry" of a failed node (by id): fetch its children again. */
  retry(id: string): void {
    const e = this.entries.get(id);
    if (e) this.start(id, e, true);
    this.changed(id);
  }

  /** The "N more…" node of a node (by id): show another page of its children. */
  showMore(id: string): void {
    this.shown.set(id, (this.shown.get(id) ?? this.pageSize) + this.pageSize);
    this.changed(id);
  }

  /**
   * Everything may have changed (the Refresh button, another kubeconfig, another daemon): all is
   * out of date and redrawn, so the nodes on screen fetch again, a few at a time, and collapsed
   * ones when next expanded.
   */
  refresh(): void {
    const connected = connectedContext(this.view());
    for (const [id, e] of [...this.entries]) {
      if (e.context !== undefined && e.context !== connected) this.drop(id);
      else this.invalidate(id, false);
    }
    this.changed(ROOT_ID);
  }

  /**
   * The daemon's status changed. Another daemon or cluster reloads what is shown; otherwise only
   * the namespaces whose intercepts changed fetch again, and the rest is redrawn from what is here.
   */
  statusChanged(): void {
    const view = this.view();
    const before = this.last;
    this.last = view;
    if (whereOf(view) !== whereOf(before) || (before.state === 'reconnecting' && view.state === 'connected')) {
      this.refresh();
      return;
    }
    if (view.context) {
      for (const ns of interceptsChangedIn(before.intercepts, view.intercepts)) this.invalidate(namespaceNodeId(view.context, ns), true);
    }
    if (shapeOf(view) !== shapeOf(before)) this.changed(ROOT_ID);
  }

  /** Resolves once no request runs or waits. */
  whenIdle(): Promise<void> {
    return this.queue.whenIdle();
  }

  dispose(): void {
    this.disposed = true;
    for (const id of [...this.entries.keys()]) this.drop(id);
    this.queue.dispose();
    this.changes.dispose();
  }

  private compute(node: ClusterNode | undefined): ClusterNode[] {
    const view = this.view();
    if (!node) return this.fromEntry(ROOT_ID, 'contexts', undefined, (t) => this.source.contexts(t), (c: ContextsResult) => contextNodes(c, view));
    switch (node.kind) {
      case 'context':
        if (!node.connected || view.context !== node.context) return contextChildren(node, view);
        return this.fromEntry(node.id, 'namespaces', node.context, (t) => this.source.namespaces(t), (names: string[]) =>
          this.page(node.id, contextChildren(node, view, names), 'namespaces'),
        );
      case 'namespace':
        return this.fromEntry(node.id, 'workloads', node.context, (t) => this.source.list(node.namespace, t), (list: ListResult) =>
          this.page(node.id, workloadNodes(node.context, list, view.intercepts), 'workloads'),
        );
      case 'workload':
        return portNodes(node);
      case 'port':
      case 'message':
        return [];
    }
  }

  private fromEntry<T>(id: string, what: string, context: string | undefined, load: (token: CancellationToken) => Promise<T>, show: (value: T) => ClusterNode[]): ClusterNode[] {
    let e = this.entries.get(id);
    if (!e) {
      e = { what, ...(context !== undefined ? { context } : {}), load, loading: false, stale: false, again: false };
      this.entries.set(id, e);
      this.start(id, e, true);
    } else if (e.stale && (id === ROOT_ID || this.view().daemon === 'running')) {
      // (While the daemon is away, what is here stays: its return reloads everything anyway.)
      this.start(id, e, e.value === undefined);
    }
    if (e.value !== undefined) return show(e.value as T);
    if (e.loading) return [loadingNode(id, what)];
    return failureNodes(id, what, e.error);
  }

  private page(id: string, nodes: ClusterNode[], what: string): ClusterNode[] {
    return pageOf(id, nodes, this.shown.get(id) ?? this.pageSize, what, this.pageSize);
  }

  /** Fetches an entry's children through the queue: urgent when the user waits on "Loading…". */
  private start(id: string, e: Entry, urgent: boolean): void {
    e.stale = false;
    if (e.loading) {
      e.again = true;
      return;
    }
    e.loading = true;
    const cancel = new CancellationTokenSource();
    e.cancel = cancel;
    const job = async (): Promise<void> => {
      try {
        e.value = await e.load(cancel.token);
        e.error = undefined;
      } catch (err) {
        // An answer that failed is not shown as if it were still true.
        e.value = undefined;
        e.error = err;
      }
      if (this.entries.get(id) !== e) return;
      e.loading = false;
      e.cancel = undefined;
      if (e.error !== undefined) this.options.log?.(`the cluster tree could not show the ${e.what} of ${id}: ${presentError(e.error).message ?? 'cancelled'}`);
      if (e.again) {
        e.again = false;
        e.stale = true;
      }
      this.changed(id);
    };
    this.queue
      .run(job, { urgent, token: cancel.token })
      // Cancelled before its turn: the entry was dropped, nobody waits for it.
      .catch(() => undefined)
      .finally(() => cancel.dispose());
  }

  /**
   * An entry's children may be out of date. The redraw makes VS Code ask for them if the node is
   * on screen (and they are fetched then), or when it is next expanded.
   */
  private invalidate(id: string, redraw: boolean): void {
    const e = this.entries.get(id);
    if (!e) return;
    if (e.loading) e.again = true;
    else e.stale = true;
    if (redraw) this.changed(id);
  }

  private drop(id: string): void {
    const e = this.entries.get(id);
    if (!e) return;
    this.entries.delete(id);
    e.cancel?.cancel();
  }

  /**
   * Keeps the node objects VS Code has — the same object again while a node shows the same, so
   * that every caller holds the one a redraw names — and forgets those no longer shown (and their
   * entries).
   */
  private remember(parentId: string, computed: ClusterNode[]): ClusterNode[] {
    const children = computed.map((c) => {
      const known = this.nodes.get(c.id);
      return known && JSON.stringify(known) === JSON.stringify(c) ? known : c;
    });
    const ids = children.map((c) => c.id);
    const now = new Set(ids);
    for (const old of this.childIds.get(parentId) ?? []) if (!now.has(old)) this.forget(old);
    for (const c of children) this.nodes.set(c.id, c);
    this.childIds.set(parentId, ids);
    return children;
  }

  private forget(id: string): void {
    for (const child of this.childIds.get(id) ?? []) this.forget(child);
    this.childIds.delete(id);
    this.nodes.delete(id);
    this.shown.delete(id);
    this.drop(id);
  }

  private changed(id: string): void {
    if (this.disposed) return;
    if (id === ROOT_ID) {
      this.changes.fire(undefined);
      return;
    }
    const node = this.nodes.get(id);
    if (node) this.changes.fire(node);
  }
}

function connectedContext(view: ConnectionView): string | undefined {
  return view.state === 'connected' || view.state === 'reconnecting' ? view.context : undefined;
}

/** Which daemon and cluster the loaded children came from. */
function whereOf(view: ConnectionView): string {
  return `${view.daemon}|${connectedContext(view) ?? ''}`;
}

/** What the contexts and namespaces show of the status (intercepts aside: they are per namespace). */
function shapeOf(view: ConnectionView): string {
  return JSON.stringify([view.state, view.daemon, view.context, view.namespace, view.message]);
}

/** The namespaces in which the caller's intercepts differ between two statuses. */
function interceptsChangedIn(before: InterceptInfo[], after: InterceptInfo[]): string[] {
  const byNamespace = (list: InterceptInfo[]): Map<string, string> => {
    const out = new Map<string, string[]>();
    for (const i of list) out.set(i.namespace, [...(out.get(i.namespace) ?? []), JSON.stringify([i.name, i.workload, i.servicePort, i.mode, i.state, i.localPort])]);
    return new Map([...out].map(([ns, keys]) => [ns, keys.sort().join('\n')]));
  };
  const a = byNamespace(before);
  const b = byNamespace(after);
  return [...new Set([...a.keys(), ...b.keys()])].filter((ns) => a.get(ns) !== b.get(ns)).sort();
}
