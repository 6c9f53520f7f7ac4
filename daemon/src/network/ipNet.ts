/**
 * Subnets as the network role compares them: the address's bytes and a prefix length. Parsing is
 * strict, because what it accepts ends up in `ip route` and in messages: a plain IPv4 or IPv6
 * address (no zone, no leading zeros), and a decimal prefix; an address alone is one host.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { hostBitsZero, ipToBytes, samePrefix } from '../../../protocol/src/ipAddress.js';

export interface Net {
  bytes: Uint8Array;
  bits: number;
}

/** "10.96.0.0/12", "fd00::/64" or "10.0.0.1" (a host); undefined for anything else. */
export function parseNet(cidr: string): Net | undefined {
  const slash = cidr.lastIndexOf('/');
  const bytes = parseAddress(slash < 0 ? cidr : cidr.slice(0, slash));
  if (!bytes) return undefined;
  if (slash < 0) return { bytes, bits: bytes.length * 8 };
  const prefix = cidr.slice(slash + 1);
  if (!/^(0|[1-9]\d{0,2})$/.test(prefix)) return undefined;
  const bits = Number(prefix);
  return bits <= bytes.length * 8 ? { bytes, bits } : undefined;
}

/** 4 or 16 bytes of a plain address; undefined for anything else (a zone, brackets, spaces). */
export function parseAddress(text: string): Uint8Array | undefined {
  if (text.includes('%')) return undefined;
  return isIPv4(text) || isIPv6(text) ? ipToBytes(text) : undefined;
}

/** Does `outer` contain all of `inner`? */
export function netContains(outer: Net, inner: Net): boolean {
  return outer.bytes.length === inner.bytes.length && outer.bits <= inner.bits && samePrefix(outer.bytes, inner.bytes, outer.bits);
}

export function netsOverlap(a: Net, b: Net): boolean {
  return a.bytes.length === b.bytes.length && samePrefix(a.bytes, b.bytes, Math.min(a.bits, b.bits));
}

/** Are any bits after the prefix set ("10.96.0.1/16")? */
export function hostBitsSet(n: Net): boolean {
  return !hostBitsZero(n.bytes, n.bits);
}
