/** The status bar item's text, tooltip and colour for a connection state; pure, and tested. */
import type { ConnectionView } from './connectionState.js';

export interface StatusPresentation {
  /** With $(codicon) references, as the status bar renders them. */
  text: string;
  tooltip: string;
  background?: 'error' | 'warning';
}

export function statusPresentation(view: ConnectionView): StatusPresentation {
  const n = view.intercepts.length;
  const count = n === 0 ? '' : ` · ${n} intercept${n === 1 ? '' : 's'}`;
  const where = view.context ? `${view.context}/${view.namespace ?? 'default'}` : '';
  switch (view.state) {
    case 'disconnected':
      return {
        text: '$(debug-disconnect) Telepath: disconnected',
        tooltip: view.daemon === 'stopped' ? 'Telepath is not connected (the daemon starts when needed). Click to connect.' : 'Telepath is not connected. Click to connect.',
      };
    case 'connecting':
      return {
        text: view.daemon === 'starting' ? '$(sync~spin) Telepath: starting…' : `$(sync~spin) Telepath: connecting…`,
        tooltip: view.daemon === 'starting' ? 'Starting the Telepath daemon' : `Connecting to ${where || 'the cluster'}`,
      };
    case 'connected': {
      const lines = [`Connected to context ${view.context ?? '?'}, namespace ${view.namespace ?? '?'}`];
      for (const i of view.intercepts) lines.push(`Intercept ${i.name}: ${i.workload} ${i.servicePort} → localhost:${i.localPort} (${i.mode}${i.state === 'waiting' ? ', waiting' : ''})`);
      if (view.outboundInactive) lines.push(`Outbound access is off: ${view.outboundInactive}`);
      return {
        text: `$(plug) Telepath: ${where}${count}`,
        tooltip: lines.join('\n'),
        ...(view.outboundInactive ? { background: 'warning' as const } : {}),
      };
    }
    case 'reconnecting':
      return {
        text: `$(sync~spin) Telepath: reconnecting…${count}`,
        tooltip: view.message ?? `The connection to ${where || 'the cluster'} was lost; reconnecting.`,
        background: 'warning',
      };
    case 'error':
      return {
        text: '$(error) Telepath: error',
        tooltip: view.message ?? 'Telepath failed; see the Telepath log.',
        background: 'error',
      };
  }
}
