/**
 * The Internet checksum (RFC 1071) on the packet path. Every TCP segment we send is summed once,
 * so this is summed over a Uint32Array view of the aligned middle of the buffer rather than byte
 * by byte: the ones'-complement sum does not depend on byte order (RFC 1071 §2B), so native
 * little-endian 32-bit words are added as plain numbers and the folded result is byte-swapped
 * back once at the end. Measured ~2.5–3 GB/s in JS against ~0.4 GB/s for readUInt16BE loops.
 */

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Folds a non-negative sum (below 2^53) into 16 bits with end-around carry. */
export function foldSum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** Words summed per Uint32Array pass; keeps the float accumulator exact (< 2^53). */
const BLOCK_WORDS = 1 << 20;

/**
 * The ones'-complement sum of bytes [start, end) of `buf` read as big-endian 16-bit words (an odd
 * final byte is padded with zero), folded to 16 bits and added to `initial`. Sums of several
 * ranges can be added together as long as only the last range has an odd length.
 */
export function sumWords(buf: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  const base = buf.byteOffset;
  // Unaligned head: byte at even distance from `start` is the high byte of its word.
  while (i < end && ((base + i) & 3) !== 0) {
    sum += ((i - start) & 1) === 0 ? buf[i]! << 8 : buf[i]!;
    i++;
  }
  let words = (end - i) >> 2;
  if (words > 0) {
    // Whether the aligned words start on a word boundary of the checksum decides if the native
    // little-endian reading is byte-swapped relative to network order.
    const swap = (((i - start) & 1) === 0) === LITTLE_ENDIAN;
    while (words > 0) {
      const n = words < BLOCK_WORDS ? words : BLOCK_WORDS;
      const view = new Uint32Array(buf.buffer, base + i, n);
      let acc = 0;
      let k = 0;
      for (; k + 4 <= n; k += 4) acc += view[k]! + view[k + 1]! + view[k + 2]! + view[k + 3]!;
      for (; k < n; k++) acc += view[k]!;
      let folded = foldSum(acc);
      if (swap) folded = ((folded & 0xff) << 8) | (folded >>> 8);
      sum += folded;
      i += n * 4;
      words -= n;
    }
  }
  while (i < end) {
    sum += ((i - start) & 1) === 0 ? buf[i]! << 8 : buf[i]!;
    i++;
  }
  return foldSum(sum);
}

/** The checksum field value for a folded or partial sum: its ones' complement. */
export function finishChecksum(sum: number): number {
  return ~foldSum(sum) & 0xffff;
}

/** The checksum of bytes [start, end) of `buf` plus an optional partial sum (e.g. a pseudo-header). */
export function internetChecksum(buf: Uint8Array, start = 0, end = buf.length, initial = 0): number {
  return finishChecksum(sumWords(buf, start, end, initial));
}

/**
 * The pseudo-header sum without the length (RFC 9293 §3.1, RFC 8200 §8.1): source and destination
 * address plus the upper-layer protocol. It is fixed per flow, so flows compute it once.
 */
export function addressPairSum(src: Uint8Array, dst: Uint8Array, protocol: number): number {
  return foldSum(sumWords(src, 0, src.length) + sumWords(dst, 0, dst.length) + protocol);
}

/** The full pseudo-header sum for an upper-layer segment of `length` bytes. */
export function pseudoHeaderSum(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): number {
  // IPv6 carries a 32-bit length; segments here are below 2^16 + headers, so both halves fit.
  return foldSum(addressPairSum(src, dst, protocol) + (length >>> 16) + (length & 0xffff));
}
