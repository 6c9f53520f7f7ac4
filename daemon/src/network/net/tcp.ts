/**
 * TCP headers and options (RFC 9293, RFC 7323 window scale and timestamps, RFC 2018 SACK).
 * Malformed options end option parsing instead of failing the segment, as Linux does: a peer
 * with an odd option still gets its data through, it just loses the option.
 */
import type { ParseFailure } from './types.js';

export const TCP_HEADER_LENGTH = 20;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;
/** The nonce-sum bit (RFC 3540, historic), carried in the data-offset byte. */
export const TCP_NS = 0x100;

const OPT_EOL = 0;
const OPT_NOP = 1;
const OPT_MSS = 2;
const OPT_WSCALE = 3;
const OPT_SACK_PERMITTED = 4;
const OPT_SACK = 5;
const OPT_TIMESTAMP = 8;

/** RFC 7323 §2.3: larger shifts are treated as 14. */
export const MAX_WINDOW_SCALE = 14;

export interface SackBlock {
  readonly left: number;
  readonly right: number;
}

/** Options of one segment; absent ones are undefined. Timestamps are flattened (tsValue/tsEcho)
 * because they ride on nearly every segment. */
export interface TcpOptions {
  mss?: number;
  windowScale?: number;
  sackPermitted?: boolean;
  tsValue?: number;
  tsEcho?: number;
  sack?: SackBlock[];
}

export interface TcpSegment {
  readonly ok: true;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly ack: number;
  /** TCP_* bits, TCP_NS included. */
  readonly flags: number;
  /** The raw, unscaled window field. */
  readonly window: number;
  readonly checksum: number;
  readonly urgentPointer: number;
  readonly headerLength: number;
  readonly options: TcpOptions;
  /** The data (a view into the packet). */
  readonly payload: Buffer;
}

/** Fields of a segment to write; the checksum is filled in by whoever knows the pseudo-header. */
export interface TcpHeaderFields {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  urgentPointer?: number;
  options?: TcpOptions | undefined;
}

const NO_OPTIONS: TcpOptions = Object.freeze({});

export function parseTcp(segment: Buffer): TcpSegment | ParseFailure {
  if (segment.length < TCP_HEADER_LENGTH) return { ok: false, reason: 'tcp: truncated header' };
  const offsetByte = segment[12]!;
  const headerLength = (offsetByte >> 4) * 4;
  if (headerLength < TCP_HEADER_LENGTH) return { ok: false, reason: 'tcp: data offset below 5' };
  if (headerLength > segment.length) return { ok: false, reason: 'tcp: truncated options' };
  return {
    ok: true,
    srcPort: segment.readUInt16BE(0),
    dstPort: segment.readUInt16BE(2),
    seq: segment.readUInt32BE(4),
    ack: segment.readUInt32BE(8),
    flags: segment[13]! | ((offsetByte & 1) << 8),
    window: segment.readUInt16BE(14),
    checksum: segment.readUInt16BE(16),
    urgentPointer: segment.readUInt16BE(18),
    headerLength,
    options: headerLength === TCP_HEADER_LENGTH ? NO_OPTIONS : parseOptions(segment, TCP_HEADER_LENGTH, headerLength),
    payload: segment.subarray(headerLength),
  };
}

function parseOptions(buf: Buffer, start: number, end: number): TcpOptions {
  const o: TcpOptions = {};
  let i = start;
  while (i < end) {
    const kind = buf[i]!;
    if (kind === OPT_EOL) break;
    if (kind === OPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) break;
    const len = buf[i + 1]!;
    if (len < 2 || i + len > end) break;
    switch (kind) {
      case OPT_MSS:
        if (len === 4) o.mss = buf.readUInt16BE(i + 2);
        break;
      case OPT_WSCALE:
        if (len === 3) o.windowScale = Math.min(buf[i + 2]!, MAX_WINDOW_SCALE);
        break;
      case OPT_SACK_PERMITTED:
        if (len === 2) o.sackPermitted = true;
        break;
      case OPT_TIMESTAMP:
        if (len === 10) {
          o.tsValue = buf.readUInt32BE(i + 2);
          o.tsEcho = buf.readUInt32BE(i + 6);
        }
        break;
      case OPT_SACK:
        if (len >= 10 && (len - 2) % 8 === 0) {
          const blocks: SackBlock[] = [];
          for (let b = i + 2; b < i + len; b += 8) blocks.push({ left: buf.readUInt32BE(b), right: buf.readUInt32BE(b + 4) });
          o.sack = blocks;
        }
        break;
      default:
        break; // unknown options are skipped by their length
    }
    i += len;
  }
  return o;
}

/** Bytes the options take on the wire, padded to a multiple of 4 (see writeOptions for the layout). */
export function tcpOptionsLength(o: TcpOptions | undefined): number {
  if (!o) return 0;
  let n = 0;
  if (o.mss !== undefined) n += 4;
  if (o.tsValue !== undefined) n += 12; // SACK-permitted shares the timestamp's padding
  else if (o.sackPermitted) n += 4;
  if (o.windowScale !== undefined) n += 4;
  if (o.sack && o.sack.length > 0) n += 4 + 8 * Math.min(o.sack.length, maxSackBlocks(o));
  return n;
}

/** Option space is 40 bytes; SACK blocks get what the others leave. */
function maxSackBlocks(o: TcpOptions): number {
  const rest = 40 - (o.mss !== undefined ? 4 : 0) - (o.tsValue !== undefined ? 12 : o.sackPermitted ? 4 : 0) - (o.windowScale !== undefined ? 4 : 0);
  return Math.max(0, Math.floor((rest - 4) / 8));
}

/** Writes the header at `offset` with a zero checksum; returns the header length. */
export function writeTcpHeader(buf: Buffer, offset: number, h: TcpHeaderFields): number {
  const headerLength = TCP_HEADER_LENGTH + tcpOptionsLength(h.options);
  buf.writeUInt16BE(h.srcPort, offset);
  buf.writeUInt16BE(h.dstPort, offset + 2);
  buf.writeUInt32BE(h.seq >>> 0, offset + 4);
  buf.writeUInt32BE(h.ack >>> 0, offset + 8);
  buf[offset + 12] = ((headerLength >> 2) << 4) | ((h.flags >> 8) & 1);
  buf[offset + 13] = h.flags & 0xff;
  buf.writeUInt16BE(h.window, offset + 14);
  buf[offset + 16] = 0;
  buf[offset + 17] = 0;
  buf.writeUInt16BE(h.urgentPointer ?? 0, offset + 18);
  if (h.options) writeOptions(buf, offset + TCP_HEADER_LENGTH, h.options);
  return headerLength;
}

/** Layout (as Linux writes it): MSS; SACK-permitted + timestamp, or NOP NOP + timestamp, or
 * NOP NOP + SACK-permitted; NOP + window scale; NOP NOP + SACK blocks. Each piece is 4-aligned. */
function writeOptions(buf: Buffer, at: number, o: TcpOptions): void {
  if (o.mss !== undefined) {
    buf[at] = OPT_MSS;
    buf[at + 1] = 4;
    buf.writeUInt16BE(o.mss, at + 2);
    at += 4;
  }
  if (o.tsValue !== undefined) {
    if (o.sackPermitted) {
      buf[at] = OPT_SACK_PERMITTED;
      buf[at + 1] = 2;
    } else {
      buf[at] = OPT_NOP;
      buf[at + 1] = OPT_NOP;
    }
    buf[at + 2] = OPT_TIMESTAMP;
    buf[at + 3] = 10;
    buf.writeUInt32BE(o.tsValue >>> 0, at + 4);
    buf.writeUInt32BE((o.tsEcho ?? 0) >>> 0, at + 8);
    at += 12;
  } else if (o.sackPermitted) {
    buf[at] = OPT_NOP;
    buf[at + 1] = OPT_NOP;
    buf[at + 2] = OPT_SACK_PERMITTED;
    buf[at + 3] = 2;
    at += 4;
  }
  if (o.windowScale !== undefined) {
    buf[at] = OPT_NOP;
    buf[at + 1] = OPT_WSCALE;
    buf[at + 2] = 3;
    buf[at + 3] = o.windowScale;
    at += 4;
  }
  if (o.sack && o.sack.length > 0) {
    const n = Math.min(o.sack.length, maxSackBlocks(o));
    buf[at] = OPT_NOP;
    buf[at + 1] = OPT_NOP;
    buf[at + 2] = OPT_SACK;
    buf[at + 3] = 2 + 8 * n;
    at += 4;
    for (let i = 0; i < n; i++) {
      buf.writeUInt32BE(o.sack[i]!.left >>> 0, at);
      buf.writeUInt32BE(o.sack[i]!.right >>> 0, at + 4);
      at += 8;
    }
  }
}

const FLAG_NAMES: ReadonlyArray<[number, string]> = [
  [TCP_SYN, 'S'],
  [TCP_FIN, 'F'],
  [TCP_RST, 'R'],
  [TCP_PSH, 'P'],
  [TCP_ACK, '.'],
  [TCP_URG, 'U'],
  [TCP_ECE, 'E'],
  [TCP_CWR, 'W'],
];

/** tcpdump-style flags ("S.", "F.", "R") for logs. */
export function tcpFlagsToString(flags: number): string {
  let s = '';
  for (const [bit, name] of FLAG_NAMES) if (flags & bit) s += name;
  return s || 'none';
}
