/**
 * IPv6 headers (RFC 8200) with their extension-header chain walked to the upper layer. Fragments
 * are refused for the same reason as in IPv4; an atomic fragment (offset 0, no more fragments)
 * is a whole packet and passes.
 */
import type { ParseFailure } from './types.js';

export const IPV6_HEADER_LENGTH = 40;
export const IPV6_DEFAULT_HOP_LIMIT = 64;

/** Next-header values that are extension headers in the common "next, length in 8-octet units
 * beyond the first" format (RFC 8200 §4, RFC 6564). */
const GENERIC_EXTENSIONS = new Set([0 /* hop-by-hop */, 43 /* routing */, 60 /* destination */, 135 /* mobility */, 139 /* HIP */, 140 /* shim6 */, 253, 254]);
const FRAGMENT = 44;
const AUTHENTICATION = 51;
const ESP = 50;
const NO_NEXT_HEADER = 59;
/** Hostile chains are bounded by the packet length anyway; this just bounds the work. */
const MAX_EXTENSION_HEADERS = 16;

export interface Ipv6Packet {
  readonly ok: true;
  readonly version: 6;
  /** Bytes before the upper-layer header: 40 plus every extension header. */
  readonly headerLength: number;
  readonly trafficClass: number;
  readonly flowLabel: number;
  readonly payloadLength: number;
  readonly hopLimit: number;
  /** The Next Header field of the fixed header (an extension header or the upper layer). */
  readonly nextHeader: number;
  /** The upper-layer protocol at the end of the chain (6 TCP, 17 UDP, 58 ICMPv6). */
  readonly protocol: number;
  readonly src: Buffer;
  readonly dst: Buffer;
  /** The upper-layer bytes (a view). */
  readonly payload: Buffer;
}

function fail(reason: string): ParseFailure {
  return { ok: false, reason };
}

export function parseIpv6(packet: Buffer): Ipv6Packet | ParseFailure {
  if (packet.length < IPV6_HEADER_LENGTH) return fail('ipv6: truncated header');
  const word0 = packet.readUInt32BE(0);
  if (word0 >>> 28 !== 6) return fail('ipv6: not version 6');
  const payloadLength = packet.readUInt16BE(4);
  const end = IPV6_HEADER_LENGTH + payloadLength;
  if (end > packet.length) return fail('ipv6: truncated packet');
  const nextHeader = packet[6]!;
  if (payloadLength === 0 && nextHeader === 0) return fail('ipv6: jumbogram');
  let protocol = nextHeader;
  let offset = IPV6_HEADER_LENGTH;
  for (let count = 0; ; count++) {
    if (protocol === NO_NEXT_HEADER) return fail('ipv6: no next header');
    if (protocol === ESP) return fail('ipv6: encrypted payload');
    const generic = GENERIC_EXTENSIONS.has(protocol);
    if (!generic && protocol !== FRAGMENT && protocol !== AUTHENTICATION) break;
    if (count >= MAX_EXTENSION_HEADERS) return fail('ipv6: too many extension headers');
    if (offset + 8 > end) return fail('ipv6: truncated extension header');
    const next = packet[offset]!;
    let length: number;
    if (protocol === FRAGMENT) {
      const offsetFlags = packet.readUInt16BE(offset + 2);
      if ((offsetFlags & 0xfff9) !== 0) return fail('ipv6: fragment');
      length = 8;
    } else if (protocol === AUTHENTICATION) {
      length = (packet[offset + 1]! + 2) * 4;
    } else {
      length = (packet[offset + 1]! + 1) * 8;
    }
    if (offset + length > end) return fail('ipv6: truncated extension header');
    offset += length;
    protocol = next;
  }
  return {
    ok: true,
    version: 6,
    headerLength: offset,
    trafficClass: (word0 >>> 20) & 0xff,
    flowLabel: word0 & 0xfffff,
    payloadLength,
    hopLimit: packet[7]!,
    nextHeader,
    protocol,
    src: packet.subarray(8, 24),
    dst: packet.subarray(24, 40),
    payload: packet.subarray(offset, end),
  };
}

export interface Ipv6HeaderFields {
  payloadLength: number;
  nextHeader: number;
  src: Uint8Array;
  dst: Uint8Array;
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
}

/** Writes the 40-byte fixed header at `offset` (IPv6 has no header checksum). */
export function writeIpv6Header(buf: Buffer, offset: number, h: Ipv6HeaderFields): void {
  const word0 = (6 << 28) | ((h.trafficClass ?? 0) << 20) | ((h.flowLabel ?? 0) & 0xfffff);
  buf.writeUInt32BE(word0 >>> 0, offset);
  buf.writeUInt16BE(h.payloadLength, offset + 4);
  buf[offset + 6] = h.nextHeader;
  buf[offset + 7] = h.hopLimit ?? IPV6_DEFAULT_HOP_LIMIT;
  buf.set(h.src, offset + 8);
  buf.set(h.dst, offset + 24);
}
