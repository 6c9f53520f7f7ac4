/**
 * Checks an arriving agent against the API server: a TokenReview of its bearer token, then a GET
 * of the pod the token is bound to (the decision itself is agentIdentity.ts). An accepted arrival
 * is remembered for a minute, by the token's hash and the claim, so that every agent of a cluster
 * reconnecting at once (a manager restart) costs the API server one review each, not one per try.
 * Refusals are not remembered: they are cheap to repeat, and an agent that was refused because
 * its pod was not yet visible must be let in on its next try.
 */
import { createHash } from 'node:crypto';
import type { TokenReviewStatus } from 'kubernetes-types/authentication/v1';
import type { Pod } from 'kubernetes-types/core/v1';
import { AGENT_TOKEN_AUDIENCE } from '../../../protocol/src/agent/agentConfig.js';
import { type Clock, systemClock } from '../sessions.js';
import { type AgentClaim, identityOfReview, isRefusal, podRefusal, type Refusal, type TokenIdentity } from './agentIdentity.js';

/** The two API calls the check needs (KubeClient has them). */
export interface AgentIdentityApi {
  reviewToken(token: string, audiences: string[]): Promise<TokenReviewStatus>;
  /** undefined when there is no such pod. */
  getPod(namespace: string, name: string): Promise<Pod | undefined>;
}

export type ArrivalVerdict =
  | { ok: true; identity: TokenIdentity }
  /** `unavailable`: the API server could not be asked; the agent tries again later. */
  | { ok: false; code: Refusal['code'] | 'unavailable'; reason: string };

/** What ManagerServerHost asks before it opens an agent session. */
export interface AgentArrivalCheck {
  verify(token: string | undefined, claim: AgentClaim): Promise<ArrivalVerdict>;
}

export interface AgentVerifierOptions {
  api: AgentIdentityApi;
  audience?: string;
  clock?: Clock;
  /** How long an accepted arrival is remembered. */
  cacheMs?: number;
  /** At most this many are remembered; the oldest go first. */
  maxCached?: number;
}

export class AgentVerifier implements AgentArrivalCheck {
  private readonly audience: string;
  private readonly clock: Clock;
  private readonly cacheMs: number;
  private readonly maxCached: number;
  /** Insertion order is age order, so the first key is the oldest. */
  private readonly accepted = new Map<string, { identity: TokenIdentity; until: number }>();
  private readonly inFlight = new Map<string, Promise<ArrivalVerdict>>();

  constructor(private readonly options: AgentVerifierOptions) {
    this.audience = options.audience ?? AGENT_TOKEN_AUDIENCE;
    this.clock = options.clock ?? systemClock;
    this.cacheMs = options.cacheMs ?? 60_000;
    this.maxCached = options.maxCached ?? 1024;
  }

  verify(token: string | undefined, claim: AgentClaim): Promise<ArrivalVerdict> {
    if (!token) return Promise.resolve({ ok: false, code: 'unauthenticated', reason: 'no bearer token in the authorization metadata' });
    const key = cacheKey(token, claim);
    const hit = this.accepted.get(key);
    if (hit && this.clock.now() < hit.until) return Promise.resolve({ ok: true, identity: hit.identity });
    if (hit) this.accepted.delete(key);
    // Arrivals with the same token and claim while one is being checked share that check.
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.check(token, claim).then((verdict) => {
        this.inFlight.delete(key);
        if (verdict.ok) this.remember(key, verdict.identity);
        return verdict;
      });
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  /** How many accepted arrivals are remembered (tests). */
  get cachedCount(): number {
    return this.accepted.size;
  }

  /** Never rejects: a failure to ask is the verdict `unavailable`. */
  private async check(token: string, claim: AgentClaim): Promise<ArrivalVerdict> {
    const { api } = this.options;
    try {
      const identity = identityOfReview(await api.reviewToken(token, [this.audience]), this.audience, claim);
      if (isRefusal(identity)) return { ok: false, ...identity };
      const refusal = podRefusal(await api.getPod(identity.namespace, identity.podName), identity, claim);
      return refusal ? { ok: false, ...refusal } : { ok: true, identity };
    } catch (e) {
      return { ok: false, code: 'unavailable', reason: `cannot check the agent's token with the API server: ${e instanceof Error ? e.message : String(e)}` };
    }
  }

  private remember(key: string, identity: TokenIdentity): void {
    this.accepted.delete(key);
    while (this.accepted.size >= this.maxCached) this.accepted.delete(this.accepted.keys().next().value as string);
    this.accepted.set(key, { identity, until: this.clock.now() + this.cacheMs });
  }
}

/** The token itself is never kept, only its hash, next to what it was accepted for. */
function cacheKey(token: string, claim: AgentClaim): string {
  const hash = createHash('sha256').update(token).digest('hex');
  return JSON.stringify([hash, claim.namespace, claim.workloadKind, claim.workloadName, claim.podName, claim.container]);
}
