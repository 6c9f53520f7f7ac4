/**
 * Pod subnets learned from the pods' own addresses, for clusters whose nodes have no (or a wrong)
 * spec.podCIDR: Calico's IPAM, Cilium's cluster pool, cloud VPC CNIs. Pure: the caller gives the
 * addresses and the time.
 *
 * The covering rule: each IPv4 address stands for its /24, each IPv6 address for its /64. That is
 * coarse enough for a few routes to cover a node's pods (Cilium gives each node a /24, Calico /26
 * blocks, a VPC CNI spreads pods over the node's subnet) and fine enough to take in little else.
 * Two sibling blocks that are both in use merge into their parent (/24 + /24 → /23, and so on), up
 * to /16 for IPv4 and /48 for IPv6. Merging never adds an address: the result covers exactly the
 * blocks in use, no more, in as few CIDRs as that allows.
 *
 * The shrinking rule (PodSubnetCover): a block whose last pod went away is kept for `keepEmptyMs`
 * (5 minutes in the manager) and dropped only if no pod used it meanwhile, so a rollout or a
 * restarting pod does not take a route away from every workstation and put it back.
 */
import { ipToBytes, subnetFromCidr, subnetToCidr } from '../../protocol/src/ipAddress.js';

/** The prefix each address is rounded to, and the widest prefix that merging may reach. */
const BLOCK = { 4: { bits: 24, widest: 16 }, 16: { bits: 64, widest: 48 } } as const;

interface Block {
  /** 4 or 16 bytes. */
  size: 4 | 16;
  net: bigint;
  prefixLength: number;
}

/** The pod fields that tell its addresses. */
export interface PodAddresses {
  spec?: { hostNetwork?: boolean };
  status?: { podIP?: string; podIPs?: { ip?: string }[] };
}

/** A pod's addresses; none for a hostNetwork pod, whose addresses are its node's. */
export function podIpsOf(pod: PodAddresses): string[] {
  if (pod.spec?.hostNetwork) return [];
  const ips = (pod.status?.podIPs ?? []).map((p) => p.ip ?? '');
  if (pod.status?.podIP) ips.push(pod.status.podIP);
  return [...new Set(ips.filter(Boolean))];
}

/**
 * The /24 (IPv4) or /64 (IPv6) of a pod address, as a CIDR; undefined for what is not an address,
 * or lies where no pod network is and the daemon would refuse to route: unspecified, loopback,
 * link-local, multicast and reserved (IPv4 224.0.0.0/3, IPv6 ::/8 with its mapped and NAT64 forms).
 */
export function podIpBlock(ip: string): string | undefined {
  let bytes: Uint8Array;
  try {
    bytes = ipToBytes(ip);
  } catch {
    return undefined;
  }
  if (!inPodRange(bytes)) return undefined;
  // Both prefixes end on a byte border: the host part is whole bytes of zeros.
  const prefixLength = BLOCK[bytes.length === 4 ? 4 : 16].bits;
  bytes.fill(0, prefixLength / 8);
  return subnetToCidr({ ip: bytes, prefixLength });
}

/** The blocks of a pod's addresses (podIpsOf, podIpBlock): all that is kept of each pod. */
export function podBlocksOf(pod: PodAddresses): string[] {
  const blocks = podIpsOf(pod).map(podIpBlock).filter((b) => b !== undefined);
  return blocks.length > 1 ? [...new Set(blocks)] : blocks;
}

/** The CIDRs that cover exactly the blocks of these addresses (the rule above), IPv4 first. */
export function coveringCidrs(ips: Iterable<string>): string[] {
  const blocks = new Set<string>();
  for (const ip of ips) {
    const block = podIpBlock(ip);
    if (block) blocks.add(block);
  }
  return mergeBlocks(blocks);
}

/**
 * The fewest CIDRs that cover exactly the union of these (contained ones dropped, used siblings
 * merged up to /16 or /48), IPv4 before IPv6, each family in address order. A CIDR that does not
 * parse, or has host bits set, is left out.
 */
export function mergeBlocks(cidrs: Iterable<string>): string[] {
  const blocks: Block[] = [];
  for (const c of cidrs) {
    try {
      const s = subnetFromCidr(c);
      blocks.push({ size: s.ip.length === 4 ? 4 : 16, net: toBigint(s.ip), prefixLength: s.prefixLength });
    } catch {
      // Not ours to route.
    }
  }
  // By family, then address, the wider of two at one address first: a block can then only be
  // inside the one last kept, and can only merge with it.
  blocks.sort((x, y) => x.size - y.size || (x.net < y.net ? -1 : x.net > y.net ? 1 : x.prefixLength - y.prefixLength));
  const kept: Block[] = [];
  for (const b of blocks) {
    const last = kept.at(-1);
    if (last && contains(last, b)) continue;
    kept.push(b);
    for (;;) {
      const hi = kept.at(-1);
      const lo = kept.at(-2);
      if (!hi || !lo || !areSiblings(lo, hi)) break;
      kept.splice(-2, 2, { ...lo, prefixLength: lo.prefixLength - 1 });
    }
  }
  return kept.map(toCidr);
}

/**
 * The blocks in use, and those lately emptied, remembered between updates. Each update gives the
 * blocks of every pod there is now (podBlocksOf); one no pod uses is kept until it has been empty
 * for `keepEmptyMs`.
 */
export class PodSubnetCover {
  /** Block CIDR → when it was found empty; undefined while a pod uses it. */
  private readonly blocks = new Map<string, number | undefined>();

  constructor(private readonly keepEmptyMs: number) {}

  /**
   * The covering CIDRs after this update, and when the next kept block is due to be dropped (the
   * caller updates again then), undefined when none is kept empty.
   */
  update(podBlocks: Iterable<readonly string[]>, now: number): { cidrs: string[]; nextDrop: number | undefined } {
    const used = new Set<string>();
    for (const blocks of podBlocks) for (const b of blocks) used.add(b);
    let nextDrop: number | undefined;
    for (const [block, emptySince] of this.blocks) {
      if (used.has(block)) continue;
      const since = emptySince ?? now;
      if (now - since >= this.keepEmptyMs) {
        this.blocks.delete(block);
        continue;
      }
      this.blocks.set(block, since);
      nextDrop = Math.min(nextDrop ?? Infinity, since + this.keepEmptyMs);
    }
    for (const block of used) this.blocks.set(block, undefined);
    return { cidrs: mergeBlocks(this.blocks.keys()), nextDrop };
  }
}

function inPodRange(ip: Uint8Array): boolean {
  const [a = 0, b = 0] = ip;
  if (ip.length === 4) return !(a === 0 || a === 127 || (a === 169 && b === 254) || a >= 224);
  return !(a === 0 || a === 0xff || (a === 0xfe && (b & 0xc0) === 0x80));
}

function areSiblings(lo: Block, hi: Block): boolean {
  if (lo.size !== hi.size || lo.prefixLength !== hi.prefixLength || lo.prefixLength <= BLOCK[lo.size].widest) return false;
  const span = 1n << hostBits(lo.size, lo.prefixLength);
  return lo.net % (span * 2n) === 0n && lo.net + span === hi.net;
}

function contains(outer: Block, inner: Block): boolean {
  if (outer.size !== inner.size || outer.prefixLength > inner.prefixLength) return false;
  const shift = hostBits(outer.size, outer.prefixLength);
  return outer.net >> shift === inner.net >> shift;
}

function hostBits(size: 4 | 16, prefixLength: number): bigint {
  return BigInt(size * 8 - prefixLength);
}

function toBigint(bytes: Uint8Array): bigint {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

function toCidr(b: Block): string {
  const ip = new Uint8Array(b.size);
  let n = b.net;
  for (let i = b.size - 1; i >= 0; i--) {
    ip[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return subnetToCidr({ ip, prefixLength: b.prefixLength });
}
