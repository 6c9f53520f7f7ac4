/**
 * The manager's intercept state: which agents run (one per pod), which intercepts clients hold,
 * and whether each holder is reachable (it watches its dials). Everything lives in memory: after a
 * manager restart, agents arrive again and daemons re-create their intercepts, so the cluster's
 * truth is rebuilt from its owners rather than from a store that could drift.
 *
 * Watchers (agents' WatchAgentIntercepts) are told on every change of their workload.
 */
import { randomUUID } from 'node:crypto';
import type { AgentInfo, InterceptInfo, InterceptSpec } from '../../../protocol/src/gen/telepath/manager/v1/manager.js';
import type { Logger } from '../../../common/src/log/jsonLogger.js';
import type { ClientSession } from '../sessions.js';
import { interceptConflict, redactSpec, specProblem, sameSpec } from '../../../common/src/interceptRules.js';

export interface Intercept {
  readonly id: string;
  readonly spec: InterceptSpec;
  readonly session: ClientSession;
  /** The Kubernetes user the cluster allowed it for (auth/clientRights.ts), for logs. */
  readonly user?: string;
  /** The OpenSSH public key its holder may mount the workload's volumes with (AuthorizeVolumes). */
  volumeKey?: string;
}

export interface AgentEntry {
  readonly info: AgentInfo;
  readonly session: ClientSession;
}

/** A refusal the client should see as it is (gRPC ALREADY_EXISTS / INVALID_ARGUMENT / NOT_FOUND). */
export class InterceptError extends Error {
  constructor(
    readonly kind: 'conflict' | 'invalid' | 'notFound',
    message: string,
  ) {
    super(message);
    this.name = 'InterceptError';
  }
}

type WorkloadListener = () => void;
type RegistryEvents = { agentArrived: (info: AgentInfo) => void; interceptsChanged: (spec: InterceptSpec) => void };

export class InterceptRegistry {
  private readonly intercepts = new Map<string, Intercept>();
  private readonly agents = new Map<string, AgentEntry>();
  /** Sessions whose WatchDials stream is open, with how many such streams. */
  private readonly watching = new Map<string, number>();
  private readonly listeners = new Map<string, Set<WorkloadListener>>();
  private readonly dropTimers = new Map<string, NodeJS.Timeout>();
  private readonly subscribers: { [E in keyof RegistryEvents]: Set<RegistryEvents[E]> } = { agentArrived: new Set(), interceptsChanged: new Set() };

  /**
   * @param unwatchedGraceMs how long a holder may go without watching its dials (a port-forward
   *   blip, a daemon restart) before its intercepts are dropped and their ports are free again;
   *   meanwhile they route to the app.
   */
  constructor(
    private readonly logger: Logger,
    private readonly newId: () => string = randomUUID,
    private readonly unwatchedGraceMs = 10_000,
  ) {}

  // ---- agents ----

  addAgent(session: ClientSession, info: AgentInfo): void {
    this.agents.set(session.id, { info, session });
    session.signal.addEventListener('abort', () => this.agents.delete(session.id), { once: true });
    this.logger.info('agent arrived', { namespace: info.namespace, workload: info.workloadName, pod: info.podName });
    for (const l of [...this.subscribers.agentArrived]) l(info);
  }

  /**
   * Calls `listener` after each agent arrives (`agentArrived`), or after an intercept was created
   * or ended (`interceptsChanged`, with its spec); returns the function that stops it.
   */
  on<E extends keyof RegistryEvents>(event: E, listener: RegistryEvents[E]): () => void {
    const set = this.subscribers[event] as Set<RegistryEvents[E]>;
    set.add(listener);
    return () => set.delete(listener);
  }

  agent(sessionId: string): AgentEntry | undefined {
    return this.agents.get(sessionId);
  }

  listAgents(namespace: string, workloadName: string): AgentInfo[] {
    return [...this.agents.values()]
      .map((a) => a.info)
      .filter((a) => (!namespace || a.namespace === namespace) && (!workloadName || a.workloadName === workloadName))
      .sort((a, b) => a.podName.localeCompare(b.podName));
  }

  // ---- intercepts ----

  create(session: ClientSession, spec: InterceptSpec, user?: string): Intercept {
    const problem = specProblem(spec);
    if (problem) throw new InterceptError('invalid', problem);
    const mine = [...this.intercepts.values()].find((i) => i.session.id === session.id && i.spec.name === spec.name);
    if (mine) {
      if (sameSpec(mine.spec, spec)) return mine;
      throw new InterceptError('conflict', `you already have an intercept named ${spec.name}; leave it first or choose another --name`);
    }
    const others = [...this.intercepts.values()].filter(
      (i) =>
        i.spec.namespace === spec.namespace &&
        i.spec.workloadName === spec.workloadName &&
        i.spec.workloadKind === spec.workloadKind &&
        i.spec.agentPort === spec.agentPort,
    );
    const conflict = interceptConflict(
      spec,
      others.map((i) => ({ spec: i.spec, holder: i.session.client.name, mine: i.session.id === session.id })),
    );
    if (conflict) throw new InterceptError('conflict', conflict);
    const intercept: Intercept = { id: this.newId(), spec: { ...spec }, session, ...(user ? { user } : {}) };
    this.intercepts.set(intercept.id, intercept);
    session.signal.addEventListener('abort', () => this.drop(intercept, 'session ended'), { once: true });
    this.logger.info('intercept created', {
      id: intercept.id,
      name: spec.name,
      workload: `${spec.namespace}/${spec.workloadName}`,
      agentPort: spec.agentPort,
      global: spec.global,
      client: session.client.name,
      user,
    });
    this.changed(spec.namespace, spec.workloadName);
    for (const l of [...this.subscribers.interceptsChanged]) l(intercept.spec);
    return intercept;
  }

  remove(session: ClientSession, name: string): void {
    const i = [...this.intercepts.values()].find((x) => x.session.id === session.id && x.spec.name === name);
    if (!i) throw new InterceptError('notFound', `you have no intercept named ${name}`);
    this.drop(i, 'removed');
  }

  get(id: string): Intercept | undefined {
    return this.intercepts.get(id);
  }

  /** Lets an intercept's holder mount the volumes with `key`, or no longer (undefined); agents are told. */
  setVolumeKey(i: Intercept, key: string | undefined): void {
    if (this.intercepts.get(i.id) !== i || i.volumeKey === key) return;
    i.volumeKey = key;
    this.logger.info(key ? 'volume key registered' : 'volume key withdrawn', { name: i.spec.name, workload: `${i.spec.namespace}/${i.spec.workloadName}`, user: i.user });
    this.changed(i.spec.namespace, i.spec.workloadName);
  }

  /** The volume keys of a workload's intercepts (active or not), as its agents' SFTP servers take them. */
  volumeKeys(namespace: string, workloadName: string): string[] {
    const keys = new Set<string>();
    for (const i of this.intercepts.values()) {
      if (i.volumeKey && i.spec.namespace === namespace && i.spec.workloadName === workloadName) keys.add(i.volumeKey);
    }
    return [...keys].sort();
  }

  /** One of the session's intercepts, by name. */
  held(session: ClientSession, name: string): Intercept | undefined {
    return [...this.intercepts.values()].find((i) => i.session.id === session.id && i.spec.name === name);
  }

  /** How many intercepts (active or not) a workload has. */
  countFor(namespace: string, workloadKind: string, workloadName: string): number {
    let n = 0;
    for (const i of this.intercepts.values()) {
      if (i.spec.namespace === namespace && i.spec.workloadKind === workloadKind && i.spec.workloadName === workloadName) n++;
    }
    return n;
  }

  /** Every intercept, whoever holds it. */
  all(): Intercept[] {
    return [...this.intercepts.values()];
  }

  /** Ends an intercept that its holder may no longer keep (a revoked right); `why` goes to the log. */
  end(i: Intercept, why: string): void {
    this.drop(i, why);
  }

  /** Every intercept of `namespace` (all if empty) as the client session `askedBy` may see it. */
  list(namespace: string, askedBy: string): InterceptInfo[] {
    return [...this.intercepts.values()]
      .filter((i) => !namespace || i.spec.namespace === namespace)
      .sort((a, b) => a.spec.workloadName.localeCompare(b.spec.workloadName) || a.spec.name.localeCompare(b.spec.name))
      .map((i) => this.info(i, askedBy));
  }

  /** The active intercepts of one workload, as its agents need them. */
  forWorkload(namespace: string, workloadName: string): InterceptInfo[] {
    return [...this.intercepts.values()]
      .filter((i) => i.spec.namespace === namespace && i.spec.workloadName === workloadName && this.isActive(i))
      .map((i) => this.whole(i, false));
  }

  /**
   * An intercept as the client session `askedBy` sees it: whole for its holder; for anyone else
   * with the values that join a personal route blanked (redactSpec), so a hand-written client
   * learns no more than `telepath list` shows.
   */
  info(i: Intercept, askedBy: string): InterceptInfo {
    if (i.session.id === askedBy) return this.whole(i, true);
    return { ...this.whole(i, false), spec: redactSpec(i.spec) };
  }

  /** With the values: for the holder, and for agents (forWorkload), which route by them. */
  private whole(i: Intercept, mine: boolean): InterceptInfo {
    return { id: i.id, spec: i.spec, clientName: i.session.client.name, mine, active: this.isActive(i) };
  }

  isActive(i: Intercept): boolean {
    return (this.watching.get(i.session.id) ?? 0) > 0;
  }

  // ---- the holders' dial streams ----

  /** A client's WatchDials stream opened; returns the function to call when it closes. */
  watchDials(session: ClientSession): () => void {
    this.watching.set(session.id, (this.watching.get(session.id) ?? 0) + 1);
    clearTimeout(this.dropTimers.get(session.id));
    this.dropTimers.delete(session.id);
    this.changedFor(session);
    let closed = false;
    return () => {
      if (closed) return;
      closed = true;
      const n = (this.watching.get(session.id) ?? 1) - 1;
      if (n > 0) {
        this.watching.set(session.id, n);
        return;
      }
      this.watching.delete(session.id);
      this.changedFor(session);
      const timer = setTimeout(() => {
        this.dropTimers.delete(session.id);
        if (this.watching.has(session.id)) return;
        for (const i of [...this.intercepts.values()]) if (i.session.id === session.id) this.drop(i, 'its client stopped watching');
      }, this.unwatchedGraceMs);
      timer.unref();
      this.dropTimers.set(session.id, timer);
    };
  }

  // ---- change notification ----

  onWorkloadChange(namespace: string, workloadName: string, listener: WorkloadListener): () => void {
    const key = workloadKey(namespace, workloadName);
    let set = this.listeners.get(key);
    if (!set) this.listeners.set(key, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(key);
    };
  }

  private drop(i: Intercept, why: string): void {
    if (this.intercepts.get(i.id) !== i) return;
    this.intercepts.delete(i.id);
    this.logger.info('intercept ended', { id: i.id, name: i.spec.name, workload: `${i.spec.namespace}/${i.spec.workloadName}`, why });
    this.changed(i.spec.namespace, i.spec.workloadName);
    for (const l of [...this.subscribers.interceptsChanged]) l(i.spec);
  }

  private changedFor(session: ClientSession): void {
    const seen = new Set<string>();
    for (const i of this.intercepts.values()) {
      if (i.session.id !== session.id) continue;
      const key = workloadKey(i.spec.namespace, i.spec.workloadName);
      if (seen.has(key)) continue;
      seen.add(key);
      this.changed(i.spec.namespace, i.spec.workloadName);
    }
  }

  private changed(namespace: string, workloadName: string): void {
    for (const l of [...(this.listeners.get(workloadKey(namespace, workloadName)) ?? [])]) l();
  }
}

function workloadKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
