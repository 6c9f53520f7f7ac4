/** A kubeconfig context: the tree's roots. The connected one holds the namespaces. */
import type { Presentation } from './presentation.js';

export interface ContextNode extends Presentation {
  kind: 'context';
  context: string;
  connected: boolean;
}

export interface ContextFacts {
  name: string;
  cluster?: string;
  /** The kubeconfig's current context. */
  current: boolean;
  /** connected, or connecting, or in error: the daemon's state for this context. */
  state?: 'connected' | 'connecting' | 'reconnecting' | 'error';
  namespace?: string;
  /** Show its children (the way to connect) without a click: the current context while disconnected. */
  expand?: boolean;
}

export function contextNode(f: ContextFacts): ContextNode {
  const connected = f.state === 'connected' || f.state === 'reconnecting';
  const description =
    f.state === 'connected' ? `connected · ${f.namespace ?? 'default'}`
    : f.state === 'reconnecting' ? 'reconnecting…'
    : f.state === 'connecting' ? 'connecting…'
    : f.state === 'error' ? 'error'
    : f.current ? 'current'
    : undefined;
  const tooltip = [`Context ${f.name}`, f.cluster ? `Cluster ${f.cluster}` : '', f.namespace ? `Namespace ${f.namespace}` : '']
    .filter(Boolean)
    .join('\n');
  return {
    kind: 'context',
    // VS Code applies an element's collapsible state only when it first sees its id: a context
    // first shown while connecting (collapsed) would stay collapsed once connected. The connected
    // one is therefore an element of its own, shown expanded with its namespaces.
    id: connected ? `context:${f.name}:connected` : `context:${f.name}`,
    context: f.name,
    connected,
    label: f.name,
    ...(description ? { description } : {}),
    tooltip,
    icon: connected ? { id: 'cloud', color: 'charts.green' } : f.state === 'error' ? { id: 'cloud', color: 'charts.red' } : { id: 'cloud' },
    contextValue: connected ? 'telepathContext-connected' : 'telepathContext',
    collapsible: connected || f.expand ? 'expanded' : 'collapsed',
  };
}
