/**
 * Which cluster subnets to route into the TUN device. A subnet that an existing route of the
 * workstation already covers is reachable without Telepath and is left alone; one that only
 * partly overlaps a local route is a conflict: routing it would break part of the local network,
 * so it is reported and not routed. Default routes do not count: they reach everything.
 */
import { ipToBytes } from '../../../../protocol/src/ipAddress.js';

export interface ExistingRoute {
  /** "10.0.0.0/8", or "default". */
  dst: string;
  dev?: string;
}

export interface RoutePlan {
  route: string[];
  unrouted: { subnet: string; reason: 'reachable' | 'conflict'; message: string }[];
}

export function planRoutes(subnets: string[], existing: ExistingRoute[], tunDev?: string): RoutePlan {
  const plan: RoutePlan = { route: [], unrouted: [] };
  const local = existing.filter((r) => r.dst !== 'default' && (tunDev === undefined || r.dev !== tunDev)).map((r) => ({ ...r, net: parseCidr(r.dst) }));
  for (const subnet of subnets) {
    const want = parseCidr(subnet);
    if (!want) continue;
    const covering = local.find((r) => r.net && contains(r.net, want));
    if (covering) {
      plan.unrouted.push({ subnet, reason: 'reachable', message: `already reached through ${covering.dst}${covering.dev ? ` dev ${covering.dev}` : ''}` });
      continue;
    }
    const overlapping = local.find((r) => r.net && overlaps(r.net, want));
    if (overlapping) {
      plan.unrouted.push({
        subnet,
        reason: 'conflict',
        message: `overlaps the local route ${overlapping.dst}${overlapping.dev ? ` dev ${overlapping.dev}` : ''}; not routed so the local network keeps working`,
      });
      continue;
    }
    plan.route.push(subnet);
  }
  return plan;
}

interface Net {
  bytes: Uint8Array;
  bits: number;
}

export function parseCidr(cidr: string): Net | undefined {
  const [ip, bitsText] = cidr.split('/');
  try {
    const bytes = ipToBytes(ip!);
    const bits = bitsText === undefined ? bytes.length * 8 : Number(bitsText);
    if (!Number.isInteger(bits) || bits < 0 || bits > bytes.length * 8) return undefined;
    return { bytes, bits };
  } catch {
    return undefined;
  }
}

/** Does `outer` contain all of `inner`? */
function contains(outer: Net, inner: Net): boolean {
  return outer.bytes.length === inner.bytes.length && outer.bits <= inner.bits && samePrefix(outer.bytes, inner.bytes, outer.bits);
}

function overlaps(a: Net, b: Net): boolean {
  return a.bytes.length === b.bytes.length && samePrefix(a.bytes, b.bytes, Math.min(a.bits, b.bits));
}

function samePrefix(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((a[i]! & mask) !== (b[i]! & mask)) return false;
  }
  return true;
}
