/**
 * DNS messages as the daemon's server reads and writes them. Pure: buffers in, buffers out.
 *
 * - `parseQuery` validates a client's message (with dns-packet, which rejects anything malformed)
 *   and keeps the question's raw bytes. Responses repeat those bytes exactly, because stub
 *   resolvers compare the question of a response with the one they sent, byte for byte or case
 *   insensitively, and a re-encoded name could differ (0x20 case randomisation, odd labels).
 * - `clusterResponse` turns the manager's structured records (LookupDNSResponse) into a response
 *   to the question the client asked. When the daemon asked the cluster under a longer name than
 *   the client sent (`echo` → `echo.samples.svc.cluster.local`), records owned by that longer name
 *   are given the client's name; the rest of a CNAME chain keeps the cluster's names. glibc and
 *   c-ares both accept this (they check that the chain starts at the name they asked and follow
 *   CNAMEs from there), and it is what a search-list expansion would have produced without the
 *   round trips. A synthesized CNAME `echo → echo.samples.svc…` would also work, but it makes
 *   every answer longer and shows a canonical name the user never typed.
 * - TTLs are capped (default 5 s): the workstation must see a rescheduled pod's new IP quickly,
 *   and the daemon's own cache absorbs the repeat traffic. Negative answers carry an SOA for the
 *   zone the cluster answers for, with the negative TTL as its minimum (RFC 2308), so caching
 *   stubs such as systemd-resolved keep an NXDOMAIN for those few seconds only.
 */
import dnsPacket from 'dns-packet';
import type { Answer, Packet } from 'dns-packet';
import type { DNSRecord, LookupDNSResponse } from '../../../../protocol/src/gen/telepath/manager/v1/manager.js';
import { ipFromBytes } from '../../../../protocol/src/ipAddress.js';

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export const QTYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, DNAME: 39, OPT: 41, ANY: 255 } as const;
export const CLASS_IN = 1;

const FLAG_QR = 0x8000;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;
const FLAG_RA = 0x0080;
const FLAG_CD = 0x0010;

/** What the server accepts over UDP (RFC 8020-era default that never fragments). */
export const EDNS_UDP_PAYLOAD_SIZE = 1232;

export interface DnsQuery {
  id: number;
  /** Header flags as received (RD and CD are echoed in the response). */
  flags: number;
  opcode: number;
  /** The question name as sent (case kept), without a trailing dot; `''` for the root. */
  name: string;
  qtype: number;
  qclass: number;
  /** The question section exactly as received: QNAME, QTYPE, QCLASS. */
  rawQuestion: Buffer;
  /** The client's EDNS0 UDP payload size, or undefined when it sent no OPT record. */
  ednsUdpSize: number | undefined;
}

export type ParsedQuery =
  | { ok: true; query: DnsQuery }
  /** `id` is set when the message had a header and was a query: answer it FORMERR. */
  | { ok: false; reason: string; id: number | undefined };

/** Validates a client's message. Never throws: the input comes from any local process. */
export function parseQuery(msg: Buffer): ParsedQuery {
  if (msg.length < 12) return { ok: false, reason: 'shorter than a DNS header', id: undefined };
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  if (flags & FLAG_QR) return { ok: false, reason: 'a response, not a query', id: undefined };
  const qdcount = msg.readUInt16BE(4);
  if (qdcount !== 1) return { ok: false, reason: `${qdcount} questions`, id };
  const q = readQuestion(msg, 12);
  if (!q) return { ok: false, reason: 'malformed question', id };
  let ednsUdpSize: number | undefined;
  try {
    const decoded = dnsPacket.decode(msg);
    for (const a of decoded.additionals ?? []) {
      if (a.type === 'OPT') ednsUdpSize = a.udpPayloadSize;
    }
  } catch (e) {
    return { ok: false, reason: `malformed message: ${e instanceof Error ? e.message : String(e)}`, id };
  }
  return {
    ok: true,
    query: {
      id,
      flags,
      opcode: (flags >> 11) & 0xf,
      name: q.name,
      qtype: q.qtype,
      qclass: q.qclass,
      rawQuestion: Buffer.from(msg.subarray(12, q.end)),
      ednsUdpSize,
    },
  };
}

/** Offset just past the first question of a message with one question; undefined if malformed. */
export function questionEnd(msg: Buffer): number | undefined {
  if (msg.length < 12 || msg.readUInt16BE(4) !== 1) return undefined;
  return readQuestion(msg, 12)?.end;
}

interface RawQuestion {
  name: string;
  qtype: number;
  qclass: number;
  end: number;
}

/** The question at `offset`, uncompressed as every real client sends it; undefined if malformed. */
function readQuestion(msg: Buffer, offset: number): RawQuestion | undefined {
  const labels: string[] = [];
  let pos = offset;
  for (;;) {
    if (pos >= msg.length) return undefined;
    const len = msg[pos]!;
    pos += 1;
    if (len === 0) break;
    // A pointer in the first question could only point into the header.
    if (len > 63 || pos + len > msg.length) return undefined;
    labels.push(msg.toString('latin1', pos, pos + len));
    pos += len;
    if (pos - offset > 255) return undefined;
  }
  if (pos + 4 > msg.length) return undefined;
  return { name: labels.join('.'), qtype: msg.readUInt16BE(pos), qclass: msg.readUInt16BE(pos + 2), end: pos + 4 };
}

export interface ResponseParts {
  rcode: number;
  answers?: Answer[];
  authorities?: Answer[];
}

/**
 * A response to `query` with the client's own question bytes. Over UDP (`udp: true`) a response
 * larger than the client can take is cut to its header and question with TC set, so that the
 * client asks again over TCP.
 */
export function encodeResponse(query: DnsQuery, parts: ResponseParts, udp: boolean): Buffer {
  const flags = (query.flags & (FLAG_RD | FLAG_CD)) | FLAG_RA | (parts.rcode & 0xf);
  const additionals: Answer[] = query.ednsUdpSize === undefined ? [] : [optRecord()];
  const full = assemble(query, { flags, answers: parts.answers ?? [], authorities: parts.authorities ?? [], additionals });
  if (!udp || full.length <= udpLimit(query)) return full;
  return assemble(query, { flags: flags | FLAG_TC, answers: [], authorities: [], additionals });
}

/** An answer that carries only an rcode (FORMERR, SERVFAIL, NOTIMP, REFUSED). */
export function errorResponse(query: DnsQuery, rcode: number): Buffer {
  return encodeResponse(query, { rcode }, false);
}

/** FORMERR for a query whose question could not be read: header only (RFC 1035 allows it). */
export function formatErrorResponse(id: number): Buffer {
  const out = Buffer.alloc(12);
  out.writeUInt16BE(id, 0);
  out.writeUInt16BE(FLAG_QR | FLAG_RA | RCODE.FORMERR, 2);
  return out;
}

/** The most a client takes over UDP: 512 bytes, or what its OPT record says (RFC 6891). */
export function udpLimit(query: DnsQuery): number {
  if (query.ednsUdpSize === undefined) return 512;
  return Math.min(Math.max(query.ednsUdpSize, 512), 4096);
}

/**
 * A forwarded response that is too large for the client's UDP limit, cut to header + question
 * with TC set. Returns the response unchanged when it fits or cannot be read.
 */
export function fitForUdp(response: Buffer, query: DnsQuery): Buffer {
  if (response.length <= udpLimit(query) || response.length < 12) return response;
  const q = readQuestion(response, 12);
  const qdcount = response.readUInt16BE(4);
  const out = Buffer.alloc(12 + (q && qdcount === 1 ? q.end - 12 : 0));
  response.copy(out, 0, 0, 4);
  out.writeUInt16BE(response.readUInt16BE(2) | FLAG_TC, 2);
  if (q && qdcount === 1) {
    out.writeUInt16BE(1, 4);
    response.copy(out, 12, 12, q.end);
  }
  return out;
}

interface Sections {
  flags: number;
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
}

/** dns-packet writes the records (it never compresses, so nothing points into the question);
 * the client's question bytes are spliced in after the header. */
function assemble(query: DnsQuery, s: Sections): Buffer {
  const packet: Packet = {
    type: 'response',
    id: query.id,
    flags: s.flags | (query.opcode << 11),
    questions: [],
    answers: s.answers,
    authorities: s.authorities,
    additionals: s.additionals,
  };
  const body = dnsPacket.encode(packet);
  const out = Buffer.concat([body.subarray(0, 12), query.rawQuestion, body.subarray(12)]);
  out.writeUInt16BE(1, 4);
  return out;
}

function optRecord(): Answer {
  return { type: 'OPT', name: '.', udpPayloadSize: EDNS_UDP_PAYLOAD_SIZE, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] };
}

export interface ClusterResponseOptions {
  /** The fully-qualified name the cluster was asked (its records carry it as owner). */
  askedName: string;
  /** Upper bound for every TTL in the response, in seconds. */
  ttlCap: number;
  /** TTL and SOA minimum of negative answers. */
  negativeTtl: number;
  /** Owner of the SOA in negative answers; none when undefined. */
  zone: string | undefined;
  /** Records found by following the chain past the cluster (e.g. ExternalName to a public
   * host), appended after the cluster's records. */
  chased?: Answer[];
  /** Replaces the cluster's rcode, e.g. NXDOMAIN at the end of a chased chain. */
  rcode?: number;
}

/** The response to `query` built from the cluster's answer. */
export function clusterResponse(query: DnsQuery, cluster: LookupDNSResponse, options: ClusterResponseOptions, udp: boolean): Buffer {
  const rcode = options.rcode ?? cluster.rcode;
  const answers: Answer[] = [];
  for (const r of cluster.answers) {
    const owner = sameName(r.name, options.askedName) ? query.name : r.name;
    const a = recordToAnswer(r, owner, Math.min(r.ttl, options.ttlCap));
    if (a) answers.push(a);
  }
  answers.push(...(options.chased ?? []).map((a) => capTtl(a, options.ttlCap)));
  const negative = rcode === RCODE.NXDOMAIN || (rcode === RCODE.NOERROR && answers.length === 0);
  const authorities = negative && options.zone !== undefined ? [soaRecord(options.zone, options.negativeTtl)] : [];
  return encodeResponse(query, { rcode, answers, authorities }, udp);
}

/** NXDOMAIN for a cluster name, without asking anyone (e.g. a name the cluster cannot hold). */
export function negativeResponse(query: DnsQuery, rcode: number, zone: string | undefined, negativeTtl: number, udp: boolean): Buffer {
  return encodeResponse(query, { rcode, authorities: zone === undefined ? [] : [soaRecord(zone, negativeTtl)] }, udp);
}

function soaRecord(zone: string, negativeTtl: number): Answer {
  return {
    type: 'SOA',
    name: zone,
    ttl: negativeTtl,
    data: { mname: `ns.dns.${zone}`, rname: `hostmaster.${zone}`, serial: 1, refresh: 7200, retry: 1800, expire: 86400, minimum: negativeTtl },
  };
}

function capTtl(a: Answer, cap: number): Answer {
  if (a.type === 'OPT') return a;
  return { ...a, ttl: Math.min(a.ttl ?? 0, cap) };
}

const NAME_TYPES = new Map<number, 'CNAME' | 'NS' | 'PTR' | 'DNAME'>([
  [QTYPE.CNAME, 'CNAME'],
  [QTYPE.NS, 'NS'],
  [QTYPE.PTR, 'PTR'],
  [QTYPE.DNAME, 'DNAME'],
]);

/**
 * One structured record as a dns-packet answer; undefined when its data does not fit its type
 * (a record the daemon cannot write correctly is left out rather than sent wrong).
 */
export function recordToAnswer(r: DNSRecord, owner: string, ttl: number): Answer | undefined {
  const d = r.data;
  if (!d) return undefined;
  const base = { name: owner, ttl, class: 'IN' as const };
  switch (d.$case) {
    case 'ip':
      if (r.type === QTYPE.A && d.value.length === 4) return { ...base, type: 'A', data: ipFromBytes(d.value) };
      if (r.type === QTYPE.AAAA && d.value.length === 16) return { ...base, type: 'AAAA', data: ipFromBytes(d.value) };
      return undefined;
    case 'target': {
      const type = NAME_TYPES.get(r.type);
      return type ? { ...base, type, data: d.value } : undefined;
    }
    case 'srv':
      if (r.type !== QTYPE.SRV) return undefined;
      return { ...base, type: 'SRV', data: { priority: d.value.priority, weight: d.value.weight, port: d.value.port, target: d.value.target } };
    case 'mx':
      if (r.type !== QTYPE.MX) return undefined;
      return { ...base, type: 'MX', data: { preference: d.value.preference, exchange: d.value.exchange } };
    case 'txt':
      if (r.type !== QTYPE.TXT) return undefined;
      return { ...base, type: 'TXT', data: d.value.strings.map((s) => Buffer.from(s)) };
    case 'rdata':
      return rawAnswer(owner, r.type, ttl, Buffer.from(d.value));
  }
}

/**
 * A record written as its type number and raw RDATA. dns-packet writes any type named
 * `UNKNOWN_<n>` as type n with the data copied as is (RFC 3597); its typings only list the
 * known names, hence the cast.
 */
function rawAnswer(owner: string, type: number, ttl: number, rdata: Buffer): Answer {
  return { name: owner, type: `UNKNOWN_${type}` as 'NULL', ttl, class: 'IN', data: rdata };
}

/** A forwarded response's answer section, for appending to a chain. Undefined if unreadable. */
export function decodeAnswers(response: Buffer): { rcode: number; answers: Answer[] } | undefined {
  try {
    const p = dnsPacket.decode(response);
    if (p.type !== 'response') return undefined;
    return { rcode: (p.flags ?? 0) & 0xf, answers: (p.answers ?? []).filter((a) => a.type !== 'OPT') };
  } catch {
    return undefined;
  }
}

/** A query for (name, qtype) with a given id, RD set: what the daemon forwards when it chases a
 * CNAME out of the cluster. */
export function encodeQuery(id: number, name: string, qtype: number): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: FLAG_RD,
    questions: [{ name, type: `UNKNOWN_${qtype}` as 'A', class: 'IN' }],
  });
}

export function sameName(a: string, b: string): boolean {
  const strip = (s: string): string => (s.endsWith('.') ? s.slice(0, -1) : s).toLowerCase();
  return strip(a) === strip(b);
}
