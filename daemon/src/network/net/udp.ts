/** UDP headers (RFC 768). */
import type { ParseFailure } from './types.js';

export const UDP_HEADER_LENGTH = 8;

export interface UdpDatagram {
  readonly ok: true;
  readonly srcPort: number;
  readonly dstPort: number;
  /** The length field: header plus data. */
  readonly length: number;
  /** 0 means "no checksum" (IPv4 only). */
  readonly checksum: number;
  /** The data, trimmed to the length field (a view). */
  readonly payload: Buffer;
}

export function parseUdp(segment: Buffer): UdpDatagram | ParseFailure {
  if (segment.length < UDP_HEADER_LENGTH) return { ok: false, reason: 'udp: truncated header' };
  const length = segment.readUInt16BE(4);
  if (length < UDP_HEADER_LENGTH) return { ok: false, reason: 'udp: length below 8' };
  if (length > segment.length) return { ok: false, reason: 'udp: truncated datagram' };
  return {
    ok: true,
    srcPort: segment.readUInt16BE(0),
    dstPort: segment.readUInt16BE(2),
    length,
    checksum: segment.readUInt16BE(6),
    payload: segment.subarray(UDP_HEADER_LENGTH, length),
  };
}

/** Writes the header at `offset` with a zero checksum. */
export function writeUdpHeader(buf: Buffer, offset: number, srcPort: number, dstPort: number, length: number): void {
  buf.writeUInt16BE(srcPort, offset);
  buf.writeUInt16BE(dstPort, offset + 2);
  buf.writeUInt16BE(length, offset + 4);
  buf[offset + 6] = 0;
  buf[offset + 7] = 0;
}
