/**
 * Which Service ports reach which container port of a workload: the list a user picks an intercept
 * from. It is computed the same way before and after Telepath installed the agent: the webhook
 * changes pods, not the pod template, and a Service that Telepath re-pointed at the agent keeps its
 * original targetPort in ORIGINAL_TARGET_PORTS_ANNOTATION; the agent config on the template covers
 * what neither says.
 *
 * Objects are typed by the few fields read here (common/src/agents/agentObjects.ts), so both
 * `kubernetes-types` objects and `@kubernetes/client-node` V1 classes fit without conversion.
 */
import type { ServicePort } from 'kubernetes-types/core/v1';
import {
  AGENT_CONFIG_ANNOTATION,
  AGENT_CONTAINER_NAME,
  numericAgentPortName,
  parseAgentConfig,
  type AgentConfig,
} from '../../../../protocol/src/agent/agentConfig.js';
import {
  compareStrings,
  findServicesFor,
  originalTargetPorts,
  servicePortKey,
  type ContainerObject,
  type PodTemplateObject,
  type ServiceObject,
  type WorkloadObject,
} from '../../../../common/src/agents/agentObjects.js';

export type PortProtocol = 'TCP' | 'UDP' | 'SCTP';

/** One Service port that reaches the workload, and where it lands. */
export interface InterceptablePort {
  service: string;
  /** The Service port's name; '' when it has none. */
  portName: string;
  port: number;
  /** The Service's targetPort as its owner wrote it, i.e. before Telepath re-pointed it. */
  targetPort: number | string;
  container: string;
  containerPort: number;
  protocol: PortProtocol;
  /** False for UDP and SCTP: they are listed so the user sees them, but the agent intercepts TCP. */
  interceptable: boolean;
}

/** What planning needs beyond the listing. */
export interface ResolvedServicePort extends InterceptablePort {
  serviceObject: ServiceObject;
  /** The Service port's key in ORIGINAL_TARGET_PORTS_ANNOTATION. */
  key: string;
  /** The Service's targetPort now (a name when Telepath re-pointed it). */
  currentTargetPort: number | string;
  /** The name of the container port in the template, when it declares one. */
  containerPortName?: string;
}

/** The Service ports that reach the workload's containers, by Service name then the Service's port order. */
export function interceptablePorts(workload: WorkloadObject, services: readonly ServiceObject[]): InterceptablePort[] {
  return resolveServicePorts(workload, services).map((r) => ({
    service: r.service,
    portName: r.portName,
    port: r.port,
    targetPort: r.targetPort,
    container: r.container,
    containerPort: r.containerPort,
    protocol: r.protocol,
    interceptable: r.interceptable,
  }));
}

/** interceptablePorts with what planning needs. Services from other namespaces are ignored. */
export function resolveServicePorts(workload: WorkloadObject, services: readonly ServiceObject[]): ResolvedServicePort[] {
  const template = workload.spec?.template;
  const containers = appContainers(template);
  if (containers.length === 0) return [];
  const config = installedAgentConfig(workload);
  const namespace = workload.metadata?.namespace;
  const sameNamespace = services.filter((s) => !namespace || !s.metadata?.namespace || s.metadata.namespace === namespace);
  const selecting = findServicesFor(template?.metadata?.labels, sameNamespace).sort((a, b) =>
    compareStrings(a.metadata?.name ?? '', b.metadata?.name ?? ''),
  );
  const result: ResolvedServicePort[] = [];
  for (const service of selecting) {
    for (const port of service.spec?.ports ?? []) {
      const r = resolvePort(service, port, containers, config);
      if (r) result.push(r);
    }
  }
  return result;
}

/** The agent config on the workload's pod template; undefined when absent or unreadable (then planning replaces it). */
export function installedAgentConfig(workload: WorkloadObject): AgentConfig | undefined {
  const json = workload.spec?.template?.metadata?.annotations?.[AGENT_CONFIG_ANNOTATION];
  if (json === undefined) return undefined;
  try {
    return parseAgentConfig(json);
  } catch {
    return undefined;
  }
}

/** How a Service port reads in listings and errors: `service:name/port`, or `service:port` when unnamed. */
export function formatServicePort(p: Pick<InterceptablePort, 'service' | 'portName' | 'port'>): string {
  return p.portName ? `${p.service}:${p.portName}/${p.port}` : `${p.service}:${p.port}`;
}

/** The pod's containers other than an agent (which a pod spec, unlike a template, may carry). */
export function appContainers(template: PodTemplateObject | undefined): ContainerObject[] {
  return (template?.spec?.containers ?? []).filter((c) => c.name !== AGENT_CONTAINER_NAME);
}

export function protocolOf(p: { protocol?: string } | undefined): PortProtocol {
  return p?.protocol === 'UDP' || p?.protocol === 'SCTP' ? p.protocol : 'TCP';
}

function resolvePort(
  service: ServiceObject,
  port: ServicePort,
  containers: ContainerObject[],
  config: AgentConfig | undefined,
): ResolvedServicePort | undefined {
  const protocol = protocolOf(port);
  const current = port.targetPort ?? port.port;
  const original = originalTargetPort(service, port, current, containers, config);
  const landing = typeof original === 'number' ? byNumber(containers, original, protocol) : byName(containers, original, protocol, config);
  // A named targetPort no container declares: Kubernetes sends nothing from this port to this workload.
  if (!landing) return undefined;
  return {
    service: service.metadata?.name ?? '',
    portName: port.name ?? '',
    port: port.port,
    targetPort: original,
    container: landing.container,
    containerPort: landing.containerPort,
    protocol,
    interceptable: protocol === 'TCP',
    serviceObject: service,
    key: servicePortKey(port),
    currentTargetPort: current,
    ...(landing.name !== undefined ? { containerPortName: landing.name } : {}),
  };
}

function originalTargetPort(
  service: ServiceObject,
  port: ServicePort,
  current: number | string,
  containers: ContainerObject[],
  config: AgentConfig | undefined,
): number | string {
  if (typeof current === 'number') return current;
  const recorded = originalTargetPorts(service)[servicePortKey(port)];
  if (recorded !== undefined) {
    // A record is stale when the Service now names a different app port than the recorded number.
    const named = byName(containers, current, protocolOf(port), undefined);
    if (!named || named.containerPort === recorded) return recorded;
  }
  // The annotation was lost, but the name is a numeric agent port of the installed config.
  const agentPort = config?.ports.find((p) => p.name === current && p.name === numericAgentPortName(p.appPort));
  return agentPort ? agentPort.appPort : current;
}

interface Landing {
  container: string;
  containerPort: number;
  name?: string;
}

/**
 * Kubernetes sends a numeric targetPort to the pod IP whether or not a container declares it; the
 * owner is the container that declares it, else the first container (by convention the app).
 */
function byNumber(containers: ContainerObject[], n: number, protocol: PortProtocol): Landing {
  const declared = (strict: boolean) =>
    containers
      .flatMap((c) => (c.ports ?? []).map((p) => ({ c, p })))
      .find(({ p }) => p.containerPort === n && (!strict || protocolOf(p) === protocol));
  const hit = declared(true) ?? declared(false);
  if (!hit) return { container: containers[0].name, containerPort: n };
  return { container: hit.c.name, containerPort: n, ...(hit.p.name ? { name: hit.p.name } : {}) };
}

/** As the endpoints controller does (FindPort): a named targetPort matches name and protocol. */
function byName(containers: ContainerObject[], name: string, protocol: PortProtocol, config: AgentConfig | undefined): Landing | undefined {
  for (const c of containers) {
    const p = (c.ports ?? []).find((p) => p.name === name && protocolOf(p) === protocol);
    if (p) return { container: c.name, containerPort: p.containerPort, name };
  }
  // A pod spec (not a template) in which the webhook gave the name to the agent.
  if (!config || !containers.some((c) => c.name === config.container)) return undefined;
  const agentPort = config.ports.find((p) => p.name === name && p.protocol === protocol);
  if (!agentPort) return undefined;
  return {
    container: config.container,
    containerPort: agentPort.appPort,
    ...(agentPort.appPortRename ? { name: agentPort.appPortRename } : {}),
  };
}
