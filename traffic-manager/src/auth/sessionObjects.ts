/**
 * The Session objects' lifecycle on the manager's side, and the re-check that keeps every held
 * intercept within its holder's rights.
 *
 * - A session that ends (departs, expires, is replaced) has its Session object deleted, and its
 *   identity forgotten. Users get only `create` on Sessions: the manager, not the daemon, removes
 *   them, so no user can delete another's.
 * - Every `sweepMs` the objects whose session is gone (a manager restart forgets every session)
 *   and that are older than `graceMs` are deleted.
 * - Every `recheckMs` (5 s) each held intercept's right is asked again (auth/clientRights.ts remembers
 *   answers for its cache time): an intercept whose user lost the right in its namespace, or whose
 *   Session object is gone, is ended; a volume key whose holder lost the volumes right is
 *   withdrawn (the agents then end its SFTP logins). An API server that cannot be asked ends nothing: intercepts
 *   keep running through an API server outage, new ones are refused.
 */
import type { Logger } from '../../../common/src/log/jsonLogger.js';
import { type RightName, sessionHash, sessionHandle, sessionObjectName, type SessionObject } from '../../../common/src/sessionIdentity.js';
import type { Intercept, InterceptRegistry } from '../intercepts/interceptRegistry.js';
import type { ClientRightsCheck, RightVerdict } from './clientRights.js';

export interface SessionObjectsApi {
  listSessions(namespace: string): Promise<SessionObject[]>;
  deleteSession(namespace: string, name: string): Promise<void>;
}

export interface SessionObjectsOptions {
  api: SessionObjectsApi;
  namespace: string;
  rights: ClientRightsCheck;
  intercepts: InterceptRegistry;
  /** The ids of the live client sessions. */
  liveSessions: () => string[];
  /** Tells an intercept's holder that it was ended, and why (InterceptRelay.interceptEnded). */
  tellHolder?: (i: Intercept, reason: string) => void;
  logger: Logger;
  /** Wall-clock now in ms, to age objects by their creationTimestamp. */
  wallNow?: () => number;
  recheckMs?: number;
  sweepMs?: number;
  graceMs?: number;
}

export class SessionObjects {
  private readonly timers: NodeJS.Timeout[] = [];
  private rechecking = false;

  constructor(private readonly options: SessionObjectsOptions) {}

  /** A client session ended: forget who held it and delete its object. */
  ended(sessionId: string): void {
    const { api, namespace, rights, logger } = this.options;
    rights.forget(sessionId);
    api.deleteSession(namespace, sessionObjectName(sessionId)).catch((e: unknown) => {
      logger.warn('cannot delete the Session object of an ended session', { session: sessionHandle(sessionId), error: String(e) });
    });
  }

  /** Ends each intercept whose holder no longer has the right to it; resolves with how many. */
  async recheck(): Promise<number> {
    if (this.rechecking) return 0;
    this.rechecking = true;
    const { rights, intercepts, logger } = this.options;
    let ended = 0;
    try {
      const verdicts = new Map<string, ReturnType<ClientRightsCheck['check']>>();
      const ask = (i: Intercept, right: RightName) => {
        const key = `${i.session.id}\n${i.spec.namespace}\n${right}`;
        if (!verdicts.has(key)) verdicts.set(key, rights.check(i.session.id, right, i.spec.namespace));
        return verdicts.get(key)!;
      };
      const lost = (v: RightVerdict): v is Extract<RightVerdict, { ok: false }> => !v.ok && v.code !== 'unavailable';
      for (const i of intercepts.all()) {
        const verdict = await ask(i, 'intercept');
        if (intercepts.get(i.id) !== i) continue;
        if (lost(verdict)) {
          logger.warn('intercept ended: its holder no longer has the right', { name: i.spec.name, workload: `${i.spec.namespace}/${i.spec.workloadName}`, user: i.user, why: verdict.reason });
          intercepts.end(i, verdict.reason);
          this.options.tellHolder?.(i, verdict.reason);
          ended++;
          continue;
        }
        if (!i.volumeKey) continue;
        const volumes = await ask(i, 'volumes');
        if (intercepts.get(i.id) === i && lost(volumes)) {
          logger.warn('volume key withdrawn: its holder no longer has the right', { name: i.spec.name, user: i.user, why: volumes.reason });
          intercepts.setVolumeKey(i, undefined);
        }
      }
    } finally {
      this.rechecking = false;
    }
    return ended;
  }

  /** Deletes the objects of sessions this manager does not hold, once older than the grace time. */
  async sweep(): Promise<number> {
    const { api, namespace, liveSessions, logger } = this.options;
    const wallNow = this.options.wallNow ?? Date.now;
    const graceMs = this.options.graceMs ?? 120_000;
    const live = new Set(liveSessions().map(sessionHash));
    let deleted = 0;
    for (const obj of await api.listSessions(namespace)) {
      const created = Date.parse(obj.metadata.creationTimestamp ?? '');
      if (live.has(obj.spec?.sessionHash) || !(wallNow() - created > graceMs)) continue;
      try {
        await api.deleteSession(namespace, obj.metadata.name);
        deleted++;
      } catch (e) {
        logger.warn('cannot delete a stale Session object', { name: obj.metadata.name, error: String(e) });
      }
    }
    if (deleted) logger.info('deleted stale Session objects', { deleted });
    return deleted;
  }

  /** Runs recheck and sweep on their intervals until stop(). */
  start(): void {
    const { logger } = this.options;
    const every = (ms: number, f: () => Promise<unknown>, what: string): void => {
      const t = setInterval(() => f().catch((e: unknown) => logger.warn(`${what} failed`, { error: String(e) })), ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.options.recheckMs ?? 5_000, () => this.recheck(), 're-checking intercepts');
    every(this.options.sweepMs ?? 60_000, () => this.sweep(), 'sweeping Session objects');
  }

  stop(): void {
    for (const t of this.timers.splice(0)) clearInterval(t);
  }
}
