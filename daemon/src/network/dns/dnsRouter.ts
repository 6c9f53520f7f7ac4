/**
 * Decides, for one query name, whether the daemon's DNS server asks the cluster (and under which
 * fully-qualified names) or forwards the query untouched to the workstation's original resolver.
 * Pure: no sockets, no clock. The daemon rebuilds the router whenever the connected namespace or
 * the list of namespaces changes.
 *
 * Which names are cluster names:
 * - `*.<clusterDomain>` (and the domain itself): asked as given; the cluster is authoritative.
 * - `*.svc`, `*.pod`: the cluster domain is appended (`x.svc` → `x.svc.cluster.local`).
 * - names whose last label is a known namespace and that have a Kubernetes shape:
 *   `svc.ns`, `pod.svc.ns` / `host.subdomain.ns` (headless, StatefulSet), `_port._proto.svc.ns`
 *   (SRV): `.svc.<clusterDomain>` is appended.
 * - PTR names of addresses inside the cluster's subnets, when the daemon passes those subnets.
 * - single labels (`echo`): see SINGLE-LABEL NAMES below.
 * Everything else is forwarded, and so are `localhost`, `wpad` and names whose labels are not
 * plain host-name characters (the forwarder passes the client's bytes on exactly).
 *
 * SINGLE-LABEL NAMES. Telepresence sends every single-label name to the cluster, so a bare
 * `printer` or `nas` that the LAN's resolver used to answer becomes NXDOMAIN while connected.
 * A user who connects to a cluster expects `curl echo` to reach the Service *and* everything that
 * worked before to keep working. So a single label is asked of the cluster first, as a Service of
 * the connected namespace (`echo` → `echo.<ns>.svc.<clusterDomain>`), and when the cluster does
 * not know it (NXDOMAIN, or the cluster cannot be asked) the query goes to the original resolver.
 * The cluster wins a tie: a Service named like a LAN host shadows it while connected, which is
 * what the user connected for. Most clients never send a bare label anyway: the search list that
 * the resolver configuration installs expands `echo` to `echo.<ns>.svc.<clusterDomain>` first.
 *
 * NAMESPACES THAT ARE ALSO TOP-LEVEL DOMAINS. A namespace called `dev` or `app` would capture
 * `pkg.go.dev` or `web.app`. For the namespaces listed in `tldNamespaces` (DnsQueryHandler finds
 * them by asking the original resolver, topLevelDomains.ts), a name the cluster does not know is
 * forwarded instead of answered NXDOMAIN. For all other namespaces the cluster is authoritative, so a missing cluster name fails fast (no round trip to a resolver that
 * may be slow or, on an offline workstation, absent).
 */
import { subnetContains, type SubnetBytes } from '../../../../protocol/src/ipAddress.js';

export interface DnsRoutingConfig {
  /** The cluster's DNS domain, e.g. `cluster.local`. */
  clusterDomain: string;
  /** Where short names resolve; empty when not connected to a namespace. */
  connectedNamespace: string;
  /** The namespaces whose names resolve as `svc.ns`. */
  namespaces: Iterable<string>;
  /** Namespaces whose name is also a public top-level domain (see the file comment). */
  tldNamespaces?: Iterable<string>;
  /** The cluster's service and pod subnets; PTR queries for addresses in them go to the cluster. */
  reverseSubnets?: readonly SubnetBytes[];
}

export type DnsRoute =
  | {
      kind: 'cluster';
      /** Fully-qualified names to ask, lower case, without a trailing dot, in order; the first
       * one that exists (any rcode but NXDOMAIN) gives the answer. */
      names: string[];
      /** When every name is NXDOMAIN: answer NXDOMAIN, or forward the original query. */
      onNxdomain: 'answer' | 'forward';
      /** The zone the cluster answers for, an ancestor of the question name: the owner of the SOA
       * that negative answers carry. Undefined for names that only fall back to the cluster. */
      zone: string | undefined;
    }
  | { kind: 'forward'; reason: ForwardReason };

export type ForwardReason = 'not-cluster' | 'never-cluster' | 'unusual-name' | 'no-namespace';

/** Single labels that always mean the workstation or its LAN, never a Service. */
const NEVER_CLUSTER_LABELS = new Set(['localhost', 'localdomain', 'local', 'wpad', 'ip6-localhost', 'ip6-loopback', 'broadcasthost']);

/** Host-name characters plus `_` (SRV labels); anything else is forwarded byte for byte. */
const PLAIN_LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

export class DnsRouter {
  private readonly domain: string;
  private readonly namespaces: ReadonlySet<string>;
  private readonly tldNamespaces: ReadonlySet<string>;
  private readonly reverseSubnets: readonly SubnetBytes[];
  private readonly connectedNamespace: string;

  constructor(config: DnsRoutingConfig) {
    this.domain = normalizeName(config.clusterDomain);
    this.connectedNamespace = config.connectedNamespace.toLowerCase();
    this.namespaces = new Set([...config.namespaces].map((n) => n.toLowerCase()));
    this.tldNamespaces = new Set([...(config.tldNamespaces ?? [])].map((n) => n.toLowerCase()));
    this.reverseSubnets = config.reverseSubnets ?? [];
  }

  /** The route for `qname` as the client sent it (any case, with or without a trailing dot). */
  route(qname: string): DnsRoute {
    const name = normalizeName(qname);
    if (name === '') return forward('not-cluster');
    const labels = name.split('.');
    if (!labels.every((l) => PLAIN_LABEL.test(l))) return forward('unusual-name');
    if (labels[0] === 'wpad') return forward('never-cluster');

    const domain = this.domain;
    if (name === domain || name.endsWith(`.${domain}`)) return cluster([name], 'answer', domain);

    const last = labels[labels.length - 1]!;
    if (labels.length === 1) {
      if (NEVER_CLUSTER_LABELS.has(name)) return forward('never-cluster');
      if (!this.connectedNamespace) return forward('no-namespace');
      return cluster([`${name}.${this.connectedNamespace}.svc.${domain}`], 'forward', undefined);
    }
    if (last === 'svc' || last === 'pod') return cluster([`${name}.${domain}`], 'answer', last);
    if (this.namespaces.has(last) && kubernetesShaped(labels)) {
      return cluster([`${name}.svc.${domain}`], this.tldNamespaces.has(last) ? 'forward' : 'answer', last);
    }
    const reverseZone = this.reverseZone(labels);
    if (reverseZone) return cluster([name], 'answer', reverseZone);
    return forward('not-cluster');
  }

  /** `in-addr.arpa` / `ip6.arpa` when `labels` is the PTR name of an address in a cluster subnet. */
  private reverseZone(labels: string[]): string | undefined {
    if (this.reverseSubnets.length === 0) return undefined;
    const ip = ipFromReverseName(labels);
    if (!ip) return undefined;
    if (!this.reverseSubnets.some((s) => subnetContains(s, ip))) return undefined;
    return ip.length === 4 ? 'in-addr.arpa' : 'ip6.arpa';
  }
}

/** Lower case, no trailing dot: the form names are compared and cached in. */
export function normalizeName(name: string): string {
  return (name.endsWith('.') ? name.slice(0, -1) : name).toLowerCase();
}

/**
 * `svc.ns`, `pod.svc.ns` / `host.subdomain.ns`, `_port._proto.svc.ns`: the names Kubernetes DNS
 * gives out under a namespace. Longer names are ordinary domains that happen to end in a label
 * equal to a namespace.
 */
function kubernetesShaped(labels: string[]): boolean {
  if (labels.length <= 3) return true;
  return labels.length === 4 && labels[0]!.startsWith('_') && labels[1]!.startsWith('_');
}

function cluster(names: string[], onNxdomain: 'answer' | 'forward', zone: string | undefined): DnsRoute {
  return { kind: 'cluster', names, onNxdomain, zone };
}

function forward(reason: ForwardReason): DnsRoute {
  return { kind: 'forward', reason };
}

/** The address a complete PTR name stands for (`4.3.2.1.in-addr.arpa` → 1.2.3.4), else undefined. */
export function ipFromReverseName(labels: string[]): Uint8Array | undefined {
  const n = labels.length;
  if (n === 6 && labels[4] === 'in-addr' && labels[5] === 'arpa') {
    const octets = labels.slice(0, 4).reverse();
    if (!octets.every((o) => /^(0|[1-9]\d{0,2})$/.test(o) && Number(o) <= 255)) return undefined;
    return Uint8Array.from(octets.map(Number));
  }
  if (n === 34 && labels[32] === 'ip6' && labels[33] === 'arpa') {
    const nibbles = labels.slice(0, 32).reverse();
    if (!nibbles.every((x) => /^[0-9a-f]$/.test(x))) return undefined;
    const out = new Uint8Array(16);
    for (let i = 0; i < 16; i++) out[i] = (parseInt(nibbles[2 * i]!, 16) << 4) | parseInt(nibbles[2 * i + 1]!, 16);
    return out;
  }
  return undefined;
}
