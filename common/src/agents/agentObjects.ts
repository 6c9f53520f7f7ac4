/**
 * The Kubernetes objects an agent install touches — workloads, their Services and pods — typed by
 * the few fields Telepath reads, so `kubernetes-types` objects (the manager) and
 * `@kubernetes/client-node` V1 classes (the daemon) both fit without conversion; and the readers of
 * Telepath's own marks on them that the daemon and the manager share.
 */
import type { Container, ServiceSpec } from 'kubernetes-types/core/v1';
import type { LabelSelector, ObjectMeta } from 'kubernetes-types/meta/v1';
import {
  AGENT_CONTAINER_NAME,
  AGENT_INJECT_LABEL,
  AGENT_INJECT_VALUE,
  ORIGINAL_TARGET_PORTS_ANNOTATION,
  type WorkloadKind,
} from '../../../protocol/src/agent/agentConfig.js';

export type ContainerObject = Pick<Container, 'name' | 'ports'>;

export interface PodTemplateObject {
  metadata?: Pick<ObjectMeta, 'labels' | 'annotations'>;
  spec?: { containers: ContainerObject[]; initContainers?: ContainerObject[] };
}

/** A Deployment, StatefulSet or ReplicaSet. `kind` is required for planning; list responses omit it. */
export interface WorkloadObject {
  kind?: string;
  metadata?: Pick<ObjectMeta, 'name' | 'namespace' | 'ownerReferences'>;
  spec?: { template?: PodTemplateObject };
}

export interface ServiceObject {
  metadata?: Pick<ObjectMeta, 'name' | 'namespace' | 'annotations' | 'resourceVersion'>;
  spec?: Pick<ServiceSpec, 'selector' | 'ports'>;
}

/** What is read of a pod: whose it is, whether it is going, whether it carries the agent. */
export interface PodObject {
  metadata?: {
    name?: string;
    ownerReferences?: { kind: string; name: string }[];
    /** A string from the API, a Date from @kubernetes/client-node; only its presence counts. */
    deletionTimestamp?: unknown;
  };
  spec?: { containers: { name: string }[] };
}

/** Which workload: what the manager's agents and intercepts name, and what a removal acts on. */
export interface WorkloadRef {
  namespace: string;
  kind: WorkloadKind;
  name: string;
}

/** True when the pod template carries the mark that has the webhook inject the agent. */
export function isAgentMarked(workload: WorkloadObject): boolean {
  return workload.spec?.template?.metadata?.labels?.[AGENT_INJECT_LABEL] === AGENT_INJECT_VALUE;
}

/** Services whose (non-empty) selector is a subset of `labels`; a Service without one selects no pod. */
export function findServicesFor<S extends ServiceObject>(labels: Record<string, string> | undefined, services: readonly S[]): S[] {
  return services.filter((s) => {
    const selector = Object.entries(s.spec?.selector ?? {});
    return selector.length > 0 && selector.every(([k, v]) => labels?.[k] === v);
  });
}

/** The key of a Service port in ORIGINAL_TARGET_PORTS_ANNOTATION: its name, or its number when unnamed. */
export function servicePortKey(port: { name?: string; port: number }): string {
  return port.name || String(port.port);
}

/** ORIGINAL_TARGET_PORTS_ANNOTATION of a Service; entries that are not port numbers are dropped. */
export function originalTargetPorts(service: ServiceObject): Record<string, number> {
  const json = service.metadata?.annotations?.[ORIGINAL_TARGET_PORTS_ANNOTATION];
  if (json === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return {};
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
  const result: Record<string, number> = {};
  for (const [k, v] of Object.entries(parsed)) if (isPortNumber(v)) result[k] = v;
  return result;
}

/** The label selector of a workload's pods, as a list call's `labelSelector` takes it. */
export function podSelector(selector: LabelSelector | undefined): string {
  const parts = Object.entries(selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of selector?.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.join(',');
}

/**
 * Whether a pod that the workload's selector matched is the workload's: pods of a Deployment are
 * owned by its ReplicaSets, so there the selector match is what counts.
 */
export function isPodOf(pod: PodObject, workload: { kind: WorkloadKind; name: string }): boolean {
  if (workload.kind === 'Deployment') return true;
  return (pod.metadata?.ownerReferences ?? []).some((o) => o.kind === workload.kind && o.name === workload.name);
}

export function podHasAgent(pod: PodObject): boolean {
  return (pod.spec?.containers ?? []).some((c) => c.name === AGENT_CONTAINER_NAME);
}

/** Code-unit order, so sorting does not depend on the locale. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isPortNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}
