/**
 * What a connection speaks, from its first bytes. Pure: the caller feeds what has arrived so far
 * and waits for more while the answer is 'incomplete'.
 */
import { METHODS } from 'node:http';

export type SniffVerdict = 'h2' | 'http1' | 'other' | 'incomplete';

/** HTTP/2 with prior knowledge (what gRPC over h2c sends) opens with this. */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** A request line longer than this is not worth waiting for; Node's parser would refuse it anyway. */
export const MAX_REQUEST_LINE = 8192;

/**
 * Only the methods Node's parser accepts: a request line with any other method is not HTTP we can
 * serve, and the bytes go on unparsed.
 */
const KNOWN_METHODS: ReadonlySet<string> = new Set(METHODS.filter((m) => m !== 'PRI'));
const LONGEST_METHOD = Math.max(...[...KNOWN_METHODS].map((m) => m.length));
const VERSION_PREFIX = 'HTTP/1.';

/**
 * 'h2' for the full preface, 'http1' for a complete `METHOD SP target SP HTTP/1.x CRLF`, 'other' as
 * soon as the bytes can be neither, else 'incomplete'. With `eof` (no more bytes will come, or the
 * wait is over) 'incomplete' becomes 'other'.
 */
export function classifyPrefix(bytes: Uint8Array, eof = false): SniffVerdict {
  const verdict = classify(bytes);
  return verdict === 'incomplete' && eof ? 'other' : verdict;
}

function classify(b: Uint8Array): SniffVerdict {
  if (b.length === 0) return 'incomplete';
  if (isPrefixOf(b, H2_PREFACE)) return b.length >= H2_PREFACE.length ? 'h2' : 'incomplete';
  return classifyRequestLine(b);
}

function isPrefixOf(b: Uint8Array, whole: Uint8Array): boolean {
  const n = Math.min(b.length, whole.length);
  for (let i = 0; i < n; i++) if (b[i] !== whole[i]) return false;
  return true;
}

function classifyRequestLine(b: Uint8Array): SniffVerdict {
  // Method: upper-case letters and '-' (M-SEARCH), one of the known ones.
  let i = 0;
  while (i < b.length && i <= LONGEST_METHOD && isMethodChar(b[i]!)) i++;
  const method = latin1(b, 0, i);
  if (i === b.length) return [...KNOWN_METHODS].some((m) => m.startsWith(method)) ? 'incomplete' : 'other';
  if (b[i] !== 0x20 || !KNOWN_METHODS.has(method)) return 'other';
  i++;
  // Target: visible characters up to the next space.
  const targetStart = i;
  while (i < b.length && b[i] !== 0x20) {
    if (b[i]! <= 0x20 || b[i] === 0x7f) return 'other';
    i++;
  }
  if (i === b.length) return b.length < MAX_REQUEST_LINE ? 'incomplete' : 'other';
  if (i === targetStart) return 'other';
  i++;
  // Version: HTTP/1.0 or HTTP/1.1, then CRLF (a bare LF is accepted as Node's parser does).
  const rest = latin1(b, i, Math.min(b.length, i + VERSION_PREFIX.length + 3));
  const expected = [`${VERSION_PREFIX}0\r\n`, `${VERSION_PREFIX}1\r\n`, `${VERSION_PREFIX}0\n`, `${VERSION_PREFIX}1\n`];
  if (expected.some((e) => rest.startsWith(e))) return 'http1';
  return expected.some((e) => e.startsWith(rest)) ? 'incomplete' : 'other';
}

function isMethodChar(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || c === 0x2d;
}

function latin1(b: Uint8Array, start: number, end: number): string {
  return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1');
}
