/**
 * Between the user's daemon and the network role when that runs as a separate root process
 * (`sudo telepath network-role`): JSON-RPC over a unix socket that only the user who started it
 * (and root) may open. The daemon sends what the network role needs — where the manager's gRPC
 * port-forward listens, the session id, the cluster's networks — so the root process never reads
 * a kubeconfig or holds cluster credentials. Internal: both ends ship in the same bundle, and the
 * daemon refuses a network role of another version.
 */
import { NotificationType, RequestType } from 'vscode-jsonrpc';
import type { ClusterNetworks } from './clusterNetworks.js';
import type { NetworkState } from './networkRole.js';

export type { NetworkState };

export interface HelloResult {
  version: string;
  pid: number;
}

export interface NetworkStartParams {
  /** The gRPC target of the daemon's port-forward listener to the manager's gRPC port: `unix:/path`. */
  managerAddress: string;
  sessionId: string;
  /** The session's join secret: the manager lets this process's own connection use the session only after it joins. */
  joinSecret: string;
  networks: ClusterNetworks;
  connectedNamespace: string;
  namespaces: string[];
}

export interface NetworkUpdateParams {
  networks?: ClusterNetworks;
  namespaces?: string[];
  /** The daemon arrived again (a restarted manager issued a new session); with its join secret. */
  sessionId?: string;
  joinSecret?: string;
  /** Short names resolve in this namespace from now on. */
  shortNameNamespace?: string;
}

export const networkRoleRequests = {
  hello: new RequestType<{ version: string }, HelloResult, void>('network/hello'),
  start: new RequestType<NetworkStartParams, NetworkState, void>('network/start'),
  update: new RequestType<NetworkUpdateParams, NetworkState, void>('network/update'),
  /** Sets the read-ahead of a FUSE mount the daemon's user made (a volume mount) to 1 MiB. */
  readAhead: new RequestType<{ mountPoint: string }, { readAheadKb: number }, void>('network/readAhead'),
  /** Removes routes and restores DNS; the role keeps serving this daemon. */
  stop: new RequestType<Record<string, never>, void, void>('network/stop'),
};

export const networkRoleNotifications = {
  /** The network role changed state by itself (e.g. applying new networks failed). */
  state: new NotificationType<NetworkState>('network/state'),
};

/** The socket of the network role: one per machine (per TELEPATH_NETWORK_SOCKET in tests). */
export function networkRoleSocket(env: NodeJS.ProcessEnv = process.env): string {
  return env.TELEPATH_NETWORK_SOCKET ?? '/run/telepath/network.sock';
}

/** How a user starts it, for messages. */
export const START_NETWORK_ROLE = 'sudo telepath network-role';
