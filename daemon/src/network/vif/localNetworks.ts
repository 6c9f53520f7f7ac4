/**
 * The workstation's own networks, which no cluster subnet may overlap (networkInput.ts): the
 * addresses of its interfaces and the networks they are on (the connected routes, the LAN of the
 * default route among them), its default gateways, and the nameservers of its resolver. Routing
 * any part of one of those into the TUN device would hand the manager traffic that belongs to
 * this machine or its LAN: a printer, the router's admin page, every public name looked up.
 * Routes through a gateway (a VPN, a static route to the cluster) are not "own": routePlan.ts
 * decides about those.
 *
 * Read from iproute2's JSON output (`ip -j addr`, `ip -j route`); the pure part is
 * localNetworksOf.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { promisify } from 'node:util';
import { ipFromBytes } from '../../../../protocol/src/ipAddress.js';
import { parseResolvConf } from '../dns/resolvConf.js';
import { RESOLVED_STUBS } from '../dns/resolverConfig.linux.js';
import { parseAddress } from '../ipNet.js';
import type { LocalNetwork } from '../networkInput.js';

const run = promisify(execFile);

/** One entry of `ip -j route show table main`, as far as it is read here. */
export interface IpRoute {
  /** "default", "10.0.0.0/8" or a host "10.0.0.1". */
  dst: string;
  dev?: string;
  gateway?: string;
  /** Absent for ordinary routes; "unreachable", "blackhole", ... for the others. */
  type?: string;
  /** "link" for networks reached directly on the device. */
  scope?: string;
  nexthops?: { gateway?: string; dev?: string }[];
}

/** One entry of `ip -j addr show`, as far as it is read here. */
export interface IpLink {
  ifname: string;
  addr_info?: { family?: string; local?: string; address?: string; prefixlen?: number }[];
}

export interface LocalNetworkSources {
  links: IpLink[];
  routes: IpRoute[];
  /** Nameservers of the workstation's resolver (resolv.conf, systemd-resolved's upstream list). */
  nameservers: string[];
}

export interface LocalNetworkOptions {
  /** Telepath's own TUN device: its routes are what is being changed, not the workstation's. */
  tunDev?: string;
  /** Addresses Telepath itself put into the resolver (the cluster DNS), not the workstation's. */
  ownDnsIps?: readonly string[];
}

export function localNetworksOf(src: LocalNetworkSources, opts: LocalNetworkOptions = {}): LocalNetwork[] {
  const out: LocalNetwork[] = [];
  const routes = src.routes.filter((r) => opts.tunDev === undefined || r.dev !== opts.tunDev);
  const defaults = routes.filter((r) => r.dst === 'default' && isUnicast(r));
  const lanDevs = new Set(defaults.flatMap((r) => [r.dev, ...(r.nexthops ?? []).map((h) => h.dev)]).filter((d): d is string => !!d));
  const lan = (dev: string | undefined) => (dev && lanDevs.has(dev) ? ' (the LAN of the default route)' : '');

  for (const r of defaults) {
    for (const hop of [{ gateway: r.gateway, dev: r.dev }, ...(r.nexthops ?? [])]) {
      if (hop.gateway && parseAddress(hop.gateway)) out.push({ cidr: host(hop.gateway), what: `the default gateway ${hop.gateway}${hop.dev ? ` (dev ${hop.dev})` : ''}` });
    }
  }
  for (const ns of src.nameservers) {
    const address = ns.replace(/%.*$/, '');
    if (!parseAddress(address) || opts.ownDnsIps?.includes(address)) continue;
    out.push({ cidr: host(address), what: `the nameserver ${address} of this workstation's resolver` });
  }
  for (const link of src.links) {
    if (link.ifname === opts.tunDev) continue;
    for (const a of link.addr_info ?? []) {
      if (!a.local || !parseAddress(a.local)) continue;
      out.push({ cidr: host(a.local), what: `the address ${a.local} of ${link.ifname}` });
      if (a.address && a.address !== a.local && parseAddress(a.address)) out.push({ cidr: host(a.address), what: `the peer ${a.address} of ${link.ifname}` });
      const network = networkOf(a.local, a.prefixlen);
      if (network) out.push({ cidr: network, what: `the network ${network} of ${link.ifname}${lan(link.ifname)}` });
    }
  }
  for (const r of routes) {
    if (r.dst === 'default' || !isUnicast(r) || r.gateway || r.nexthops || r.scope !== 'link') continue;
    const bytes = parseAddress(r.dst.split('/')[0]!);
    if (!bytes) continue;
    const cidr = r.dst.includes('/') ? r.dst : `${r.dst}/${bytes.length * 8}`;
    out.push({ cidr, what: `the network ${cidr}${r.dev ? ` of ${r.dev}` : ''}${lan(r.dev)}` });
  }
  return out;
}

/** Reads the workstation's own networks now. Throws when its addresses cannot be listed. */
export async function readLocalNetworks(opts: LocalNetworkOptions = {}): Promise<LocalNetwork[]> {
  let links: IpLink[];
  try {
    const { stdout } = await run('ip', ['-j', 'addr', 'show']);
    links = JSON.parse(stdout || '[]') as IpLink[];
  } catch (err) {
    throw new Error(`cannot list this workstation's addresses to check the cluster's subnets against them (ip -j addr show): ${(err as Error).message}`);
  }
  const nameservers = await resolvConfNameservers('/etc/resolv.conf');
  // Behind systemd-resolved's stub, the servers it asks are listed in its own file.
  if (nameservers.some((ns) => RESOLVED_STUBS.includes(ns))) nameservers.push(...(await resolvConfNameservers('/run/systemd/resolve/resolv.conf')));
  return localNetworksOf({ links, routes: await readIpRoutes(), nameservers }, opts);
}

/** The main routing table, both families (a family the machine lacks reads as no routes). */
export async function readIpRoutes(): Promise<IpRoute[]> {
  const out: IpRoute[] = [];
  for (const family of ['-4', '-6']) {
    try {
      const { stdout } = await run('ip', ['-j', family, 'route', 'show', 'table', 'main']);
      out.push(...(JSON.parse(stdout || '[]') as IpRoute[]));
    } catch {
      // no IPv6 in this namespace, for instance
    }
  }
  return out;
}

async function resolvConfNameservers(file: string): Promise<string[]> {
  return parseResolvConf(await fs.readFile(file, 'utf8').catch(() => '')).nameservers;
}

function isUnicast(r: IpRoute): boolean {
  return r.type === undefined || r.type === 'unicast';
}

function host(address: string): string {
  return `${address}/${parseAddress(address)!.length * 8}`;
}

/** "192.168.1.0/24" for 192.168.1.23 with prefix 24; undefined for a host prefix, /0 (as the default
 * route, it reaches everything) or bad input. */
function networkOf(address: string, prefixlen: number | undefined): string | undefined {
  const bytes = parseAddress(address);
  if (!bytes || prefixlen === undefined || !Number.isInteger(prefixlen) || prefixlen < 1 || prefixlen >= bytes.length * 8) return undefined;
  const masked = bytes.map((b, i) => {
    const bits = Math.max(0, Math.min(8, prefixlen - i * 8));
    return b & ((0xff << (8 - bits)) & 0xff);
  });
  return `${ipFromBytes(masked)}/${prefixlen}`;
}
