/**
 * One min-heap of wake-up times for every connection and flow, so `nextTimeout()` is a peek and a
 * timer tick touches only what is due. Entries are lazy: an owner's deadline usually moves later
 * (every ACK pushes the retransmission timer out), and rather than re-sorting the heap each time
 * the old, earlier entry is kept; when it fires the owner just reports its real next deadline.
 * An entry counts only if it matches the owner's `wakeAt`, so superseded entries fall out.
 */

export interface TimerOwner {
  /** The wake-up currently queued for this owner (Infinity: none). Managed by TimerQueue. */
  wakeAt: number;
  /** The earliest time the owner has something to do (Infinity: nothing). */
  nextDeadline(): number;
}

export class TimerQueue<T extends TimerOwner> {
  private times: number[] = [];
  private owners: T[] = [];

  get size(): number {
    return this.times.length;
  }

  /** Makes sure `owner` is woken no later than its next deadline. */
  update(owner: T): void {
    const at = owner.nextDeadline();
    if (at < owner.wakeAt) {
      owner.wakeAt = at;
      this.push(at, owner);
    }
  }

  /** Forgets `owner` (its queued entries become stale). */
  remove(owner: T): void {
    owner.wakeAt = Infinity;
  }

  /** The earliest live wake-up time, or undefined. */
  peek(): number | undefined {
    while (this.times.length > 0) {
      if (this.owners[0]!.wakeAt === this.times[0]) return this.times[0];
      this.pop();
    }
    return undefined;
  }

  /** Removes and returns the next owner due at `now`, or undefined. Its `wakeAt` is reset, so the
   * caller runs it and then calls `update` to queue its next deadline. */
  popDue(now: number): T | undefined {
    while (this.times.length > 0 && this.times[0]! <= now) {
      const at = this.times[0]!;
      const owner = this.pop();
      if (owner.wakeAt !== at) continue;
      owner.wakeAt = Infinity;
      return owner;
    }
    return undefined;
  }

  private push(at: number, owner: T): void {
    const times = this.times;
    const owners = this.owners;
    let i = times.length;
    times.push(at);
    owners.push(owner);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (times[parent]! <= at) break;
      times[i] = times[parent]!;
      owners[i] = owners[parent]!;
      i = parent;
    }
    times[i] = at;
    owners[i] = owner;
  }

  private pop(): T {
    const times = this.times;
    const owners = this.owners;
    const top = owners[0]!;
    const lastTime = times.pop()!;
    const lastOwner = owners.pop()!;
    const n = times.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && times[r]! < times[l]! ? r : l;
        if (times[c]! >= lastTime) break;
        times[i] = times[c]!;
        owners[i] = owners[c]!;
        i = c;
      }
      times[i] = lastTime;
      owners[i] = lastOwner;
    }
    return top;
  }
}
