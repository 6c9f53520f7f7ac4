/**
 * The daemon's JSON-RPC methods and notifications: the one table from which the vscode-jsonrpc
 * message types, the daemon's param checks and protocol/daemonApi.openrpc.json all come.
 *
 * Transport: JSON-RPC 2.0 framed with Content-Length headers (vscode-jsonrpc's stream framing)
 * over the daemon's unix socket. Every request takes one params object (by name) and every result
 * is an object, so either can gain fields. The first request on a connection is `initialize`;
 * anything else before it fails with NotInitialized, except `version` and `quit`: those two keep
 * their shape forever and need no handshake, so that any client, however old or new, can see which
 * daemon runs and replace one whose protocol it cannot speak.
 */
import { NotificationType, ParameterStructures, RequestType } from 'vscode-jsonrpc';
import { daemonError, type DaemonErrorData, ErrorCode } from './errors.js';
import { type ObjectSchema, type Schema, validate } from './schema.js';
import {
  ConnectParams,
  DaemonStatus,
  InitializeParams,
  InitializeResult,
  ContextsParams,
  ContextsResult,
  InterceptParams,
  NamespacesResult,
  InterceptResult,
  LeaveParams,
  ListParams,
  ListResult,
  NoParams,
  NoResult,
  ProgressParams,
  SetLogLevelParams,
  UninstallParams,
  UninstallResult,
  VersionResult,
} from './types.js';

export interface RequestDefinition<P, R> {
  readonly method: string;
  readonly summary: string;
  readonly description?: string;
  readonly params: ObjectSchema<P>;
  readonly result: Schema<R>;
  /** The errors this method answers with besides InvalidParams and Internal, which any may. */
  readonly errors: readonly ErrorCode[];
  /** For `connection.sendRequest(def.type, params)` and `connection.onRequest(def.type, ...)`. */
  readonly type: RequestType<P, R, DaemonErrorData>;
}

export interface NotificationDefinition<P> {
  readonly method: string;
  readonly summary: string;
  readonly description?: string;
  readonly params: ObjectSchema<P>;
  readonly type: NotificationType<P>;
}

function request<P, R>(def: Omit<RequestDefinition<P, R>, 'type'>): RequestDefinition<P, R> {
  return { ...def, type: new RequestType<P, R, DaemonErrorData>(def.method, ParameterStructures.byName) };
}

function notification<P>(def: Omit<NotificationDefinition<P>, 'type'>): NotificationDefinition<P> {
  return { ...def, type: new NotificationType<P>(def.method, ParameterStructures.byName) };
}

/** Errors any request that touches the cluster may answer with. */
const clusterErrors = [
  ErrorCode.KubeconfigInvalid,
  ErrorCode.ContextNotFound,
  ErrorCode.ClusterUnreachable,
  ErrorCode.Forbidden,
] as const;

/** Requests from a client (CLI, editor) to the daemon. */
export const daemonRequests = {
  initialize: request({
    method: 'initialize',
    summary: 'Agree on the protocol; must be the first request on a connection.',
    description: 'The daemon refuses a client whose protocol version has another major (for 0.x: another minor) ' +
      'with IncompatibleProtocol, whose data.detail holds both versions.',
    params: InitializeParams,
    result: InitializeResult,
    errors: [ErrorCode.IncompatibleProtocol],
  }),
  connect: request({
    method: 'connect',
    summary: 'Connect the workstation to a cluster, installing or upgrading the traffic-manager as needed.',
    description: 'Resolves once connected, with the status. Connecting again with the same context and namespace ' +
      'returns the current status; with another, AlreadyConnected.',
    params: ConnectParams,
    result: DaemonStatus,
    errors: [
      ErrorCode.NotInitialized,
      ErrorCode.AlreadyConnected,
      ...clusterErrors,
      ErrorCode.NamespaceNotFound,
      ErrorCode.ManagerInstallFailed,
      ErrorCode.ManagerUnreachable,
      ErrorCode.NetworkRoleUnavailable,
      ErrorCode.SubnetConflict,
      ErrorCode.Interrupted,
    ],
  }),
  disconnect: request({
    method: 'disconnect',
    summary: 'Leave the cluster: close the session, remove routes and DNS settings. The daemon keeps running.',
    params: NoParams,
    result: DaemonStatus,
    errors: [ErrorCode.NotInitialized],
  }),
  status: request({
    method: 'status',
    summary: 'The connection status.',
    params: NoParams,
    result: DaemonStatus,
    errors: [ErrorCode.NotInitialized],
  }),
  version: request({
    method: 'version',
    summary: 'Versions of the daemon, its protocol and, when connected, the traffic-manager.',
    description: 'Needs no initialize, and never changes incompatibly.',
    params: NoParams,
    result: VersionResult,
    errors: [],
  }),
  uninstall: request({
    method: 'uninstall',
    summary: 'Remove the agent from one workload, or everything Telepath put in the cluster and on the workstation.',
    description: 'everything: disconnects first when connected, and works without a connection, given a reachable ' +
      'cluster. agent: restores that workload and its Services and ends the intercepts on it.',
    params: UninstallParams,
    result: UninstallResult,
    errors: [ErrorCode.NotInitialized, ...clusterErrors, ErrorCode.WorkloadNotFound, ErrorCode.Interrupted],
  }),
  contexts: request({
    method: 'contexts',
    summary: "The kubeconfig's contexts and its current one (for pickers; nothing is connected).",
    params: ContextsParams,
    result: ContextsResult,
    errors: [ErrorCode.NotInitialized, ErrorCode.KubeconfigInvalid],
  }),
  namespaces: request({
    method: 'namespaces',
    summary: 'The namespaces of the connected cluster that the user may list.',
    params: NoParams,
    result: NamespacesResult,
    errors: [ErrorCode.NotInitialized, ErrorCode.NotConnected],
  }),
  intercept: request({
    method: 'intercept',
    summary: "Send a workload's traffic (all of it, or matching HTTP requests) to a port on the workstation.",
    description: 'Needs a connection (call connect first). On the first intercept of a workload ' +
      "the daemon marks its pod template with the user's credentials (one rollout) so the manager injects the agent; " +
      "resolves once the agents route the traffic, with the container's environment.",
    params: InterceptParams,
    result: InterceptResult,
    errors: [
      ErrorCode.NotInitialized,
      ErrorCode.NotConnected,
      ...clusterErrors,
      ErrorCode.WorkloadNotFound,
      ErrorCode.NotInterceptable,
      ErrorCode.InterceptConflict,
      ErrorCode.AgentNotReady,
      ErrorCode.ManagerUnreachable,
      ErrorCode.Interrupted,
    ],
  }),
  leave: request({
    method: 'leave',
    summary: 'End an intercept: requests in flight finish, new ones go to the pod. The agent stays.',
    params: LeaveParams,
    result: NoResult,
    errors: [ErrorCode.NotInitialized, ErrorCode.NotConnected, ErrorCode.InterceptNotFound],
  }),
  list: request({
    method: 'list',
    summary: 'The workloads of a namespace, their interceptable ports, agents and intercepts.',
    params: ListParams,
    result: ListResult,
    errors: [ErrorCode.NotInitialized, ErrorCode.NotConnected, ...clusterErrors],
  }),
  setLogLevel: request({
    method: 'setLogLevel',
    summary: "Change the daemon's log level, for both of its roles.",
    params: SetLogLevelParams,
    result: NoResult,
    errors: [ErrorCode.NotInitialized],
  }),
  quit: request({
    method: 'quit',
    summary: 'Disconnect, then stop the daemon. The reply comes before the daemon exits.',
    description: 'Needs no initialize, and never changes incompatibly.',
    params: NoParams,
    result: NoResult,
    errors: [],
  }),
} as const;

/** Notifications from the daemon to every initialized client. */
export const daemonNotifications = {
  statusChanged: notification({
    method: 'statusChanged',
    summary: 'The status changed; the params are the whole new status.',
    params: DaemonStatus,
  }),
  progress: notification({
    method: 'progress',
    summary: 'A step of a long request (connect, uninstall), e.g. installing the traffic-manager.',
    params: ProgressParams,
  }),
} as const;

export type DaemonMethod = keyof typeof daemonRequests;

/** The methods a client may call before, or without, a successful initialize. */
export const HANDSHAKE_FREE_METHODS: readonly DaemonMethod[] = ['initialize', 'version', 'quit'];
export type DaemonNotification = keyof typeof daemonNotifications;

/**
 * Checks a request's params against its schema before a handler sees them.
 * @throws ResponseError InvalidParams naming every problem
 */
export function checkParams<P>(def: RequestDefinition<P, unknown>, params: unknown): P {
  const problems = validate(def.params, params);
  if (problems.length > 0) {
    throw daemonError(ErrorCode.InvalidParams, `Invalid params for ${def.method}: ${problems.join('; ')}`);
  }
  return params as P;
}
