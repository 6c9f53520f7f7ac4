/**
 * What the manager tells clients about the cluster's networks, and the pure parsing behind it.
 * The service CIDRs come from the ServiceCIDR API (GA in Kubernetes 1.33) or, on older clusters,
 * from the error a dry-run Service with an impossible ClusterIP provokes ("The range of valid
 * IPs is …"); pod CIDRs from the nodes' spec.podCIDRs (or, where the CNI leaves those empty,
 * podSubnetCover.ts); DNS from the manager pod's resolv.conf, which the kubelet writes with the
 * cluster DNS Service and the cluster domain.
 */
import { subnetFromCidr, type SubnetBytes } from '../../protocol/src/ipAddress.js';

export interface ClusterNetworks {
  serviceCidrs: string[];
  podCidrs: string[];
  dnsServer: string;
  clusterDomain: string;
}

/** The CIDR(s) named in the API server's "range of valid IPs" error, in order, deduplicated. */
export function parseServiceRangeError(message: string): string[] {
  const m = /range of valid IPs is ([0-9a-fA-F.:/, ]+)/.exec(message);
  if (!m) return [];
  return unique(
    m[1]!
      .split(/[ ,]+/)
      .map((s) => s.trim())
      .filter((s) => isCidr(s)),
  );
}

/** Nameserver and cluster domain from a pod's resolv.conf (the kubelet writes both). */
export function parseResolvConf(text: string): { nameserver?: string; clusterDomain?: string } {
  let nameserver: string | undefined;
  let clusterDomain: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && !nameserver && rest[0]) nameserver = rest[0];
    if (key === 'search' && !clusterDomain) {
      // The kubelet writes "<ns>.svc.<domain> svc.<domain> <domain> …".
      const svc = rest.find((d) => d.startsWith('svc.'));
      if (svc) clusterDomain = svc.slice('svc.'.length).replace(/\.$/, '');
    }
  }
  return { nameserver, clusterDomain };
}

/** The node fields pod subnets are read from. */
export interface NodePodCidrs {
  spec?: { podCIDR?: string; podCIDRs?: string[] };
  status?: { conditions?: { type?: string; status?: string }[] };
}

/** Every pod CIDR the nodes were given, deduplicated and sorted for stable comparisons. */
export function podCidrsOfNodes(nodes: NodePodCidrs[]): string[] {
  return unique(nodes.flatMap(podCidrsOfNode)).sort();
}

/**
 * Whether the nodes' pod CIDRs are the pod subnets (the `auto` strategy): some node has one, and
 * every Ready node has one. A node that is not Ready yet is left out because the controller
 * manager gives a new node its podCIDR only after the node registered, and pods run on it only
 * once it is Ready; counting it would switch every cluster that adds a node to covering pod IPs
 * for a moment. On clusters whose CNI ignores spec.podCIDR, Ready nodes have none.
 */
export function nodesHavePodCidrs(nodes: NodePodCidrs[]): boolean {
  const ready = nodes.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
  return nodes.some((n) => podCidrsOfNode(n).length > 0) && ready.every((n) => podCidrsOfNode(n).length > 0);
}

function podCidrsOfNode(n: NodePodCidrs): string[] {
  const cidrs = n.spec?.podCIDRs?.length ? n.spec.podCIDRs : n.spec?.podCIDR ? [n.spec.podCIDR] : [];
  return cidrs.filter(isCidr);
}

export function sameNetworks(a: ClusterNetworks, b: ClusterNetworks): boolean {
  return (
    a.dnsServer === b.dnsServer &&
    a.clusterDomain === b.clusterDomain &&
    a.serviceCidrs.join() === b.serviceCidrs.join() &&
    a.podCidrs.join() === b.podCidrs.join()
  );
}

export function isCidr(s: string): boolean {
  const m = /^([0-9a-fA-F.:]+)\/(\d{1,3})$/.exec(s);
  if (!m) return false;
  const bits = Number(m[2]);
  if (m[1]!.includes(':')) return bits <= 128;
  const parts = m[1]!.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255) && bits <= 32;
}

/** The CIDRs as subnets, in order; one with host bits set is left out. */
export function subnetsOf(cidrs: readonly string[]): SubnetBytes[] {
  const out: SubnetBytes[] = [];
  for (const c of cidrs) {
    try {
      out.push(subnetFromCidr(c));
    } catch {
      // A CIDR with host bits set cannot be routed as given; the parsers already dropped garbage.
    }
  }
  return out;
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}
