/**
 * Where a client's tunnel may go. The manager dials from its own pod, so without a policy any
 * client could reach what only that pod should: its loopback ports, the node's cloud metadata,
 * the pod itself, the internet. Pure: the caller gives the cluster's subnets, what cluster DNS
 * told this session, the admin's allowances and the manager's own addresses.
 *
 * Order of the rules:
 *   1. Closed ranges (loopback, link-local, unspecified, multicast, broadcast, known metadata
 *      addresses) and the manager pod's own addresses are refused, unless the admin names a CIDR
 *      inside that range (a broad 0.0.0.0/0 does not open them).
 *   2. The cluster's service and pod subnets are allowed.
 *   3. An address cluster DNS recently answered to this session is allowed (an ExternalName, or a
 *      Service without selector whose endpoints are outside the pod subnets).
 *   4. An address inside an admin CIDR is allowed.
 *   5. Everything else is refused.
 */
import { ipFromBytes, ipToBytes, subnetContains, subnetFromCidr, subnetToCidr, type SubnetBytes } from '../../../protocol/src/ipAddress.js';
import { hostPort } from './dial.js';

export interface DestinationFacts {
  serviceSubnets: readonly SubnetBytes[];
  podSubnets: readonly SubnetBytes[];
  /** Whether cluster DNS recently answered this address (canonicalIp form) to the session. */
  answeredByDns(ip: string): boolean;
  /** The admin's TELEPATH_TUNNEL_ALLOW. */
  tunnelAllow: readonly SubnetBytes[];
  /** The manager pod's own addresses, in canonicalIp form. */
  managerIps: ReadonlySet<string>;
}

export type DestinationVerdict =
  /** `ip` is the address to dial (IPv4-mapped IPv6 becomes IPv4); `why` says which rule allowed it. */
  | { allowed: true; ip: string; why: string }
  | { allowed: false; reason: string };

/** Where a refusal tells the admin to look. */
const HOW_TO_OPEN = "the install's tunnelAllow setting (TELEPATH_TUNNEL_ALLOW) can open it";

interface ClosedRange {
  range: SubnetBytes;
  /** Completes "<address> is …". */
  what: string;
}

const closed = (cidr: string, what: string): ClosedRange => ({ range: subnetFromCidr(cidr), what });

const CLOSED_RANGES: readonly ClosedRange[] = [
  closed('0.0.0.0/8', 'unspecified ("this network"; a connection there reaches the traffic-manager pod itself)'),
  closed('127.0.0.0/8', "loopback (the traffic-manager pod's own ports)"),
  closed('169.254.0.0/16', 'link-local (cloud metadata lives there)'),
  closed('100.100.100.200/32', "a cloud metadata address (Alibaba Cloud's)"),
  closed('224.0.0.0/4', 'multicast'),
  closed('255.255.255.255/32', 'the broadcast address'),
  closed('::/128', 'unspecified (a connection there reaches the traffic-manager pod itself)'),
  closed('::1/128', "loopback (the traffic-manager pod's own ports)"),
  closed('fe80::/10', 'link-local'),
  closed('fd00:ec2::254/128', "a cloud metadata address (AWS's IPv6 one)"),
  closed('ff00::/8', 'multicast'),
];

const MAPPED_PREFIX = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
/** The well-known NAT64 prefix (RFC 6052): a gateway turns 64:ff9b::a.b.c.d into a.b.c.d. */
const NAT64 = subnetFromCidr('64:ff9b::/96');

/** IPv4-mapped IPv6 (::ffff:a.b.c.d) is the IPv4 address it carries; every other address is itself. */
export function normalizeIp(ip: Uint8Array): Uint8Array {
  if (ip.length === 16 && MAPPED_PREFIX.every((b, i) => ip[i] === b)) return ip.slice(12);
  return ip;
}

/** "::ffff:127.0.0.1" → "127.0.0.1", "FD00::1" → "fd00::1": one text per address. */
export function canonicalIp(text: string): string {
  return ipFromBytes(normalizeIp(ipToBytes(text)));
}

/**
 * One entry of TELEPATH_TUNNEL_ALLOW: a CIDR, or an address meaning just that address. An
 * IPv4-mapped IPv6 CIDR becomes the IPv4 one. Throws a message that names what is wrong.
 */
export function parseAllowedCidr(text: string): SubnetBytes {
  const [address = '', prefix, extra] = text.split('/');
  let ip: Uint8Array;
  try {
    ip = ipToBytes(address);
  } catch {
    throw new TypeError(`${JSON.stringify(text)} is not a CIDR (like 10.20.0.0/16) or an IP address`);
  }
  const bits = ip.length * 8;
  const prefixLength = prefix === undefined ? bits : Number(prefix);
  if (extra !== undefined || !/^\d+$/.test(prefix ?? String(bits)) || prefixLength > bits) {
    throw new TypeError(`${JSON.stringify(text)} needs a prefix length from 0 to ${bits}`);
  }
  const mapped = normalizeIp(ip);
  const subnet = mapped.length < ip.length && prefixLength >= 96 ? { ip: mapped, prefixLength: prefixLength - 96 } : { ip, prefixLength };
  const network = { ip: maskTo(subnet.ip, subnet.prefixLength), prefixLength: subnet.prefixLength };
  if (!network.ip.every((b, i) => b === subnet.ip[i])) {
    throw new TypeError(`${JSON.stringify(text)} has host bits set (did you mean ${subnetToCidr(network)}?)`);
  }
  return network;
}

export function judgeDestination(destination: { ip: Uint8Array; port: number }, facts: DestinationFacts): DestinationVerdict {
  const ip = normalizeIp(destination.ip);
  const text = ipFromBytes(ip);
  const where = hostPort(text, destination.port);
  const allow = (why: string): DestinationVerdict => ({ allowed: true, ip: text, why });

  const special = closedRangeOf(ip) ?? (facts.managerIps.has(text) ? ownAddress(ip) : undefined);
  if (special) {
    const opener = facts.tunnelAllow.find((a) => subnetContains(a, ip) && within(a, special.range));
    if (opener) return allow(`${special.what}, opened by TELEPATH_TUNNEL_ALLOW's ${subnetToCidr(opener)}`);
    return { allowed: false, reason: `${where} is ${special.what}; ${HOW_TO_OPEN} by naming a CIDR inside ${subnetToCidr(special.range)}` };
  }
  const service = facts.serviceSubnets.find((s) => subnetContains(s, ip));
  if (service) return allow(`in the cluster's service subnet ${subnetToCidr(service)}`);
  const pod = facts.podSubnets.find((s) => subnetContains(s, ip));
  if (pod) return allow(`in the cluster's pod subnet ${subnetToCidr(pod)}`);
  if (facts.answeredByDns(text)) return allow('answered by cluster DNS to this session');
  const admin = facts.tunnelAllow.find((a) => subnetContains(a, ip));
  if (admin) return allow(`in TELEPATH_TUNNEL_ALLOW's ${subnetToCidr(admin)}`);

  const subnets = [...facts.serviceSubnets, ...facts.podSubnets].map(subnetToCidr).join(', ') || 'not known yet';
  return {
    allowed: false,
    reason: `${where} is outside the cluster's service and pod subnets (${subnets}) and cluster DNS has not answered it to this session; ${HOW_TO_OPEN}`,
  };
}

function closedRangeOf(ip: Uint8Array): ClosedRange | undefined {
  const direct = CLOSED_RANGES.find((c) => subnetContains(c.range, ip));
  if (direct || !subnetContains(NAT64, ip)) return direct;
  // Through a NAT64 gateway 64:ff9b::a9fe:a9fe is 169.254.169.254.
  const v4 = ip.slice(12);
  const inner = CLOSED_RANGES.find((c) => subnetContains(c.range, v4));
  if (!inner) return undefined;
  const range = { ip: Uint8Array.from([...NAT64.ip.subarray(0, 12), ...inner.range.ip]), prefixLength: 96 + inner.range.prefixLength };
  return { range, what: `NAT64 for ${ipFromBytes(v4)}, which is ${inner.what}` };
}

function ownAddress(ip: Uint8Array): ClosedRange {
  return { range: { ip, prefixLength: ip.length * 8 }, what: 'the traffic-manager pod itself (all of its ports)' };
}

/** Whether all of `inner` lies in `outer`. */
function within(inner: SubnetBytes, outer: SubnetBytes): boolean {
  return inner.prefixLength >= outer.prefixLength && subnetContains(outer, inner.ip);
}

function maskTo(ip: Uint8Array, prefixLength: number): Uint8Array {
  return ip.map((b, i) => {
    const keep = Math.min(8, Math.max(0, prefixLength - i * 8));
    return b & ((0xff00 >> keep) & 0xff);
  });
}
