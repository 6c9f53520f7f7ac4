/**
 * What the network role accepts from the daemon it serves, checked before anything is written.
 * Pure: values in, the checked values or a RefusedInput out; the workstation's own networks are
 * passed in (vif/localNetworks.ts reads them).
 *
 * Everything here runs as root on values that nobody vouches for: the subnets and DNS settings
 * come from the user's daemon, which got them from the traffic-manager (a hostile or broken
 * manager exists), and the separate network role's socket belongs to a user who may send it
 * anything by hand. What the checks stop, and the limits they use, are in docs/security.md
 * ("On the workstation").
 *
 * - A subnet is a CIDR in canonical-enough text (no zone, no host bits, a decimal prefix), not a
 *   default route, no wider than /8 (IPv4) or /32 (IPv6) unless the user allowed wide subnets
 *   (`telepath network-role --allow-wide-subnets`), never inside or around the addresses that
 *   only this machine or its link may use (loopback, link-local, multicast, "this network",
 *   reserved), and not overlapping the workstation's own networks.
 * - The cluster domain is a DNS name of at least two labels, not under `arpa`; namespaces are
 *   single DNS labels. A label is letters, digits and inner hyphens, 1–63 characters; a name at
 *   most 253. So nothing can end a line of resolv.conf, add a word to it, or turn a whole
 *   top-level domain into cluster names.
 * - The DNS server is an address inside the service subnets: the daemon answers it inside its own
 *   stack, so the workstation's queries never go to an address the manager picked elsewhere (the
 *   LAN, the internet).
 */
import type { ClusterNetworks } from './clusterNetworks.js';
import { hostBitsSet, netContains, netsOverlap, parseAddress, parseNet, type Net } from './ipNet.js';
import type { NetworkStartParams, NetworkUpdateParams } from './networkRoleProtocol.js';

/** A refusal: the message says what was refused and why; nothing was changed. */
export class RefusedInput extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RefusedInput';
  }
}

/** The widest prefix routed without an explicit allowance, by address length in bytes. */
export const WIDEST_PREFIX: Readonly<Record<4 | 16, number>> = { 4: 8, 16: 32 };

/** More subnets than this is not a cluster: Kubernetes' largest supported cluster (5,000 dual-stack
 * nodes, each with a pod subnet per family) reports about 10,000. */
export const MAX_SUBNETS = 16_384;
export const MAX_NAMESPACES = 16_384;

/** One of the workstation's own networks: an address, a connected network, a gateway, a nameserver. */
export interface LocalNetwork {
  /** "192.168.1.0/24", or a single address "192.168.1.1/32". */
  cidr: string;
  /** How a message names it: "the network 192.168.1.0/24 of wlan0 (the LAN of the default route)". */
  what: string;
}

export interface SubnetPolicy {
  /** Subnets wider than WIDEST_PREFIX are allowed (never a default route). */
  allowWideSubnets: boolean;
}

/** Address ranges that are never a cluster's: a route for them would capture this machine's own
 * traffic or its link's (the cloud metadata address 169.254.169.254 among them). */
const SPECIAL: { cidr: string; what: string }[] = [
  { cidr: '0.0.0.0/8', what: '"this network"' },
  { cidr: '127.0.0.0/8', what: 'loopback' },
  { cidr: '169.254.0.0/16', what: 'link-local' },
  { cidr: '224.0.0.0/4', what: 'multicast' },
  { cidr: '240.0.0.0/4', what: 'reserved and broadcast' },
  { cidr: '::/128', what: 'the unspecified address' },
  { cidr: '::1/128', what: 'loopback' },
  { cidr: '::ffff:0:0/96', what: 'IPv4-mapped' },
  { cidr: 'fe80::/10', what: 'link-local' },
  { cidr: 'ff00::/8', what: 'multicast' },
];
const SPECIAL_NETS = SPECIAL.map((s) => ({ ...s, net: parseNet(s.cidr)! }));

const LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const MAX_NAME = 253;

/** Collects every problem of one request, so that one refusal names them all. */
class Problems {
  readonly list: string[] = [];
  add(problem: string | undefined): void {
    if (problem !== undefined) this.list.push(problem);
  }
  /** Throws when anything was found. */
  check(subject: string): void {
    if (this.list.length === 0) return;
    const shown = this.list.slice(0, 5).join('; ');
    const more = this.list.length > 5 ? `; and ${this.list.length - 5} more` : '';
    throw new RefusedInput(`refused ${subject}: ${shown}${more}. Nothing was changed.`);
  }
}

/** A value as a message shows it: quoted, control characters escaped, long ones cut. */
export function shown(value: unknown): string {
  let text: string;
  try {
    text = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** What is wrong with `value` as a cluster subnet, apart from the workstation's own networks. */
export function subnetProblem(value: unknown, policy: SubnetPolicy): string | undefined {
  if (typeof value !== 'string') return `${shown(value)} is not a CIDR subnet`;
  const n = value.includes('/') ? parseNet(value) : undefined;
  if (!n) return `${shown(value)} is not a CIDR subnet (an IPv4 or IPv6 address, "/", a prefix length)`;
  if (hostBitsSet(n)) return `${shown(value)} has host bits set (the address is not the first of its subnet)`;
  if (n.bits === 0) return `${shown(value)} is a default route: it would send all of this workstation's traffic into the cluster`;
  const widest = WIDEST_PREFIX[n.bytes.length as 4 | 16];
  if (n.bits < widest && !policy.allowWideSubnets) {
    return (
      `${shown(value)} is wider than /${widest}, the widest ${n.bytes.length === 4 ? 'IPv4' : 'IPv6'} subnet routed unless allowed ` +
      `(no cluster needs more; start the network role with --allow-wide-subnets if this one does)`
    );
  }
  const special = SPECIAL_NETS.find((s) => netsOverlap(s.net, n));
  if (special) return `${shown(value)} overlaps ${special.cidr} (${special.what}), which is never a cluster's`;
  return undefined;
}


/** Why `value` is not a DNS name (dots between labels, one trailing dot allowed), if it is not. */
export function dnsNameProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'not a string';
  const name = value.endsWith('.') ? value.slice(0, -1) : value;
  if (name === '') return 'empty';
  if (name.length > MAX_NAME) return `${name.length} characters long, more than ${MAX_NAME}`;
  if (/\s/.test(name)) return 'contains white space or a line break';
  if (name.includes('..')) return 'has an empty label ("..")';
  const bad = name.split('.').find((l) => !LABEL.test(l));
  if (bad !== undefined) return `the label ${shown(bad)} is not 1 to 63 letters, digits and inner hyphens`;
  return undefined;
}

/** Why `value` is not a single DNS label (a namespace), if it is not. */
export function dnsLabelProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'not a string';
  if (value.includes('.')) return 'contains a dot';
  return dnsNameProblem(value) ?? (value.endsWith('.') ? 'ends in a dot' : undefined);
}

/** Why `value` cannot be the cluster domain, if it cannot. */
export function clusterDomainProblem(value: unknown): string | undefined {
  const problem = dnsNameProblem(value);
  if (problem) return problem;
  const labels = (value as string).replace(/\.$/, '').toLowerCase().split('.');
  if (labels.length < 2) return 'a single label: every name under that top-level domain would be sent to the cluster';
  if (labels[labels.length - 1] === 'arpa') return 'under "arpa", which holds reverse lookups and infrastructure names, never a cluster\'s';
  return undefined;
}

/**
 * The cluster's networks, checked (without the workstation's own networks: see checkLocalOverlap).
 * Throws RefusedInput naming every problem.
 */
export function checkNetworks(value: unknown, policy: SubnetPolicy): ClusterNetworks {
  const p = new Problems();
  const networks = checkNetworksInto(value, policy, p);
  p.check("the cluster's networks");
  return networks!;
}

function checkNetworksInto(value: unknown, policy: SubnetPolicy, p: Problems): ClusterNetworks | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    p.add(`the networks are ${shown(value)}, not an object`);
    return undefined;
  }
  const v = value as Record<string, unknown>;
  const subnets = (key: 'serviceSubnets' | 'podSubnets', what: string): string[] => {
    const list = v[key];
    if (!Array.isArray(list)) {
      p.add(`${key} is ${shown(list)}, not a list of subnets`);
      return [];
    }
    if (list.length > MAX_SUBNETS) {
      p.add(`${list.length} ${what} subnets, more than ${MAX_SUBNETS}`);
      return [];
    }
    for (const s of list) {
      const problem = subnetProblem(s, policy);
      if (problem) p.add(`${what} subnet ${problem}`);
    }
    return list as string[];
  };
  const serviceSubnets = subnets('serviceSubnets', 'service');
  const podSubnets = subnets('podSubnets', 'pod');
  if (serviceSubnets.length + podSubnets.length > MAX_SUBNETS) p.add(`${serviceSubnets.length + podSubnets.length} subnets, more than ${MAX_SUBNETS}`);

  const domainProblem = clusterDomainProblem(v.clusterDomain);
  if (domainProblem) p.add(`the cluster domain ${shown(v.clusterDomain)} is not a DNS name for a cluster: ${domainProblem}`);

  const dnsIp = v.dnsIp;
  const dnsBytes = typeof dnsIp === 'string' ? parseAddress(dnsIp) : undefined;
  if (!dnsBytes) {
    p.add(`the DNS server ${shown(dnsIp)} is not an IP address`);
  } else {
    const host: Net = { bytes: dnsBytes, bits: dnsBytes.length * 8 };
    const inside = serviceSubnets.some((s) => {
      const n = typeof s === 'string' ? parseNet(s) : undefined;
      return n !== undefined && netContains(n, host);
    });
    if (!inside) {
      p.add(
        `the DNS server ${shown(dnsIp)} is not inside the service subnets (${serviceSubnets.join(', ') || 'none'}): the cluster's DNS Service ` +
          'has an address there, and any other would point this workstation\'s resolver outside the cluster',
      );
    }
  }
  return { serviceSubnets, podSubnets, dnsIp: dnsIp as string, clusterDomain: v.clusterDomain as string };
}

/** Throws RefusedInput when a subnet overlaps one of the workstation's own networks. */
export function checkLocalOverlap(networks: ClusterNetworks, local: readonly LocalNetwork[]): void {
  const p = new Problems();
  const own = local.map((l) => ({ ...l, net: parseNet(l.cidr) })).filter((l): l is LocalNetwork & { net: Net } => l.net !== undefined);
  for (const [what, list] of [['service', networks.serviceSubnets], ['pod', networks.podSubnets]] as const) {
    for (const s of list) {
      const n = parseNet(s);
      const overlapped = n && own.find((l) => netsOverlap(l.net, n));
      if (overlapped) p.add(`${what} subnet ${shown(s)} overlaps ${overlapped.what}: routing it would take part of this workstation's own network into the cluster`);
    }
  }
  p.check("the cluster's networks");
}

/**
 * The search domain the resolver gets for short names, `<namespace>.svc.<cluster domain>`, must
 * itself be a DNS name (its parts are checked; together they may still be too long).
 */
export function checkSearchDomain(namespace: string, clusterDomain: string): void {
  if (namespace === '') return;
  const domain = `${namespace}.svc.${clusterDomain.replace(/\.$/, '')}`;
  const problem = dnsNameProblem(domain);
  if (problem) throw new RefusedInput(`refused the search domain ${shown(domain)}: ${problem}. Nothing was changed.`);
}

/** A list of namespaces, each a DNS label. */
export function checkNamespaces(value: unknown): string[] {
  const p = new Problems();
  const list = checkNamespacesInto(value, p);
  p.check('the namespaces');
  return list;
}

function checkNamespacesInto(value: unknown, p: Problems): string[] {
  if (!Array.isArray(value)) {
    p.add(`the namespaces are ${shown(value)}, not a list`);
    return [];
  }
  if (value.length > MAX_NAMESPACES) {
    p.add(`${value.length} namespaces, more than ${MAX_NAMESPACES}`);
    return [];
  }
  for (const ns of value) {
    const problem = dnsLabelProblem(ns);
    if (problem) p.add(`the namespace ${shown(ns)} is not a DNS label: ${problem}`);
  }
  return value as string[];
}

/** A namespace name; `optional` allows "" (no namespace). */
export function checkNamespace(value: unknown, what: string, optional = false): string {
  const p = new Problems();
  checkNamespaceInto(value, what, optional, p);
  p.check(what);
  return value as string;
}

function checkNamespaceInto(value: unknown, what: string, optional: boolean, p: Problems): void {
  if (optional && value === '') return;
  const problem = dnsLabelProblem(value);
  if (problem) p.add(`${what} ${shown(value)} is not a DNS label: ${problem}`);
}

/** The manager's address as the daemon hands it: `unix:` and an absolute socket path. */
function managerAddressProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || !value.startsWith('unix:/')) return `the manager address ${shown(value)} is not "unix:" and an absolute socket path`;
  // eslint-disable-next-line no-control-regex
  if (value.length > 4096 || /[\x00-\x1f\x7f]/.test(value)) return `the manager address ${shown(value)} is too long or has control characters`;
  if (value.split('/').includes('..')) return `the manager address ${shown(value)} has a ".." component`;
  return undefined;
}

function sessionIdProblem(value: unknown): string | undefined {
  return typeof value === 'string' && /^[\x21-\x7e]{1,256}$/.test(value) ? undefined : `the session id ${shown(value)} is not 1 to 256 printable characters`;
}

function joinSecretProblem(value: unknown): string | undefined {
  return typeof value === 'string' && /^[0-9a-f]{64}$/.test(value) ? undefined : 'the join secret is not 64 hex digits';
}

/** The socket path in a checked manager address. */
export function managerSocketPath(managerAddress: string): string {
  return managerAddress.slice('unix:'.length);
}

/** A request's params as an object; anything else is refused at once. */
function paramsObject(value: unknown, method: string): Record<string, unknown> {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  throw new RefusedInput(`refused ${method}: the params are ${shown(value)}, not an object. Nothing was changed.`);
}

/** `network/start`'s params, checked (without the workstation's own networks). */
export function checkStartParams(value: unknown, policy: SubnetPolicy): NetworkStartParams {
  const p = new Problems();
  const v = paramsObject(value, 'network/start');
  p.add(managerAddressProblem(v.managerAddress));
  p.add(sessionIdProblem(v.sessionId));
  p.add(joinSecretProblem(v.joinSecret));
  const networks = checkNetworksInto(v.networks, policy, p);
  const namespaces = checkNamespacesInto(v.namespaces, p);
  checkNamespaceInto(v.connectedNamespace, 'the connected namespace', true, p);
  p.check('network/start');
  return {
    managerAddress: v.managerAddress as string,
    sessionId: v.sessionId as string,
    joinSecret: v.joinSecret as string,
    networks: networks!,
    connectedNamespace: v.connectedNamespace as string,
    namespaces,
  };
}

/** `network/update`'s params, checked (without the workstation's own networks). */
export function checkUpdateParams(value: unknown, policy: SubnetPolicy): NetworkUpdateParams {
  const p = new Problems();
  const v = paramsObject(value, 'network/update');
  const out: NetworkUpdateParams = {};
  if (v.networks !== undefined) out.networks = checkNetworksInto(v.networks, policy, p);
  if (v.namespaces !== undefined) out.namespaces = checkNamespacesInto(v.namespaces, p);
  if (v.sessionId !== undefined || v.joinSecret !== undefined) {
    p.add(sessionIdProblem(v.sessionId));
    p.add(joinSecretProblem(v.joinSecret));
    out.sessionId = v.sessionId as string;
    out.joinSecret = v.joinSecret as string;
  }
  if (v.shortNameNamespace !== undefined) {
    checkNamespaceInto(v.shortNameNamespace, 'the short-name namespace', false, p);
    out.shortNameNamespace = v.shortNameNamespace as string;
  }
  p.check('network/update');
  return out;
}
