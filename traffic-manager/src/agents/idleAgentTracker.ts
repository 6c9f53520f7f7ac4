/**
 * Which workloads' agents are idle: no intercept for the configured time. Pure and clock-injected;
 * idleAgents.ts feeds it the agents' arrivals and the intercepts' comings and goings, and removes
 * what it names.
 *
 * A workload's idle clock starts when it is first seen with no intercept — its first agent
 * arrived, or the manager found it marked when it started (so a manager restart gives every
 * workload the full time again, its daemons time to come back and re-create their intercepts) —
 * and again when its last intercept ends. A workload with an intercept is never idle.
 */
import type { WorkloadRef } from '../../../common/src/agents/agentObjects.js';
import type { Clock } from '../sessions.js';

interface Tracked {
  readonly ref: WorkloadRef;
  intercepts: number;
  /** When it last had an intercept, or was first seen without one. */
  idleSince: number;
}

export function workloadKey(ref: WorkloadRef): string {
  return `${ref.namespace}/${ref.kind}/${ref.name}`;
}

export class IdleAgentTracker {
  private readonly tracked = new Map<string, Tracked>();
  /** Workloads whose agent this manager removed, until the webhook injects an agent into a pod of theirs again. */
  private readonly removed = new Map<string, WorkloadRef>();

  constructor(
    readonly timeoutMs: number,
    private readonly clock: Clock,
  ) {}

  /**
   * The workload has an agent: one of its agents arrived, or it was found marked. Starts its idle
   * clock unless it runs already.
   */
  agentSeen(ref: WorkloadRef): void {
    const key = workloadKey(ref);
    if (!this.tracked.has(key)) this.tracked.set(key, { ref, intercepts: 0, idleSince: this.clock.now() });
  }

  /**
   * The webhook put an agent into a new pod of the workload: it is being installed again. (Not an
   * arrival: the agents of the pods that a removal rolls away may still come and go meanwhile.)
   */
  agentInjected(ref: WorkloadRef): void {
    this.removed.delete(workloadKey(ref));
  }

  /** The workload now has `count` intercepts; its clock starts again when the last one ends. */
  interceptsChanged(ref: WorkloadRef, count: number): void {
    const key = workloadKey(ref);
    const now = this.clock.now();
    const t = this.tracked.get(key) ?? { ref, intercepts: 0, idleSince: now };
    this.tracked.set(key, t);
    if (t.intercepts > 0 && count === 0) t.idleSince = now;
    t.intercepts = count;
  }

  /** Idle workloads, longest idle first. */
  idle(): WorkloadRef[] {
    return [...this.tracked.values()]
      .filter((t) => this.isIdleNow(t))
      .sort((a, b) => a.idleSince - b.idleSince)
      .map((t) => t.ref);
  }

  isIdle(ref: WorkloadRef): boolean {
    const t = this.tracked.get(workloadKey(ref));
    return t !== undefined && this.isIdleNow(t);
  }

  /** Its agent was removed: no longer tracked, and wasRemoved until an agent is injected into it again. */
  agentRemoved(ref: WorkloadRef): void {
    const key = workloadKey(ref);
    this.tracked.delete(key);
    this.removed.set(key, ref);
  }

  /** It has no agent any more (uninstalled by someone, or deleted): no longer tracked. */
  forget(ref: WorkloadRef): void {
    this.tracked.delete(workloadKey(ref));
  }

  wasRemoved(ref: WorkloadRef): boolean {
    return this.removed.has(workloadKey(ref));
  }

  /** The workloads tracked, for logs and tests. */
  get size(): number {
    return this.tracked.size;
  }

  private isIdleNow(t: Tracked): boolean {
    return t.intercepts === 0 && this.clock.now() - t.idleSince >= this.timeoutMs;
  }
}
