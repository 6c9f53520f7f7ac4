/**
 * The reads and writes of an agent removal (common/src/agents/agentRemoval.ts) over the manager's
 * own small client, with its service account; and the reads that find marked workloads. Plain
 * REST paths, JSON merge patches as the daemon sends them.
 */
import type { Pod, Service } from 'kubernetes-types/core/v1';
import { AGENT_BUNDLE_CONFIGMAP, WORKLOAD_KINDS, type WorkloadKind } from '../../../protocol/src/agent/agentConfig.js';
import { isAgentMarked, type PodObject, type ServiceObject, type WorkloadRef } from '../../../common/src/agents/agentObjects.js';
import type { AgentRemovalIo, RemovableWorkload, TemplatePatch } from '../../../common/src/agents/agentRemoval.js';
import type { ServiceMergePatch } from '../../../common/src/agents/servicePatches.js';
import { KubeApiError, type KubeRequester } from '../kube/kubeClient.js';

/** Recorded in managedFields, so `kubectl get --show-managed-fields` says who changed what. */
const FIELD_MANAGER = 'telepath-traffic-manager';
const RESOURCE: Record<WorkloadKind, string> = { Deployment: 'deployments', StatefulSet: 'statefulsets', ReplicaSet: 'replicasets' };

export class KubeAgentRemoval implements AgentRemovalIo {
  constructor(private readonly kube: KubeRequester) {}

  /** The workload as it is now; undefined when it is gone. */
  async getWorkload(ref: WorkloadRef): Promise<RemovableWorkload | undefined> {
    try {
      return { ...(await this.kube.request<RemovableWorkload>(workloadPath(ref))), kind: ref.kind };
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /**
   * Every workload in the cluster whose template carries the agent mark. A ReplicaSet of a
   * Deployment carries its Deployment's mark, but the Deployment is what was marked.
   */
  async markedWorkloads(): Promise<RemovableWorkload[]> {
    const out: RemovableWorkload[] = [];
    for (const kind of WORKLOAD_KINDS) {
      for (const w of await this.listKind(`/apis/apps/v1/${RESOURCE[kind]}`, kind)) {
        const ownedByDeployment = (w.metadata.ownerReferences ?? []).some((o) => o.kind === 'Deployment');
        if (isAgentMarked(w) && !(kind === 'ReplicaSet' && ownedByDeployment)) out.push(w);
      }
    }
    return out;
  }

  async listServices(namespace: string): Promise<ServiceObject[]> {
    return (await this.kube.request<{ items?: Service[] }>(`${corePath(namespace)}/services`)).items ?? [];
  }

  async patchService(namespace: string, name: string, patch: ServiceMergePatch): Promise<void> {
    await this.kube.request(`${corePath(namespace)}/services/${encodeURIComponent(name)}`, mergePatch(patch));
  }

  async patchWorkload(ref: WorkloadRef, patch: TemplatePatch): Promise<void> {
    await this.kube.request(workloadPath(ref), mergePatch(patch));
  }

  async listPods(namespace: string, labelSelector: string): Promise<PodObject[]> {
    return (await this.kube.request<{ items?: Pod[] }>(`${corePath(namespace)}/pods`, { query: { labelSelector } })).items ?? [];
  }

  async deletePod(namespace: string, name: string): Promise<void> {
    await this.deleteIfThere(`${corePath(namespace)}/pods/${encodeURIComponent(name)}`);
  }

  async listWorkloads(namespace: string): Promise<RemovableWorkload[]> {
    const out: RemovableWorkload[] = [];
    for (const kind of WORKLOAD_KINDS) out.push(...(await this.listKind(`/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/${RESOURCE[kind]}`, kind)));
    return out;
  }

  deleteAgentBundle(namespace: string): Promise<boolean> {
    return this.deleteIfThere(`${corePath(namespace)}/configmaps/${AGENT_BUNDLE_CONFIGMAP}`);
  }

  /** List answers leave each item's kind out. */
  private async listKind(path: string, kind: WorkloadKind): Promise<RemovableWorkload[]> {
    const list = await this.kube.request<{ items?: RemovableWorkload[] }>(path);
    return (list.items ?? []).map((w) => ({ ...w, kind }));
  }

  /** False when it was not there. */
  private async deleteIfThere(path: string): Promise<boolean> {
    try {
      await this.kube.request(path, { method: 'DELETE' });
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }
}

function corePath(namespace: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}`;
}

function workloadPath(ref: WorkloadRef): string {
  return `/apis/apps/v1/namespaces/${encodeURIComponent(ref.namespace)}/${RESOURCE[ref.kind]}/${encodeURIComponent(ref.name)}`;
}

function mergePatch(body: object): { method: 'PATCH'; patchType: 'merge'; body: object; query: { fieldManager: string } } {
  return { method: 'PATCH', patchType: 'merge', body, query: { fieldManager: FIELD_MANAGER } };
}

function isNotFound(e: unknown): boolean {
  return e instanceof KubeApiError && e.status === 404;
}
