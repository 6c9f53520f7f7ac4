/**
 * The values exchanged with the daemon over JSON-RPC, each defined once as a schema (see
 * schema.ts); the TypeScript types are inferred from the schemas.
 *
 * Growing the API without breaking it: add optional properties, new string-enum members only
 * where a client is told to expect unknown ones, and new methods (clients find them in
 * InitializeResult.capabilities.methods); bump PROTOCOL_VERSION's patch for that while in 0.x.
 * Renaming, removing or retyping anything is a breaking change and bumps the minor (0.x) or
 * major, which the daemon then refuses at initialize.
 */
import { array, boolean, type Infer, integer, literal, named, object, optional, string, stringEnum, stringMap } from './schema.js';
import { ERROR_CATEGORIES } from './errors.js';

// ---- initialize ----

export const ClientCapabilities = named(
  'ClientCapabilities',
  object(
    {
      progress: optional(
        boolean({ description: 'The client shows `progress` notifications; else the daemon may skip them.' }),
      ),
    },
    { description: 'What the client can do; every property is optional and defaults to false.' },
  ),
);
export type ClientCapabilities = Infer<typeof ClientCapabilities>;

export const InitializeParams = named(
  'InitializeParams',
  object({
    clientName: string({
      description: 'Who is calling, for the daemon log, e.g. "telepath-cli" or "vscode".',
      minLength: 1,
    }),
    clientVersion: optional(string({ description: 'Version of the calling program.' })),
    protocolVersion: string({ description: 'The protocol version the client speaks (semver), e.g. "0.1.0".' }),
    capabilities: optional(ClientCapabilities),
  }),
);
export type InitializeParams = Infer<typeof InitializeParams>;

export const DaemonCapabilities = named(
  'DaemonCapabilities',
  object(
    {
      methods: array(string(), { description: 'Every request method this daemon serves.' }),
      notifications: array(string(), { description: 'Every notification this daemon may send.' }),
    },
    { description: 'Lets a client use a newer method only when the daemon has it.' },
  ),
);
export type DaemonCapabilities = Infer<typeof DaemonCapabilities>;

export const InitializeResult = named(
  'InitializeResult',
  object({
    daemonVersion: string({ description: 'Telepath product version of the daemon.' }),
    protocolVersion: string({ description: 'The protocol version the daemon speaks.' }),
    capabilities: DaemonCapabilities,
  }),
);
export type InitializeResult = Infer<typeof InitializeResult>;

// ---- intercepts ----

export const HeaderMatch = named(
  'HeaderMatch',
  object({
    name: string({ description: 'Header name, matched case-insensitively.', minLength: 1 }),
    value: string({ description: 'Header value, matched exactly.' }),
  }),
);
export type HeaderMatch = Infer<typeof HeaderMatch>;

export const InterceptParams = named(
  'InterceptParams',
  object({
    workload: string({ description: 'Deployment, StatefulSet or ReplicaSet: "name" or "kind/name".', minLength: 1 }),
    namespace: optional(string({ description: "The workload's namespace; default: the connected one." })),
    localPort: integer({ description: 'The workstation port that receives the traffic.', minimum: 1, maximum: 65535 }),
    servicePort: optional(
      string({
        description: 'Which port to intercept: a Service port name or number, or "<service>/<port>"; ' +
          'may be omitted when the workload has one.',
      }),
    ),
    container: optional(string({ description: 'The app container, when Service ports reach several.' })),
    name: optional(string({ description: 'Name of the intercept; default: the workload name.' })),
    mode: stringEnum(['global', 'personal'], {
      description: 'global: every connection and request; personal: only HTTP requests that match headers/pathPrefix ' +
        '(with neither, a generated x-telepath-intercept header).',
    }),
    headers: optional(array(HeaderMatch)),
    pathPrefix: optional(string({ description: 'Personal: requests whose path starts with this.' })),
    preview: optional(boolean({ description: 'Personal: also issue a preview link that sets the routing as a cookie.' })),
    mount: optional(
      boolean({ description: "Mount the container's volumes locally (default true); without sshfs the intercept goes on without." }),
    ),
    mountPoint: optional(string({ description: 'Where to mount them; default a new directory under the temp directory.' })),
    progressToken: optional(string({ description: 'Echoed in the `progress` notifications this request causes.' })),
  }),
);
export type InterceptParams = Infer<typeof InterceptParams>;

export const InterceptInfo = named(
  'InterceptInfo',
  object({
    name: string(),
    namespace: string(),
    workload: string({ description: '"kind/name", e.g. "deployment/echo".' }),
    servicePort: string({ description: 'The intercepted Service port(s), e.g. "echo:http/8080".' }),
    agentPort: integer(),
    localPort: integer(),
    mode: stringEnum(['global', 'personal']),
    headers: array(HeaderMatch, { description: 'Personal: the headers a request must carry.' }),
    pathPrefix: optional(string()),
    previewPath: optional(
      string({ description: 'Personal with preview: open this path on the workload (e.g. through its ingress) to get the routing cookie.' }),
    ),
    state: stringEnum(['active', 'waiting'], { description: 'waiting: the connection to the manager is being restored.' }),
    mountPoint: optional(string({ description: "Where the container's volumes are mounted (TELEPATH_ROOT)." })),
    problem: optional(
      string({
        description:
          'Why the intercept gets no traffic although it is held, e.g. its workload\'s agent is too old for an upgraded traffic-manager and could not be rolled.',
      }),
    ),
  }),
);
export type InterceptInfo = Infer<typeof InterceptInfo>;

export const InterceptResult = named(
  'InterceptResult',
  object({
    intercept: InterceptInfo,
    environment: stringMap({ description: "The intercepted container's environment, as Kubernetes resolved it." }),
    podName: string({ description: 'The pod whose agent reported the environment.' }),
    mountProblem: optional(
      string({ description: 'Why the volumes are not mounted although asked for (e.g. sshfs missing); the intercept works.' }),
    ),
    environmentProblem: optional(
      string({
        description:
          "Why `environment` lacks the container's environment (the user may not get intercepts.telepath.dev/environment in the namespace); the intercept works.",
      }),
    ),
  }),
);
export type InterceptResult = Infer<typeof InterceptResult>;

export const LeaveParams = named('LeaveParams', object({ name: string({ description: 'The intercept to end.', minLength: 1 }) }));
export type LeaveParams = Infer<typeof LeaveParams>;

export const ListParams = named(
  'ListParams',
  object({ namespace: optional(string({ description: 'Default: the connected namespace.' })) }),
);
export type ListParams = Infer<typeof ListParams>;

export const WorkloadPort = named(
  'WorkloadPort',
  object({
    service: string(),
    portName: string({ description: 'Empty when the Service port has no name.' }),
    port: integer(),
    protocol: string(),
    container: string(),
    containerPort: integer(),
    intercepts: array(
      object({
        name: string(),
        holder: string({ description: 'Who holds it, e.g. "alice@laptop"; "you" for the caller.' }),
        mine: boolean(),
        mode: stringEnum(['global', 'personal']),
        match: string({ description: 'What it takes, e.g. "x-telepath-intercept=ab12" or "all traffic"; another holder\'s header values read "(hidden)".' }),
      }),
    ),
  }),
);
export type WorkloadPort = Infer<typeof WorkloadPort>;

export const WorkloadInfo = named(
  'WorkloadInfo',
  object({
    kind: stringEnum(['Deployment', 'StatefulSet', 'ReplicaSet']),
    name: string(),
    namespace: string(),
    agent: stringEnum(['none', 'installed', 'ready'], {
      description: 'installed: the workload is marked; ready: agents of its pods report to the manager.',
    }),
    ports: array(WorkloadPort),
    problem: optional(string({ description: 'Why it cannot be intercepted, when it cannot.' })),
  }),
);
export type WorkloadInfo = Infer<typeof WorkloadInfo>;

export const ListResult = named(
  'ListResult',
  object({ namespace: string(), workloads: array(WorkloadInfo), intercepts: array(InterceptInfo, { description: "The caller's intercepts." }) }),
);
export type ListResult = Infer<typeof ListResult>;

// ---- status ----

export const CONNECTION_STATES = ['disconnected', 'connecting', 'connected', 'reconnecting', 'error'] as const;
export const ConnectionState = stringEnum(CONNECTION_STATES, {
  description: 'disconnected: no cluster; connecting: connect is in progress; connected: cluster reachable; ' +
    'reconnecting: the connection was lost and is being restored; error: connecting failed (see error).',
});
export type ConnectionState = Infer<typeof ConnectionState>;

export const DNS_STATES = ['inactive', 'active', 'failed'] as const;
export const DnsStatus = named(
  'DnsStatus',
  object({
    state: stringEnum(DNS_STATES, { description: 'Whether cluster names resolve on the workstation.' }),
    method: optional(
      string({ description: 'How the resolver was configured, e.g. "systemd-resolved" or "resolv.conf".' }),
    ),
    clusterDomain: optional(string({ description: 'e.g. "cluster.local".' })),
    searchDomains: optional(array(string(), { description: 'Domains the short names are tried in.' })),
    message: optional(string({ description: 'Why DNS is failed or inactive, when known.' })),
  }),
);
export type DnsStatus = Infer<typeof DnsStatus>;

export const UnroutedSubnet = named(
  'UnroutedSubnet',
  object({
    subnet: string({ description: 'CIDR, e.g. "10.96.0.0/12".' }),
    reason: stringEnum(['reachable', 'conflict'], {
      description: 'reachable: the workstation already reaches it; conflict: it overlaps a local route.',
    }),
    message: optional(string({ description: 'Details, e.g. the conflicting route.' })),
  }),
);
export type UnroutedSubnet = Infer<typeof UnroutedSubnet>;

export const StatusError = named(
  'StatusError',
  object(
    {
      code: integer({ description: 'An ErrorCode.' }),
      category: stringEnum(ERROR_CATEGORIES),
      message: string(),
    },
    { description: 'Why the state is error or reconnecting.' },
  ),
);
export type StatusError = Infer<typeof StatusError>;

export const NetworkRoleStatus = named(
  'NetworkRoleStatus',
  object({
    process: stringEnum(['daemon', 'separate', 'none'], {
      description:
        'Who runs routes and DNS: "daemon" (it runs as root and hosts both roles), "separate" (a root process ' +
        'started with `sudo telepath network-role` serves this daemon), "none" (outbound access is off; ' +
        'intercepts work). Clients should expect other values later.',
    }),
    pid: optional(integer({ description: 'The process that has the network role.' })),
  }),
);
export type NetworkRoleStatus = Infer<typeof NetworkRoleStatus>;

export const EndedIntercept = named(
  'EndedIntercept',
  object({
    name: string(),
    namespace: optional(string()),
    workload: optional(string({ description: 'e.g. "deployment/echo".' })),
    reason: string({ description: 'Why the traffic-manager ended it, e.g. "alice may not create intercepts.telepath.dev in namespace samples".' }),
    at: string({ description: 'When the daemon heard of it (ISO 8601).' }),
  }),
);
export type EndedIntercept = Infer<typeof EndedIntercept>;

export const ManagerChoice = named(
  'ManagerChoice',
  object(
    {
      found: optional(string({ description: 'Version of the traffic-manager that connect found in the cluster; absent when there was none.' })),
      action: stringEnum(['install', 'upgrade', 'reinstall', 'use'], {
        description:
          'What connect did: installed this client\'s manager (none was there), upgraded an older one, re-installed one of the same ' +
          'version but another build (or one not available), or used the one there (the same build, a newer one that still serves ' +
          'this client, or an older one the user may not upgrade). See docs/upgrades.md.',
      }),
      message: string({ description: 'The line connect showed, e.g. "traffic-manager 0.1.0 found (this client 0.2.0): upgrading it".' }),
    },
    { description: 'What connect found in the cluster and did with it.' },
  ),
);
export type ManagerChoice = Infer<typeof ManagerChoice>;

export const DaemonStatus = named(
  'DaemonStatus',
  object({
    state: ConnectionState,
    context: optional(string({ description: 'The kubeconfig context in use.' })),
    namespace: optional(string({ description: 'The connected namespace: short DNS names resolve in it.' })),
    managerVersion: optional(string({ description: 'Version of the traffic-manager in the cluster.' })),
    managerApiLevels: optional(string({ description: 'The API levels the traffic-manager serves, "min-level", e.g. "1-2".' })),
    manager: optional(ManagerChoice),
    routedSubnets: array(string(), { description: 'CIDRs routed to the cluster through the daemon.' }),
    unroutedSubnets: optional(array(UnroutedSubnet, { description: 'Cluster subnets deliberately not routed.' })),
    dns: optional(DnsStatus),
    networkRole: optional(NetworkRoleStatus),
    intercepts: optional(array(InterceptInfo, { description: "This daemon's intercepts." })),
    endedIntercepts: optional(
      array(EndedIntercept, {
        description: 'Intercepts of this session that the traffic-manager ended by itself (the user lost the right to them), the latest 10.',
      }),
    ),
    error: optional(StatusError),
  }),
);
export type DaemonStatus = Infer<typeof DaemonStatus>;

// ---- connect, disconnect, status ----

export const ConnectParams = named(
  'ConnectParams',
  object({
    context: optional(string({ description: "Kubeconfig context; default: the kubeconfig's current context." })),
    namespace: optional(string({ description: "Namespace to connect to; default: the context's namespace." })),
    kubeconfig: optional(string({ description: 'Path of the kubeconfig; default: $KUBECONFIG, else ~/.kube/config.' })),
    managerNamespace: optional(string({ description: 'Namespace of the traffic-manager; default "telepath".' })),
    progressToken: optional(string({ description: 'Echoed in the `progress` notifications this request causes.' })),
  }),
);
export type ConnectParams = Infer<typeof ConnectParams>;

export const NoParams = named('NoParams', object({}, { description: 'No parameters yet; send {}.' }));
export type NoParams = Infer<typeof NoParams>;
export const NoResult = named('NoResult', object({}, { description: 'An empty object, so that fields can be added.' }));
export type NoResult = Infer<typeof NoResult>;

// ---- version, uninstall, setLogLevel, quit ----

export const VersionResult = named(
  'VersionResult',
  object({
    daemonVersion: string({ description: 'Telepath product version of the daemon.' }),
    protocolVersion: string({ description: 'The protocol version the daemon speaks.' }),
    managerVersion: optional(string({ description: 'Version of the traffic-manager, when connected.' })),
    apiLevels: optional(string({ description: 'The traffic-manager API levels the daemon speaks, "min-level", e.g. "1-2".' })),
    managerApiLevels: optional(string({ description: 'The API levels the traffic-manager serves, when connected.' })),
    manager: optional(ManagerChoice),
  }),
);
export type VersionResult = Infer<typeof VersionResult>;

export const UninstallParams = named(
  'UninstallParams',
  object({
    everything: optional(
      literal(true, {
        description:
          'Remove the traffic-manager and every agent, and restore every workload, Service, DNS setting and route.',
      }),
    ),
    agent: optional(
      string({
        description: 'Remove the agent from this workload ("name" or "kind/name") and restore it and its Services; ' +
          'ends every intercept on it. Exactly one of everything and agent.',
        minLength: 1,
      }),
    ),
    namespace: optional(string({ description: "The agent's namespace; default: the connected one." })),
    context: optional(string({ description: 'Kubeconfig context; default: the connected one, else the current one.' })),
    kubeconfig: optional(string({ description: 'Path of the kubeconfig; default as for connect.' })),
    progressToken: optional(string({ description: 'Echoed in the `progress` notifications this request causes.' })),
  }),
);
export type UninstallParams = Infer<typeof UninstallParams>;

export const UninstallResult = named(
  'UninstallResult',
  object({
    removed: array(string(), { description: 'What was removed or restored, one line each, for the user to read.' }),
  }),
);
export type UninstallResult = Infer<typeof UninstallResult>;

// ---- kubeconfig contexts and namespaces ----

export const ContextsParams = named(
  'ContextsParams',
  object({ kubeconfig: optional(string({ description: 'Path of the kubeconfig; default as for connect.' })) }),
);
export type ContextsParams = Infer<typeof ContextsParams>;

export const ContextsResult = named(
  'ContextsResult',
  object({
    kubeconfig: string({ description: 'The kubeconfig that was read.' }),
    current: optional(string({ description: "The kubeconfig's current context." })),
    contexts: array(
      object({
        name: string(),
        cluster: string({ description: "The cluster's API server URL." }),
        namespace: optional(string({ description: "The context's namespace, if it sets one." })),
      }),
    ),
  }),
);
export type ContextsResult = Infer<typeof ContextsResult>;

export const NamespacesResult = named(
  'NamespacesResult',
  object({ namespaces: array(string(), { description: 'Every namespace the user may list; just the connected one when listing is forbidden.' }) }),
);
export type NamespacesResult = Infer<typeof NamespacesResult>;

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug', 'trace'] as const;
export const LogLevel = stringEnum(LOG_LEVELS);
export type LogLevel = Infer<typeof LogLevel>;

export const SetLogLevelParams = named(
  'SetLogLevelParams',
  object({
    level: LogLevel,
    durationMs: optional(
      integer({
        description: 'Return to the configured level after this long; default: until the daemon exits.',
        minimum: 1,
      }),
    ),
  }),
);
export type SetLogLevelParams = Infer<typeof SetLogLevelParams>;

// ---- notifications ----

export const ProgressParams = named(
  'ProgressParams',
  object({
    token: optional(string({ description: 'The progressToken of the request this belongs to, if it had one.' })),
    kind: stringEnum(['begin', 'report', 'end']),
    message: string({ description: 'One line for the user, e.g. "Installing traffic-manager 0.1.0".' }),
    percentage: optional(integer({ minimum: 0, maximum: 100 })),
  }),
);
export type ProgressParams = Infer<typeof ProgressParams>;
