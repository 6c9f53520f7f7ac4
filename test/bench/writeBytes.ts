/** Writes `n` bytes made of repeats of `chunk` to `w`, waiting for 'drain' when it asks, then ends it. */
import type { Writable } from 'node:stream';

export function writeBytes(w: Writable, chunk: Buffer, n: number): void {
  let left = n;
  const pump = (): void => {
    while (left > 0) {
      const c = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= c.length;
      if (!w.write(c)) return void w.once('drain', pump);
    }
    w.end();
  };
  pump();
}
