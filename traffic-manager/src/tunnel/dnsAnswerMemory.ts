/**
 * The addresses this manager's LookupDNS answered to each session, so that a tunnel may go where
 * cluster DNS sent the client even outside the cluster's subnets: an ExternalName, or a Service
 * without selector whose endpoints live elsewhere. An address is remembered for its TTL, and at
 * least a minute (clients cache answers, and connect a while after asking); a session keeps at
 * most a few thousand, the oldest going first; a session's memory ends with it.
 */
import type { DNSRecord } from '../../../protocol/src/gen/telepath/manager/v1/manager.js';
import { ipFromBytes } from '../../../protocol/src/ipAddress.js';
import { type Clock, systemClock } from '../sessions.js';
import { normalizeIp } from './destinationPolicy.js';

export interface DnsAnswerMemoryOptions {
  /** The cluster's DNS domain as it is now ("cluster.local"). */
  clusterDomain(): string;
  clock?: Clock;
  /** Shortest time an answer is remembered, whatever its TTL. */
  minRememberMs?: number;
  maxPerSession?: number;
}

export const MIN_REMEMBER_MS = 60_000;
export const MAX_PER_SESSION = 4096;

const A = 1;
const AAAA = 28;

export class DnsAnswerMemory {
  /** Per session: address (canonical text) → when it is forgotten; oldest first. */
  private readonly sessions = new Map<string, Map<string, number>>();
  private readonly clock: Clock;
  private readonly minRememberMs: number;
  private readonly maxPerSession: number;

  constructor(private readonly options: DnsAnswerMemoryOptions) {
    this.clock = options.clock ?? systemClock;
    this.minRememberMs = options.minRememberMs ?? MIN_REMEMBER_MS;
    this.maxPerSession = options.maxPerSession ?? MAX_PER_SESSION;
  }

  /**
   * Remembers the A and AAAA answers to `question` (the name as the manager asked it). Only names
   * of the cluster's domain count, and not those under pod.<domain>: CoreDNS's `pods insecure`
   * answers a-b-c-d.<ns>.pod.<domain> with a.b.c.d for any a.b.c.d, which would open any address.
   */
  remember(session: { id: string; signal: AbortSignal }, question: string, answers: readonly DNSRecord[]): void {
    if (session.signal.aborted || !isClusterName(question, this.options.clusterDomain())) return;
    const now = this.clock.now();
    let entries = this.sessions.get(session.id);
    for (const record of answers) {
      if ((record.type !== A && record.type !== AAAA) || record.data?.$case !== 'ip') continue;
      const bytes = record.data.value;
      if (bytes.length !== 4 && bytes.length !== 16) continue;
      if (!entries) {
        entries = new Map();
        this.sessions.set(session.id, entries);
        const id = session.id;
        session.signal.addEventListener('abort', () => this.sessions.delete(id), { once: true });
      }
      const ip = ipFromBytes(normalizeIp(bytes));
      const until = now + Math.max(record.ttl * 1000, this.minRememberMs);
      const earlier = entries.get(ip) ?? 0;
      // Re-inserted, so that the newest answers are the last to be dropped.
      entries.delete(ip);
      entries.set(ip, Math.max(until, earlier));
    }
    if (entries && entries.size > this.maxPerSession) this.trim(entries, now);
  }

  /** Whether `ip` (canonical text, as canonicalIp gives it) was answered to the session and is still remembered. */
  has(sessionId: string, ip: string): boolean {
    const entries = this.sessions.get(sessionId);
    const until = entries?.get(ip);
    if (until === undefined) return false;
    if (until > this.clock.now()) return true;
    entries!.delete(ip);
    return false;
  }

  /** How many addresses the session has (expired ones included until they are looked at or trimmed). */
  size(sessionId: string): number {
    return this.sessions.get(sessionId)?.size ?? 0;
  }

  private trim(entries: Map<string, number>, now: number): void {
    for (const [ip, until] of entries) if (until <= now) entries.delete(ip);
    for (const ip of entries.keys()) {
      if (entries.size <= this.maxPerSession) return;
      entries.delete(ip);
    }
  }
}

/** `name` is the domain or below it, and not below pod.<domain>. */
export function isClusterName(name: string, clusterDomain: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  const d = clusterDomain.toLowerCase().replace(/\.$/, '');
  if (!d || (n !== d && !n.endsWith(`.${d}`))) return false;
  return n !== `pod.${d}` && !n.endsWith(`.pod.${d}`);
}
