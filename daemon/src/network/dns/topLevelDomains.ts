/**
 * Which namespace names are also public top-level domains (`dev`, `app`, `prod`, ...), so that the
 * router lets names under them fall through to the original resolver when the cluster does not
 * know them (see DnsRouter). Asked of the original resolver rather than a built-in list: the list
 * of TLDs changes, and a corporate resolver may serve private ones (`corp`, `internal`) that the
 * user expects to keep working. One SOA query per namespace; the daemon asks when its namespace
 * list changes. A resolver that cannot be reached makes no name a TLD: offline, nothing public
 * is lost anyway.
 */
import { QTYPE, RCODE, decodeAnswers, encodeQuery } from './dnsAnswer.js';
import type { ForwardQuery } from './dnsQueryHandler.js';

export async function findTopLevelDomains(names: Iterable<string>, forward: ForwardQuery, timeoutMs = 2000): Promise<Set<string>> {
  const unique = [...new Set([...names].map((n) => n.toLowerCase()))].filter((n) => /^[a-z0-9-]+$/.test(n));
  const found = await Promise.all(
    unique.map(async (name, i) => {
      try {
        const raw = await forward(encodeQuery((i * 7919 + 1) & 0xffff, `${name}.`, QTYPE.SOA), AbortSignal.timeout(timeoutMs));
        const r = decodeAnswers(raw);
        return r && r.rcode === RCODE.NOERROR && r.answers.some((a) => a.type === 'SOA') ? name : undefined;
      } catch {
        return undefined;
      }
    }),
  );
  return new Set(found.filter((n): n is string => n !== undefined));
}
