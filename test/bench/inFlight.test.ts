import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inFlight } from './inFlight.js';

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 1));

test('every index once, never more than the limit at a time', async () => {
  const seen: number[] = [];
  let running = 0;
  let most = 0;
  await inFlight(3, 20, 4, async (i) => {
    running++;
    most = Math.max(most, running);
    await tick();
    seen.push(i);
    running--;
  });
  assert.deepEqual([...seen].sort((a, b) => a - b), Array.from({ length: 17 }, (_, k) => k + 3));
  assert.equal(most, 4);
});

test('the first failure is thrown, and no new work starts after it', async () => {
  const started: number[] = [];
  await assert.rejects(
    inFlight(0, 100, 2, async (i) => {
      started.push(i);
      await tick();
      if (i === 3) throw new Error('three failed');
    }),
    /three failed/,
  );
  assert.ok(started.length <= 6, started.join(','));
});

test('an empty range does nothing', async () => {
  await inFlight(5, 5, 3, async () => assert.fail('no work'));
});
