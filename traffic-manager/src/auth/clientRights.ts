/**
 * What a client session may do, decided by the cluster (docs/security.md "Who you are, and what
 * you may do"). A session's user is the one its Session object names (common/src/sessionIdentity.ts),
 * which the API server's admission policy let only that user write; whether that user has a right
 * in a namespace is a SubjectAccessReview, so RBAC (and any authorizer the cluster runs) decides,
 * exactly as for the user's own requests.
 *
 * Answers are remembered for `cacheMs` (10 s by default): the identity per session, a yes per
 * user, right and namespace. So a revoked right is seen within that time by the next check, and
 * the periodic re-check of held intercepts (auth/sessionObjects.ts) ends them within its interval
 * more. A no, and a session without a Session object, are remembered for a second only: a right
 * just granted works at once, and a daemon writes its object right after it arrives.
 */
import { createHash } from 'node:crypto';
import type { ResourceAttributes, SubjectAccessReviewStatus } from 'kubernetes-types/authorization/v1';
import { describeRight, RIGHTS, type RightName, sessionHash, sessionObjectName, type SessionObject, type SessionUser } from '../../../common/src/sessionIdentity.js';
import { type Clock, systemClock } from '../sessions.js';

/** The API calls the check needs (KubeClient has them). */
export interface ClientRightsApi {
  getSession(namespace: string, name: string): Promise<SessionObject | undefined>;
  reviewAccess(user: SessionUser, attributes: ResourceAttributes): Promise<SubjectAccessReviewStatus>;
}

export type RightVerdict =
  | { ok: true; user: SessionUser }
  /**
   * `noIdentity`: the session has no Session object; `denied`: the user lacks the right;
   * `unavailable`: the API server could not be asked.
   */
  | { ok: false; code: 'noIdentity' | 'denied' | 'unavailable'; reason: string };

/** What ManagerServerHost and the re-check of intercepts ask. */
export interface ClientRightsCheck {
  check(sessionId: string, right: RightName, namespace: string): Promise<RightVerdict>;
  /** Forgets what is remembered of a session (it ended). */
  forget(sessionId: string): void;
}

export interface ClientRightsOptions {
  api: ClientRightsApi;
  /** The manager's namespace, where Session objects live. */
  namespace: string;
  clock?: Clock;
  cacheMs?: number;
  maxCached?: number;
}

interface Remembered<T> {
  value: T;
  until: number;
}

const NO_IDENTITY_MS = 1000;
/** A denial is remembered this long only: a right just granted works at once, a refused caller still costs little. */
const DENIAL_MS = 1000;

export class ClientRights implements ClientRightsCheck {
  private readonly clock: Clock;
  private readonly cacheMs: number;
  private readonly maxCached: number;
  private readonly identities = new Map<string, Remembered<SessionUser | undefined>>();
  private readonly decisions = new Map<string, Remembered<SubjectAccessReviewStatus>>();
  private readonly inFlight = new Map<string, Promise<unknown>>();

  constructor(private readonly options: ClientRightsOptions) {
    this.clock = options.clock ?? systemClock;
    this.cacheMs = options.cacheMs ?? 10_000;
    this.maxCached = options.maxCached ?? 4096;
  }

  async check(sessionId: string, right: RightName, namespace: string): Promise<RightVerdict> {
    let user: SessionUser | undefined;
    try {
      user = await this.identity(sessionId);
    } catch (e) {
      return { ok: false, code: 'unavailable', reason: `cannot read this session's Session object: ${message(e)}` };
    }
    if (!user) {
      return {
        ok: false,
        code: 'noIdentity',
        reason:
          `the traffic-manager does not know who holds this session: there is no Session ${sessionObjectName(sessionId).slice(0, 15)}… ` +
          `in namespace ${this.options.namespace} (a daemon of another version, or one that could not write it)`,
      };
    }
    let decision: SubjectAccessReviewStatus;
    try {
      decision = await this.decision(user, right, namespace);
    } catch (e) {
      return { ok: false, code: 'unavailable', reason: `cannot ask the API server whether ${user.username} may ${describeRight(right)}: ${message(e)}` };
    }
    if (decision.allowed && !decision.denied) return { ok: true, user };
    const why = decision.reason ? ` (${decision.reason})` : '';
    return { ok: false, code: 'denied', reason: `${user.username} may not ${describeRight(right)} in namespace ${namespace}${why}` };
  }

  forget(sessionId: string): void {
    this.identities.delete(sessionId);
  }

  private identity(sessionId: string): Promise<SessionUser | undefined> {
    return this.remembered(this.identities, sessionId, `id/${sessionId}`, async () => {
      const obj = await this.options.api.getSession(this.options.namespace, sessionObjectName(sessionId));
      // The name is the hash already; the field must agree (the admission policy insists too).
      return obj && obj.spec?.sessionHash === sessionHash(sessionId) && obj.spec.user?.username ? obj.spec.user : undefined;
    }, (user) => (user ? this.cacheMs : NO_IDENTITY_MS));
  }

  private decision(user: SessionUser, right: RightName, namespace: string): Promise<SubjectAccessReviewStatus> {
    const r = RIGHTS[right];
    const key = createHash('sha256').update(JSON.stringify([user.username, user.uid ?? '', user.groups ?? [], user.extra ?? {}, right, namespace])).digest('hex');
    const attributes: ResourceAttributes = { namespace, verb: r.verb, group: r.group, resource: r.resource, ...(r.subresource ? { subresource: r.subresource } : {}) };
    return this.remembered(this.decisions, key, `sar/${key}`, () => this.options.api.reviewAccess(user, attributes), (d) =>
      d.allowed && !d.denied ? this.cacheMs : DENIAL_MS,
    );
  }

  /** A value from `cache` while fresh, else `load`ed once for every caller waiting on it. */
  private async remembered<T>(cache: Map<string, Remembered<T>>, key: string, flightKey: string, load: () => Promise<T>, ttl: (v: T) => number): Promise<T> {
    const now = this.clock.now();
    const hit = cache.get(key);
    if (hit && hit.until > now) return hit.value;
    const pending = this.inFlight.get(flightKey) as Promise<T> | undefined;
    if (pending) return pending;
    const p = load().then(
      (value) => {
        cache.delete(key);
        cache.set(key, { value, until: this.clock.now() + ttl(value) });
        while (cache.size > this.maxCached) cache.delete(cache.keys().next().value!);
        return value;
      },
    ).finally(() => this.inFlight.delete(flightKey));
    this.inFlight.set(flightKey, p);
    return p;
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
