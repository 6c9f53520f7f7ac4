/**
 * Removes the agents of workloads that had no intercept for TELEPATH_AGENT_IDLE_TIMEOUT, and
 * restores those workloads and their Services exactly as `telepath uninstall --agent` does (the
 * same code: common/src/agents/agentRemoval.ts), with the manager's own service account. The
 * decision is IdleAgentTracker's; this part feeds it and does the I/O.
 *
 * - The tracker hears of every agent arrival and every intercept created or ended (the registry's
 *   events), and, once the rights are there, of every marked workload in the cluster (so a
 *   workload whose agents are not connected is removed too, a full timeout after that).
 * - Nothing is removed without the rights (IDLE_AGENT_RULES, asked with SelfSubjectAccessReviews):
 *   the manager says which are missing, once, and asks again every minute.
 * - A workload is read again before it is changed, and the registry asked again right before the
 *   first write: one that gained an intercept, or lost its mark meanwhile, is left alone.
 * - A CreateIntercept of a workload whose agent was just removed is refused (refusal()) until the
 *   webhook injects an agent into it again, which a new intercept's rollout does.
 */
import type { ResourceAttributes } from 'kubernetes-types/authorization/v1';
import { WORKLOAD_KINDS, type WorkloadKind } from '../../../protocol/src/agent/agentConfig.js';
import type { InterceptSpec } from '../../../protocol/src/gen/telepath/manager/v1/manager.js';
import { isAgentMarked, type WorkloadRef } from '../../../common/src/agents/agentObjects.js';
import { removeAgent, workloadRef, type AgentRemovalIo, type RemovableWorkload } from '../../../common/src/agents/agentRemoval.js';
import { describeAccess, idleAgentRights, idleAgentRoleName } from '../../../common/src/install/idleAgentRbac.js';
import type { Logger } from '../../../common/src/log/jsonLogger.js';
import type { InterceptRegistry } from '../intercepts/interceptRegistry.js';
import { errorText } from '../kube/collectionWatch.js';
import { KubeApiError } from '../kube/kubeClient.js';
import { type Clock, systemClock } from '../sessions.js';
import { IdleAgentTracker } from './idleAgentTracker.js';

/** The removal's I/O and the reads around it (KubeAgentRemoval). */
export interface IdleAgentsApi extends AgentRemovalIo {
  getWorkload(ref: WorkloadRef): Promise<RemovableWorkload | undefined>;
  markedWorkloads(): Promise<RemovableWorkload[]>;
}

export interface IdleAgentsOptions {
  timeoutMs: number;
  intercepts: InterceptRegistry;
  api: IdleAgentsApi;
  /** Whether the manager's own account may do this, in every namespace (SelfSubjectAccessReview). */
  mayI: (attributes: ResourceAttributes) => Promise<boolean>;
  /** The manager's namespace, which names the ClusterRole an admin grants. */
  namespace: string;
  logger: Logger;
  clock?: Clock;
  /** How often idle workloads are looked for; a tenth of the timeout, between 1 and 30 s, by default. */
  checkMs?: number;
  /** How often missing rights are asked about again. */
  rightsRetryMs?: number;
}

export class IdleAgents {
  readonly tracker: IdleAgentTracker;
  private readonly clock: Clock;
  private readonly unsubscribe: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  private rights: 'unknown' | 'granted' | 'missing' = 'unknown';
  private rightsAskedAt = -Infinity;
  private missingSaid = '';
  private discovered = false;
  /** Aborted by stop(): no removal starts after it, and one under way stops before its first write. */
  private readonly stopping = new AbortController();

  constructor(private readonly options: IdleAgentsOptions) {
    this.clock = options.clock ?? systemClock;
    this.tracker = new IdleAgentTracker(options.timeoutMs, this.clock);
    const { intercepts } = options;
    this.unsubscribe.push(
      intercepts.on('agentArrived', (a) => {
        const ref = refOf(a.namespace, a.workloadKind, a.workloadName);
        if (ref) this.tracker.agentSeen(ref);
      }),
      intercepts.on('interceptsChanged', (spec) => {
        const ref = refOf(spec.namespace, spec.workloadKind, spec.workloadName);
        if (ref) this.tracker.interceptsChanged(ref, intercepts.countFor(ref.namespace, ref.kind, ref.name));
      }),
    );
  }

  /** The webhook injected an agent into a pod of this workload: it is being installed again. */
  agentInjected(workload: { namespace: string; kind: string; name: string }): void {
    const ref = refOf(workload.namespace, workload.kind, workload.name);
    if (ref) this.tracker.agentInjected(ref);
  }

  /** Why an intercept of this workload cannot be created now; undefined when it can. */
  refusal(spec: InterceptSpec): string | undefined {
    const ref = refOf(spec.namespace, spec.workloadKind, spec.workloadName);
    if (!ref || !this.tracker.wasRemoved(ref)) return undefined;
    return (
      `the traffic-agent of ${describe(ref)} was removed a moment ago because no one had intercepted it for ${formatDuration(this.options.timeoutMs)}; ` +
      `intercept again to put it back (one rollout)`
    );
  }

  /** One round: the rights, the marked workloads (once), then every idle workload. Resolves with those removed. */
  async check(): Promise<WorkloadRef[]> {
    if (this.checking) return [];
    this.checking = true;
    try {
      if (!(await this.haveRights())) return [];
      if (!this.discovered) await this.discover();
      const removed: WorkloadRef[] = [];
      for (const ref of this.tracker.idle()) {
        if (this.rights !== 'granted' || this.stopping.signal.aborted) break;
        if (await this.removeIdle(ref)) removed.push(ref);
      }
      return removed;
    } finally {
      this.checking = false;
    }
  }

  /** Checks now and then every checkMs, until stop(). */
  start(): void {
    const { logger, timeoutMs } = this.options;
    const checkMs = this.options.checkMs ?? Math.min(30_000, Math.max(1_000, Math.floor(timeoutMs / 10)));
    logger.info('removing the agents of workloads without an intercept', { idleTimeout: formatDuration(timeoutMs), checkMs });
    const run = (): void => void this.check().catch((e: unknown) => logger.warn('looking for idle agents failed', { error: errorText(e) }));
    run();
    this.timer = setInterval(run, checkMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopping.abort();
    clearInterval(this.timer);
    for (const u of this.unsubscribe.splice(0)) u();
  }

  /** Asks for the rights when they are not known to be granted (at most every rightsRetryMs); says once which are missing. */
  private async haveRights(): Promise<boolean> {
    if (this.rights === 'granted') return true;
    const now = this.clock.now();
    if (this.rights === 'missing' && now - this.rightsAskedAt < (this.options.rightsRetryMs ?? 60_000)) return false;
    this.rightsAskedAt = now;
    const wanted = idleAgentRights();
    const answers = await Promise.all(wanted.map((a) => this.options.mayI(a)));
    const missing = wanted.filter((_, i) => !answers[i]).map(describeAccess);
    if (missing.length === 0) {
      this.options.logger.info('the traffic-manager has the rights to remove idle agents');
      this.rights = 'granted';
      this.missingSaid = '';
      return true;
    }
    this.rights = 'missing';
    const said = missing.join(', ');
    if (said !== this.missingSaid) {
      this.missingSaid = said;
      this.options.logger.warn(
        `TELEPATH_AGENT_IDLE_TIMEOUT is set, but the traffic-manager may not ${said} in every namespace; no idle agent is removed ` +
          `until a cluster admin grants the ClusterRole ${idleAgentRoleName(this.options.namespace)} of docs/security.md ("Idle agents")`,
      );
    }
    return false;
  }

  /** Every marked workload gets its clock, from now unless its agents already arrived. */
  private async discover(): Promise<void> {
    const marked = await this.guarded(() => this.options.api.markedWorkloads(), 'listing the marked workloads');
    if (!marked.ok) return;
    for (const w of marked.value) this.tracker.agentSeen(workloadRef(w));
    this.discovered = true;
    this.options.logger.info('found the workloads with an agent', { workloads: marked.value.length });
  }

  /** True when the agent was removed. */
  private async removeIdle(ref: WorkloadRef): Promise<boolean> {
    const { api, logger } = this.options;
    if (!this.stillIdle(ref)) return false;
    const read = await this.guarded(() => api.getWorkload(ref), `reading ${describe(ref)}`);
    if (!read.ok) return false;
    const workload = read.value;
    if (!workload || !isAgentMarked(workload)) {
      // Deleted, or its agent taken out by someone else (`telepath uninstall --agent`).
      this.tracker.forget(ref);
      return false;
    }
    const removal = await this.guarded(() => removeAgent(workload, api, { proceed: () => this.stillIdle(ref) }), `removing the idle agent of ${describe(ref)}`);
    if (!removal.ok) return false;
    if (!removal.value) {
      logger.info('an intercept came just before an idle agent was removed; it stays', { workload: describe(ref) });
      return false;
    }
    this.tracker.agentRemoved(ref);
    logger.info('removed an idle traffic-agent', { workload: describe(ref), idleTimeout: formatDuration(this.options.timeoutMs), done: removal.value });
    return true;
  }

  private stillIdle(ref: WorkloadRef): boolean {
    return !this.stopping.signal.aborted && this.tracker.isIdle(ref) && this.options.intercepts.countFor(ref.namespace, ref.kind, ref.name) === 0;
  }

  /**
   * Runs API calls; a failure is logged and left to the next round. A refusal (403) means the
   * rights went away: they are asked for again, and what is missing said again.
   */
  private async guarded<T>(call: () => Promise<T>, doing: string): Promise<{ ok: true; value: T } | { ok: false }> {
    try {
      return { ok: true, value: await call() };
    } catch (e) {
      if (e instanceof KubeApiError && e.status === 403) {
        this.rights = 'unknown';
        this.missingSaid = '';
      }
      this.options.logger.warn(`${doing} failed; trying again later`, { error: errorText(e) });
      return { ok: false };
    }
  }
}

function refOf(namespace: string, kind: string, name: string): WorkloadRef | undefined {
  return WORKLOAD_KINDS.includes(kind as WorkloadKind) && namespace && name ? { namespace, kind: kind as WorkloadKind, name } : undefined;
}

function describe(ref: WorkloadRef): string {
  return `${ref.kind.toLowerCase()}/${ref.name} in namespace ${ref.namespace}`;
}

/** 30m, 2h, 1h30m, 20s: the setting's own units. */
export function formatDuration(ms: number): string {
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [unit, size] of [['h', 3600], ['m', 60], ['s', 1]] as const) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n) parts.push(`${n}${unit}`);
  }
  return parts.join('') || `${ms}ms`;
}
