/** A namespace of the connected context; its children are the workloads (`list`). */
import type { Presentation } from './presentation.js';

export interface NamespaceNode extends Presentation {
  kind: 'namespace';
  context: string;
  namespace: string;
  /** The namespace the daemon is connected to: short DNS names resolve in it. */
  connected: boolean;
}

/** The id of a namespace's node, for finding it again (its children load apart from it). */
export function namespaceNodeId(context: string, namespace: string): string {
  return `namespace:${context}/${namespace}`;
}

export function namespaceNode(context: string, namespace: string, connected: boolean): NamespaceNode {
  return {
    kind: 'namespace',
    id: namespaceNodeId(context, namespace),
    context,
    namespace,
    connected,
    label: namespace,
    ...(connected ? { description: 'connected' } : {}),
    tooltip: connected ? `Namespace ${namespace} (connected: short names resolve here)` : `Namespace ${namespace}`,
    icon: { id: 'symbol-namespace' },
    contextValue: connected ? 'telepathNamespace-connected' : 'telepathNamespace',
    collapsible: connected ? 'expanded' : 'collapsed',
  };
}
