/**
 * Plans the traffic-agent of a workload: the AgentConfig that the daemon writes on the pod template
 * (see protocol/src/agent/agentConfig.ts) and the Service changes that route Service traffic to it.
 *
 * One config covers every TCP port through which Services reach the chosen container, so the first
 * intercept costs one rollout and later intercepts on other ports cost none. Planning is pure and
 * deterministic: the same workload and Services give byte-identical JSON, also when planned again
 * on the workload and Services as the plan left them — which is how the daemon tells that nothing
 * needs to change.
 */
import {
  AGENT_API_LEVELS_ANNOTATION,
  AGENT_CONFIG_ANNOTATION,
  AGENT_CONTAINER_NAME,
  AGENT_INJECT_LABEL,
  AGENT_INJECT_VALUE,
  AGENT_VERSION_ANNOTATION,
  agentConfigProblem,
  FIRST_AGENT_PORT,
  isPortName,
  numericAgentPortName,
  renamedAppPortName,
  WORKLOAD_KINDS,
  type AgentConfig,
  type AgentPort,
  type ServicePortRef,
  type WorkloadKind,
} from '../../../../protocol/src/agent/agentConfig.js';
import { agentAnnotations, type AgentBuild } from './agentVersion.js';
import {
  compareStrings,
  findServicesFor,
  isAgentMarked,
  originalTargetPorts,
  type ContainerObject,
  type PodTemplateObject,
  type ServiceObject,
  type WorkloadObject,
} from '../../../../common/src/agents/agentObjects.js';
import type { TemplatePatch } from '../../../../common/src/agents/agentRemoval.js';
import { sortedJson, type ServicePatch, type TargetPortRepoint } from '../../../../common/src/agents/servicePatches.js';
import { InterceptPlanError } from './interceptPlanError.js';
import { appContainers, formatServicePort, resolveServicePorts, type ResolvedServicePort } from './workloadPorts.js';

// The planning API in one import.
export { InterceptPlanError } from './interceptPlanError.js';
export { parsePortSpec, resolvePortChoice } from './portChoice.js';
export { servicePatch, serviceRestorePatch, type ServicePatch } from '../../../../common/src/agents/servicePatches.js';
export { templateRemovalPatch, type TemplatePatch } from '../../../../common/src/agents/agentRemoval.js';
export { findServicesFor } from '../../../../common/src/agents/agentObjects.js';
export { interceptablePorts, type InterceptablePort } from './workloadPorts.js';

export interface PlanOptions {
  /** The app container to intercept (`--container`); needed when Services reach several. */
  container?: string;
}

export interface AgentPlan {
  config: AgentConfig;
  /** Only Services that still need a change; empty when planning again after they were patched. */
  servicePatches: ServicePatch[];
}

const HIGHEST_PORT = 65535;

export function planAgent(workload: WorkloadObject, services: readonly ServiceObject[], options: PlanOptions = {}): AgentPlan {
  const id = identify(workload);
  const what = `${id.kind} ${id.name}`;
  const template = workload.spec?.template;
  const containers = appContainers(template);
  if (containers.length === 0) throw new Error(`${what} in namespace ${id.namespace} has no containers in its pod template`);

  const resolved = resolveServicePorts(workload, services);
  if (resolved.length === 0) throw noServiceError(workload, services, what, id.namespace);
  const container = chooseContainer(what, containers, resolved, options.container);
  const chosen = resolved.filter((r) => r.container === container && r.interceptable);

  const groups = groupByAppPort(chosen);
  const names = agentPortNames(what, template?.spec, groups);
  const agentPorts = allocateAgentPorts(template?.spec, resolved, groups.length, what);
  const ports: AgentPort[] = groups.map((g, i) => {
    const n = names[i];
    return {
      agentPort: agentPorts[i],
      name: n.name,
      appPort: g.appPort,
      ...(n.appPortRename !== undefined ? { appPortRename: n.appPortRename } : {}),
      protocol: 'TCP',
      services: g.entries.map((r): ServicePortRef => ({ service: r.service, portName: r.portName, port: r.port })),
    };
  });
  const config: AgentConfig = { version: 1, workload: id, container, ports };
  const problem = agentConfigProblem(config);
  if (problem) throw new Error(`planned an invalid agent config for ${what}: ${problem}`);

  const nameOf = new Map(groups.map((g, i) => [g.appPort, names[i].name]));
  return { config, servicePatches: servicePatchesFor(chosen, nameOf, id.namespace) };
}

/** The AgentConfig as the annotation holds it: fields in a fixed order, so equal configs give equal JSON. */
export function agentConfigJson(config: AgentConfig): string {
  const canonical: AgentConfig = {
    version: config.version,
    workload: { kind: config.workload.kind, name: config.workload.name, namespace: config.workload.namespace },
    container: config.container,
    ports: config.ports.map((p) => ({
      agentPort: p.agentPort,
      name: p.name,
      appPort: p.appPort,
      ...(p.appPortRename !== undefined ? { appPortRename: p.appPortRename } : {}),
      protocol: p.protocol,
      services: p.services.map((s) => ({ service: s.service, portName: s.portName, port: s.port })),
    })),
  };
  return JSON.stringify(canonical);
}

/** True when the pod template already asks for exactly this agent, so no rollout is needed. */
export function isAgentCurrent(workload: WorkloadObject, config: AgentConfig): boolean {
  return isAgentMarked(workload) && workload.spec?.template?.metadata?.annotations?.[AGENT_CONFIG_ANNOTATION] === agentConfigJson(config);
}

/**
 * Marks the pod template for injection with `config` and names the agent its pods will run
 * (agentVersion.ts); changing either rolls the workload out.
 */
export function templatePatch(config: AgentConfig, agent: AgentBuild): TemplatePatch {
  return {
    spec: {
      template: {
        metadata: {
          labels: { [AGENT_INJECT_LABEL]: AGENT_INJECT_VALUE },
          annotations: { [AGENT_CONFIG_ANNOTATION]: agentConfigJson(config), ...agentAnnotations(agent) },
        },
      },
    },
  };
}

/**
 * Names the agent `template` named before (or none), undoing a rollout that only changed the
 * agent: the workload keeps the agent it had rather than losing it.
 */
export function agentRestorePatch(template: { annotations?: Record<string, string> } | undefined): TemplatePatch {
  const before = template?.annotations ?? {};
  return {
    spec: {
      template: {
        metadata: {
          labels: {},
          annotations: {
            [AGENT_VERSION_ANNOTATION]: before[AGENT_VERSION_ANNOTATION] ?? null,
            [AGENT_API_LEVELS_ANNOTATION]: before[AGENT_API_LEVELS_ANNOTATION] ?? null,
          },
        },
      },
    },
  };
}

function identify(workload: WorkloadObject): AgentConfig['workload'] {
  const { kind } = workload;
  const name = workload.metadata?.name;
  const namespace = workload.metadata?.namespace;
  // List responses leave kind out; the caller knows it from the API it listed.
  if (!kind) throw new Error(`workload ${name ?? '(unnamed)'} has no kind; set it before planning`);
  if (!name || !namespace) throw new Error(`${kind} object has no name or namespace`);
  if (!WORKLOAD_KINDS.includes(kind as WorkloadKind)) {
    throw new InterceptPlanError(`${kind} ${name} cannot be intercepted: Telepath intercepts Deployments, StatefulSets and ReplicaSets`);
  }
  const owner = workload.metadata?.ownerReferences?.find((o) => o.kind === 'Deployment');
  if (kind === 'ReplicaSet' && owner) {
    throw new InterceptPlanError(
      `ReplicaSet ${name} is managed by Deployment ${owner.name}, which would undo changes to it; intercept the Deployment ${owner.name} instead`,
    );
  }
  return { kind: kind as WorkloadKind, name, namespace };
}

function noServiceError(workload: WorkloadObject, services: readonly ServiceObject[], what: string, namespace: string): InterceptPlanError {
  const inNamespace = services.filter((s) => !s.metadata?.namespace || s.metadata.namespace === namespace);
  const selecting = findServicesFor(workload.spec?.template?.metadata?.labels, inNamespace).map((s) => s.metadata?.name ?? '');
  if (selecting.length === 0) {
    return new InterceptPlanError(
      `no Service selects ${what} in namespace ${namespace}; Telepath intercepts traffic that arrives through a Service, ` +
        `so create a Service whose selector matches the pod template's labels`,
    );
  }
  return new InterceptPlanError(
    `Service ${selecting.sort(compareStrings).join(', ')} selects ${what}, but none of its targetPorts names a port that a container ` +
      `of ${what} declares; fix the Service's targetPort or the container's ports`,
  );
}

function chooseContainer(what: string, containers: ContainerObject[], resolved: ResolvedServicePort[], wanted: string | undefined): string {
  const reaching = (r: ResolvedServicePort[]) =>
    containers
      .filter((c) => r.some((x) => x.container === c.name))
      .map((c) => `${c.name} (${r.filter((x) => x.container === c.name).map(formatServicePort).join(', ')})`)
      .join('; ');
  const tcp = resolved.filter((r) => r.interceptable);
  if (wanted !== undefined) {
    if (!containers.some((c) => c.name === wanted)) {
      throw new InterceptPlanError(`${what} has no container "${wanted}"; its containers are: ${containers.map((c) => c.name).join(', ')}`);
    }
    if (tcp.some((r) => r.container === wanted)) return wanted;
    const other = resolved.filter((r) => r.container === wanted);
    if (other.length > 0) throw onlyUdpError(`container ${wanted} of ${what}`, other);
    throw new InterceptPlanError(
      `no Service port reaches container ${wanted} of ${what}; Service ports reach: ${reaching(resolved)}. Choose one of those with --container`,
    );
  }
  if (tcp.length === 0) throw onlyUdpError(what, resolved);
  const owners = containers.filter((c) => tcp.some((r) => r.container === c.name));
  if (owners.length > 1) {
    throw new InterceptPlanError(
      `the Service ports of ${what} reach more than one container: ${reaching(tcp)}; choose one with --container <name>`,
    );
  }
  return owners[0].name;
}

function onlyUdpError(what: string, ports: ResolvedServicePort[]): InterceptPlanError {
  const listed = ports.map((p) => `${formatServicePort(p)} ${p.protocol}`).join(', ');
  return new InterceptPlanError(
    `${what} receives only ${[...new Set(ports.map((p) => p.protocol))].join(' and ')} traffic through its Services (${listed}); ` +
      `Telepath intercepts TCP ports only`,
  );
}

interface AppPortGroup {
  appPort: number;
  /** The Service ports that reach appPort, by Service name then port. */
  entries: ResolvedServicePort[];
}

function groupByAppPort(ports: ResolvedServicePort[]): AppPortGroup[] {
  const groups = new Map<number, ResolvedServicePort[]>();
  for (const r of ports) groups.set(r.containerPort, [...(groups.get(r.containerPort) ?? []), r]);
  return [...groups.entries()]
    .sort(([a], [b]) => a - b)
    .map(([appPort, entries]) => ({
      appPort,
      entries: [...entries].sort((a, b) => compareStrings(a.service, b.service) || a.port - b.port),
    }));
}

interface AgentPortName {
  name: string;
  appPortRename?: string;
}

/**
 * A port that some Service targets by name keeps that name, now on the agent, and the app's port
 * gets a new one; a port targeted only by number gets `tp-<n>`. Names are unique in a pod.
 */
function agentPortNames(what: string, spec: PodSpecPorts, groups: AppPortGroup[]): AgentPortName[] {
  const podNames = new Set(podPorts(spec).flatMap((p) => (p.name ? [p.name] : [])));
  const planned = groups.map((g) => {
    const named = g.entries.find((r) => typeof r.targetPort === 'string');
    return named
      ? { name: String(named.targetPort), byName: true, appPortName: named.containerPortName }
      : { name: numericAgentPortName(g.appPort), byName: false, appPortName: undefined };
  });
  for (const p of planned) {
    if (!p.byName && podNames.has(p.name)) {
      throw new InterceptPlanError(
        `${what} declares a container port named ${p.name}, a name Telepath needs for its agent; rename that port in the pod template`,
      );
    }
  }
  // The app ports being renamed give up their names; the agent ports take theirs.
  const taken = new Set(podNames);
  for (const p of planned) if (p.appPortName !== undefined) taken.delete(p.appPortName);
  for (const p of planned) taken.add(p.name);
  return planned.map((p) => {
    if (!p.byName) return { name: p.name };
    const appPortRename = freeName(renamedAppPortName(p.name), taken);
    taken.add(appPortRename);
    return { name: p.name, appPortRename };
  });
}

/** `base`, or `base` cut short with a `-<n>` suffix when taken: still a valid port name of ≤15 characters. */
function freeName(base: string, taken: Set<string>): string {
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) {
    const suffix = `-${i}`;
    const candidate = base.slice(0, 15 - suffix.length).replace(/-+$/, '') + suffix;
    if (isPortName(candidate) && !taken.has(candidate)) return candidate;
  }
}

/**
 * Agent ports from FIRST_AGENT_PORT up, skipping every port the pod declares (container and host
 * ports) and every port Services send to, declared or not, so the agent never takes an app's port.
 */
function allocateAgentPorts(spec: PodSpecPorts, resolved: ResolvedServicePort[], count: number, what: string): number[] {
  const used = new Set<number>(resolved.map((r) => r.containerPort));
  for (const p of podPorts(spec)) {
    used.add(p.containerPort);
    if (p.hostPort) used.add(p.hostPort);
  }
  const result: number[] = [];
  for (let port = FIRST_AGENT_PORT; result.length < count; port++) {
    if (port > HIGHEST_PORT) throw new InterceptPlanError(`${what} uses every port from ${FIRST_AGENT_PORT} up; there is none left for the agent`);
    if (!used.has(port)) result.push(port);
  }
  return result;
}

type PodSpecPorts = PodTemplateObject['spec'];

function podPorts(spec: PodSpecPorts): NonNullable<ContainerObject['ports']> {
  return [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])]
    .filter((c) => c.name !== AGENT_CONTAINER_NAME)
    .flatMap((c) => c.ports ?? []);
}

/** Services with a numeric targetPort to the chosen container that do not point at the agent yet. */
function servicePatchesFor(chosen: ResolvedServicePort[], nameOf: Map<number, string>, namespace: string): ServicePatch[] {
  const byService = new Map<string, { service: ServiceObject; ports: TargetPortRepoint[] }>();
  for (const r of chosen) {
    if (typeof r.targetPort !== 'number') continue;
    const to = nameOf.get(r.containerPort);
    if (to === undefined) continue;
    if (r.currentTargetPort === to && originalTargetPorts(r.serviceObject)[r.key] === r.targetPort) continue;
    const entry = byService.get(r.service) ?? { service: r.serviceObject, ports: [] };
    entry.ports.push({ key: r.key, from: r.targetPort, to });
    byService.set(r.service, entry);
  }
  return [...byService.entries()]
    .sort(([a], [b]) => compareStrings(a, b))
    .map(([name, { service, ports }]) => ({
      service: name,
      namespace,
      ports,
      annotation: sortedJson({ ...originalTargetPorts(service), ...Object.fromEntries(ports.map((p) => [p.key, p.from])) }),
    }));
}
