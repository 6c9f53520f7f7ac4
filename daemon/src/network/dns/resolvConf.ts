/**
 * /etc/resolv.conf as glibc reads it (resolv.conf(5)), and the version Telepath writes while
 * connected. Pure: text in, text out.
 *
 * The rewrite puts the daemon's DNS first and keeps up to two original nameservers behind it:
 * glibc only moves to the next server on a timeout or SERVFAIL, never on NXDOMAIN, so cluster
 * names are answered by the daemon alone, and if the daemon dies without cleaning up the
 * workstation still resolves (slowly) instead of not at all. `options rotate` would spread
 * queries over all servers and send cluster names to the original resolver, so it is dropped;
 * every other option (ndots, timeout, attempts, edns0, ...) is kept as the user set it.
 */
import { isIP } from 'node:net';
import type { Nameserver } from './forwarder.js';

export interface ResolvConf {
  nameservers: string[];
  /** The effective search list: the last `search` or `domain` line wins, as in glibc. */
  search: string[];
  /** Every word of every `options` line, in order. */
  options: string[];
}

/** First line of a file Telepath wrote; recovery uses it to recognise its own work. */
export const TELEPATH_MARKER = '# Written by Telepath while connected to a cluster;';

/** glibc reads at most three nameservers (MAXNS). */
const MAX_NAMESERVERS = 3;

export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], search: [], options: [] };
  for (const line of text.split(/\r?\n/)) {
    const words = line.trim().split(/\s+/);
    const [keyword, ...args] = words;
    if (!keyword || keyword.startsWith('#') || keyword.startsWith(';')) continue;
    const cut = args.findIndex((w) => w.startsWith('#') || w.startsWith(';'));
    const values = cut < 0 ? args : args.slice(0, cut);
    switch (keyword) {
      case 'nameserver':
        if (values[0]) out.nameservers.push(values[0]);
        break;
      case 'search':
        out.search = values;
        break;
      case 'domain':
        out.search = values.slice(0, 1);
        break;
      case 'options':
        out.options.push(...values);
        break;
    }
  }
  return out;
}

export interface RewriteOptions {
  /** The daemon's DNS server address (port 53). */
  dnsIp: string;
  /** Search domains to put before the original ones, e.g. `samples.svc.cluster.local`. */
  searchPrefix: readonly string[];
}

/** The resolv.conf to write while connected, derived from the original text. */
export function rewriteResolvConf(original: string, options: RewriteOptions): string {
  const conf = parseResolvConf(original);
  const fallbacks = conf.nameservers.filter((ns) => ns !== options.dnsIp).slice(0, MAX_NAMESERVERS - 1);
  const search = dedupe([...options.searchPrefix, ...conf.search]);
  const lines = [
    `${TELEPATH_MARKER} the original comes back when it disconnects.`,
    `nameserver ${options.dnsIp}`,
    ...fallbacks.map((ns) => `nameserver ${ns}`),
    ...(search.length > 0 ? [`search ${search.join(' ')}`] : []),
  ];
  for (const line of original.split(/\r?\n/)) {
    const keyword = line.trim().split(/\s+/)[0] ?? '';
    if (keyword === 'nameserver' || keyword === 'search' || keyword === 'domain') continue;
    if (keyword === 'options') {
      const kept = line.trim().split(/\s+/).slice(1).filter((w) => w !== 'rotate');
      if (kept.length > 0) lines.push(`options ${kept.join(' ')}`);
      continue;
    }
    if (line.trim() !== '') lines.push(line);
  }
  return lines.join('\n') + '\n';
}

/** The nameservers a forwarder should ask, without the daemon's own address (a loop). A
 * link-local server keeps its zone (`fe80::1%eth0`): Node's sockets need it to reach it. */
export function upstreamNameservers(conf: ResolvConf, exclude: readonly string[] = []): Nameserver[] {
  return conf.nameservers
    .filter((ns) => isIP(ns) !== 0 && !exclude.includes(ns.replace(/%.*$/, '')))
    .map((address) => ({ address, port: 53 }));
}

function dedupe(xs: readonly string[]): string[] {
  const seen = new Set<string>();
  return xs.filter((x) => {
    const k = x.toLowerCase().replace(/\.$/, '');
    if (k === '' || seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
