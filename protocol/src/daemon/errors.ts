/**
 * Every error code the daemon answers with, and the category that tells a client how to present
 * it (in the spirit of LSP's ErrorCodes and Telepresence's errcat):
 *   user      the request cannot be done as asked; the message says what to do instead
 *   config    something on the workstation is set up wrong (kubeconfig, privileges, routes)
 *   cluster   the cluster refused or failed (RBAC, unreachable API server, manager install)
 *   internal  a bug or an unexpected failure: the client adds "see the daemon log"
 * The category travels in ResponseError.data, so a client needs no table to present an error; the
 * table here also covers replies that carry no data (vscode-jsonrpc's own MethodNotFound, say).
 */
import { ResponseError } from 'vscode-jsonrpc';

export const ERROR_CATEGORIES = ['user', 'config', 'cluster', 'internal'] as const;
export type ErrorCategory = (typeof ERROR_CATEGORIES)[number];

interface ErrorInfo {
  readonly code: number;
  readonly category: ErrorCategory;
  readonly description: string;
}

/**
 * Codes outside JSON-RPC's reserved -32768..-32000 are Telepath's, grouped by thousands per
 * category for readability; the category is still looked up, never computed from the number.
 * Codes are part of the protocol: never renumber or reuse one.
 */
export const ERRORS = {
  ParseError: { code: -32700, category: 'internal', description: 'JSON-RPC: the message is not JSON.' },
  InvalidRequest: { code: -32600, category: 'internal', description: 'JSON-RPC: not a valid request object.' },
  MethodNotFound: {
    code: -32601,
    category: 'internal',
    description: 'JSON-RPC: no such method (check capabilities.methods).',
  },
  InvalidParams: { code: -32602, category: 'internal', description: 'JSON-RPC: the params do not match the schema.' },
  InternalError: { code: -32603, category: 'internal', description: 'JSON-RPC: the handler failed unexpectedly.' },
  RequestCancelled: {
    code: -32800,
    category: 'user',
    description: 'The client cancelled the request ($/cancelRequest).',
  },

  IncompatibleProtocol: {
    code: 1001,
    category: 'user',
    description: 'The client speaks another major (for 0.x: minor) of the protocol than the daemon.',
  },
  NotInitialized: {
    code: 1002,
    category: 'internal',
    description: 'A request other than initialize, version or quit came before initialize.',
  },
  NotConnected: {
    code: 1003,
    category: 'user',
    description: 'The request needs a connection to a cluster and there is none.',
  },
  AlreadyConnected: {
    code: 1004,
    category: 'user',
    description: 'connect asked for another context or namespace while connected: disconnect first.',
  },
  Interrupted: { code: 1005, category: 'user', description: 'A disconnect or quit overtook the operation.' },

  KubeconfigInvalid: {
    code: 2001,
    category: 'config',
    description: 'The kubeconfig cannot be read or parsed, or names no current context.',
  },
  ContextNotFound: { code: 2002, category: 'config', description: 'The requested kubeconfig context does not exist.' },
  NetworkRoleUnavailable: {
    code: 2003,
    category: 'config',
    description: 'Routing cluster subnets needs root, and the network role could not be started.',
  },
  SubnetConflict: {
    code: 2004,
    category: 'config',
    description: 'A cluster subnet overlaps a route the workstation already uses.',
  },
  ClientTooOld: {
    code: 2005,
    category: 'config',
    description: 'The traffic-manager is newer than this client and no longer serves its API level: upgrade Telepath.',
  },

  ClusterUnreachable: {
    code: 3001,
    category: 'cluster',
    description: 'The Kubernetes API server cannot be reached or does not answer.',
  },
  Forbidden: {
    code: 3002,
    category: 'cluster',
    description: "Kubernetes RBAC refused the user's credentials for something the request needs.",
  },
  NamespaceNotFound: { code: 3003, category: 'cluster', description: 'The namespace to connect to does not exist.' },
  ManagerInstallFailed: {
    code: 3004,
    category: 'cluster',
    description: 'Installing or upgrading the traffic-manager failed or did not become ready in time.',
  },
  ManagerUnreachable: {
    code: 3005,
    category: 'cluster',
    description: 'The traffic-manager is installed but cannot be reached through the port-forward.',
  },

  WorkloadNotFound: {
    code: 3006,
    category: 'user',
    description: 'No Deployment, StatefulSet or ReplicaSet of that name in the namespace.',
  },
  NotInterceptable: {
    code: 3007,
    category: 'user',
    description: 'The workload or port cannot be intercepted as asked (no Service, several containers, unknown port).',
  },
  InterceptConflict: {
    code: 3008,
    category: 'user',
    description: 'Another intercept holds the port in a way that excludes this one; the message says who.',
  },
  InterceptNotFound: { code: 3009, category: 'user', description: 'There is no intercept of that name.' },
  AgentNotReady: {
    code: 3010,
    category: 'cluster',
    description: "The workload's pods did not come up with the agent in time; the message says what Kubernetes reports.",
  },
  ManagerTooOld: {
    code: 3011,
    category: 'cluster',
    description: "The traffic-manager is older than this client works with, and the user's credentials may not upgrade it.",
  },
  Internal: { code: 4001, category: 'internal', description: 'Anything unexpected; the daemon log has the details.' },
} as const satisfies Record<string, ErrorInfo>;

export type ErrorName = keyof typeof ERRORS;

/** `ErrorCode.NotConnected === 1003`, and so on. */
export const ErrorCode = Object.fromEntries(Object.entries(ERRORS).map(([name, e]) => [name, e.code])) as {
  readonly [K in ErrorName]: (typeof ERRORS)[K]['code'];
};
export type ErrorCode = (typeof ERRORS)[ErrorName]['code'];

const byCode = new Map<number, ErrorInfo & { name: ErrorName; }>(
  Object.entries(ERRORS).map(([name, e]) => [e.code, { ...e, name: name as ErrorName }]),
);

/** The table entry of a code, with its name; undefined for a code Telepath does not define. */
export function errorInfo(code: number): (ErrorInfo & { name: ErrorName; }) | undefined {
  return byCode.get(code);
}

/** `ResponseError.data` of every error the daemon sends. */
export interface DaemonErrorData {
  category: ErrorCategory;
  /** Machine-readable particulars, e.g. both protocol versions for IncompatibleProtocol. */
  detail?: Record<string, string | number | boolean>;
}

export function categoryOfCode(code: number): ErrorCategory {
  return byCode.get(code)?.category ?? 'internal';
}

/** The error to throw (from a handler) or to send; it is already a ResponseError. */
export function daemonError(
  code: ErrorCode,
  message: string,
  detail?: DaemonErrorData['detail'],
): ResponseError<DaemonErrorData> {
  const data: DaemonErrorData = { category: categoryOfCode(code) };
  if (detail !== undefined) data.detail = detail;
  return new ResponseError(code, message, data);
}

export function isDaemonErrorData(data: unknown): data is DaemonErrorData {
  if (typeof data !== 'object' || data === null) return false;
  const category = (data as { category?: unknown; }).category;
  return typeof category === 'string' && (ERROR_CATEGORIES as readonly string[]).includes(category);
}

/** How a client should present an error reply: the category it carries, else the code's. */
export function categoryOf(error: { code: number; data?: unknown; }): ErrorCategory {
  return isDaemonErrorData(error.data) ? error.data.category : categoryOfCode(error.code);
}

/**
 * What a daemon request handler sends for anything it caught: a daemon error as is, anything else
 * as Internal with the message (the stack goes to the daemon log, not over the wire).
 */
export function toResponseError(error: unknown): ResponseError<DaemonErrorData> {
  if (error instanceof ResponseError) {
    const data: unknown = error.data;
    if (isDaemonErrorData(data)) return error as ResponseError<DaemonErrorData>;
    return new ResponseError(error.code, error.message, { category: categoryOfCode(error.code) });
  }
  const message = error instanceof Error ? error.message : String(error);
  return daemonError(ErrorCode.Internal, message);
}
