/**
 * The bytes a TCP connection was asked to send and the peer has not acknowledged yet, kept as the
 * chunks the daemon wrote (no copy on write: the stack takes ownership of written Buffers).
 * Segments are copied straight out of the chunks into outgoing packets, and a cursor remembers
 * where the last copy ended because sends walk forward through the buffer.
 */
import type { PayloadSource } from './packetWriter.js';

export class SendBuffer implements PayloadSource {
  private chunks: Buffer[] = [];
  /** Index of the first live chunk and how much of it is already consumed. */
  private first = 0;
  private headOffset = 0;
  private total = 0;
  /** Cursor: a chunk index and the logical offset at which that chunk starts (may be < 0 for the
   * first chunk, whose consumed part lies before logical 0). */
  private cursorIndex = 0;
  private cursorStart = 0;

  get length(): number {
    return this.total;
  }

  push(data: Buffer): void {
    if (data.length === 0) return;
    this.chunks.push(data);
    this.total += data.length;
  }

  /** Drops `n` bytes from the front (they were acknowledged). */
  consume(n: number): void {
    if (n <= 0) return;
    if (n > this.total) n = this.total;
    this.total -= n;
    this.cursorStart -= n;
    let left = n;
    while (left > 0) {
      const chunk = this.chunks[this.first]!;
      const avail = chunk.length - this.headOffset;
      if (left < avail) {
        this.headOffset += left;
        break;
      }
      left -= avail;
      this.chunks[this.first] = EMPTY; // let the chunk be collected now
      this.first++;
      this.headOffset = 0;
    }
    if (this.first === this.chunks.length) {
      this.chunks = [];
      this.first = 0;
      this.resetCursor();
      return;
    }
    if (this.first > 64 && this.first * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.first);
      this.cursorIndex -= this.first;
      this.first = 0;
    }
    if (this.cursorIndex < this.first) this.resetCursor();
  }

  private resetCursor(): void {
    this.cursorIndex = this.first;
    this.cursorStart = -this.headOffset;
  }

  /** Copies `length` bytes starting `offset` bytes past the front into `target` at `targetStart`. */
  copyOut(target: Buffer, targetStart: number, offset: number, length: number): void {
    if (offset < 0 || length < 0 || offset + length > this.total) {
      throw new RangeError(`copyOut(${offset}, ${length}) outside a send buffer of ${this.total}`);
    }
    if (length === 0) return;
    if (offset < this.cursorStart) this.resetCursor();
    let index = this.cursorIndex;
    let start = this.cursorStart;
    while (start + this.chunks[index]!.length <= offset) {
      start += this.chunks[index]!.length;
      index++;
    }
    this.cursorIndex = index;
    this.cursorStart = start;
    let pos = offset;
    let out = targetStart;
    let left = length;
    while (left > 0) {
      const chunk = this.chunks[index]!;
      const from = pos - start;
      const n = Math.min(left, chunk.length - from);
      chunk.copy(target, out, from, from + n);
      out += n;
      pos += n;
      left -= n;
      start += chunk.length;
      index++;
    }
  }

  /** Releases everything (the connection is gone). */
  clear(): void {
    this.chunks = [];
    this.first = 0;
    this.headOffset = 0;
    this.total = 0;
    this.resetCursor();
  }
}

const EMPTY = Buffer.alloc(0);
