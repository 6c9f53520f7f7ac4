/**
 * How both roles of the daemon talk gRPC to the traffic-manager through a port-forward: the user
 * role's ManagerConnection opens the forward, and the separate network role dials the port it is
 * handed. Here, under network/, because the root process uses it too.
 */
import { Metadata, type ChannelOptions } from '@grpc/grpc-js';
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
  };
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
