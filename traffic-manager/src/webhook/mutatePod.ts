/**
 * The agent injection itself, as a pure function from the Pod being created to the JSON Patch that
 * the webhook answers with. The daemon marked the pod template (label + AgentConfig annotation,
 * protocol/src/agent/agentConfig.ts); here the app's ports are renamed where the agent takes their
 * names, and the traffic-agent container, its bundle volume and the token volume by which it
 * proves to the manager which pod it runs in are added.
 *
 * Anything doubtful means no patch at all: the pod must still start as the user wrote it, and a
 * patch that made the Pod invalid would make the API server refuse the pod outright (failurePolicy
 * Ignore covers only a webhook that fails, not a bad answer).
 */
import { createHash } from 'node:crypto';
import type { Container, EnvVar, Pod, Volume, VolumeMount } from 'kubernetes-types/core/v1';
import {
  AGENT_BUNDLE_CONFIGMAP,
  AGENT_BUNDLE_DIR,
  AGENT_MOUNTS_DIR,
  AGENT_CONFIG_ANNOTATION,
  AGENT_CONFIG_ENV,
  AGENT_CONTAINER_NAME,
  AGENT_LOADER_KEY,
  AGENT_MANAGER_ADDRESS_ENV,
  AGENT_NAMESPACE_ENV,
  AGENT_POD_IP_ENV,
  AGENT_POD_NAME_ENV,
  AGENT_TOKEN_AUDIENCE,
  AGENT_TOKEN_DIR,
  AGENT_TOKEN_EXPIRATION_SECONDS,
  AGENT_TOKEN_FILE,
  type AgentConfig,
  parseAgentConfig,
} from '../../../protocol/src/agent/agentConfig.js';
import { type JsonPatchOp, jsonPointer } from './jsonPatch.js';

/** Pod annotation the webhook adds, holding a hash of the config it injected, for people and tools. */
export const AGENT_INJECTED_ANNOTATION = 'telepath.io/agent-injected';
/** The pod volume of the agent bundle ConfigMap. */
export const AGENT_BUNDLE_VOLUME = 'telepath-agent-bundle';
/**
 * The pod volume of the agent's identity token: a ServiceAccount token bound to the pod, for the
 * manager's audience only, mounted in the agent container alone. A projected volume, so it works
 * under the "restricted" Pod Security level and with automountServiceAccountToken: false.
 */
export const AGENT_TOKEN_VOLUME = 'telepath-agent-token';
/** Where the agent sees each of the app container's volume mounts, under the app's mount path. */
export { AGENT_MOUNTS_DIR };
/** Where the ServiceAccount admission plugin mounts the API token. */
const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** The `node` user of the official Node images. */
const NODE_UID = 1000;

export interface MutatePodOptions {
  /** The agent's image (the Node image the manager runs on). */
  image: string;
  /** host:port of the manager's gRPC service, for the agent. */
  managerAddress: string;
  /** The pod's namespace, from the AdmissionRequest: a pod being created may not carry it yet. */
  namespace: string;
}

export interface PodMutation {
  /** Empty when the pod is to be admitted unchanged. */
  patch: JsonPatchOp[];
  /** Why nothing was injected, for the log. */
  problems: string[];
  /** The config that was injected. */
  config?: AgentConfig;
}

type Handler = { httpGet?: { port: number | string }; tcpSocket?: { port: number | string } };

export function mutatePod(pod: Pod, opts: MutatePodOptions): PodMutation {
  const none = (...problems: string[]): PodMutation => ({ patch: [], problems });
  const json = pod.metadata?.annotations?.[AGENT_CONFIG_ANNOTATION];
  if (json === undefined) return none(`the pod has no ${AGENT_CONFIG_ANNOTATION} annotation`);
  const spec = pod.spec ?? { containers: [] };
  const containers = spec.containers ?? [];
  const everyContainer = [...(spec.initContainers ?? []), ...containers];
  if (everyContainer.some((c) => c.name === AGENT_CONTAINER_NAME)) return none(`the pod already has a ${AGENT_CONTAINER_NAME} container`);
  let config: AgentConfig;
  try {
    config = parseAgentConfig(json);
  } catch (e) {
    return none(e instanceof Error ? e.message : String(e));
  }
  // A template copied to another namespace carries its annotation along; its agent would report
  // itself as the other namespace's workload.
  if (config.workload.namespace !== opts.namespace) {
    return none(`the agent config is for namespace ${config.workload.namespace}, but the pod is in ${opts.namespace}`);
  }
  const appIndex = containers.findIndex((c) => c.name === config.container);
  if (appIndex < 0) return none(`the agent config names container ${config.container}, which the pod does not have`);
  const app = containers[appIndex];
  for (const name of [AGENT_BUNDLE_VOLUME, AGENT_TOKEN_VOLUME]) {
    if (spec.volumes?.some((v) => v.name === name)) return none(`the pod already has a volume named ${name}`);
  }

  const problems: string[] = [];
  const patch: JsonPatchOp[] = [];
  const renames = new Map<string, string>();
  const appPorts = app.ports ?? [];
  for (const p of config.ports) {
    if (p.appPortRename === undefined) continue;
    const j = appPorts.findIndex((cp) => cp.name === p.name);
    if (j < 0) {
      problems.push(`container ${app.name} has no port named ${p.name} to rename to ${p.appPortRename}`);
      continue;
    }
    if (appPorts[j].containerPort !== p.appPort) {
      problems.push(`container ${app.name}'s port ${p.name} is ${appPorts[j].containerPort}, but the agent config forwards to ${p.appPort}`);
    }
    renames.set(p.name, p.appPortRename);
    patch.push({ op: 'replace', path: jsonPointer('spec', 'containers', appIndex, 'ports', j, 'name'), value: p.appPortRename });
  }
  problems.push(...portConflicts(everyContainer, app, config, renames));
  if (problems.length > 0) return none(...problems);

  patch.push(...handlerRewrites(app, appIndex, renames));
  patch.push({ op: 'add', path: jsonPointer('spec', 'containers', '-'), value: agentContainer(app, config, json, opts) });
  const volumes: Volume[] = [
    { name: AGENT_BUNDLE_VOLUME, configMap: { name: AGENT_BUNDLE_CONFIGMAP, defaultMode: 0o444 } },
    {
      name: AGENT_TOKEN_VOLUME,
      projected: {
        sources: [{ serviceAccountToken: { audience: AGENT_TOKEN_AUDIENCE, expirationSeconds: AGENT_TOKEN_EXPIRATION_SECONDS, path: AGENT_TOKEN_FILE } }],
      },
    },
  ];
  // "add" to /spec/volumes/- needs the array; a pod without volumes gets the whole array instead.
  if (spec.volumes) patch.push(...volumes.map((value): JsonPatchOp => ({ op: 'add', path: jsonPointer('spec', 'volumes', '-'), value })));
  else patch.push({ op: 'add', path: jsonPointer('spec', 'volumes'), value: volumes });
  patch.push({ op: 'add', path: jsonPointer('metadata', 'annotations', AGENT_INJECTED_ANNOTATION), value: configHash(json) });
  return { patch, problems: [], config };
}

/**
 * What would make the agent's ports collide with the pod's: a port name that Service targetPorts
 * would then find twice, a renamed app port clashing with another of its ports, or an agent port
 * number a container already declares (containers share the pod's network namespace).
 */
function portConflicts(containers: Container[], app: Container, config: AgentConfig, renames: Map<string, string>): string[] {
  const problems: string[] = [];
  const agentNames = new Set(config.ports.map((p) => p.name));
  for (const c of containers) {
    const seen = new Set<string>();
    for (const cp of c.ports ?? []) {
      const name = cp.name && c === app ? (renames.get(cp.name) ?? cp.name) : cp.name;
      if (name && agentNames.has(name)) problems.push(`container ${c.name} has a port named ${name}, which the agent needs`);
      if (name && seen.has(name)) problems.push(`renaming would give container ${c.name} two ports named ${name}`);
      if (name) seen.add(name);
      const clash = config.ports.find((p) => p.agentPort === cp.containerPort && p.protocol === (cp.protocol ?? 'TCP'));
      if (clash) problems.push(`container ${c.name} declares port ${cp.containerPort}/${clash.protocol}, which the agent would listen on`);
    }
  }
  return problems;
}

/**
 * The kubelet resolves a probe's or lifecycle hook's named port against that container's own
 * ports, so only the app container's handlers follow its renamed ports; they keep reaching the
 * app directly, not through the agent.
 */
function handlerRewrites(app: Container, appIndex: number, renames: Map<string, string>): JsonPatchOp[] {
  if (renames.size === 0) return [];
  const handlers: [string[], Handler | undefined][] = [
    [['livenessProbe'], app.livenessProbe],
    [['readinessProbe'], app.readinessProbe],
    [['startupProbe'], app.startupProbe],
    [['lifecycle', 'postStart'], app.lifecycle?.postStart],
    [['lifecycle', 'preStop'], app.lifecycle?.preStop],
  ];
  const ops: JsonPatchOp[] = [];
  for (const [at, handler] of handlers) {
    for (const kind of ['httpGet', 'tcpSocket'] as const) {
      const port = handler?.[kind]?.port;
      const renamed = typeof port === 'string' ? renames.get(port) : undefined;
      if (renamed) ops.push({ op: 'replace', path: jsonPointer('spec', 'containers', appIndex, ...at, kind, 'port'), value: renamed });
    }
  }
  return ops;
}

function agentContainer(app: Container, config: AgentConfig, configJson: string, opts: MutatePodOptions): Container {
  const fieldRef = (fieldPath: string): EnvVar['valueFrom'] => ({ fieldRef: { fieldPath } });
  const probePort = config.ports.find((p) => p.protocol === 'TCP');
  const container: Container = {
    name: AGENT_CONTAINER_NAME,
    image: opts.image,
    imagePullPolicy: 'IfNotPresent',
    command: ['node', `${AGENT_BUNDLE_DIR}/${AGENT_LOADER_KEY}`],
    ports: config.ports.map((p) => ({ name: p.name, containerPort: p.agentPort, protocol: p.protocol })),
    // The app's own variables first, so the kubelet resolves them for the agent exactly as for the
    // app and the agent can report them as the app's environment.
    env: [
      ...(app.env ?? []).map((e) => envForAgent(e, app.name)),
      // The kubelet expands $(VAR) in values and turns $$ into $, so doubling every $ passes the
      // JSON through unchanged.
      { name: AGENT_CONFIG_ENV, value: configJson.replace(/\$/g, '$$$$') },
      { name: AGENT_POD_NAME_ENV, valueFrom: fieldRef('metadata.name') },
      { name: AGENT_POD_IP_ENV, valueFrom: fieldRef('status.podIP') },
      { name: AGENT_NAMESPACE_ENV, valueFrom: fieldRef('metadata.namespace') },
      { name: AGENT_MANAGER_ADDRESS_ENV, value: opts.managerAddress },
    ],
    volumeMounts: agentMounts(app),
    resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
    // Enough for the "restricted" Pod Security level, which validates the pod after we mutate it.
    securityContext: {
      runAsNonRoot: true,
      runAsUser: NODE_UID,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
  };
  if (app.envFrom) container.envFrom = structuredClone(app.envFrom);
  // A UDP-only agent has nothing a TCP probe could reach.
  if (probePort) container.readinessProbe = { tcpSocket: { port: probePort.agentPort }, periodSeconds: 2 };
  return container;
}

/** A resourceFieldRef without containerName means "this container": pin it to the app's. */
function envForAgent(e: EnvVar, appName: string): EnvVar {
  const copy = structuredClone(e);
  const ref = copy.valueFrom?.resourceFieldRef;
  if (ref && !ref.containerName) ref.containerName = appName;
  return copy;
}

/**
 * The bundle, the agent's identity token, the API token where the app has one, and every other
 * mount of the app under AGENT_MOUNTS_DIR. The API token mount must be copied: the ServiceAccount
 * admission plugin ran before the webhooks and never sees the agent container
 * (kubernetes/kubernetes#69733).
 */
function agentMounts(app: Container): VolumeMount[] {
  const mounts: VolumeMount[] = [
    { name: AGENT_BUNDLE_VOLUME, mountPath: AGENT_BUNDLE_DIR, readOnly: true },
    { name: AGENT_TOKEN_VOLUME, mountPath: AGENT_TOKEN_DIR, readOnly: true },
  ];
  for (const m of app.volumeMounts ?? []) {
    const atTokenDir = m.mountPath.replace(/\/+$/, '') === SERVICE_ACCOUNT_DIR;
    if (atTokenDir) mounts.push({ name: m.name, mountPath: SERVICE_ACCOUNT_DIR, readOnly: true });
    if (atTokenDir || m.name.startsWith('kube-api-access-')) continue;
    const copy: VolumeMount = { name: m.name, mountPath: `${AGENT_MOUNTS_DIR}${m.mountPath.startsWith('/') ? '' : '/'}${m.mountPath}` };
    if (m.readOnly !== undefined) copy.readOnly = m.readOnly;
    if (m.recursiveReadOnly !== undefined) copy.recursiveReadOnly = m.recursiveReadOnly;
    if (m.subPath !== undefined) copy.subPath = m.subPath;
    if (m.subPathExpr !== undefined) copy.subPathExpr = m.subPathExpr;
    // mountPropagation is left out: Bidirectional needs a privileged container.
    mounts.push(copy);
  }
  return mounts;
}

function configHash(json: string): string {
  return createHash('sha256').update(json).digest('hex').slice(0, 16);
}
