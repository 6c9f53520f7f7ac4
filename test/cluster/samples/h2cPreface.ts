/** The client connection preface that starts every HTTP/2 connection (RFC 9113 §3.4). */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export type PrefaceVerdict = 'h2' | 'http1' | 'undecided';

/**
 * Tells an h2c prior-knowledge connection from an HTTP/1.x one by its first bytes. Both kinds of
 * client speak first, so the server can wait for enough bytes to decide.
 */
export function classifyPreface(head: Uint8Array): PrefaceVerdict {
  const n = Math.min(head.length, H2_PREFACE.length);
  if (!H2_PREFACE.subarray(0, n).equals(head.subarray(0, n))) return 'http1';
  return head.length >= H2_PREFACE.length ? 'h2' : 'undecided';
}
