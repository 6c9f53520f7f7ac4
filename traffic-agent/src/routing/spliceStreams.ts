/**
 * Two byte streams joined both ways: backpressure through pipe, a FIN in one direction forwarded
 * as a FIN (both sides must allow half-open), and an error or reset on either side destroys both.
 */
import { pipeline, type Duplex } from 'node:stream';

/** `onDone` runs once, after both directions have finished or one has failed. */
export function spliceStreams(a: Duplex, b: Duplex, onDone: (error?: Error) => void): void {
  a.allowHalfOpen = true;
  b.allowHalfOpen = true;
  let pending = 2;
  let failed = false;
  const finish = (error: Error | null | undefined): void => {
    if (error && !failed) {
      failed = true;
      // pipeline destroys only its own two; the other direction goes down with them.
      a.destroy();
      b.destroy();
      onDone(error);
      return;
    }
    if (--pending === 0 && !failed) onDone();
  };
  pipeline(a, b, finish);
  pipeline(b, a, finish);
}
