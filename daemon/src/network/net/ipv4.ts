/**
 * IPv4 headers (RFC 791). Options are skipped; fragments are refused because the stack only
 * terminates TCP and UDP from local programs, whose kernel never fragments TCP and fragments UDP
 * only above the device MTU — reassembly is not worth its memory risk here.
 */
import { internetChecksum } from './checksum.js';
import type { ParseFailure } from './types.js';

export const IPV4_HEADER_LENGTH = 20;
export const IPV4_DEFAULT_TTL = 64;

export interface Ipv4Packet {
  readonly ok: true;
  readonly version: 4;
  /** Bytes before the upper-layer header (20 plus options). */
  readonly headerLength: number;
  readonly totalLength: number;
  readonly tos: number;
  readonly id: number;
  readonly dontFragment: boolean;
  readonly hopLimit: number;
  /** The upper-layer protocol (6 TCP, 17 UDP, 1 ICMP). */
  readonly protocol: number;
  /** Views into the packet. */
  readonly src: Buffer;
  readonly dst: Buffer;
  /** The upper-layer bytes, trimmed to the total length (a view). */
  readonly payload: Buffer;
}

function fail(reason: string): ParseFailure {
  return { ok: false, reason };
}

export function parseIpv4(packet: Buffer, verifyChecksum = true): Ipv4Packet | ParseFailure {
  if (packet.length < IPV4_HEADER_LENGTH) return fail('ipv4: truncated header');
  const vihl = packet[0]!;
  if (vihl >> 4 !== 4) return fail('ipv4: not version 4');
  const headerLength = (vihl & 0x0f) * 4;
  if (headerLength < IPV4_HEADER_LENGTH) return fail('ipv4: header length below 20');
  if (headerLength > packet.length) return fail('ipv4: truncated options');
  const totalLength = packet.readUInt16BE(2);
  if (totalLength < headerLength) return fail('ipv4: total length below header length');
  if (totalLength > packet.length) return fail('ipv4: truncated packet');
  if (verifyChecksum && internetChecksum(packet, 0, headerLength) !== 0) return fail('ipv4: bad header checksum');
  const flagsFragment = packet.readUInt16BE(6);
  if ((flagsFragment & 0x3fff) !== 0) return fail('ipv4: fragment');
  return {
    ok: true,
    version: 4,
    headerLength,
    totalLength,
    tos: packet[1]!,
    id: packet.readUInt16BE(4),
    dontFragment: (flagsFragment & 0x4000) !== 0,
    hopLimit: packet[8]!,
    protocol: packet[9]!,
    src: packet.subarray(12, 16),
    dst: packet.subarray(16, 20),
    payload: packet.subarray(headerLength, totalLength),
  };
}

export interface Ipv4HeaderFields {
  totalLength: number;
  id: number;
  protocol: number;
  src: Uint8Array;
  dst: Uint8Array;
  ttl?: number;
  tos?: number;
  dontFragment?: boolean;
}

/** Writes a 20-byte header (no options) at `offset`, checksum included. */
export function writeIpv4Header(buf: Buffer, offset: number, h: Ipv4HeaderFields): void {
  buf[offset] = 0x45;
  buf[offset + 1] = h.tos ?? 0;
  buf.writeUInt16BE(h.totalLength, offset + 2);
  buf.writeUInt16BE(h.id & 0xffff, offset + 4);
  buf.writeUInt16BE(h.dontFragment === false ? 0 : 0x4000, offset + 6);
  buf[offset + 8] = h.ttl ?? IPV4_DEFAULT_TTL;
  buf[offset + 9] = h.protocol;
  buf[offset + 10] = 0;
  buf[offset + 11] = 0;
  buf.set(h.src, offset + 12);
  buf.set(h.dst, offset + 16);
  buf.writeUInt16BE(internetChecksum(buf, offset, offset + IPV4_HEADER_LENGTH), offset + 10);
}
