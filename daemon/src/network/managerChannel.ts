/**
 * How both roles of the daemon talk gRPC to the traffic-manager through a port-forward: the user
 * role's ManagerConnection opens the forward, and the separate network role dials the port it is
 * handed. Here, under network/, because the root process uses it too.
 */
import { connectivityState, Metadata, type ChannelOptions } from '@grpc/grpc-js';
import type { LookupDNSResponse, SessionInfo } from '../../../protocol/src/gen/telepath/manager/v1/manager.js';
import type { ManagerClient } from '../../../protocol/src/manager/managerService.js';

/**
 * The gRPC channel options of every channel to the manager through a port-forward (the daemon's,
 * and the separate network role's, which dials the daemon's forwarded port).
 */
export function managerChannelOptions(): ChannelOptions {
  return {
    // Notice a dead port-forward within seconds, not at the next TCP timeout.
    'grpc.keepalive_time_ms': 10_000,
    'grpc.keepalive_timeout_ms': 5_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.initial_reconnect_backoff_ms': 200,
    'grpc.max_reconnect_backoff_ms': 2_000,
    // HTTP/2 receive windows of 64 KiB (the default) cap each tunnel stream at one window per
    // round trip through the port-forward; 8 MiB lets a bulk download keep the path full.
    'grpc-node.flow_control_window': 8 * 1024 * 1024,
    'grpc-node.max_session_memory': 64,
    // The manager binds a session to the connections it arrived or joined on; a channel that went
    // idle would come back on a new connection that must join again. Idle never (the most a
    // timer takes): keepalive pings already notice a dead connection.
    'grpc.client_idle_timeout_ms': 2 ** 31 - 1,
  };
}

/** What joining a session takes: its id, and the secret ArriveAsClient gave. */
export interface JoinableSession {
  sessionId: string;
  joinSecret: string;
}

/**
 * Keeps a channel's connection joined to a session that was opened on another connection (the
 * manager binds each session to its connections): joins at once when the channel is ready, and
 * again each time it becomes ready after it was not (a new connection through the port-forward).
 * Calls sent on a new connection before the join lands fail as an unknown session, once.
 */
export class SessionJoiner {
  private last: connectivityState;
  private stopped = false;

  constructor(
    private readonly client: ManagerClient,
    private readonly session: () => JoinableSession | undefined,
    private readonly log: (message: string) => void,
  ) {
    const channel = client.getChannel();
    this.last = channel.getConnectivityState(true);
    if (this.last === connectivityState.READY) void this.join();
    this.watch();
  }

  /** Joins the current connection to the current session now; false when the manager refused. */
  join(): Promise<boolean> {
    const s = this.session();
    if (!s || this.stopped) return Promise.resolve(false);
    return new Promise((resolve) =>
      this.client.joinSession(
        { session: { sessionId: s.sessionId }, joinSecret: s.joinSecret },
        new Metadata(),
        { deadline: Date.now() + 10_000 },
        (err) => {
          if (err) this.log(`cannot join the session on a new connection to the traffic-manager: ${err.details || err.message}`);
          resolve(!err);
        },
      ),
    );
  }

  close(): void {
    this.stopped = true;
  }

  private watch(): void {
    const channel = this.client.getChannel();
    // A deadline is required; an hour, then watch again.
    channel.watchConnectivityState(this.last, Date.now() + 3_600_000, () => {
      if (this.stopped) return;
      const now = channel.getConnectivityState(false);
      if (now === connectivityState.SHUTDOWN) return;
      if (now === connectivityState.READY && this.last !== connectivityState.READY) void this.join();
      this.last = now;
      this.watch();
    });
  }
}

/** Asks the manager to resolve a cluster name (5 s deadline; `signal` cancels). */
export function lookupDns(client: ManagerClient, session: SessionInfo, name: string, qtype: number, signal: AbortSignal): Promise<LookupDNSResponse> {
  return new Promise((resolve, reject) => {
    const call = client.lookupDns({ session, name, qtype }, new Metadata(), { deadline: Date.now() + 5_000 }, (err, res) =>
      err ? reject(err) : resolve(res!),
    );
    signal.addEventListener('abort', () => call.cancel(), { once: true });
  });
}
