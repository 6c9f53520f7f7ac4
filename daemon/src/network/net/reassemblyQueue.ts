/**
 * Out-of-order TCP data waiting for the gap before it to fill. Pieces are copies (the packet they
 * came in belongs to the TUN batch), sorted and never overlapping, so a duplicate costs nothing
 * and the bytes held never exceed the window the receiver advertised. Loss on a TUN is rare, so
 * a short sorted array beats cleverer structures.
 */
import { seqAdd, seqDiff } from './seq.js';

interface Piece {
  seq: number;
  data: Buffer;
}

export class ReassemblyQueue {
  private pieces: Piece[] = [];
  private held = 0;

  /** `maxPieces` bounds the bookkeeping a peer can cause with many tiny segments. */
  constructor(private readonly maxPieces = 256) {}

  /** Bytes held. */
  get size(): number {
    return this.held;
  }

  get isEmpty(): boolean {
    return this.pieces.length === 0;
  }

  /** The sequence number just past the highest byte held, or undefined when empty. */
  get highestEnd(): number | undefined {
    const last = this.pieces[this.pieces.length - 1];
    return last ? seqAdd(last.seq, last.data.length) : undefined;
  }

  /**
   * Stores copies of the parts of `data` (starting at `seq`, which is after `base`, the next
   * expected sequence number) that are not held yet. Returns false if it had to drop the segment.
   */
  insert(seq: number, data: Buffer, base: number): boolean {
    let start = seqDiff(seq, base);
    const end = start + data.length;
    if (start < 0 || data.length === 0) return true;
    const ranges: number[] = [];
    for (const p of this.pieces) {
      const ps = seqDiff(p.seq, base);
      const pe = ps + p.data.length;
      if (pe <= start) continue;
      if (ps >= end) break;
      if (start < ps) ranges.push(start, ps);
      if (pe > start) start = pe;
      if (start >= end) break;
    }
    if (start < end) ranges.push(start, end);
    if (ranges.length === 0) return true; // a pure duplicate
    if (this.pieces.length + ranges.length / 2 > this.maxPieces) return false;
    const origin = seqDiff(seq, base);
    for (let i = 0; i < ranges.length; i += 2) {
      const from = ranges[i]!;
      const to = ranges[i + 1]!;
      const copy = Buffer.allocUnsafe(to - from);
      data.copy(copy, 0, from - origin, to - origin);
      this.add({ seq: seqAdd(base, from), data: copy }, base);
      this.held += copy.length;
    }
    return true;
  }

  private add(piece: Piece, base: number): void {
    const at = seqDiff(piece.seq, base);
    let i = this.pieces.length;
    while (i > 0 && seqDiff(this.pieces[i - 1]!.seq, base) > at) i--;
    this.pieces.splice(i, 0, piece);
  }

  /**
   * Removes and returns the data that continues at `base` (trimmed to start there), or undefined
   * if the next piece starts later. Pieces wholly before `base` are discarded on the way.
   */
  shift(base: number): Buffer | undefined {
    while (this.pieces.length > 0) {
      const p = this.pieces[0]!;
      const ps = seqDiff(p.seq, base);
      if (ps > 0) return undefined;
      this.pieces.shift();
      this.held -= p.data.length;
      if (ps + p.data.length <= 0) continue;
      return p.data.subarray(-ps);
    }
    return undefined;
  }

  /** The held ranges as [left, right) sequence pairs, lowest first (for SACK blocks). */
  ranges(): Array<{ left: number; right: number }> {
    const out: Array<{ left: number; right: number }> = [];
    for (const p of this.pieces) {
      const right = seqAdd(p.seq, p.data.length);
      const last = out[out.length - 1];
      if (last && last.right === p.seq) last.right = right;
      else out.push({ left: p.seq, right });
    }
    return out;
  }

  clear(): void {
    this.pieces = [];
    this.held = 0;
  }
}
