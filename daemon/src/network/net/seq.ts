/**
 * TCP sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4): numbers are stored as unsigned
 * 32-bit values and compared through their signed 32-bit difference, which is right as long as
 * the two are less than 2^31 apart — always true within one window.
 */

export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** a - b as a signed distance. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

export function seqGe(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

export function seqMax(a: number, b: number): number {
  return ((a - b) | 0) >= 0 ? a : b;
}
