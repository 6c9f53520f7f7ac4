/**
 * ICMP destination-unreachable errors (RFC 792, RFC 4443), the stack's way to say "nobody there"
 * for UDP (port unreachable) and for TCP connections whose remote dial found no route (host
 * unreachable): the local kernel turns them into ECONNREFUSED / EHOSTUNREACH at once.
 */
import { PacketWriter } from './packetWriter.js';
import type { ParseFailure } from './types.js';

export const ICMP_DEST_UNREACHABLE = 3;
export const ICMP_CODE_HOST_UNREACHABLE = 1;
export const ICMP_CODE_PORT_UNREACHABLE = 3;
export const ICMPV6_DEST_UNREACHABLE = 1;
export const ICMPV6_CODE_ADDRESS_UNREACHABLE = 3;
export const ICMPV6_CODE_PORT_UNREACHABLE = 4;

/** `port`: the address exists but nothing listens (UDP); `host`: the address cannot be reached. */
export type UnreachableKind = 'port' | 'host';

/** How much of the offending packet an error quotes: the whole error stays within 576 bytes
 * (IPv4, RFC 1812 §4.3.2.3) or 1280 bytes (IPv6, RFC 4443 §2.4). */
const MAX_QUOTE_V4 = 576 - 20 - 8;
const MAX_QUOTE_V6 = 1280 - 40 - 8;

/**
 * The error answering `offending` (an IP packet, or at least its header and first 8 upper-layer
 * bytes), sent from the address it was sent to. Undefined when `offending` is not an IP packet.
 */
export function buildDestinationUnreachable(offending: Uint8Array, kind: UnreachableKind): Buffer | undefined {
  const version = offending.length > 0 ? offending[0]! >> 4 : 0;
  if (version === 4 && offending.length >= 20) {
    const writer = new PacketWriter(offending.subarray(16, 20), offending.subarray(12, 16));
    const quote = offending.subarray(0, Math.min(offending.length, MAX_QUOTE_V4));
    const code = kind === 'port' ? ICMP_CODE_PORT_UNREACHABLE : ICMP_CODE_HOST_UNREACHABLE;
    return writer.icmp(ICMP_DEST_UNREACHABLE, code, 0, quote);
  }
  if (version === 6 && offending.length >= 40) {
    const writer = new PacketWriter(offending.subarray(24, 40), offending.subarray(8, 24));
    const quote = offending.subarray(0, Math.min(offending.length, MAX_QUOTE_V6));
    const code = kind === 'port' ? ICMPV6_CODE_PORT_UNREACHABLE : ICMPV6_CODE_ADDRESS_UNREACHABLE;
    return writer.icmp(ICMPV6_DEST_UNREACHABLE, code, 0, quote);
  }
  return undefined;
}

export interface IcmpMessage {
  readonly ok: true;
  readonly type: number;
  readonly code: number;
  readonly checksum: number;
  /** The 4 bytes after the checksum (unused, pointer, MTU, or echo id/sequence). */
  readonly rest: number;
  /** What follows: for errors, the quoted packet (a view). */
  readonly body: Buffer;
}

/** Parses an ICMP or ICMPv6 message (the layouts agree); checksums are the caller's business. */
export function parseIcmp(message: Buffer): IcmpMessage | ParseFailure {
  if (message.length < 8) return { ok: false, reason: 'icmp: truncated header' };
  return {
    ok: true,
    type: message[0]!,
    code: message[1]!,
    checksum: message.readUInt16BE(2),
    rest: message.readUInt32BE(4),
    body: message.subarray(8),
  };
}
