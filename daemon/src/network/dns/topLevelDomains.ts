/**
 * Which namespace names are also public top-level domains (`dev`, `app`, `prod`, ...), so that the
 * router lets names under them fall through to the original resolver when the cluster does not
 * know them (see DnsRouter; DnsQueryHandler asks and keeps the answers). Asked of the original
 * resolver rather than a built-in list: the list of TLDs changes, and a corporate resolver may
 * serve private ones (`corp`, `internal`) that the user expects to keep working. One SOA query per
 * namespace; the handler asks when its namespace list changes. A resolver that cannot be reached
 * makes no name a TLD: offline, nothing public is lost anyway (the handler asks again later).
 */
import { randomInt } from 'node:crypto';
import { QTYPE, RCODE, decodeAnswers, encodeQuery } from './dnsAnswer.js';
import type { ForwardQuery } from './dnsQueryHandler.js';

export interface TopLevelDomainQueryOptions {
  /** How long one SOA query may take; 2 s by default. */
  timeoutMs?: number;
  /** Query ids; random by default (an off-path answer must guess them). */
  randomId?: () => number;
}

/** At most this many SOA queries are out at once, however many namespaces there are. */
const PARALLEL = 16;

/**
 * For every name that the original resolver answered: true when it is a zone with an SOA of its
 * own (a TLD), false when it does not exist or is not a zone. Names it did not answer (no
 * response, SERVFAIL, REFUSED) are left out; so are names that are not one plain label.
 */
export async function askTopLevelDomains(names: Iterable<string>, forward: ForwardQuery, options: TopLevelDomainQueryOptions = {}): Promise<Map<string, boolean>> {
  const unique = [...new Set([...names].map((n) => n.toLowerCase()))].filter((n) => /^[a-z0-9-]+$/.test(n));
  const randomId = options.randomId ?? (() => randomInt(0x10000));
  const answers = new Map<string, boolean>();
  const ask = async (name: string): Promise<void> => {
    try {
      const raw = await forward(encodeQuery(randomId(), `${name}.`, QTYPE.SOA), AbortSignal.timeout(options.timeoutMs ?? 2000));
      const r = decodeAnswers(raw);
      if (r?.rcode === RCODE.NOERROR) answers.set(name, r.answers.some((a) => a.type === 'SOA'));
      else if (r?.rcode === RCODE.NXDOMAIN) answers.set(name, false);
    } catch {
      // not answered
    }
  };
  for (let i = 0; i < unique.length; i += PARALLEL) await Promise.all(unique.slice(i, i + PARALLEL).map(ask));
  return answers;
}

/** The names that are TLDs, as far as the original resolver answered. */
export async function findTopLevelDomains(names: Iterable<string>, forward: ForwardQuery, timeoutMs = 2000): Promise<Set<string>> {
  const answers = await askTopLevelDomains(names, forward, { timeoutMs });
  return new Set([...answers].filter(([, tld]) => tld).map(([name]) => name));
}
