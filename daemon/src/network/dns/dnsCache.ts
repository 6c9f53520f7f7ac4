/**
 * Remembers cluster answers for a few seconds, so that the bursts a single lookup causes (glibc
 * asks A and AAAA, then walks the search list; browsers ask again a moment later) cost one
 * round trip to the manager instead of many. Positive answers live as long as their smallest TTL,
 * capped at `maxTtlSeconds`; NXDOMAIN and no-data live `negativeTtlSeconds`. Failures (SERVFAIL,
 * timeouts) are never cached: the next query should try again. Pure: the clock is injected.
 */
import type { LookupDNSResponse } from '../../../../protocol/src/gen/telepath/manager/v1/manager.js';
import { RCODE } from './dnsAnswer.js';

export interface DnsCacheOptions {
  /** Milliseconds since any fixed origin. */
  now: () => number;
  maxTtlSeconds?: number;
  negativeTtlSeconds?: number;
  /** Least recently stored entries go first beyond this many. */
  maxEntries?: number;
}

export interface CachedAnswer {
  answer: LookupDNSResponse;
  /** Whole seconds the entry has left, at least 1: the TTL to give clients. */
  remainingSeconds: number;
}

interface Entry {
  answer: LookupDNSResponse;
  expiresAt: number;
}

export const DEFAULT_MAX_TTL_SECONDS = 5;
export const DEFAULT_NEGATIVE_TTL_SECONDS = 2;

export class DnsCache {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  readonly maxTtlSeconds: number;
  readonly negativeTtlSeconds: number;
  private readonly maxEntries: number;

  constructor(options: DnsCacheOptions) {
    this.now = options.now;
    this.maxTtlSeconds = options.maxTtlSeconds ?? DEFAULT_MAX_TTL_SECONDS;
    this.negativeTtlSeconds = options.negativeTtlSeconds ?? DEFAULT_NEGATIVE_TTL_SECONDS;
    this.maxEntries = options.maxEntries ?? 4096;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The live entry for (fully-qualified name, type), if any. */
  get(name: string, qtype: number): CachedAnswer | undefined {
    const key = cacheKey(name, qtype);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    const left = entry.expiresAt - this.now();
    if (left <= 0) {
      this.entries.delete(key);
      return undefined;
    }
    return { answer: entry.answer, remainingSeconds: Math.max(1, Math.ceil(left / 1000)) };
  }

  /** Stores an answer if it is cacheable; returns how many seconds it will live (0: not stored). */
  set(name: string, qtype: number, answer: LookupDNSResponse): number {
    const ttl = this.ttlOf(answer);
    const key = cacheKey(name, qtype);
    this.entries.delete(key);
    if (ttl <= 0) return 0;
    this.entries.set(key, { answer, expiresAt: this.now() + ttl * 1000 });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
    return ttl;
  }

  /** Forgets everything: the connected namespace or the cluster changed. */
  clear(): void {
    this.entries.clear();
  }

  private ttlOf(answer: LookupDNSResponse): number {
    if (answer.rcode === RCODE.NXDOMAIN) return this.negativeTtlSeconds;
    if (answer.rcode !== RCODE.NOERROR) return 0;
    if (answer.answers.length === 0) return this.negativeTtlSeconds;
    return Math.min(this.maxTtlSeconds, ...answer.answers.map((a) => a.ttl));
  }
}

function cacheKey(name: string, qtype: number): string {
  return `${qtype} ${name.toLowerCase()}`;
}
