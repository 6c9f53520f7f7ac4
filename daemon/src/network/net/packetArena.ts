/**
 * Memory for outgoing TCP segments whose consumer is done with them as soon as the stack's
 * `output` handler returns (the daemon writes them into the TUN device at once). Segments are cut
 * from one slab that is reused after every output, instead of a new Buffer per segment: a bulk
 * download otherwise allocates a ~64 KiB Buffer per segment, and in V8 that is external memory
 * whose growth alone sets off full garbage collections (measured with test/bench/pipeline.ts).
 */

const ALIGN = 8;

export class PacketArena {
  private slab: Buffer;
  private used = 0;

  /**
   * @param initialBytes the first slab; it grows (doubling) up to `maxBytes` when one output needs
   *   more, so a steady flow stops allocating. Beyond `maxBytes` an output takes extra slabs that
   *   are dropped afterwards.
   */
  constructor(
    initialBytes = 1 << 20,
    private readonly maxBytes = 8 << 20,
  ) {
    this.slab = Buffer.allocUnsafeSlow(initialBytes);
  }

  /** A Buffer of `size` bytes, valid until the next `reset()`. */
  alloc(size: number): Buffer {
    let start = (this.used + ALIGN - 1) & ~(ALIGN - 1);
    if (start + size > this.slab.length) {
      // Segments already cut from the old slab keep it alive until they are written.
      const bigger = Math.min(this.maxBytes, this.slab.length * 2);
      this.slab = Buffer.allocUnsafeSlow(Math.max(bigger, size));
      start = 0;
    }
    this.used = start + size;
    return this.slab.subarray(start, start + size);
  }

  /** Everything handed out so far is no longer in use: its memory is reused. */
  reset(): void {
    this.used = 0;
  }

  /** Size of the current slab, for tests. */
  get capacity(): number {
    return this.slab.length;
  }
}
