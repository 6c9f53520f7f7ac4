/**
 * Just enough DER (ITU-T X.690) to write an X.509 certificate. node:crypto makes the keys, signs,
 * exports the SubjectPublicKeyInfo and parses certificates, but cannot build one; a library that
 * can (@peculiar/x509 with its reflect polyfill, node-forge) adds 100–150 KB gzipped to a bundle
 * that must fit a 1 MiB ConfigMap, for the dozen encodings below.
 */

/** Universal tags, and the context-specific classes used by X.509. */
const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  oid: 0x06,
  utf8String: 0x0c,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
  contextPrimitive: 0x80,
  contextConstructed: 0xa0,
} as const;

function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), length(content.length), content]);
}

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function base128(n: number): number[] {
  const out = [n & 0x7f];
  for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) out.unshift(0x80 | (v & 0x7f));
  return out;
}

function twoDigits(n: number): string {
  return String(n).padStart(2, '0');
}

export const der = {
  sequence: (...items: Buffer[]): Buffer => tlv(TAG.sequence, Buffer.concat(items)),

  /** A SET OF with one member, as in a RelativeDistinguishedName (no sorting needed). */
  set: (item: Buffer): Buffer => tlv(TAG.set, item),

  boolean: (value: boolean): Buffer => tlv(TAG.boolean, Buffer.from([value ? 0xff : 0x00])),

  /** A non-negative INTEGER from a number or big-endian magnitude bytes, minimally encoded. */
  integer(value: number | Buffer): Buffer {
    let bytes: Buffer;
    if (typeof value === 'number') {
      if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`DER integer out of range: ${value}`);
      const hex = value.toString(16);
      bytes = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
    } else {
      bytes = value;
    }
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0) start++;
    bytes = bytes.subarray(start);
    if (bytes.length === 0) bytes = Buffer.from([0]);
    // The top bit would make it negative.
    if (bytes[0] & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
    return tlv(TAG.integer, bytes);
  },

  oid(dotted: string): Buffer {
    const arcs = dotted.split('.').map(Number);
    if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0)) throw new Error(`bad OID ${dotted}`);
    const body = [...base128(arcs[0] * 40 + arcs[1]), ...arcs.slice(2).flatMap(base128)];
    return tlv(TAG.oid, Buffer.from(body));
  },

  utf8String: (s: string): Buffer => tlv(TAG.utf8String, Buffer.from(s, 'utf8')),

  octetString: (b: Buffer): Buffer => tlv(TAG.octetString, b),

  /** A BIT STRING holding whole bytes. */
  bitString: (b: Buffer): Buffer => tlv(TAG.bitString, Buffer.concat([Buffer.from([0]), b])),

  /**
   * A named-bit BIT STRING (KeyUsage): bit 0 is the most significant bit of the first byte, and
   * DER drops trailing zero bits, saying in the first content byte how many of the last byte's
   * bits are unused.
   */
  namedBits(bits: number[]): Buffer {
    if (bits.length === 0) return tlv(TAG.bitString, Buffer.from([0]));
    const highest = Math.max(...bits);
    const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
    for (const b of bits) bytes[Math.floor(b / 8)] |= 0x80 >> (b % 8);
    const unused = 7 - (highest % 8);
    return tlv(TAG.bitString, Buffer.concat([Buffer.from([unused]), bytes]));
  },

  /** RFC 5280: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, always UTC. */
  time(date: Date): Buffer {
    const y = date.getUTCFullYear();
    const rest =
      twoDigits(date.getUTCMonth() + 1) +
      twoDigits(date.getUTCDate()) +
      twoDigits(date.getUTCHours()) +
      twoDigits(date.getUTCMinutes()) +
      twoDigits(date.getUTCSeconds()) +
      'Z';
    if (y >= 1950 && y < 2050) return tlv(TAG.utcTime, Buffer.from(twoDigits(y % 100) + rest, 'ascii'));
    return tlv(TAG.generalizedTime, Buffer.from(String(y).padStart(4, '0') + rest, 'ascii'));
  },

  /** [n] EXPLICIT: wraps an encoded value. */
  explicit: (n: number, content: Buffer): Buffer => tlv(TAG.contextConstructed | n, content),

  /** [n] IMPLICIT over a primitive type: replaces its tag, keeps its content bytes. */
  implicit: (n: number, content: Buffer): Buffer => tlv(TAG.contextPrimitive | n, content),
};
