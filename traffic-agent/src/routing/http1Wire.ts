/**
 * Just enough HTTP/1.x parsing to route messages whose bytes are forwarded unchanged: a request
 * head (for the rules), a response head (for its status and framing), and where a body ends
 * (Content-Length, chunked with trailers, or at the close). Pure: nothing here touches a socket.
 *
 * The parser is strict where leniency would let the agent and the destination disagree about where
 * a message ends (request smuggling): obs-fold, a space before the colon, Content-Length together
 * with Transfer-Encoding, differing Content-Lengths and a request Transfer-Encoding that does not
 * end in chunked are all refused, as Node's own parser refuses them.
 */
import { HeaderMultimap } from './headerMultimap.js';

/** A request or response head larger than this is refused (431 for a request, 502 for a response). */
export const MAX_HEAD_BYTES = 64 * 1024;
/** Chunk-size lines and each trailer section are bounded too: no unbounded buffering of framing. */
const MAX_CHUNK_LINE = 4096;

/** How a message body is delimited. */
export type BodyFraming = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' };

export interface RequestHead {
  method: string;
  target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: number;
  headers: HeaderMultimap;
  /** Bytes of the head, request line to the empty line included. */
  length: number;
  framing: BodyFraming;
  /** The connection stays open after this exchange, as far as the request is concerned. */
  keepAlive: boolean;
  /** An upgrade request (Connection: upgrade plus Upgrade) or CONNECT: the connection is piped after it. */
  upgrade: boolean;
  /** Expect: 100-continue: the body follows only after a 100 (or not at all). */
  expectContinue: boolean;
}

export interface ResponseHead {
  status: number;
  minor: number;
  length: number;
  /** Content-Length / Transfer-Encoding / Connection as sent (lower-cased Connection tokens). */
  contentLength: number | undefined;
  chunked: boolean;
  /** Transfer-Encoding present but not ending in chunked: the body runs until the close. */
  otherTransferEncoding: boolean;
  keepAlive: boolean;
  /**
   * Byte ranges, relative to the head's start, of its Keep-Alive lines: they describe the agent's
   * connection to the destination, not the client's, and are left out when the head is relayed.
   */
  keepAliveLines: [start: number, end: number][];
}

/** What parsing a head found. */
export type HeadResult<T> = { kind: 'incomplete' } | { kind: 'invalid'; status: 400 | 431; reason: string } | { kind: 'ok'; head: T };

const INCOMPLETE = { kind: 'incomplete' } as const;

function invalid(reason: string, status: 400 | 431 = 400): { kind: 'invalid'; status: 400 | 431; reason: string } {
  return { kind: 'invalid', status, reason };
}

/** One header line, as [name, value] (value without surrounding whitespace). */
type Field = [string, string];

/**
 * The head's lines (start line, then fields) and its length, when the bytes from `start` hold a
 * whole head. Lines end in CRLF or a bare LF (accepted as Node's parser does).
 */
function splitHead(buf: Buffer, start: number): { lines: string[]; starts: number[]; end: number } | 'incomplete' | string {
  const lines: string[] = [];
  /** Where each line starts in `buf`; a line ends where the next one starts. */
  const starts: number[] = [];
  let pos = start;
  for (;;) {
    const lf = buf.indexOf(10, pos);
    if (lf < 0) return buf.length - start > MAX_HEAD_BYTES ? 'head too large' : 'incomplete';
    if (lf + 1 - start > MAX_HEAD_BYTES) return 'head too large';
    const lineEnd = lf > pos && buf[lf - 1] === 13 ? lf - 1 : lf;
    if (lineEnd === pos) {
      // The empty line: the head is complete (a leading empty line is tolerated before a request).
      if (lines.length === 0) {
        pos = lf + 1;
        continue;
      }
      starts.push(pos);
      return { lines, starts, end: lf + 1 };
    }
    starts.push(pos);
    lines.push(buf.toString('latin1', pos, lineEnd));
    pos = lf + 1;
  }
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// eslint-disable-next-line no-control-regex
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;

function parseFields(lines: readonly string[]): Field[] | string {
  const fields: Field[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const c = line.charCodeAt(0);
    if (c === 0x20 || c === 0x09) return 'obsolete line folding';
    const colon = line.indexOf(':');
    if (colon <= 0) return 'header line without a name';
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return 'invalid header name';
    const value = line.slice(colon + 1).trim();
    if (BAD_VALUE.test(value)) return 'invalid header value';
    fields.push([name, value]);
  }
  return fields;
}

/** Lower-cased comma-separated tokens of every field named `name` (already lower-case). */
function tokens(fields: readonly Field[], name: string): string[] {
  const out: string[] = [];
  for (const [n, v] of fields) {
    if (n.length !== name.length || n.toLowerCase() !== name) continue;
    for (const t of v.split(',')) {
      const s = t.trim().toLowerCase();
      if (s) out.push(s);
    }
  }
  return out;
}

/** Content-Length (every copy must agree), undefined when absent, or an error text. */
function contentLength(fields: readonly Field[]): number | undefined | string {
  let length: number | undefined;
  for (const [n, v] of fields) {
    if (n.length !== 14 || n.toLowerCase() !== 'content-length') continue;
    for (const part of v.split(',')) {
      const p = part.trim();
      if (!/^[0-9]{1,15}$/.test(p)) return 'invalid Content-Length';
      const value = Number(p);
      if (length !== undefined && length !== value) return 'conflicting Content-Length';
      length = value;
    }
  }
  return length;
}

/** Whether the connection persists after this message: HTTP/1.1 unless `close`, HTTP/1.0 only with `keep-alive`. */
function persists(minor: number, connection: readonly string[]): boolean {
  if (connection.includes('close')) return false;
  return minor >= 1 || connection.includes('keep-alive');
}

/** The request head starting at `start` in `buf`. */
export function parseRequestHead(buf: Buffer, start = 0): HeadResult<RequestHead> {
  const split = splitHead(buf, start);
  if (split === 'incomplete') return INCOMPLETE;
  if (typeof split === 'string') return invalid(split, 431);
  const { lines, end } = split;
  const m = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([^\s]+) HTTP\/1\.([01])$/.exec(lines[0]!);
  if (!m) return invalid('invalid request line');
  const fields = parseFields(lines);
  if (typeof fields === 'string') return invalid(fields);
  const method = m[1]!;
  const minor = Number(m[3]);
  const headers = new HeaderMultimap();
  for (const [n, v] of fields) headers.add(n, v);

  const te = tokens(fields, 'transfer-encoding');
  const length = contentLength(fields);
  if (typeof length === 'string') return invalid(length);
  let framing: BodyFraming;
  if (headers.has('transfer-encoding')) {
    if (length !== undefined) return invalid('both Content-Length and Transfer-Encoding');
    if (te.at(-1) !== 'chunked') return invalid('request Transfer-Encoding not ending in chunked');
    framing = { kind: 'chunked' };
  } else framing = length ? { kind: 'length', length } : { kind: 'none' };

  const connection = tokens(fields, 'connection');
  const upgrade = method === 'CONNECT' || (connection.includes('upgrade') && headers.has('upgrade'));
  const expect = headers.get('expect');
  return {
    kind: 'ok',
    head: {
      method,
      target: m[2]!,
      minor,
      headers,
      length: end - start,
      framing,
      keepAlive: persists(minor, connection),
      upgrade,
      expectContinue: expect.some((e) => e.toLowerCase() === '100-continue'),
    },
  };
}

/** The response head starting at `start` in `buf`. */
export function parseResponseHead(buf: Buffer, start = 0): HeadResult<ResponseHead> {
  const split = splitHead(buf, start);
  if (split === 'incomplete') return INCOMPLETE;
  if (typeof split === 'string') return invalid(split, 431);
  const { lines, starts, end } = split;
  const m = /^HTTP\/1\.([01]) ([0-9]{3})(?: .*)?$/.exec(lines[0]!);
  if (!m) return invalid('invalid status line');
  const fields = parseFields(lines);
  if (typeof fields === 'string') return invalid(fields);
  const minor = Number(m[1]);
  const length = contentLength(fields);
  if (typeof length === 'string') return invalid(length);
  const te = tokens(fields, 'transfer-encoding');
  const chunked = te.at(-1) === 'chunked';
  const keepAliveLines: [number, number][] = [];
  for (let i = 0; i < fields.length; i++) {
    const name = fields[i]![0];
    if (name.length === 10 && name.toLowerCase() === 'keep-alive') keepAliveLines.push([starts[i + 1]! - start, starts[i + 2]! - start]);
  }
  return {
    kind: 'ok',
    head: {
      status: Number(m[2]),
      minor,
      length: end - start,
      contentLength: length,
      chunked,
      otherTransferEncoding: te.length > 0 && !chunked,
      keepAlive: persists(minor, tokens(fields, 'connection')),
      keepAliveLines,
    },
  };
}

/** How the body of `response` to a request with `method` is delimited (RFC 9112 §6.3). */
export function responseFraming(method: string, response: ResponseHead): BodyFraming {
  const s = response.status;
  if (method === 'HEAD' || (s >= 100 && s < 200) || s === 204 || s === 304) return { kind: 'none' };
  if (response.chunked) return { kind: 'chunked' };
  if (response.otherTransferEncoding) return { kind: 'close' };
  if (response.contentLength !== undefined) return response.contentLength === 0 ? { kind: 'none' } : { kind: 'length', length: response.contentLength };
  return { kind: 'close' };
}

/**
 * Follows a body through the bytes that carry it, without copying them, to tell where it ends.
 * `scan` returns how many bytes of `chunk` from `start` belong to the body, and `done` says whether
 * it is complete; it throws on malformed chunked framing.
 */
export class BodyScanner {
  done: boolean;
  private remaining: number;
  private state: ChunkState = ChunkState.Size;
  /** Bytes of the current size or trailer line (bounded), and of the trailer section. */
  private lineBytes = 0;
  private sizeDigits = 0;
  private lineEmpty = true;

  constructor(private readonly framing: BodyFraming) {
    this.done = framing.kind === 'none';
    this.remaining = framing.kind === 'length' ? framing.length : 0;
  }

  /** The body runs until the connection closes: the close completes it. */
  get untilClose(): boolean {
    return this.framing.kind === 'close';
  }

  scan(chunk: Buffer, start = 0): number {
    if (this.done) return 0;
    const available = chunk.length - start;
    switch (this.framing.kind) {
      case 'close':
        return available;
      case 'length': {
        const n = Math.min(available, this.remaining);
        this.remaining -= n;
        if (this.remaining === 0) this.done = true;
        return n;
      }
      case 'chunked':
        return this.scanChunked(chunk, start) - start;
      default:
        return 0;
    }
  }

  /** Returns the index just past what was consumed. */
  private scanChunked(b: Buffer, start: number): number {
    let i = start;
    while (i < b.length) {
      switch (this.state) {
        case ChunkState.Size: {
          const c = b[i]!;
          const digit = hexValue(c);
          if (digit >= 0 && this.sizeDigits >= 0) {
            if (++this.sizeDigits > 15) throw new Error('chunk size too large');
            this.remaining = this.remaining * 16 + digit;
          } else if (c === 10) {
            if (this.sizeDigits === 0) throw new Error('invalid chunk size');
            this.lineBytes = 0;
            this.sizeDigits = 0;
            this.state = this.remaining === 0 ? ChunkState.Trailer : ChunkState.Data;
            this.lineEmpty = true;
          } else if (this.sizeDigits === 0 || this.sizeDigits === SIZE_CR) {
            // No digit yet, or something other than LF after the CR.
            throw new Error('invalid chunk size');
          } else if (c === 13) this.sizeDigits = SIZE_CR;
          else if (this.sizeDigits > 0 || this.sizeDigits === SIZE_BWS) {
            // After the digits only whitespace, then an extension or the end of the line: "1 2"
            // is no size, and a destination must not read one the agent did not.
            if (c === 32 || c === 9) this.sizeDigits = SIZE_BWS;
            else if (c === 59) this.sizeDigits = SIZE_EXT;
            else throw new Error('invalid chunk size');
          } else if (c < 32 && c !== 9) throw new Error('invalid chunk extension');
          if (++this.lineBytes > MAX_CHUNK_LINE) throw new Error('chunk size line too long');
          i++;
          break;
        }
        case ChunkState.Data: {
          const n = Math.min(b.length - i, this.remaining);
          this.remaining -= n;
          i += n;
          if (this.remaining === 0) this.state = ChunkState.DataCr;
          break;
        }
        case ChunkState.DataCr: {
          const c = b[i++]!;
          if (c === 13) this.state = ChunkState.DataLf;
          else if (c === 10) this.state = ChunkState.Size;
          else throw new Error('chunk data not followed by CRLF');
          break;
        }
        case ChunkState.DataLf: {
          if (b[i++] !== 10) throw new Error('chunk data not followed by CRLF');
          this.state = ChunkState.Size;
          break;
        }
        case ChunkState.Trailer: {
          // Trailer lines until an empty one; their bytes pass through as they are.
          const c = b[i++]!;
          if (++this.lineBytes > MAX_HEAD_BYTES) throw new Error('trailers too large');
          if (c === 10) {
            if (this.lineEmpty) {
              this.done = true;
              return i;
            }
            this.lineEmpty = true;
          } else if (c !== 13) this.lineEmpty = false;
          break;
        }
      }
    }
    return i;
  }
}

/** Where a chunk-size line is past its digits (BodyScanner.sizeDigits < 0). */
const SIZE_EXT = -1;
const SIZE_BWS = -2;
const SIZE_CR = -3;

const enum ChunkState {
  Size,
  Data,
  DataCr,
  DataLf,
  Trailer,
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** `head` (a response head, as received) without the byte ranges `drop` (sorted, not overlapping). */
export function withoutRanges(head: Buffer, drop: readonly (readonly [number, number])[]): Buffer {
  if (drop.length === 0) return head;
  const parts: Buffer[] = [];
  let at = 0;
  for (const [start, end] of drop) {
    parts.push(head.subarray(at, start));
    at = end;
  }
  parts.push(head.subarray(at));
  return Buffer.concat(parts);
}

/**
 * `head` (a response head, as received) without its Keep-Alive lines, with `extra` lines added
 * just before its empty line, and, when `close`, its Connection lines replaced by `Connection: close`.
 */
export function rewriteResponseHead(head: Buffer, extra: readonly string[], close: boolean): Buffer {
  let text = head.toString('latin1');
  const eol = text.endsWith('\r\n\r\n') ? '\r\n' : '\n';
  const lines = text.slice(0, text.length - 2 * eol.length).split(/\r?\n/);
  const dropped = close ? /^(connection|keep-alive)\s*:/i : /^keep-alive\s*:/i;
  text = [lines[0], ...lines.slice(1).filter((l) => !dropped.test(l)), ...extra, ...(close ? ['Connection: close'] : [])].join(eol);
  return Buffer.from(text + eol + eol, 'latin1');
}
