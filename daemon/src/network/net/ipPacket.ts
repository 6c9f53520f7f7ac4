/** One entry point for whatever the TUN device hands over: IPv4 or IPv6 by the version nibble. */
import { parseIpv4, type Ipv4Packet } from './ipv4.js';
import { parseIpv6, type Ipv6Packet } from './ipv6.js';
import type { ParseFailure } from './types.js';

export type IpPacket = Ipv4Packet | Ipv6Packet;

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMPV6 = 58;

export function parseIpPacket(packet: Buffer, verifyChecksum = true): IpPacket | ParseFailure {
  if (packet.length === 0) return { ok: false, reason: 'ip: empty packet' };
  switch (packet[0]! >> 4) {
    case 4:
      return parseIpv4(packet, verifyChecksum);
    case 6:
      return parseIpv6(packet);
    default:
      return { ok: false, reason: 'ip: unknown version' };
  }
}

/** Addresses the stack must never answer for or about: multicast, broadcast, unspecified. A flow
 * to them makes no sense, and ICMP errors about them are forbidden (RFC 1122 §3.2.2, RFC 4443 §2.4). */
export function isSpecialAddress(addr: Uint8Array): boolean {
  if (addr.length === 4) {
    const a = addr[0]!;
    if (a >= 224) return true; // multicast, reserved, limited broadcast
    return a === 0 && addr[1] === 0 && addr[2] === 0 && addr[3] === 0;
  }
  if (addr[0] === 0xff) return true; // multicast
  for (let i = 0; i < 16; i++) if (addr[i] !== 0) return false;
  return true; // unspecified
}
