/**
 * intercept, leave, list and uninstall --agent on a connected session: the daemon's side of
 * docs/intercept.md. It plans the agent from the workload and its Services, has AgentInstaller put
 * it in with the user's credentials, waits for the agents to report to the manager, then holds the
 * intercept through Interceptor.
 */
import { randomBytes } from 'node:crypto';
import type { ServiceError } from '@grpc/grpc-js';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { AuthorizationV1Api } from '@kubernetes/client-node';
import { describeRight, RIGHTS } from '../../../../common/src/sessionIdentity.js';
import { kubeError } from '../kube/kubeAccess.js';
import { isAgentMarked, type ServiceObject } from '../../../../common/src/agents/agentObjects.js';
import {
  daemonError,
  ErrorCode,
  type EndedIntercept,
  type InterceptInfo,
  type InterceptParams,
  type InterceptResult,
  type ListResult,
  type WorkloadInfo,
  type WorkloadPort,
} from '../../../../protocol/src/daemon';
import type { AgentInfo, InterceptInfo as ManagerIntercept, InterceptSpec } from '../../../../protocol/src/gen/telepath/manager/v1/manager.js';
import { OWN_API, PRODUCT_VERSION } from '../../../../protocol/src/version.js';
import { describeMatch, interceptConflict } from '../../../../common/src/interceptRules.js';
import type { Logger } from '../../../../common/src/log/fileLogger.js';
import type { Progress } from '../rpc/rpcServer.js';
import type { ClusterSession } from '../session/clusterSession.js';
import { findBundle } from '../session/managerInstaller.js';
import { AgentInstaller, type AgentBundle, type ManagerAtHand, type Workload } from './agentInstaller.js';
import { agentRollReason } from './agentVersion.js';
import { InterceptPlanError } from './interceptPlanError.js';
import { Interceptor, type HeldIntercept } from './interceptor.js';
import { mountUnavailable, VolumeMounts } from './volumeMounts.js';
import { resolvePortChoice } from './portChoice.js';
import { formatServicePort, installedAgentConfig, interceptablePorts } from './workloadPorts.js';

/** The header a personal intercept matches when the user names none. */
export const DEFAULT_INTERCEPT_HEADER = 'x-telepath-intercept';
export const PREVIEW_PATH_PREFIX = '/.telepath/preview/';

export interface InterceptServiceOptions {
  rolloutTimeoutMs?: number;
  /** Journal of volume mounts; without it, volumes are not mounted. */
  mountJournal?: string;
  /** Raises a mount's read-ahead as root, for a daemon that is not (through its network role). */
  raiseReadAhead?: (mountPoint: string) => Promise<void>;
  /** The intercepts (or what is known of ended ones) changed without a request: tell the clients. */
  onChange?: () => void;
}

/** How many intercepts the manager ended are remembered for `status`. */
const ENDED_KEPT = 10;

/** The variable that tells a local process where the container's volumes are. */
export const TELEPATH_ROOT = 'TELEPATH_ROOT';

export class InterceptService {
  readonly interceptor: Interceptor;
  private readonly installer: AgentInstaller;
  private readonly workloadOf = new Map<string, { namespace: string; workload: string; servicePort: string }>();
  private readonly mountPoints = new Map<string, string>();
  private readonly endedList: EndedIntercept[] = [];
  private readonly volumes: VolumeMounts | undefined;
  /** Why an intercept gets no traffic although it is held (its agent could not be rolled after an upgrade). */
  private readonly problems = new Map<string, string>();
  /** Aborts rollouts that no request waits for (after a reconnect) when the session ends. */
  private readonly closing = new AbortController();
  private rolling: Promise<void> = Promise.resolve();

  constructor(
    private readonly session: ClusterSession,
    private readonly log: Logger,
    private readonly options: InterceptServiceOptions = {},
  ) {
    this.installer = new AgentInstaller(session.access, log.child('agent'));
    this.interceptor = new Interceptor(
      { client: () => session.client, sessionId: () => session.sessionId, onEnded: (name, reason) => void this.endedByManager(name, reason) },
      log.child('intercept'),
    );
    this.volumes = options.mountJournal ? new VolumeMounts(session.access.kc, options.mountJournal, log.child('mounts'), options.raiseReadAhead) : undefined;
  }

  /** Raises the read-ahead of every volume mount (again): a network role has just come. */
  async raiseReadAhead(): Promise<void> {
    await this.volumes?.raiseReadAhead();
  }

  get count(): number {
    return this.interceptor.list().length;
  }

  async intercept(params: InterceptParams, progress: Progress, signal: AbortSignal): Promise<InterceptResult> {
    const namespace = params.namespace ?? this.session.access.namespace;
    const ref = params.workload;
    const name = params.name ?? ref.slice(ref.indexOf('/') + 1);
    if (this.interceptor.get(name)) {
      throw daemonError(ErrorCode.InterceptConflict, `you already have an intercept named ${name}; "telepath leave ${name}" first, or pass --name`);
    }
    progress('begin', `Intercepting ${ref} in namespace ${namespace}`);
    await this.checkRight(namespace);
    const workload = await this.installer.findWorkload(ref, namespace);
    const services = await this.installer.listServices(namespace);
    const plan = this.installer.plan(workload, services, params.container);
    const chosen = planned(() => resolvePortChoice(interceptablePorts(workload, services), params.servicePort));
    const agentPort = plan.config.ports.find((p) => p.appPort === chosen.containerPort);
    if (chosen.container !== plan.config.container || !agentPort) {
      throw daemonError(
        ErrorCode.NotInterceptable,
        `${formatServicePort(chosen)} reaches container ${chosen.container}, but the agent takes the ports of ${plan.config.container}; pass --container ${chosen.container}`,
      );
    }
    // Refuse what the manager would refuse before any rollout.
    const spec = this.specFor(params, name, workload, agentPort.agentPort);
    await this.checkConflicts(spec);

    await this.installer.ensure(workload, plan, this.ownAgent(), this.managerAtHand(), progress, signal, this.options.rolloutTimeoutMs ?? 180_000);
    const agents = await this.waitForAgents(workload, progress, signal);

    let held: HeldIntercept;
    try {
      held = await this.interceptor.add(spec, { host: '127.0.0.1', port: params.localPort });
    } catch (e) {
      throw managerError(e);
    }
    this.workloadOf.set(name, { namespace, workload: `${workload.kind.toLowerCase()}/${workload.metadata.name}`, servicePort: formatServicePort(chosen) });
    const agent = agents[0]!;
    const environment: Record<string, string> = { ...agent.environment };
    const environmentProblem = agent.environmentWithheld || undefined;
    if (environmentProblem) progress('report', `The environment is not available: ${environmentProblem}`);
    let mountProblem: string | undefined;
    if (params.mount !== false) {
      try {
        const root = await this.mountVolumes(name, agent, params.mountPoint);
        environment[TELEPATH_ROOT] = root;
        this.mountPoints.set(name, root);
      } catch (e) {
        mountProblem = (e as Error).message;
        progress('report', `The volumes are not mounted: ${mountProblem}`);
      }
    }
    progress('end', `Intercepting ${formatServicePort(chosen)} of ${workload.kind.toLowerCase()}/${workload.metadata.name}`);
    return {
      intercept: this.describe(held),
      environment,
      podName: agent.podName,
      ...(mountProblem ? { mountProblem } : {}),
      ...(environmentProblem ? { environmentProblem } : {}),
    };
  }

  private async mountVolumes(name: string, agent: AgentInfo, mountPoint: string | undefined): Promise<string> {
    if (!this.volumes) throw new Error('this daemon has no place to journal mounts');
    if (!agent.sftpPort) throw new Error('the agent serves no volumes (the container mounts none)');
    const missing = mountUnavailable();
    if (missing) throw new Error(missing);
    // The same pod's agent if it still reports — a restarted one on another port, while the
    // manager may still list the old one too — else another pod of the workload.
    const locate = async (previous: { pod: string; sftpPort: number }): Promise<{ pod: string; sftpPort: number }> => {
      const agents = (await this.agents(agent.namespace, agent.workloadName)).filter((a) => a.sftpPort);
      const samePod = agents.filter((a) => a.podName === previous.pod);
      const now = samePod.find((a) => a.sftpPort !== previous.sftpPort) ?? samePod[0] ?? agents[0];
      return now ? { pod: now.podName, sftpPort: now.sftpPort } : previous;
    };
    const authorize = async (publicKey: string): Promise<void> => {
      try {
        await this.interceptor.authorizeVolumes(name, publicKey);
      } catch (e) {
        const err = e as ServiceError;
        if (err.code === GrpcStatus.PERMISSION_DENIED) throw new Error(`the traffic-manager refused: ${err.details}; ask a cluster admin for the "may read env and volumes" role of docs/security.md`);
        throw new Error(`the traffic-manager did not take the mount's key: ${err.details ?? err.message}`);
      }
    };
    return this.volumes.mount({
      name,
      namespace: agent.namespace,
      pod: agent.podName,
      sftpPort: agent.sftpPort,
      locate,
      authorize,
      ...(mountPoint ? { mountPoint } : {}),
    });
  }

  /**
   * Arrived again, perhaps at another manager (one that another client upgraded): re-creates every
   * intercept there first, so that none is lost, then rolls the workloads of held intercepts whose
   * agent that manager no longer serves (it refuses such agents, and they send everything to the
   * app) with this client's agent. The new pods' agents find the intercepts when they arrive.
   * A workload that cannot be rolled keeps its intercept, with the problem in `status`.
   */
  async resume(): Promise<void> {
    await this.interceptor.resume();
    this.options.onChange?.();
    // One round of rollouts at a time: a reconnect during a rollout waits for it, then looks again.
    this.rolling = this.rolling.then(() => this.rollOutdatedAgents()).catch((e: unknown) => this.log.error(`rolling outdated agents: ${(e as Error).message}`));
    await this.rolling;
  }

  private async rollOutdatedAgents(): Promise<void> {
    const manager = this.managerAtHand();
    const rolled = new Map<string, string>();
    for (const h of this.interceptor.list()) {
      const key = `${h.spec.namespace}/${h.spec.workloadKind}/${h.spec.workloadName}`;
      if (!rolled.has(key)) rolled.set(key, await this.rollIfOutdated(h, manager));
      const problem = rolled.get(key)!;
      if (problem) this.problems.set(h.spec.name, problem);
      else this.problems.delete(h.spec.name);
    }
    this.options.onChange?.();
  }

  /** Rolls the workload of `h` when `manager` no longer serves its agent; what went wrong, or ''. */
  private async rollIfOutdated(h: HeldIntercept, manager: ManagerAtHand): Promise<string> {
    const what = `${h.spec.workloadKind.toLowerCase()}/${h.spec.workloadName}`;
    const progress: Progress = (_kind, message) => this.log.info(`${h.spec.namespace}/${what}: ${message}`);
    let workload: Workload;
    try {
      workload = await this.installer.findWorkload(`${h.spec.workloadKind}/${h.spec.workloadName}`, h.spec.namespace);
    } catch (e) {
      this.log.warn(`intercept ${h.spec.name}: cannot read ${what} to check its agent: ${(e as Error).message}`);
      return '';
    }
    const reason = agentRollReason(workload.spec.template?.metadata, manager);
    if (!reason) return '';
    this.log.warn(`intercept ${h.spec.name}: ${what} ${reason}; rolling it with the traffic-agent ${PRODUCT_VERSION}`);
    try {
      await this.installer.rollIfOutdated(workload, this.ownAgent(), manager, progress, this.closing.signal, this.options.rolloutTimeoutMs ?? 180_000);
      return '';
    } catch (e) {
      const problem = `its traffic-agent is too old for the traffic-manager ${manager.version} and could not be rolled: ${(e as Error).message}`;
      this.log.error(`intercept ${h.spec.name}: ${problem}`);
      return problem;
    }
  }

  private ownAgent(): AgentBundle {
    return { build: { version: PRODUCT_VERSION, api: OWN_API }, bundle: findAgentBundle() };
  }

  private managerAtHand(): ManagerAtHand {
    return { version: this.session.managerVersion ?? '', api: this.session.managerApi ?? OWN_API, namespace: this.session.managerNamespace };
  }

  async leave(name: string): Promise<void> {
    this.problems.delete(name);
    await this.volumes?.unmount(name);
    this.mountPoints.delete(name);
    if (!(await this.interceptor.remove(name))) {
      const names = this.interceptor.list().map((h) => h.spec.name);
      throw daemonError(ErrorCode.InterceptNotFound, `there is no intercept named ${name}${names.length ? ` (yours: ${names.join(', ')})` : ''}`);
    }
    this.workloadOf.delete(name);
  }

  /** Intercepts the manager ended (a revoked right), newest last, for `status`. */
  ended(): EndedIntercept[] {
    return [...this.endedList];
  }

  private async endedByManager(name: string, reason: string): Promise<void> {
    const where = this.workloadOf.get(name);
    this.endedList.push({ name, ...(where ? { namespace: where.namespace, workload: where.workload } : {}), reason, at: new Date().toISOString() });
    this.endedList.splice(0, Math.max(0, this.endedList.length - ENDED_KEPT));
    this.workloadOf.delete(name);
    this.mountPoints.delete(name);
    await this.volumes?.unmount(name).catch((e: unknown) => this.log.warn(`unmounting the volumes of ${name}: ${(e as Error).message}`));
    this.options.onChange?.();
  }

  mine(): InterceptInfo[] {
    return this.interceptor.list().map((h) => this.describe(h));
  }

  async list(namespace: string): Promise<ListResult> {
    const [workloads, services, intercepts, agents] = await Promise.all([
      this.installer.listWorkloads(namespace),
      this.installer.listServices(namespace),
      this.managerIntercepts(namespace),
      this.agents(namespace, ''),
    ]);
    const out: WorkloadInfo[] = [];
    for (const w of workloads) {
      // A ReplicaSet of a Deployment is intercepted through its Deployment.
      if (w.kind === 'ReplicaSet' && (w.metadata.ownerReferences ?? []).some((o) => o.kind === 'Deployment')) continue;
      out.push(describeWorkload(w, services, intercepts, agents));
    }
    return { namespace, workloads: out, intercepts: this.mine() };
  }

  /** uninstall --agent: ends every intercept of mine on it, then restores the workload and Services. */
  async uninstallAgent(ref: string, namespace: string, progress: Progress, signal: AbortSignal): Promise<string[]> {
    const workload = await this.installer.findWorkload(ref, namespace);
    for (const h of this.interceptor.list()) {
      if (h.spec.namespace === namespace && h.spec.workloadName === workload.metadata.name) await this.leave(h.spec.name);
    }
    return this.installer.remove(workload, progress, signal, true);
  }

  /** uninstall --everything: every marked workload the user can see. */
  async uninstallAllAgents(namespaces: string[], progress: Progress, signal: AbortSignal): Promise<string[]> {
    for (const h of this.interceptor.list()) await this.leave(h.spec.name).catch(() => undefined);
    return uninstallAgents(this.installer, namespaces, progress, signal);
  }

  async close(): Promise<void> {
    this.closing.abort();
    this.interceptor.close();
    await this.volumes?.unmountAll();
    this.mountPoints.clear();
  }

  private specFor(params: InterceptParams, name: string, workload: Workload, agentPort: number): InterceptSpec {
    const global = params.mode === 'global';
    if (global && (params.headers?.length || params.pathPrefix || params.preview)) {
      throw daemonError(ErrorCode.NotInterceptable, 'a global intercept takes all traffic; --http-header, --http-path-prefix and --preview need a personal one');
    }
    let headers = params.headers ?? [];
    if (!global && headers.length === 0 && !params.pathPrefix) headers = [{ name: DEFAULT_INTERCEPT_HEADER, value: randomBytes(6).toString('hex') }];
    return {
      name,
      namespace: workload.metadata.namespace,
      workloadKind: workload.kind,
      workloadName: workload.metadata.name,
      agentPort,
      global,
      headers,
      pathPrefix: params.pathPrefix ?? '',
      previewToken: params.preview ? randomBytes(12).toString('hex') : '',
      localPort: params.localPort,
    };
  }

  /**
   * Whether the cluster lets this user intercept in `namespace`, asked before the workload is
   * touched. Only a courtesy: the manager asks the API server itself, whatever the daemon did.
   */
  private async checkRight(namespace: string): Promise<void> {
    const r = RIGHTS.intercept;
    let allowed: boolean;
    try {
      const review = await this.session.access.kc.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({
        body: { spec: { resourceAttributes: { namespace, verb: r.verb, group: r.group, resource: r.resource } } },
      });
      allowed = review.status?.allowed === true && review.status.denied !== true;
    } catch (err) {
      throw kubeError(err, `asking whether you may intercept in namespace ${namespace}`, this.session.access);
    }
    if (!allowed) {
      throw daemonError(
        ErrorCode.Forbidden,
        `the cluster does not let the user of context "${this.session.access.context}" ${describeRight('intercept')} in namespace ${namespace}, ` +
          `which intercepting there needs; ask a cluster admin for the "may intercept" role of docs/security.md`,
      );
    }
  }

  /** The manager's conflict rules, asked before a rollout rather than after it. */
  private async checkConflicts(spec: InterceptSpec): Promise<void> {
    const others = (await this.managerIntercepts(spec.namespace)).filter(
      (i) => i.spec?.workloadName === spec.workloadName && i.spec.workloadKind === spec.workloadKind && i.spec.agentPort === spec.agentPort,
    );
    const conflict = interceptConflict(spec, others.map((i) => ({ spec: i.spec!, holder: i.clientName, mine: i.mine })));
    if (conflict) throw daemonError(ErrorCode.InterceptConflict, conflict);
  }

  /** Until an agent of every replica has arrived at the manager. */
  private async waitForAgents(workload: Workload, progress: Progress, signal: AbortSignal): Promise<AgentInfo[]> {
    const want = Math.max(1, workload.spec.replicas ?? 1);
    const deadline = Date.now() + 60_000;
    let agents: AgentInfo[] = [];
    while (Date.now() < deadline) {
      if (signal.aborted) throw daemonError(ErrorCode.Interrupted, 'the intercept was interrupted');
      agents = await this.agents(workload.metadata.namespace, workload.metadata.name);
      if (agents.length >= want) return agents;
      progress('report', `Waiting for the agents of ${workload.metadata.name} to report (${agents.length} of ${want})`);
      await new Promise((r) => setTimeout(r, 300));
    }
    if (agents.length > 0) return agents;
    throw daemonError(
      ErrorCode.AgentNotReady,
      `the agents of ${workload.metadata.name} run but none reported to the traffic-manager within 60 s; see "kubectl -n ${workload.metadata.namespace} logs -c telepath-agent" on its pods`,
    );
  }

  private agents(namespace: string, workloadName: string): Promise<AgentInfo[]> {
    return new Promise((resolve, reject) =>
      this.session.client.listAgents({ session: { sessionId: this.session.sessionId }, namespace, workloadName }, (err, res) =>
        err ? reject(managerError(err)) : resolve(res?.agents ?? []),
      ),
    );
  }

  private managerIntercepts(namespace: string): Promise<ManagerIntercept[]> {
    return new Promise((resolve, reject) =>
      this.session.client.listIntercepts({ session: { sessionId: this.session.sessionId }, namespace }, (err, res) =>
        err ? reject(managerError(err)) : resolve(res?.intercepts ?? []),
      ),
    );
  }

  private describe(h: HeldIntercept): InterceptInfo {
    const where = this.workloadOf.get(h.spec.name);
    const info: InterceptInfo = {
      name: h.spec.name,
      namespace: h.spec.namespace,
      workload: where?.workload ?? `${h.spec.workloadKind.toLowerCase()}/${h.spec.workloadName}`,
      servicePort: where?.servicePort ?? String(h.spec.agentPort),
      agentPort: h.spec.agentPort,
      localPort: h.target.port,
      mode: h.spec.global ? 'global' : 'personal',
      headers: h.spec.headers.map((x) => ({ name: x.name, value: x.value })),
      state: h.active ? 'active' : 'waiting',
    };
    if (h.spec.pathPrefix) info.pathPrefix = h.spec.pathPrefix;
    if (h.spec.previewToken) info.previewPath = `${PREVIEW_PATH_PREFIX}${h.spec.previewToken}`;
    const mountPoint = this.mountPoints.get(h.spec.name);
    if (mountPoint) info.mountPoint = mountPoint;
    const problem = this.problems.get(h.spec.name);
    if (problem) info.problem = problem;
    return info;
  }
}

/** Removes the agent from every marked workload of `namespaces`; used with and without a session. */
export async function uninstallAgents(installer: AgentInstaller, namespaces: string[], progress: Progress, signal: AbortSignal): Promise<string[]> {
  const done: string[] = [];
  for (const w of await installer.markedWorkloads(namespaces)) done.push(...(await installer.remove(w, progress, signal, true)));
  return done;
}

function describeWorkload(w: Workload, services: ServiceObject[], intercepts: ManagerIntercept[], agents: AgentInfo[]): WorkloadInfo {
  const config = installedAgentConfig(w);
  const marked = isAgentMarked(w);
  const reporting = agents.filter((a) => a.workloadName === w.metadata.name);
  const info: WorkloadInfo = {
    kind: w.kind,
    name: w.metadata.name,
    namespace: w.metadata.namespace,
    agent: reporting.length > 0 ? 'ready' : marked ? 'installed' : 'none',
    ports: [],
  };
  try {
    for (const p of interceptablePorts(w, services)) {
      const agentPort = config?.ports.find((a) => a.appPort === p.containerPort && config.container === p.container)?.agentPort;
      const held = intercepts.filter((i) => i.spec?.workloadName === w.metadata.name && agentPort !== undefined && i.spec.agentPort === agentPort);
      info.ports.push({
        service: p.service,
        portName: p.portName,
        port: p.port,
        protocol: p.protocol,
        container: p.container,
        containerPort: p.containerPort,
        intercepts: held.map(portIntercept),
      });
    }
    if (info.ports.length === 0) info.problem = 'no Service selects it';
  } catch (e) {
    info.problem = (e as Error).message;
  }
  return info;
}

/**
 * One intercept of a port as `telepath list` and the VS Code tree show it. The manager blanked the
 * header values of other holders' intercepts, so those read "(hidden)" rather than empty.
 */
export function portIntercept(i: ManagerIntercept): WorkloadPort['intercepts'][number] {
  return {
    name: i.spec!.name,
    holder: i.mine ? 'you' : i.clientName,
    mine: i.mine,
    mode: i.spec!.global ? 'global' : 'personal',
    match: describeMatch(i.spec!, !i.mine),
  };
}

function planned<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof InterceptPlanError) throw daemonError(ErrorCode.NotInterceptable, e.message);
    throw e;
  }
}

function managerError(e: unknown): Error {
  const err = e as ServiceError;
  if (err?.code === GrpcStatus.ALREADY_EXISTS) return daemonError(ErrorCode.InterceptConflict, err.details);
  if (err?.code === GrpcStatus.INVALID_ARGUMENT) return daemonError(ErrorCode.NotInterceptable, err.details);
  if (err?.code === GrpcStatus.PERMISSION_DENIED) {
    return daemonError(ErrorCode.Forbidden, `the traffic-manager refused: ${err.details}; ask a cluster admin for the "may intercept" role of docs/security.md`);
  }
  // The manager removed the workload's agent as idle a moment ago; its message says to intercept again.
  if (err?.code === GrpcStatus.FAILED_PRECONDITION) return daemonError(ErrorCode.AgentNotReady, `the traffic-manager: ${err.details}`);
  if (err?.code === GrpcStatus.UNAVAILABLE || err?.code === GrpcStatus.NOT_FOUND) {
    return daemonError(ErrorCode.ManagerUnreachable, `the traffic-manager: ${err.details || err.message}`);
  }
  return e instanceof Error ? e : new Error(String(e));
}

/** The agent's bundle: beside this program in dist/, or dist/ of the repository from sources. */
export function findAgentBundle(env: NodeJS.ProcessEnv = process.env): Buffer {
  return findBundle('traffic-agent.js', env.TELEPATH_AGENT_BUNDLE);
}
