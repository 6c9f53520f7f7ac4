/**
 * Which cluster subnets to route into the TUN device. A subnet that an existing route of the
 * workstation already covers is reachable without Telepath and is left alone; one that only
 * partly overlaps a local route is a conflict: routing it would break part of the local network,
 * so it is reported and not routed. Default routes do not count: they reach everything.
 *
 * By the time a subnet gets here, the network role has refused any that overlaps the
 * workstation's own networks (its addresses, connected networks, default gateways and
 * nameservers: localNetworks.ts, networkInput.ts) or that is too wide; what this plan still
 * decides about is routes through a gateway (a VPN, a static route towards the cluster).
 */
import { netContains, netsOverlap, parseNet } from '../ipNet.js';

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
  const local = existing.filter((r) => r.dst !== 'default' && (tunDev === undefined || r.dev !== tunDev)).map((r) => ({ ...r, net: parseNet(r.dst) }));
  for (const subnet of subnets) {
    const want = parseNet(subnet);
    if (!want) continue;
    const covering = local.find((r) => r.net && netContains(r.net, want));
    if (covering) {
      plan.unrouted.push({ subnet, reason: 'reachable', message: `already reached through ${covering.dst}${covering.dev ? ` dev ${covering.dev}` : ''}` });
      continue;
    }
    const overlapping = local.find((r) => r.net && netsOverlap(r.net, want));
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
