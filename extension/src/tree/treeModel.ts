/**
 * The cluster tree built from protocol data: contexts (`contexts`), the connected context's
 * namespaces (`namespaces`), each namespace's workloads (`list`) and their ports; and what a node
 * shows while its children load, when they failed to, and when there are too many to show at once.
 * Pure: clusterTree.ts decides when to fetch, this decides what the user sees.
 */
import type { ContextsResult, InterceptInfo, ListResult } from '../../../protocol/src/daemon';
import { presentError } from '../errors/errorPresentation.js';
import type { ConnectionView } from '../status/connectionState.js';
import type { ClusterNode } from './clusterNode.js';
import { contextNode, type ContextNode } from './contextNode.js';
import { messageNode, type MessageNode } from './messageNode.js';
import { namespaceNode, namespaceNodeId } from './namespaceNode.js';
import { portNode, type PortNode } from './portNode.js';
import { workloadNode, type WorkloadNode } from './workloadNode.js';

export const ROOT_ID = 'root';

/** The commands of the tree's own message nodes; their one argument is the parent node's id. */
export const TREE_COMMANDS = { retry: 'telepath.retryLoad', showMore: 'telepath.showMore' } as const;

/** The `viewItem` of a "Loading…" node, so that tests and menus can tell it from other messages. */
export const LOADING_CONTEXT_VALUE = 'telepathLoading';

/** How many namespaces, or workloads, a node shows before a "N more…" node. */
export const PAGE_SIZE = 200;

/** The kubeconfig's contexts; the one the daemon is connected to first. */
export function contextNodes(contexts: ContextsResult, view: ConnectionView): ClusterNode[] {
  const entries = contexts.contexts.map((c) => ({ name: c.name, cluster: c.cluster }));
  // Connected through another kubeconfig than the one we read: still show it.
  if (view.context && !entries.some((c) => c.name === view.context)) entries.push({ name: view.context, cluster: '' });
  if (entries.length === 0) {
    return [messageNode(ROOT_ID, `No contexts in ${contexts.kubeconfig}`, { icon: 'warning', tooltip: 'Set telepath.kubeconfig, or KUBECONFIG, to a kubeconfig with contexts.' })];
  }
  const active = view.state !== 'disconnected' ? view.context : undefined;
  const nodes = entries.map((c) =>
    contextNode({
      name: c.name,
      ...(c.cluster ? { cluster: c.cluster } : {}),
      current: c.name === contexts.current,
      ...(active === undefined && c.name === contexts.current ? { expand: true } : {}),
      ...(c.name === active && view.state !== 'disconnected' ? { state: view.state, ...(view.namespace ? { namespace: view.namespace } : {}) } : {}),
    }),
  );
  return [...nodes.filter((n) => n.context === active), ...nodes.filter((n) => n.context !== active)];
}

/** A context's children: its namespaces when connected to it, else a way to connect. */
export function contextChildren(node: ContextNode, view: ConnectionView, namespaces?: string[]): ClusterNode[] {
  if (!node.connected || view.context !== node.context) {
    if (view.context === node.context && view.state === 'connecting') return [messageNode(node.id, 'Connecting…', { icon: 'sync~spin' })];
    if (view.context === node.context && view.state === 'error') {
      return [
        messageNode(node.id, view.message ?? 'Connecting failed', { icon: 'error', color: 'charts.red', tooltip: view.message }),
        messageNode(node.id, `Connect to ${node.context}`, { icon: 'plug', command: { command: 'telepath.connect', title: 'Connect', arguments: [node.context] } }),
      ];
    }
    return [messageNode(node.id, `Connect to ${node.context}`, { icon: 'plug', command: { command: 'telepath.connect', title: 'Connect', arguments: [node.context] } })];
  }
  const all = [...new Set(namespaces ?? [])].sort();
  const connected = view.namespace;
  if (connected && !all.includes(connected)) all.unshift(connected);
  const ordered = connected ? [connected, ...all.filter((n) => n !== connected)] : all;
  return ordered.map((ns) => namespaceNode(node.context, ns, ns === connected));
}

/** A namespace's workloads, by name, with the caller's intercepts for the ports' state. */
export function workloadNodes(context: string, list: ListResult, mine: InterceptInfo[]): ClusterNode[] {
  if (list.workloads.length === 0) {
    return [messageNode(namespaceNodeId(context, list.namespace), 'No Deployments, StatefulSets or ReplicaSets', { icon: 'info' })];
  }
  return [...list.workloads]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.kind < b.kind ? -1 : 1))
    .map((w) => workloadNode(context, w, mine));
}

/** A workload's ports, in the order the daemon lists them. */
export function portNodes(node: WorkloadNode): PortNode[] {
  return node.workload.ports.map((p) => portNode(node.context, node.workload, p, node.mine));
}

/** The one child of a node whose children are being fetched, shown at once so nothing waits. */
export function loadingNode(parentId: string, what: string): MessageNode {
  return messageNode(parentId, `Loading ${what}…`, { icon: 'loading~spin', contextValue: LOADING_CONTEXT_VALUE });
}

/** Why a node's children could not be fetched, and what the user can do about it. */
export function failureNodes(parentId: string, what: string, error: unknown): MessageNode[] {
  const p = presentError(error);
  const message = p.message ?? `Loading ${what} was cancelled.`;
  return [
    messageNode(parentId, message, { icon: 'error', color: 'charts.red', tooltip: message }),
    messageNode(parentId, 'Retry', { icon: 'refresh', tooltip: `Ask the daemon for the ${what} again`, command: { command: TREE_COMMANDS.retry, title: 'Retry', arguments: [parentId] } }),
    ...(p.offerLog ? [messageNode(parentId, 'Show the Telepath log', { icon: 'output', command: { command: 'telepath.showLog', title: 'Show Log' } })] : []),
    ...(p.offerRestart ? [messageNode(parentId, 'Restart the daemon', { icon: 'debug-restart', command: { command: 'telepath.restartDaemon', title: 'Restart Daemon' } })] : []),
  ];
}

/**
 * The first `shown` of `nodes`, then one node that shows `pageSize` more when clicked: thousands
 * of namespaces cost the view nothing until the user asks for them.
 */
export function pageOf(parentId: string, nodes: ClusterNode[], shown: number, what: string, pageSize = PAGE_SIZE): ClusterNode[] {
  if (nodes.length <= shown) return nodes;
  const rest = nodes.length - shown;
  const next = Math.min(rest, pageSize);
  return [
    ...nodes.slice(0, shown),
    // `what` is a plural in s: namespaces, workloads.
    messageNode(parentId, `${rest} more ${rest === 1 ? what.replace(/s$/, '') : what}…`, {
      icon: 'ellipsis',
      description: `show ${next} more`,
      tooltip: `${shown} of ${nodes.length} ${what} shown. Click to show ${next} more.`,
      command: { command: TREE_COMMANDS.showMore, title: 'Show More', arguments: [parentId] },
    }),
  ];
}
