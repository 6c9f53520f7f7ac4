/**
 * Takes the traffic-agent out of a workload and restores the workload and its Services exactly:
 * the one implementation behind `telepath uninstall --agent` (the daemon, with the user's
 * credentials) and the manager's removal of idle agents (with its own service account). What to
 * change is computed here from the objects as read; each side brings its own reads and writes
 * (AgentRemovalIo), so neither has to load the other's Kubernetes client.
 *
 * Order: the Services first, while the agent still serves the ports they point at; then the pod
 * template's mark, whose rollout drops the agent; then the agent's ConfigMap, once no other
 * workload of the namespace is marked.
 */
import {
  AGENT_BUNDLE_CONFIGMAP,
  AGENT_API_LEVELS_ANNOTATION,
  AGENT_CONFIG_ANNOTATION,
  AGENT_VERSION_ANNOTATION,
  AGENT_INJECT_LABEL,
  type WorkloadKind,
} from '../../../protocol/src/agent/agentConfig.js';
import type { LabelSelector } from 'kubernetes-types/meta/v1';
import {
  findServicesFor,
  isAgentMarked,
  isPodOf,
  podHasAgent,
  podSelector,
  type PodObject,
  type ServiceObject,
  type WorkloadObject,
  type WorkloadRef,
} from './agentObjects.js';
import { serviceRestorePatch, type ServiceMergePatch } from './servicePatches.js';

/** A patch of a workload's pod template metadata; as JSON merge and strategic merge patch alike. */
export interface TemplatePatch {
  spec: {
    template: {
      metadata: { labels: Record<string, string | null>; annotations: Record<string, string | null> };
    };
  };
}

/** A workload as read from the API server, its kind set (list and get answers of some clients omit it). */
export interface RemovableWorkload extends WorkloadObject {
  kind: WorkloadKind;
  metadata: NonNullable<WorkloadObject['metadata']> & { name: string; namespace: string };
  spec?: WorkloadObject['spec'] & { selector?: LabelSelector };
}

/** The reads and writes a removal needs, with the credentials of whoever removes. */
export interface AgentRemovalIo {
  listServices(namespace: string): Promise<ServiceObject[]>;
  /** A JSON merge patch; its resourceVersion makes the API server refuse it if the Service changed. */
  patchService(namespace: string, name: string, patch: ServiceMergePatch): Promise<void>;
  /** A JSON merge patch of the workload. */
  patchWorkload(workload: WorkloadRef, patch: TemplatePatch): Promise<void>;
  listPods(namespace: string, labelSelector: string): Promise<PodObject[]>;
  deletePod(namespace: string, name: string): Promise<void>;
  /** The namespace's Deployments, StatefulSets and ReplicaSets, each with its kind. */
  listWorkloads(namespace: string): Promise<RemovableWorkload[]>;
  /** Deletes the namespace's AGENT_BUNDLE_CONFIGMAP; false when there was none. */
  deleteAgentBundle(namespace: string): Promise<boolean>;
}

export interface AgentRemovalSteps {
  /**
   * Asked after the reads, right before the first change: false leaves everything as it was (the
   * manager: an intercept of the workload has just been created).
   */
  proceed?: () => boolean;
  /** After the template mark is gone, before the ConfigMap: the daemon waits for the rollout here. */
  unmarked?: () => Promise<void>;
}

/** One Service to give its original targetPorts back. */
export interface ServiceRestore {
  name: string;
  patch: ServiceMergePatch;
}

/** Removes the mark (a JSON merge patch: null deletes a key); the rollout then drops the agent. */
export function templateRemovalPatch(): TemplatePatch {
  return {
    spec: {
      template: {
        metadata: {
          labels: { [AGENT_INJECT_LABEL]: null },
          annotations: { [AGENT_CONFIG_ANNOTATION]: null, [AGENT_VERSION_ANNOTATION]: null, [AGENT_API_LEVELS_ANNOTATION]: null },
        },
      },
    },
  };
}

/** The Services that select the workload and carry Telepath's record of re-pointed targetPorts. */
export function serviceRestores(workload: WorkloadObject, services: readonly ServiceObject[]): ServiceRestore[] {
  const out: ServiceRestore[] = [];
  for (const svc of findServicesFor(workload.spec?.template?.metadata?.labels, services)) {
    const patch = serviceRestorePatch(svc);
    if (patch) out.push({ name: svc.metadata?.name ?? '', patch });
  }
  return out;
}

/** Whether a workload of the namespace other than `workload` is still marked, and so needs the agent's ConfigMap. */
export function agentBundleStillUsed(workload: WorkloadRef, workloads: readonly RemovableWorkload[]): boolean {
  return workloads.some((w) => !(w.kind === workload.kind && w.metadata.name === workload.name) && isAgentMarked(w));
}

export function workloadRef(workload: RemovableWorkload): WorkloadRef {
  return { namespace: workload.metadata.namespace, kind: workload.kind, name: workload.metadata.name };
}

/**
 * Restores `workload` (as just read) and its Services; returns what was restored, as the user is
 * told it, or undefined when `steps.proceed` stopped it before anything changed.
 */
export async function removeAgent(workload: RemovableWorkload, io: AgentRemovalIo, steps: AgentRemovalSteps = {}): Promise<string[] | undefined> {
  const ref = workloadRef(workload);
  const ns = ref.namespace;
  const restores = serviceRestores(workload, await io.listServices(ns));
  if (steps.proceed && !steps.proceed()) return undefined;
  const done: string[] = [];
  for (const r of restores) {
    await io.patchService(ns, r.name, r.patch);
    done.push(`restored Service ${ns}/${r.name}`);
  }
  if (isAgentMarked(workload)) {
    await io.patchWorkload(ref, templateRemovalPatch());
    done.push(`removed the traffic-agent from ${ns}/${ref.kind.toLowerCase()}/${ref.name}`);
    // A ReplicaSet does not roll out template changes: its pods are replaced by deleting them.
    if (ref.kind === 'ReplicaSet') {
      for (const p of await io.listPods(ns, podSelector(workload.spec?.selector))) {
        if (isPodOf(p, ref) && podHasAgent(p) && !p.metadata?.deletionTimestamp && p.metadata?.name) await io.deletePod(ns, p.metadata.name);
      }
    }
    await steps.unmarked?.();
  }
  if (!agentBundleStillUsed(ref, await io.listWorkloads(ns)) && (await io.deleteAgentBundle(ns))) {
    done.push(`removed ConfigMap ${ns}/${AGENT_BUNDLE_CONFIGMAP}`);
  }
  return done;
}
