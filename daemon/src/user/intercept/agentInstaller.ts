/**
 * Puts the traffic-agent into a workload and takes it out again, with the user's own credentials,
 * so Kubernetes RBAC decides who may intercept what. The plan (which ports, which names) comes from
 * agentPlan.ts; this file reads the objects, checks the user may change them (a dry run, so a
 * refusal changes nothing), writes the agent's ConfigMap, marks the pod template, waits for the
 * pods to come back with the agent, and re-points numeric Service targetPorts last.
 *
 * A rollout that fails is undone: the mark is removed again, so a broken injection never leaves
 * a workload worse than it was.
 */
import {
  CoreV1Api,
  DiscoveryV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  type KubernetesObject,
  type V1Pod,
} from '@kubernetes/client-node';
import type { ConfigMap } from 'kubernetes-types/core/v1';
import {
  AGENT_BUNDLE_CONFIGMAP,
  AGENT_INJECT_LABEL,
  AGENT_INJECT_VALUE,
  type WorkloadKind,
} from '../../../../protocol/src/agent/agentConfig.js';
import { daemonError, ErrorCode } from '../../../../protocol/src/daemon';
import {
  isAgentMarked,
  isPodOf,
  podHasAgent,
  podSelector,
  type ServiceObject,
  type WorkloadObject,
} from '../../../../common/src/agents/agentObjects.js';
import { removeAgent, workloadRef, type AgentRemovalIo } from '../../../../common/src/agents/agentRemoval.js';
import { agentBundleConfigMap } from '../../../../common/src/install/agentBundleConfigMap.js';
import { API_LEVELS_ANNOTATION, VERSION_LABEL, webhookConfigName } from '../../../../common/src/install/managerManifests.js';
import { parseApiRange, type ApiRange } from '../../../../protocol/src/version.js';
import { isNotFound, kubeError, type KubeAccess } from '../kube/kubeAccess.js';
import type { Logger } from '../../../../common/src/log/fileLogger.js';
import type { Progress } from '../rpc/rpcServer.js';
import {
  agentRestorePatch,
  isAgentCurrent,
  planAgent,
  servicePatch,
  templatePatch,
  templateRemovalPatch,
  type AgentPlan,
  type TemplatePatch,
} from './agentPlan.js';
import { agentAnnotations, agentRollReason, chooseAgent, sameAgent, type AgentBuild } from './agentVersion.js';
import { InterceptPlanError } from './interceptPlanError.js';
import { installedAgentConfig } from './workloadPorts.js';

const FIELD_MANAGER = 'telepath';

/** This client's agent: what it is and its code. */
export interface AgentBundle {
  build: AgentBuild;
  bundle: Buffer;
}

/** The manager the session reached: which agents it serves, and where its webhook configuration is. */
export interface ManagerAtHand {
  version: string;
  api: ApiRange;
  namespace: string;
}
const API_VERSION: Record<WorkloadKind, string> = { Deployment: 'apps/v1', StatefulSet: 'apps/v1', ReplicaSet: 'apps/v1' };
const KIND_ALIASES: Record<string, WorkloadKind> = {
  deployment: 'Deployment',
  deployments: 'Deployment',
  deploy: 'Deployment',
  statefulset: 'StatefulSet',
  statefulsets: 'StatefulSet',
  sts: 'StatefulSet',
  replicaset: 'ReplicaSet',
  replicasets: 'ReplicaSet',
  rs: 'ReplicaSet',
};

export interface Workload extends WorkloadObject {
  kind: WorkloadKind;
  metadata: NonNullable<WorkloadObject['metadata']> & { name: string; namespace: string; generation?: number; labels?: Record<string, string> };
  spec: NonNullable<WorkloadObject['spec']> & {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] };
  };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    currentRevision?: string;
    updateRevision?: string;
  };
}

export class AgentInstaller {
  private readonly objects: KubernetesObjectApi;
  private readonly core: CoreV1Api;
  private readonly discovery: DiscoveryV1Api;

  constructor(
    private readonly access: KubeAccess,
    private readonly log: Logger,
  ) {
    this.objects = KubernetesObjectApi.makeApiClient(access.kc);
    this.core = access.kc.makeApiClient(CoreV1Api);
    this.discovery = access.kc.makeApiClient(DiscoveryV1Api);
  }

  /** "name" or "kind/name" (deploy, sts, rs and the full names work). */
  async findWorkload(ref: string, namespace: string): Promise<Workload> {
    const slash = ref.indexOf('/');
    const kinds: WorkloadKind[] = slash < 0 ? ['Deployment', 'StatefulSet', 'ReplicaSet'] : [];
    let name = ref;
    if (slash >= 0) {
      const kind = KIND_ALIASES[ref.slice(0, slash).toLowerCase().replace(/\.apps$/, '')];
      if (!kind) throw daemonError(ErrorCode.WorkloadNotFound, `"${ref.slice(0, slash)}" is not a workload kind Telepath intercepts (Deployment, StatefulSet, ReplicaSet)`);
      kinds.push(kind);
      name = ref.slice(slash + 1);
    }
    for (const kind of kinds) {
      const w = await this.read(kind, name, namespace);
      if (w) return w;
    }
    throw daemonError(
      ErrorCode.WorkloadNotFound,
      `no ${kinds.length === 1 ? kinds[0] : 'Deployment, StatefulSet or ReplicaSet'} named "${name}" in namespace ${namespace}; ` +
        `"telepath list --namespace ${namespace}" shows what can be intercepted`,
    );
  }

  async listWorkloads(namespace: string): Promise<Workload[]> {
    const out: Workload[] = [];
    for (const kind of ['Deployment', 'StatefulSet', 'ReplicaSet'] as const) {
      try {
        const list = await this.objects.list(API_VERSION[kind], kind, namespace);
        for (const item of list.items) out.push({ ...(item as unknown as Workload), kind });
      } catch (err) {
        throw kubeError(err, `listing ${kind}s in namespace ${namespace}`, this.access);
      }
    }
    return out;
  }

  async listServices(namespace: string): Promise<ServiceObject[]> {
    try {
      const list = await this.core.listNamespacedService({ namespace });
      return list.items as unknown as ServiceObject[];
    } catch (err) {
      throw kubeError(err, `listing Services in namespace ${namespace}`, this.access);
    }
  }

  plan(workload: Workload, services: ServiceObject[], container?: string): AgentPlan {
    try {
      return planAgent(workload, services, container ? { container } : {});
    } catch (e) {
      if (e instanceof InterceptPlanError) throw daemonError(ErrorCode.NotInterceptable, e.message);
      throw e;
    }
  }

  /**
   * Makes the workload run `plan`'s agent: nothing when its template already asks for it, the
   * manager serves the agent it names and the Services point at it; otherwise one rollout, with
   * this client's agent (or a newer one the namespace has, agentVersion.ts). Resolves when every
   * pod runs the agent.
   */
  async ensure(
    workload: Workload,
    plan: AgentPlan,
    agent: AgentBundle,
    manager: ManagerAtHand,
    progress: Progress,
    signal: AbortSignal,
    timeoutMs: number,
  ): Promise<void> {
    const what = `${workload.kind.toLowerCase()}/${workload.metadata.name}`;
    const ns = workload.metadata.namespace;
    // Ask the API server first, without changing anything: may this user patch the workload? Asked
    // also when the agent is already there, so that whoever may not change a workload cannot
    // take its traffic either.
    await this.patchTemplate(workload, templatePatch(plan.config, agent.build), true);
    const outdated = agentRollReason(workload.spec.template?.metadata, manager);
    const rolledOut = !isAgentCurrent(workload, plan.config) || outdated !== '';
    if (rolledOut) {
      await this.waitForWebhook(manager.namespace, progress, signal);
      const runs = await this.applyBundle(ns, agent, manager.api);
      progress('report', outdated ? `Rolling ${what} with the traffic-agent ${runs.version}: ${outdated}` : `Adding the traffic-agent to ${what} (one rollout)`);
      await this.patchTemplate(workload, templatePatch(plan.config, runs), false);
      try {
        if (workload.kind === 'ReplicaSet') await this.replaceStalePods(workload, runs);
        await this.waitRollout(workload, true, progress, signal, timeoutMs);
      } catch (e) {
        this.log.warn(`the agent did not come up in ${ns}/${what}; undoing: ${(e as Error).message}`);
        // Only the agent changed: back to the one it had, which is no worse than before.
        const undo = isAgentCurrent(workload, plan.config) ? agentRestorePatch(workload.spec.template?.metadata) : templateRemovalPatch();
        await this.patchTemplate(workload, undo, false).catch((u: unknown) =>
          this.log.error(`undoing the agent mark of ${ns}/${what} failed: ${(u as Error).message}`),
        );
        throw e;
      }
    } else {
      await this.waitRollout(workload, true, progress, signal, timeoutMs);
    }
    for (const p of plan.servicePatches) {
      const svc = await this.readService(p.service, ns);
      const body = servicePatch(svc, p);
      await this.mergePatch({ apiVersion: 'v1', kind: 'Service', metadata: { name: p.service, namespace: ns } }, body, false, `re-pointing Service ${ns}/${p.service} at the agent`);
      this.log.info(`Service ${ns}/${p.service}: ${p.ports.map((r) => `${r.key} ${r.from} -> ${r.to}`).join(', ')}`);
    }
    // Endpoints change only with a rollout or a re-pointed Service; otherwise they are settled.
    if (rolledOut || plan.servicePatches.length > 0) await this.waitForEndpoints(workload, plan, progress, signal);
  }

  /**
   * Rolls a marked workload with `agent` when `manager` no longer serves the agent it runs,
   * keeping its agent configuration and Services as they are; nothing otherwise.
   */
  async rollIfOutdated(workload: Workload, agent: AgentBundle, manager: ManagerAtHand, progress: Progress, signal: AbortSignal, timeoutMs: number): Promise<boolean> {
    const config = installedAgentConfig(workload);
    if (!config || !agentRollReason(workload.spec.template?.metadata, manager)) return false;
    await this.ensure(workload, { config, servicePatches: [] }, agent, manager, progress, signal, timeoutMs);
    return true;
  }

  /**
   * Until every Service port the agent took lists exactly the workload's ready pods on the agent's
   * port: before that, kube-proxy still sends connections to old pods or straight to the app.
   * Then one kube-proxy sync period (1 s by default), which no API shows.
   */
  private async waitForEndpoints(workload: Workload, plan: AgentPlan, progress: Progress, signal: AbortSignal): Promise<void> {
    const ns = workload.metadata.namespace;
    const want = new Map<string, { portName: string; port: number }[]>();
    for (const p of plan.config.ports) {
      for (const s of p.services) want.set(s.service, [...(want.get(s.service) ?? []), { portName: s.portName, port: p.agentPort }]);
    }
    const deadline = Date.now() + 30_000;
    let waiting = '';
    while (Date.now() < deadline && !signal.aborted) {
      const ips = new Set((await this.podsOf(workload)).filter((p) => podHasAgent(p) && isReady(p)).map((p) => p.status?.podIP ?? ''));
      waiting = '';
      for (const [service, ports] of want) {
        const slices = await this.discovery.listNamespacedEndpointSlice({ namespace: ns, labelSelector: `kubernetes.io/service-name=${service}` });
        const ready = new Set<string>();
        const slicePorts = new Set<string>();
        for (const sl of slices.items) {
          for (const e of sl.endpoints) if (e.conditions?.ready !== false) for (const a of e.addresses) ready.add(a);
          for (const p of sl.ports ?? []) slicePorts.add(`${p.name ?? ''}/${p.port ?? 0}`);
        }
        const sameIps = ready.size === ips.size && [...ips].every((ip) => ready.has(ip));
        if (!sameIps || !ports.every((p) => slicePorts.has(`${p.portName}/${p.port}`))) waiting = service;
      }
      if (!waiting) {
        await sleep(1_000, signal);
        return;
      }
      await sleep(300, signal);
    }
    progress('report', `Service ${waiting} does not list the agent yet; continuing`);
    this.log.warn(`the endpoints of Service ${ns}/${waiting} did not settle on the agent within 30 s`);
  }

  /**
   * Takes the agent out (common/src/agents/agentRemoval.ts: Services, then the template mark, then
   * the ConfigMap when no workload of the namespace uses it any more), with the user's
   * credentials. Returns what was restored, for the user.
   */
  async remove(workload: Workload, progress: Progress, signal: AbortSignal, wait: boolean): Promise<string[]> {
    const what = `${workload.kind.toLowerCase()}/${workload.metadata.name}`;
    const io: AgentRemovalIo = {
      listServices: (ns) => this.listServices(ns),
      patchService: (ns, name, body) =>
        this.mergePatch({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns } }, body, false, `restoring Service ${ns}/${name}`),
      patchWorkload: (_ref, body) => {
        progress('report', `Removing the traffic-agent from ${what}`);
        return this.patchTemplate(workload, body, false);
      },
      listPods: async (ns, labelSelector) => (await this.core.listNamespacedPod({ namespace: ns, labelSelector })).items,
      deletePod: async (ns, name) => {
        await this.core.deleteNamespacedPod({ name, namespace: ns });
      },
      listWorkloads: (ns) => this.listWorkloads(ns),
      deleteAgentBundle: (ns) => this.deleteBundle(ns),
    };
    const unmarked = wait ? () => this.waitRollout(workload, false, progress, signal, 180_000) : undefined;
    return (await removeAgent(workload, io, unmarked ? { unmarked } : {})) ?? [];
  }

  /**
   * A pod created before the API server trusts the webhook's certificate gets no agent, and its
   * rollout would then wait in vain: wait until the manager has published its CA (a fresh install
   * does that within seconds). A user who may not read the configuration skips the wait.
   */
  private async waitForWebhook(managerNamespace: string, progress: Progress, signal: AbortSignal): Promise<void> {
    const name = webhookConfigName(managerNamespace);
    const deadline = Date.now() + 60_000;
    for (let reported = false; Date.now() < deadline && !signal.aborted; ) {
      let hook: { webhooks?: { clientConfig?: { caBundle?: string } }[] };
      try {
        hook = (await this.objects.read({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name } })) as typeof hook;
      } catch (err) {
        if (isNotFound(err)) {
          throw daemonError(ErrorCode.ManagerUnreachable, `the traffic-manager's webhook configuration ${name} is missing; run "telepath connect" again to reinstall it`);
        }
        this.log.debug(`cannot read MutatingWebhookConfiguration ${name}: ${(err as Error).message}; not waiting for it`);
        return;
      }
      if ((hook.webhooks ?? []).every((w) => !!w.clientConfig?.caBundle)) return;
      if (!reported) progress('report', 'Waiting for the traffic-manager to publish its webhook certificate');
      reported = true;
      await sleep(500, signal);
    }
    throw daemonError(ErrorCode.ManagerUnreachable, `the traffic-manager has not published its webhook certificate in ${name}; see its log`);
  }

  /** Workloads of `namespace` ('' = all the user can see) that carry the agent mark. */
  async markedWorkloads(namespaces: string[]): Promise<Workload[]> {
    const out: Workload[] = [];
    for (const ns of namespaces) {
      for (const w of await this.listWorkloads(ns)) {
        if (isAgentMarked(w)) out.push(w);
      }
    }
    return out;
  }

  private async read(kind: WorkloadKind, name: string, namespace: string): Promise<Workload | undefined> {
    try {
      const obj = await this.objects.read({ apiVersion: API_VERSION[kind], kind, metadata: { name, namespace } });
      return { ...(obj as unknown as Workload), kind };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw kubeError(err, `reading ${kind} ${namespace}/${name}`, this.access);
    }
  }

  private async readService(name: string, namespace: string): Promise<ServiceObject> {
    try {
      return (await this.core.readNamespacedService({ name, namespace })) as unknown as ServiceObject;
    } catch (err) {
      throw kubeError(err, `reading Service ${namespace}/${name}`, this.access);
    }
  }

  private patchTemplate(workload: Workload, body: TemplatePatch, dryRun: boolean): Promise<void> {
    const { kind } = workload;
    const { name, namespace } = workload.metadata;
    return this.mergePatch(
      { apiVersion: API_VERSION[kind], kind, metadata: { name, namespace } },
      body,
      dryRun,
      `${dryRun ? 'checking that you may change' : 'changing'} ${kind} ${namespace}/${name}`,
    );
  }

  private async mergePatch(target: KubernetesObject, body: object, dryRun: boolean, doing: string): Promise<void> {
    try {
      await this.objects.patch(
        { ...target, ...body, metadata: { ...(body as { metadata?: object }).metadata, ...target.metadata } } as KubernetesObject,
        undefined,
        dryRun ? 'All' : undefined,
        FIELD_MANAGER,
        undefined,
        PatchStrategy.MergePatch,
      );
    } catch (err) {
      const e = kubeError(err, doing, this.access);
      if (e.code === ErrorCode.Forbidden) {
        throw daemonError(ErrorCode.Forbidden, `${e.message}. Nothing was changed; intercepting needs "patch" on the workload (and on its Services when they use numeric targetPorts).`);
      }
      throw e;
    }
  }

  /**
   * Puts this client's agent into the namespace's ConfigMap, unless it holds a newer one the
   * manager serves (agentVersion.ts). Returns the agent the ConfigMap holds then.
   */
  private async applyBundle(namespace: string, agent: AgentBundle, managerApi: ApiRange): Promise<AgentBuild> {
    let existing: AgentBuild | undefined;
    try {
      const cm = await this.core.readNamespacedConfigMap({ name: AGENT_BUNDLE_CONFIGMAP, namespace });
      existing = { version: cm.metadata?.labels?.[VERSION_LABEL] ?? '', api: parseApiRange(cm.metadata?.annotations?.[API_LEVELS_ANNOTATION]) };
    } catch (err) {
      // Not there, or not readable: write ours, as the apply below would anyway.
      if (!isNotFound(err)) this.log.debug(`cannot read ConfigMap ${namespace}/${AGENT_BUNDLE_CONFIGMAP}: ${(err as Error).message}`);
    }
    if (existing && chooseAgent(existing, agent.build, managerApi) === 'theirs') {
      this.log.info(`ConfigMap ${namespace}/${AGENT_BUNDLE_CONFIGMAP} holds the newer traffic-agent ${existing.version}; keeping it`);
      return existing;
    }
    const cm: ConfigMap = agentBundleConfigMap(namespace, agent.bundle, agent.build.version, agent.build.api);
    try {
      await this.objects.patch(cm as KubernetesObject, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    } catch (err) {
      throw kubeError(err, `writing ConfigMap ${namespace}/${AGENT_BUNDLE_CONFIGMAP} (the agent's code)`, this.access);
    }
    return agent.build;
  }

  private async deleteBundle(namespace: string): Promise<boolean> {
    try {
      await this.core.deleteNamespacedConfigMap({ name: AGENT_BUNDLE_CONFIGMAP, namespace });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw kubeError(err, `deleting ConfigMap ${namespace}/${AGENT_BUNDLE_CONFIGMAP}`, this.access);
    }
  }

  private async podsOf(workload: Workload): Promise<V1Pod[]> {
    const list = await this.core.listNamespacedPod({ namespace: workload.metadata.namespace, labelSelector: podSelector(workload.spec.selector) });
    return list.items.filter((p) => !p.metadata?.deletionTimestamp && isPodOf(p, workloadRef(workload)));
  }

  /** A ReplicaSet does not roll out template changes: its pods without `agent` are replaced by deleting them. */
  private async replaceStalePods(workload: Workload, agent: AgentBuild): Promise<void> {
    const template = { annotations: agentAnnotations(agent) };
    for (const p of await this.podsOf(workload)) {
      if (!podHasAgent(p) || !sameAgent(p.metadata, template)) await this.core.deleteNamespacedPod({ name: p.metadata!.name!, namespace: workload.metadata.namespace });
    }
  }

  /**
   * A pod made from the marked template without the agent: the API server did not reach the
   * traffic-manager's webhook when it made the pod (failurePolicy Ignore), e.g. in the second after
   * a fresh install, before kube-proxy routes to the manager's new Service. Deleted, once each, so
   * that its controller makes it again through the webhook; a pod made again within the same
   * outage is missed again, so up to twice the replicas (at least 3) are replaced. Returns what to
   * tell the user when that does not help, else ''.
   */
  private async replaceMissedPods(pods: V1Pod[], replaced: Set<string>, replicas: number, progress: Progress): Promise<string> {
    const missed = pods.filter((p) => p.metadata?.labels?.[AGENT_INJECT_LABEL] === AGENT_INJECT_VALUE && !podHasAgent(p) && !p.metadata.deletionTimestamp);
    for (const p of missed) {
      const uid = p.metadata!.uid ?? p.metadata!.name!;
      if (replaced.has(uid) || replaced.size >= Math.max(3, 2 * replicas)) continue;
      replaced.add(uid);
      const name = p.metadata!.name!;
      const ns = p.metadata!.namespace!;
      this.log.warn(`pod ${ns}/${name} was made without the traffic-agent although its template asks for it (the traffic-manager's webhook did not answer for it); deleting it so that it is made again`);
      progress('report', `Pod ${name} came up without the traffic-agent; replacing it`);
      try {
        await this.core.deleteNamespacedPod({ name, namespace: ns });
      } catch (err) {
        if (!isNotFound(err)) return `pod ${name} came up without the traffic-agent and cannot be replaced: ${kubeError(err, `deleting pod ${ns}/${name}`, this.access).message}; delete it by hand`;
      }
    }
    const left = missed.filter((p) => !replaced.has(p.metadata!.uid ?? p.metadata!.name!));
    return left.length
      ? `${left.length} pod(s) came up without the traffic-agent again (${left.map((p) => p.metadata!.name).join(', ')}): the traffic-manager's webhook did not add it; see the traffic-manager's log (kubectl logs deploy/traffic-manager in its namespace)`
      : '';
  }

  /**
   * Until every pod of the workload is ready and has (or, with `agent` false, lacks) the agent,
   * and no other pods remain; reports what it waits for every few seconds.
   */
  private async waitRollout(workload: Workload, agent: boolean, progress: Progress, signal: AbortSignal, timeoutMs: number): Promise<void> {
    const what = `${workload.kind.toLowerCase()}/${workload.metadata.name}`;
    const ns = workload.metadata.namespace;
    const deadline = Date.now() + timeoutMs;
    let lastReport = 0;
    let problem = '';
    /** Pods deleted because the webhook did not add the agent to them (uids). */
    const replaced = new Set<string>();
    for (;;) {
      if (signal.aborted) throw daemonError(ErrorCode.Interrupted, `waiting for ${what} was interrupted`);
      const current = await this.read(workload.kind, workload.metadata.name, ns);
      if (!current) throw daemonError(ErrorCode.WorkloadNotFound, `${what} was deleted from namespace ${ns}`);
      const want = current.spec.replicas ?? 1;
      const pods = await this.podsOf(current);
      // With the agent: the one the template names now, not an older one still rolling out.
      const ready = pods.filter((p) => podHasAgent(p) === agent && (!agent || sameAgent(p.metadata, current.spec.template?.metadata)) && isReady(p));
      const settled = (current.status?.observedGeneration ?? 0) >= (current.metadata.generation ?? 0);
      if (settled && ready.length === want && pods.length === want) return;
      problem = podProblems(pods) || `${ready.length} of ${want} pods ready ${agent ? 'with' : 'without'} the agent`;
      if (agent) {
        const missed = await this.replaceMissedPods(pods, replaced, want, progress);
        if (missed) problem = missed;
      }
      if (Date.now() - lastReport > 3_000) {
        progress('report', `Waiting for ${what}: ${problem}`);
        lastReport = Date.now();
      }
      if (Date.now() > deadline) {
        throw daemonError(
          ErrorCode.AgentNotReady,
          `${what} did not roll out ${agent ? 'with' : 'without'} the traffic-agent within ${Math.round(timeoutMs / 1000)} s: ${problem}; ` +
            `see "kubectl -n ${ns} describe ${what}" and its pods`,
        );
      }
      await sleep(500, signal);
    }
  }
}

function isReady(pod: V1Pod): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** What keeps pods from running, as Kubernetes says it (ImagePullBackOff, CrashLoopBackOff, ...). */
function podProblems(pods: V1Pod[]): string {
  const seen = new Set<string>();
  for (const p of pods) {
    for (const s of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]) {
      const w = s.state?.waiting;
      if (w?.reason && w.reason !== 'ContainerCreating' && w.reason !== 'PodInitializing') {
        seen.add(`${p.metadata?.name}: container ${s.name} ${w.reason}${w.message ? ` (${w.message})` : ''}`);
      }
    }
  }
  return [...seen].join('; ');
}

/** Waits `ms`, or less when `signal` aborts; leaves no listener on the signal either way (a rollout wait sleeps hundreds of times). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
