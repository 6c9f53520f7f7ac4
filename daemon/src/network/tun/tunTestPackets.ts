/**
 * Hand-built IPv4 packets for the TUN tests and benchmark: just enough to check what the kernel
 * hands over and to write packets it accepts (it silently drops bad checksums). The daemon's real
 * packet code lives with its TCP/UDP stack; this is deliberately independent of it.
 */

export const IPPROTO_ICMP = 1;
export const IPPROTO_UDP = 17;

/** The Internet checksum (RFC 1071) of `data`, plus an optional partial sum (a pseudo-header). */
export function inetChecksum(data: Uint8Array, initial = 0): number {
  let sum = initial;
  const n = data.length & ~1;
  for (let i = 0; i < n; i += 2) sum += (data[i] << 8) | data[i + 1];
  if (data.length & 1) sum += data[data.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export function ipv4Bytes(address: string): Buffer {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`not an IPv4 address: ${address}`);
  }
  return Buffer.from(parts);
}

export function ipv4String(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 4)).join('.');
}

export interface Ipv4Fields {
  src: string;
  dst: string;
  protocol: number;
  ttl?: number;
  id?: number;
}

/** An IPv4 packet with a 20-byte header (DF set, header checksum filled in) around `payload`. */
export function ipv4Packet(f: Ipv4Fields, payload: Uint8Array): Buffer {
  const p = Buffer.alloc(20 + payload.length);
  p[0] = 0x45;
  p.writeUInt16BE(p.length, 2);
  p.writeUInt16BE(f.id ?? 0, 4);
  p.writeUInt16BE(0x4000, 6);
  p[8] = f.ttl ?? 64;
  p[9] = f.protocol;
  ipv4Bytes(f.src).copy(p, 12);
  ipv4Bytes(f.dst).copy(p, 16);
  p.writeUInt16BE(inetChecksum(p.subarray(0, 20)), 10);
  p.set(payload, 20);
  return p;
}

/** The sum of the UDP/TCP pseudo-header, to start a transport checksum with. */
export function pseudoHeaderSum(src: string, dst: string, protocol: number, length: number): number {
  const ph = Buffer.alloc(12);
  ipv4Bytes(src).copy(ph, 0);
  ipv4Bytes(dst).copy(ph, 4);
  ph[9] = protocol;
  ph.writeUInt16BE(length, 10);
  return ~inetChecksum(ph) & 0xffff;
}

export interface UdpFields {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
}

export function udpPacket(f: UdpFields, payload: Uint8Array): Buffer {
  const u = Buffer.alloc(8 + payload.length);
  u.writeUInt16BE(f.srcPort, 0);
  u.writeUInt16BE(f.dstPort, 2);
  u.writeUInt16BE(u.length, 4);
  u.set(payload, 8);
  const sum = inetChecksum(u, pseudoHeaderSum(f.src, f.dst, IPPROTO_UDP, u.length));
  u.writeUInt16BE(sum === 0 ? 0xffff : sum, 6);
  return ipv4Packet({ src: f.src, dst: f.dst, protocol: IPPROTO_UDP }, u);
}

/** ICMP echo request (type 8) or reply (type 0). */
export function icmpEchoPacket(
  f: { src: string; dst: string; type: 0 | 8; id: number; seq: number },
  payload: Uint8Array,
): Buffer {
  const m = Buffer.alloc(8 + payload.length);
  m[0] = f.type;
  m.writeUInt16BE(f.id, 4);
  m.writeUInt16BE(f.seq, 6);
  m.set(payload, 8);
  m.writeUInt16BE(inetChecksum(m), 2);
  return ipv4Packet({ src: f.src, dst: f.dst, protocol: IPPROTO_ICMP }, m);
}

export interface ParsedIpv4 {
  version: number;
  headerLength: number;
  totalLength: number;
  ttl: number;
  protocol: number;
  src: string;
  dst: string;
  headerChecksumOk: boolean;
  payload: Buffer;
}

/** Parses an IPv4 packet; undefined for anything else (the kernel's IPv6 router solicitations). */
export function parseIpv4(p: Buffer): ParsedIpv4 | undefined {
  if (p.length < 20 || p[0] >> 4 !== 4) return undefined;
  const headerLength = (p[0] & 0x0f) * 4;
  return {
    version: 4,
    headerLength,
    totalLength: p.readUInt16BE(2),
    ttl: p[8],
    protocol: p[9],
    src: ipv4String(p.subarray(12)),
    dst: ipv4String(p.subarray(16)),
    headerChecksumOk: inetChecksum(p.subarray(0, headerLength)) === 0,
    payload: p.subarray(headerLength),
  };
}

export interface ParsedUdp {
  srcPort: number;
  dstPort: number;
  length: number;
  checksumOk: boolean;
  data: Buffer;
}

export function parseUdp(ip: ParsedIpv4): ParsedUdp | undefined {
  if (ip.protocol !== IPPROTO_UDP || ip.payload.length < 8) return undefined;
  const u = ip.payload;
  const stored = u.readUInt16BE(6);
  return {
    srcPort: u.readUInt16BE(0),
    dstPort: u.readUInt16BE(2),
    length: u.readUInt16BE(4),
    checksumOk: stored !== 0 && inetChecksum(u, pseudoHeaderSum(ip.src, ip.dst, IPPROTO_UDP, u.length)) === 0,
    data: u.subarray(8),
  };
}
