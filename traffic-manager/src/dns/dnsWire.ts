/**
 * The few DNS wire-format operations the manager needs to ask the cluster DNS a question and hand
 * the answer on as structured records: encode a query for any numeric type, and parse a response
 * into (rcode, answer records) with compressed names expanded. Pure: buffers in, values out.
 *
 * Hand-written rather than dns-packet because the answer must keep every type, including ones
 * dns-packet decodes into objects or does not know, as exact RDATA; the tests check this codec
 * against dns-packet.
 */
import type { DNSRecord } from '../../../protocol/src/gen/telepath/manager/v1/manager.js';

export const QTYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, DNAME: 39, OPT: 41 } as const;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;
const CLASS_IN = 1;
const FLAG_QR = 0x8000;
const FLAG_RD = 0x0100;
const FLAG_TC = 0x0200;

export class DnsWireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DnsWireError';
  }
}

export interface QueryOptions {
  /** Advertise this EDNS0 UDP payload size (an OPT record); omit for plain DNS. */
  udpPayloadSize?: number;
}

/** A recursive query for `name` (no trailing dot needed) of type `qtype`. */
export function encodeQuery(id: number, name: string, qtype: number, options: QueryOptions = {}): Buffer {
  const qname = encodeName(name);
  const opt = options.udpPayloadSize ? 11 : 0;
  const out = Buffer.alloc(12 + qname.length + 4 + opt);
  out.writeUInt16BE(id & 0xffff, 0);
  out.writeUInt16BE(FLAG_RD, 2);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(opt ? 1 : 0, 10);
  let pos = 12;
  pos += qname.copy(out, pos);
  out.writeUInt16BE(qtype, pos);
  out.writeUInt16BE(CLASS_IN, pos + 2);
  pos += 4;
  if (options.udpPayloadSize) {
    // OPT pseudo-record: root owner, type 41, class = payload size, ttl 0, no options.
    out[pos] = 0;
    out.writeUInt16BE(QTYPE.OPT, pos + 1);
    out.writeUInt16BE(options.udpPayloadSize, pos + 3);
  }
  return out;
}

/** Wire form of a name: length-prefixed labels, uncompressed. Throws for an invalid name. */
export function encodeName(name: string): Buffer {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  if (trimmed === '') return Buffer.from([0]);
  const parts: Buffer[] = [];
  for (const label of trimmed.split('.')) {
    const bytes = Buffer.from(label, 'utf8');
    if (bytes.length === 0) throw new DnsWireError(`empty label in ${JSON.stringify(name)}`);
    if (bytes.length > 63) throw new DnsWireError(`label longer than 63 bytes in ${JSON.stringify(name)}`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  const out = Buffer.concat(parts);
  if (out.length > 255) throw new DnsWireError(`name longer than 255 bytes: ${JSON.stringify(name)}`);
  return out;
}

export interface DnsResponse {
  id: number;
  rcode: number;
  truncated: boolean;
  questions: { name: string; type: number }[];
  answers: DNSRecord[];
}

/** Parses a response; records of classes other than IN are skipped. Throws DnsWireError. */
export function parseResponse(msg: Uint8Array): DnsResponse {
  const buf = Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength);
  if (buf.length < 12) throw new DnsWireError('message shorter than a DNS header');
  const flags = buf.readUInt16BE(2);
  if (!(flags & FLAG_QR)) throw new DnsWireError('not a response');
  const qd = buf.readUInt16BE(4);
  const an = buf.readUInt16BE(6);
  let pos = 12;
  const questions: DnsResponse['questions'] = [];
  for (let i = 0; i < qd; i++) {
    const n = readName(buf, pos);
    pos = n.end;
    need(buf, pos, 4);
    questions.push({ name: n.name, type: buf.readUInt16BE(pos) });
    pos += 4;
  }
  const answers: DNSRecord[] = [];
  for (let i = 0; i < an; i++) {
    const owner = readName(buf, pos);
    pos = owner.end;
    need(buf, pos, 10);
    const type = buf.readUInt16BE(pos);
    const klass = buf.readUInt16BE(pos + 2);
    const ttl = buf.readUInt32BE(pos + 4);
    const rdlength = buf.readUInt16BE(pos + 8);
    pos += 10;
    need(buf, pos, rdlength);
    if (klass === CLASS_IN) answers.push({ name: owner.name, type, ttl, data: parseRdata(buf, type, pos, rdlength) });
    pos += rdlength;
  }
  return { id: buf.readUInt16BE(0), rcode: flags & 0x0f, truncated: (flags & FLAG_TC) !== 0, questions, answers };
}

function parseRdata(buf: Buffer, type: number, start: number, length: number): DNSRecord['data'] {
  const end = start + length;
  const rdata = buf.subarray(start, end);
  switch (type) {
    case QTYPE.A:
    case QTYPE.AAAA:
      if (length !== (type === QTYPE.A ? 4 : 16)) throw new DnsWireError(`bad ${type === QTYPE.A ? 'A' : 'AAAA'} length ${length}`);
      return { $case: 'ip', value: Uint8Array.from(rdata) };
    case QTYPE.CNAME:
    case QTYPE.PTR:
    case QTYPE.NS:
    case QTYPE.DNAME:
      return { $case: 'target', value: readName(buf, start, end).name };
    case QTYPE.SRV: {
      need(buf, start, 6);
      const target = readName(buf, start + 6, end).name;
      return {
        $case: 'srv',
        value: { priority: buf.readUInt16BE(start), weight: buf.readUInt16BE(start + 2), port: buf.readUInt16BE(start + 4), target },
      };
    }
    case QTYPE.MX: {
      need(buf, start, 2);
      return { $case: 'mx', value: { preference: buf.readUInt16BE(start), exchange: readName(buf, start + 2, end).name } };
    }
    case QTYPE.TXT: {
      const strings: Uint8Array[] = [];
      for (let p = start; p < end;) {
        const len = buf[p]!;
        if (p + 1 + len > end) throw new DnsWireError('TXT string runs past its record');
        strings.push(Uint8Array.from(buf.subarray(p + 1, p + 1 + len)));
        p += 1 + len;
      }
      return { $case: 'txt', value: { strings } };
    }
    case QTYPE.SOA: {
      // Its two names may be compressed; the protocol carries RDATA self-contained, so expand them.
      const mname = readName(buf, start, end);
      const rname = readName(buf, mname.end, end);
      if (end - rname.end !== 20) throw new DnsWireError('bad SOA length');
      return { $case: 'rdata', value: Uint8Array.from(Buffer.concat([encodeName(mname.name), encodeName(rname.name), buf.subarray(rname.end, end)])) };
    }
    default:
      return { $case: 'rdata', value: Uint8Array.from(rdata) };
  }
}

/**
 * Reads a possibly compressed name at `offset`; `end` is where the name must finish (the end of
 * its record's RDATA), if known. Returns the text (no trailing dot; "" for the root) and the
 * offset after the name in place.
 */
export function readName(buf: Buffer, offset: number, limit = buf.length): { name: string; end: number } {
  const labels: string[] = [];
  let pos = offset;
  let end = -1;
  let jumps = 0;
  let length = 0;
  for (;;) {
    need(buf, pos, 1);
    const len = buf[pos]!;
    if (len === 0) {
      if (end < 0) end = pos + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      need(buf, pos, 2);
      if (end < 0) end = pos + 2;
      // A pointer may only point backwards; that, and the jump limit, rule out loops.
      const target = ((len & 0x3f) << 8) | buf[pos + 1]!;
      if (target >= pos || ++jumps > 127) throw new DnsWireError('bad name compression pointer');
      pos = target;
      continue;
    }
    if (len & 0xc0) throw new DnsWireError('unsupported label type');
    need(buf, pos + 1, len);
    labels.push(labelText(buf.subarray(pos + 1, pos + 1 + len)));
    length += len + 1;
    if (length > 255) throw new DnsWireError('name longer than 255 bytes');
    pos += 1 + len;
  }
  if (end > limit) throw new DnsWireError('name runs past its record');
  return { name: labels.join('.'), end };
}

/** Printable ASCII as is; '.', '\' and other bytes escaped as in zone files (\DDD). */
function labelText(bytes: Buffer): string {
  let s = '';
  for (const b of bytes) {
    if (b === 0x2e || b === 0x5c) s += `\\${String.fromCharCode(b)}`;
    else if (b > 0x20 && b < 0x7f) s += String.fromCharCode(b);
    else s += `\\${b.toString().padStart(3, '0')}`;
  }
  return s;
}

function need(buf: Buffer, pos: number, n: number): void {
  if (pos + n > buf.length) throw new DnsWireError('message truncated');
}

/** True when `response` answers the question of `name`/`qtype` (names compare case-insensitively). */
export function answersQuestion(response: DnsResponse, name: string, qtype: number): boolean {
  const q = response.questions[0];
  return response.questions.length === 1 && q !== undefined && q.type === qtype && sameName(q.name, name);
}

export function sameName(a: string, b: string): boolean {
  return a.replace(/\.$/, '').toLowerCase() === b.replace(/\.$/, '').toLowerCase();
}
