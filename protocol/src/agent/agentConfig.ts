/**
 * The traffic-agent's configuration: the contract between the daemon (which computes it from the
 * workload and its Services and writes it, with the user's credentials, as an annotation on the
 * workload's pod template), the manager's webhook (which reads it from the pod being created and
 * injects the agent accordingly) and the agent (which reads it from its environment).
 *
 * Ports without NET_ADMIN (docs/intercept.md):
 * - a Service whose targetPort is a *name*: the app container's port of that name is renamed to
 *   `appPortRename` and the agent's port takes the name, so the Service reaches the agent;
 * - a Service whose targetPort is a *number*: the agent's port gets a fresh name (`tp-<number>`),
 *   and the daemon points the Service's targetPort at that name, keeping the original number in
 *   the Service annotation ORIGINAL_TARGET_PORTS_ANNOTATION to restore it on uninstall.
 * Either way the agent listens on `agentPort` and forwards what it does not intercept to the app on
 * `appPort` inside the pod.
 */

/** The injected container's name. */
export const AGENT_CONTAINER_NAME = 'telepath-agent';
/**
 * Pod-template label that marks a workload for injection; the webhook's objectSelector matches it,
 * so the API server calls the webhook only for marked pods.
 */
export const AGENT_INJECT_LABEL = 'telepath.io/agent';
export const AGENT_INJECT_VALUE = 'enabled';
/** Pod-template annotation holding the JSON AgentConfig. */
export const AGENT_CONFIG_ANNOTATION = 'telepath.io/agent-config';
/**
 * Pod-template annotations naming the agent the daemon rolled the workload out with: its product
 * version and API levels ("1-2"). Pods carry them from their template, so the daemon knows which
 * agent runs before it reaches the manager. Missing on workloads marked before 0.2.0.
 */
export const AGENT_VERSION_ANNOTATION = 'telepath.io/agent-version';
export const AGENT_API_LEVELS_ANNOTATION = 'telepath.io/agent-api-levels';
/**
 * ConfigMap, in the workload's namespace (a pod can only mount ConfigMaps of its own namespace),
 * holding the agent bundle (gzipped) and its loader. Written by the daemon.
 */
export const AGENT_BUNDLE_CONFIGMAP = 'telepath-agent';
export const AGENT_LOADER_KEY = 'traffic-agent.js';
export const AGENT_BUNDLE_KEY = 'traffic-agent.js.gz';
/** Where the webhook mounts that ConfigMap in the agent container. */
export const AGENT_BUNDLE_DIR = '/telepath-agent';
/**
 * Where the webhook mounts the app container's volumes in the agent (app `/etc/x` → agent
 * `/telepath-agent-mounts/etc/x`); the agent serves this tree to the workstation.
 */
export const AGENT_MOUNTS_DIR = '/telepath-agent-mounts';
/**
 * Service annotation: JSON object from the Service port's key (its name, or its port number when
 * it has no name) to the original numeric targetPort, for ports the daemon re-pointed at the agent.
 */
export const ORIGINAL_TARGET_PORTS_ANNOTATION = 'telepath.io/original-target-ports';
/**
 * Every environment variable the webhook gives the agent for its own use starts with this; the
 * agent reports its environment minus these (and minus IMAGE_ENV_KEYS) as the app's environment,
 * because the webhook copies the app container's `env` and `envFrom` into the agent unchanged.
 */
export const AGENT_ENV_PREFIX = '_TP_';
/** The JSON AgentConfig. */
export const AGENT_CONFIG_ENV = '_TP_AGENT_CONFIG';
/** Pod facts from the downward API. */
export const AGENT_POD_NAME_ENV = '_TP_POD_NAME';
export const AGENT_POD_IP_ENV = '_TP_POD_IP';
export const AGENT_NAMESPACE_ENV = '_TP_NAMESPACE';
/** host:port of the traffic-manager's gRPC service. */
export const AGENT_MANAGER_ADDRESS_ENV = '_TP_MANAGER_ADDRESS';
/**
 * The agent proves to the manager which pod it runs in with a ServiceAccount token bound to that
 * pod: the webhook mounts a projected token of this audience in the agent container only, at
 * AGENT_TOKEN_DIR/AGENT_TOKEN_FILE; the agent sends it with ArriveAsAgent as
 * `authorization: Bearer <token>`, and the manager asks the API server (TokenReview) whose it is.
 * A token of this audience is good for nothing else: the API server refuses it.
 */
export const AGENT_TOKEN_AUDIENCE = 'telepath.io/traffic-manager';
export const AGENT_TOKEN_DIR = '/var/run/secrets/telepath.io';
export const AGENT_TOKEN_FILE = 'token';
/** Life of each token (at least 600); the kubelet writes a new one at 80 % of it. */
export const AGENT_TOKEN_EXPIRATION_SECONDS = 3600;
/** Variables that come from the agent's image or the runtime, not from the app container's spec. */
export const IMAGE_ENV_KEYS: readonly string[] = ['PATH', 'HOME', 'HOSTNAME', 'NODE_VERSION', 'YARN_VERSION', 'TERM', 'PWD', 'SHLVL'];
/** First port the daemon hands out to the agent; the next free ones follow. */
export const FIRST_AGENT_PORT = 9900;

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'ReplicaSet';
export const WORKLOAD_KINDS: readonly WorkloadKind[] = ['Deployment', 'StatefulSet', 'ReplicaSet'];

export interface ServicePortRef {
  /** The Service's name. */
  service: string;
  /** The Service port's name ('' when it has none) and number. */
  portName: string;
  port: number;
}

export interface AgentPort {
  /** The port the agent listens on, inside the pod. */
  agentPort: number;
  /** The agent container port's name: the Service's targetPort name, or `tp-<appPort>`. */
  name: string;
  /** The app container's port that the agent forwards to. */
  appPort: number;
  /** Set when the Service's targetPort was this name: the app's port is renamed to this. */
  appPortRename?: string;
  protocol: 'TCP' | 'UDP';
  /** The Service ports that reach this agent port, for listings and the `--port` choice. */
  services: ServicePortRef[];
}

export interface AgentConfig {
  version: 1;
  workload: { kind: WorkloadKind; name: string; namespace: string };
  /** The app container whose ports and environment the agent takes. */
  container: string;
  ports: AgentPort[];
}

const PORT_NAME = /^(?=.*[a-z])(?!.*--)[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/;

/** The agent port name for a Service whose targetPort is the number `appPort`. */
export function numericAgentPortName(appPort: number): string {
  return `tp-${appPort}`;
}

/** The name an app port named `name` gets when the agent takes `name` (at most 15 characters). */
export function renamedAppPortName(name: string): string {
  return `tpa-${name}`.slice(0, 15).replace(/-+$/, '');
}

/** Parses and checks an AgentConfig; throws an Error naming the first problem. */
export function parseAgentConfig(json: string): AgentConfig {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (e) {
    throw new Error(`agent config is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  const problem = agentConfigProblem(v);
  if (problem) throw new Error(`bad agent config: ${problem}`);
  return v as AgentConfig;
}

/** Why `v` is not a valid AgentConfig, or undefined when it is. */
export function agentConfigProblem(v: unknown): string | undefined {
  if (!isObject(v)) return 'not an object';
  if (v.version !== 1) return `unsupported version ${JSON.stringify(v.version)}`;
  const w = v.workload;
  if (!isObject(w) || !WORKLOAD_KINDS.includes(w.kind as WorkloadKind) || typeof w.name !== 'string' || typeof w.namespace !== 'string') {
    return 'workload must be {kind, name, namespace}';
  }
  if (typeof v.container !== 'string' || !v.container) return 'container is required';
  if (!Array.isArray(v.ports) || v.ports.length === 0) return 'ports must be a non-empty array';
  const agentPorts = new Set<number>();
  const names = new Set<string>();
  for (const p of v.ports as unknown[]) {
    if (!isObject(p)) return 'a port is not an object';
    if (!isPort(p.agentPort) || !isPort(p.appPort)) return 'agentPort and appPort must be port numbers';
    if (agentPorts.has(p.agentPort)) return `agentPort ${p.agentPort} appears twice`;
    agentPorts.add(p.agentPort);
    if (typeof p.name !== 'string' || !PORT_NAME.test(p.name)) return `bad port name ${JSON.stringify(p.name)}`;
    if (names.has(p.name)) return `port name ${p.name} appears twice`;
    names.add(p.name);
    if (p.appPortRename !== undefined && (typeof p.appPortRename !== 'string' || !PORT_NAME.test(p.appPortRename))) {
      return `bad appPortRename ${JSON.stringify(p.appPortRename)}`;
    }
    if (p.protocol !== 'TCP' && p.protocol !== 'UDP') return `bad protocol ${JSON.stringify(p.protocol)}`;
    if (!Array.isArray(p.services)) return 'services must be an array';
  }
  return undefined;
}

/** True for a valid IANA_SVC_NAME as Kubernetes checks container port names. */
export function isPortName(s: string): boolean {
  return PORT_NAME.test(s);
}

function isPort(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
