/**
 * The connection state the status bar shows: the daemon's cluster state (the protocol's
 * ConnectionState enum), folded together with the state of the link to the daemon itself.
 */
import type { ConnectionState, DaemonStatus, InterceptInfo } from '../../../protocol/src/daemon';
import type { LinkState } from '../daemon/daemonLink.js';

export type { ConnectionState };

export interface ConnectionView {
  state: ConnectionState;
  /** What the daemon is doing, when that is why the state is what it is. */
  daemon: 'starting' | 'running' | 'lost' | 'stopped' | 'failed';
  context?: string;
  namespace?: string;
  intercepts: InterceptInfo[];
  /** Why the state is error or reconnecting, when known. */
  message?: string;
  /** Connected, but routes and DNS are off (the network role is not running). */
  outboundInactive?: string;
}

export function connectionView(link: LinkState, status: DaemonStatus | undefined, failure?: unknown): ConnectionView {
  switch (link) {
    case 'idle':
    case 'down':
      return { state: 'disconnected', daemon: 'stopped', intercepts: [] };
    case 'starting':
      return { state: 'connecting', daemon: 'starting', intercepts: [] };
    case 'failed':
      return { state: 'error', daemon: 'failed', intercepts: [], message: failureMessage(failure) };
    case 'lost':
      return {
        state: 'reconnecting',
        daemon: 'lost',
        ...where(status),
        intercepts: [],
        message: 'The Telepath daemon stopped; reconnecting.',
      };
    case 'up':
      break;
  }
  if (!status) return { state: 'disconnected', daemon: 'running', intercepts: [] };
  const view: ConnectionView = { state: status.state, daemon: 'running', ...where(status), intercepts: status.intercepts ?? [] };
  if (status.error && (status.state === 'error' || status.state === 'reconnecting')) view.message = status.error.message;
  if (status.state === 'connected' && status.dns?.state === 'inactive' && status.routedSubnets.length === 0) {
    view.outboundInactive = status.dns.message ?? 'outbound cluster access (routes and DNS) is not running';
  }
  return view;
}

function where(status: DaemonStatus | undefined): { context?: string; namespace?: string } {
  if (!status || status.state === 'disconnected') return {};
  return {
    ...(status.context ? { context: status.context } : {}),
    ...(status.namespace ? { namespace: status.namespace } : {}),
  };
}

function failureMessage(failure: unknown): string {
  if (failure instanceof Error) return failure.message;
  if (typeof failure === 'object' && failure && 'message' in failure) return String((failure as { message: unknown }).message);
  return 'The Telepath daemon could not be started.';
}
