import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TimerQueue, type TimerOwner } from './timerQueue.js';
import { prng } from './testing/prng.js';

class Owner implements TimerOwner {
  wakeAt = Infinity;
  constructor(
    public deadline: number,
    readonly name: number,
  ) {}
  nextDeadline(): number {
    return this.deadline;
  }
}

test('fires owners in deadline order; later deadlines re-queue lazily, earlier ones at once', () => {
  const rand = prng(5);
  const q = new TimerQueue<Owner>();
  const owners = Array.from({ length: 300 }, (_, i) => new Owner(rand() % 10_000, i));
  for (const o of owners) q.update(o);
  // Move some deadlines later (lazy) and some earlier (immediate).
  for (const o of owners.slice(0, 100)) {
    o.deadline += 5000;
    q.update(o);
  }
  for (const o of owners.slice(100, 150)) {
    o.deadline = Math.floor(o.deadline / 2);
    q.update(o);
  }
  const expected = new Map(owners.map((o) => [o.name, o.deadline]));
  const fired: Array<[number, number]> = [];
  let now = 0;
  for (let guard = 0; guard < 100_000; guard++) {
    const next = q.peek();
    if (next === undefined) break;
    now = next;
    let o: Owner | undefined;
    while ((o = q.popDue(now)) !== undefined) {
      if (o.deadline <= now) {
        fired.push([now, o.name]);
        o.deadline = Infinity;
      }
      q.update(o);
    }
  }
  assert.equal(fired.length, owners.length, 'each owner fires exactly once');
  for (let i = 1; i < fired.length; i++) assert.ok(fired[i - 1]![0] <= fired[i]![0]);
  for (const [time, name] of fired) assert.equal(time, expected.get(name), `owner ${name} fired at its deadline`);
  assert.equal(q.peek(), undefined);
});

test('removed owners never fire', () => {
  const q = new TimerQueue<Owner>();
  const a = new Owner(10, 1);
  const b = new Owner(20, 2);
  q.update(a);
  q.update(b);
  q.remove(a);
  assert.equal(q.peek(), 20);
  assert.equal(q.popDue(15), undefined);
  assert.equal(q.popDue(25), b);
});
