/**
 * Answers one DNS message: the part of the daemon's DNS server that does not touch sockets.
 * Cluster names (see DnsRouter) are asked of the cluster through the injected `lookupCluster`
 * (the manager's LookupDNS), cached briefly, and answered under the client's own question name;
 * everything else goes byte for byte through the injected `forward` to the original resolver.
 *
 * Namespaces named like top-level domains (`dev`, `app`): with `discoverTopLevelDomains`, the
 * handler asks the original resolver which namespaces are TLDs (topLevelDomains.ts) whenever the
 * namespace list changes, and routes with the answer (DnsRouter's `tldNamespaces`): a name under
 * such a namespace that the cluster does not know (`pkg.go.dev`) goes to the original resolver
 * instead of NXDOMAIN. Until a namespace has been asked it counts as a TLD, so a public name is
 * never lost in the moment after connecting (a missing cluster name costs one forward then); one
 * the resolver did not answer counts as none, as offline nothing public is lost, and is asked
 * again after `tldRetryMs`.
 *
 * Every path ends in an answer within the deadlines: a cluster that does not answer in
 * `lookupTimeoutMs` becomes SERVFAIL (or, for single labels, a forward), well before a stub
 * resolver's own 5 s timeout would make it retry. Garbage is answered FORMERR when it had a
 * readable header, otherwise dropped; nothing a client sends can make `handle` throw.
 */
import { randomInt } from 'node:crypto';
import type { Answer } from 'dns-packet';
import type { LookupDNSResponse } from '../../../../protocol/src/gen/telepath/manager/v1/manager.js';
import {
  CLASS_IN,
  QTYPE,
  RCODE,
  clusterResponse,
  decodeAnswers,
  encodeQuery,
  errorResponse,
  fitForUdp,
  formatErrorResponse,
  negativeResponse,
  parseQuery,
  recordToAnswer,
  sameName,
  type DnsQuery,
} from './dnsAnswer.js';
import { DnsCache } from './dnsCache.js';
import { type DnsLogger, errorText } from './dnsLogger.js';
import { DnsRouter, normalizeName, type DnsRoutingConfig } from './dnsRouter.js';
import { deadlineSignal } from './forwarder.js';
import { askTopLevelDomains } from './topLevelDomains.js';

/** Asks the cluster's DNS for a fully-qualified name (the manager's LookupDNS). */
export type LookupCluster = (name: string, qtype: number, signal: AbortSignal) => Promise<LookupDNSResponse>;
/** Sends raw query bytes to the original resolver and returns its raw response. */
export type ForwardQuery = (query: Buffer, signal: AbortSignal) => Promise<Buffer>;

export type Transport = 'udp' | 'tcp';

export interface DnsQueryHandlerOptions {
  /** Which names are the cluster's (see DnsRouter). */
  routing: DnsRoutingConfig;
  /** Ask the original resolver which namespaces are TLDs (instead of `routing.tldNamespaces`). */
  discoverTopLevelDomains?: boolean;
  /** Milliseconds before namespaces the resolver did not answer are asked again; 60 s by default. */
  tldRetryMs?: number;
  lookupCluster: LookupCluster;
  forward: ForwardQuery;
  logger: DnsLogger;
  /** Milliseconds; Date.now by default. */
  now?: () => number;
  lookupTimeoutMs?: number;
  forwardTimeoutMs?: number;
  maxTtlSeconds?: number;
  negativeTtlSeconds?: number;
  /** Ids of the queries sent when a CNAME chain leaves the cluster. */
  randomId?: () => number;
}

/** How many CNAMEs the daemon follows past the cluster's own answer. */
const MAX_CHASE = 8;

interface ClusterResult {
  answer: LookupDNSResponse;
  /** TTL cap for this answer: the configured maximum, or less when it came from the cache. */
  ttlCap: number;
}

/** What the original resolver said of a namespace: a TLD, not one, or nothing (yet). */
type TldState = 'tld' | 'not-tld' | 'unanswered' | 'asking';

export class DnsQueryHandler {
  private routing: DnsRoutingConfig;
  private router: DnsRouter;
  /** By lower-case namespace; kept across routing changes (the TLD list barely changes). */
  private readonly tlds = new Map<string, TldState>();
  private tldRetry?: NodeJS.Timeout;
  private tldAsking: Promise<void> = Promise.resolve();
  private readonly cache: DnsCache;
  private readonly inflight = new Map<string, Promise<ClusterResult | undefined>>();
  private readonly lifetime = new AbortController();
  private readonly lookupTimeoutMs: number;
  private readonly forwardTimeoutMs: number;
  private readonly randomId: () => number;

  constructor(private readonly options: DnsQueryHandlerOptions) {
    this.routing = options.routing;
    this.cache = new DnsCache({
      now: options.now ?? Date.now,
      maxTtlSeconds: options.maxTtlSeconds,
      negativeTtlSeconds: options.negativeTtlSeconds,
    });
    this.lookupTimeoutMs = options.lookupTimeoutMs ?? 4000;
    this.forwardTimeoutMs = options.forwardTimeoutMs ?? 4000;
    this.randomId = options.randomId ?? (() => randomInt(0x10000));
    this.router = this.buildRouter();
    this.askTopLevelDomains();
  }

  /** New routing (connected namespace or namespace list changed); cached answers are dropped. */
  setRouting(routing: DnsRoutingConfig): void {
    this.routing = routing;
    this.router = this.buildRouter();
    this.cache.clear();
    this.askTopLevelDomains();
  }

  /** Settles when the namespaces of the current routing have been asked about (for tests). */
  async topLevelDomainsAsked(): Promise<void> {
    for (let settled: Promise<void> | undefined; settled !== this.tldAsking; ) {
      settled = this.tldAsking;
      await settled;
    }
  }

  /** Aborts pending lookups and forwards; later calls answer SERVFAIL. */
  dispose(): void {
    clearTimeout(this.tldRetry);
    this.lifetime.abort(new Error('DNS server closed'));
  }

  private buildRouter(): DnsRouter {
    if (!this.options.discoverTopLevelDomains) return new DnsRouter(this.routing);
    const tld = (ns: string) => {
      const state = this.tlds.get(ns.toLowerCase());
      return state === 'tld' || state === undefined || state === 'asking';
    };
    return new DnsRouter({ ...this.routing, tldNamespaces: [...this.routing.namespaces].filter(tld) });
  }

  /** Asks the original resolver about namespaces it has not answered for yet, then reroutes. */
  private askTopLevelDomains(): void {
    if (!this.options.discoverTopLevelDomains || this.lifetime.signal.aborted) return;
    const names = [...new Set([...this.routing.namespaces].map((n) => n.toLowerCase()))].filter((n) => {
      const state = this.tlds.get(n);
      return state === undefined || state === 'unanswered';
    });
    if (names.length === 0) return;
    for (const n of names) if (!this.tlds.has(n)) this.tlds.set(n, 'asking');
    const forward: ForwardQuery = (q, signal) => this.options.forward(q, AbortSignal.any([signal, this.lifetime.signal]));
    const asking = askTopLevelDomains(names, forward, { randomId: this.randomId }).then((answers) => {
      for (const n of names) this.tlds.set(n, answers.has(n) ? (answers.get(n) ? 'tld' : 'not-tld') : 'unanswered');
      if (this.lifetime.signal.aborted) return;
      this.router = this.buildRouter();
      const found = names.filter((n) => answers.get(n));
      if (found.length > 0) {
        this.options.logger.info('namespaces named like top-level domains: names under them that the cluster does not know go to the original resolver', { namespaces: found });
      }
      const unanswered = names.filter((n) => !answers.has(n));
      if (unanswered.length > 0) {
        this.options.logger.debug('the original resolver did not say whether these namespaces are top-level domains; asking again later', { namespaces: unanswered });
        clearTimeout(this.tldRetry);
        this.tldRetry = setTimeout(() => this.askTopLevelDomains(), this.options.tldRetryMs ?? 60_000).unref();
      }
    });
    this.tldAsking = Promise.all([this.tldAsking, asking]).then(
      () => undefined,
      (e: unknown) => this.options.logger.warn('finding namespaces named like top-level domains failed', { error: errorText(e) }),
    );
  }

  /** The response to `msg`, or undefined when it deserves none (not a query, no header). */
  async handle(msg: Buffer, transport: Transport): Promise<Buffer | undefined> {
    const parsed = parseQuery(msg);
    if (!parsed.ok) {
      this.options.logger.debug('unreadable DNS query', { reason: parsed.reason, bytes: msg.length });
      return parsed.id === undefined ? undefined : formatErrorResponse(parsed.id);
    }
    const q = parsed.query;
    const udp = transport === 'udp';
    try {
      return await this.answer(q, msg, udp);
    } catch (e) {
      // A defect, not a client's fault: the client still gets an answer.
      this.options.logger.warn('DNS query failed', { name: q.name, qtype: q.qtype, error: errorText(e) });
      return errorResponse(q, RCODE.SERVFAIL);
    }
  }

  private async answer(q: DnsQuery, msg: Buffer, udp: boolean): Promise<Buffer> {
    if (q.opcode !== 0) return errorResponse(q, RCODE.NOTIMP);
    // CHAOS queries (version.bind) and the like belong to the original resolver.
    if (q.qclass !== CLASS_IN) return this.forward(q, msg, udp);
    const route = this.router.route(q.name);
    this.options.logger.debug('DNS query', { name: q.name, qtype: q.qtype, route: route.kind });
    if (route.kind === 'forward') return this.forward(q, msg, udp);
    // Zone transfers of the cluster are not something a workstation gets.
    if (q.qtype === 252 || q.qtype === 251) return errorResponse(q, RCODE.REFUSED);

    const negativeTtl = this.cache.negativeTtlSeconds;
    for (const name of route.names) {
      const result = await this.lookup(name, q.qtype);
      if (!result) {
        if (route.onNxdomain === 'forward') return this.forward(q, msg, udp);
        return errorResponse(q, RCODE.SERVFAIL);
      }
      const { answer, ttlCap } = result;
      if (answer.rcode === RCODE.NXDOMAIN) continue;
      if (answer.rcode !== RCODE.NOERROR) {
        if (route.onNxdomain === 'forward') return this.forward(q, msg, udp);
        return errorResponse(q, answer.rcode);
      }
      const chase = await this.chase(name, q.qtype, answer);
      // A negative end of a chased chain belongs to another zone: no SOA of ours then.
      const zone = chase.rcode === undefined ? route.zone : undefined;
      return clusterResponse(q, answer, { askedName: name, ttlCap, negativeTtl, zone, chased: chase.answers, rcode: chase.rcode }, udp);
    }
    if (route.onNxdomain === 'forward') return this.forward(q, msg, udp);
    return negativeResponse(q, RCODE.NXDOMAIN, route.zone, negativeTtl, udp);
  }

  /**
   * Completes a chain that the cluster left ending in a CNAME (an ExternalName Service pointing
   * outside the cluster: the cluster DNS does not resolve public names). A recursive resolver
   * would; glibc does not follow a dangling CNAME itself, so without this `getent hosts
   * external-db` fails although the name is valid.
   */
  private async chase(askedName: string, qtype: number, answer: LookupDNSResponse): Promise<{ answers: Answer[]; rcode: number | undefined }> {
    const chased: Answer[] = [];
    if (qtype === QTYPE.CNAME || qtype === QTYPE.ANY) return { answers: chased, rcode: undefined };
    const links: Link[] = answer.answers.map((r) => ({ owner: r.name, type: r.type, target: r.data?.$case === 'target' ? r.data.value : undefined }));
    let rcode: number | undefined;
    for (let i = 0; i < MAX_CHASE; i++) {
      const next = danglingTarget(askedName, qtype, links);
      if (next === undefined) break;
      const step = await this.resolveElsewhere(next, qtype);
      if (!step) break;
      rcode = step.rcode === RCODE.NXDOMAIN ? RCODE.NXDOMAIN : undefined;
      chased.push(...step.answers);
      links.push(...step.answers.map((a) => ({ owner: a.name, type: answerType(a), target: a.type === 'CNAME' ? a.data : undefined })));
      if (step.answers.length === 0) break;
    }
    return { answers: chased, rcode };
  }

  /** (rcode, answers) for a name reached through a CNAME, via the cluster or the original resolver. */
  private async resolveElsewhere(name: string, qtype: number): Promise<{ rcode: number; answers: Answer[] } | undefined> {
    const route = this.router.route(name);
    if (route.kind === 'cluster') {
      const fq = route.names[0];
      const r = fq === undefined ? undefined : await this.lookup(fq, qtype);
      if (!r) return undefined;
      const answers = r.answer.answers.map((rec) => recordToAnswer(rec, rec.name, Math.min(rec.ttl, r.ttlCap))).filter((a): a is Answer => a !== undefined);
      return { rcode: r.answer.rcode, answers };
    }
    try {
      const raw = await this.options.forward(encodeQuery(this.randomId(), name, qtype), this.deadline(this.forwardTimeoutMs));
      return decodeAnswers(raw);
    } catch (e) {
      this.options.logger.debug('could not follow CNAME out of the cluster', { name, error: errorText(e) });
      return undefined;
    }
  }

  /** The cluster's answer for (fully-qualified name, type): cached, shared by concurrent askers,
   * undefined when the cluster could not be asked in time. */
  private lookup(name: string, qtype: number): Promise<ClusterResult | undefined> {
    const fq = normalizeName(name);
    const cached = this.cache.get(fq, qtype);
    if (cached) {
      return Promise.resolve({ answer: cached.answer, ttlCap: Math.min(this.cache.maxTtlSeconds, cached.remainingSeconds) });
    }
    const key = `${qtype} ${fq}`;
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const started = this.askCluster(fq, qtype).finally(() => this.inflight.delete(key));
    this.inflight.set(key, started);
    return started;
  }

  private async askCluster(name: string, qtype: number): Promise<ClusterResult | undefined> {
    try {
      const answer = await this.options.lookupCluster(name, qtype, this.deadline(this.lookupTimeoutMs));
      if (typeof answer?.rcode !== 'number' || !Array.isArray(answer.answers)) throw new Error('malformed answer from the cluster');
      const ttl = this.cache.set(name, qtype, answer);
      return { answer, ttlCap: ttl > 0 ? ttl : this.cache.maxTtlSeconds };
    } catch (e) {
      this.options.logger.warn('cluster DNS lookup failed', { name, qtype, error: errorText(e) });
      return undefined;
    }
  }

  private async forward(q: DnsQuery, msg: Buffer, udp: boolean): Promise<Buffer> {
    try {
      const response = await this.options.forward(msg, this.deadline(this.forwardTimeoutMs));
      return udp ? fitForUdp(response, q) : response;
    } catch (e) {
      this.options.logger.debug('forwarding failed', { name: q.name, qtype: q.qtype, error: errorText(e) });
      return errorResponse(q, RCODE.SERVFAIL);
    }
  }

  private deadline(ms: number): AbortSignal {
    return deadlineSignal(ms, this.lifetime.signal);
  }
}

interface Link {
  owner: string;
  type: number;
  target: string | undefined;
}

/** Where a chain starting at `start` stops without a record of `qtype`, if it went through at
 * least one CNAME; undefined when the answer is complete (or not a chain at all). */
export function danglingTarget(start: string, qtype: number, links: readonly Link[]): string | undefined {
  let current = start;
  const seen = new Set<string>();
  for (;;) {
    if (links.some((l) => sameName(l.owner, current) && l.type === qtype)) return undefined;
    const cname = links.find((l) => sameName(l.owner, current) && l.type === QTYPE.CNAME && l.target !== undefined);
    if (!cname) return current === start ? undefined : current;
    const key = normalizeName(cname.target!);
    if (seen.has(key)) return undefined; // a loop: give the client what the cluster said
    seen.add(key);
    current = cname.target!;
  }
}

const ANSWER_TYPES: Record<string, number> = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, DNAME: 39, CAA: 257 };

function answerType(a: Answer): number {
  const known = ANSWER_TYPES[a.type];
  if (known !== undefined) return known;
  const m = /^UNKNOWN_(\d+)$/.exec(a.type);
  return m ? Number(m[1]) : 0;
}
