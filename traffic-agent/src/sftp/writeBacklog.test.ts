import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WriteBacklog } from './writeBacklog.js';

test('reading stops once above the high mark and starts again at the low mark, once each', () => {
  const calls: boolean[] = [];
  const b = new WriteBacklog(100, 40, (stop) => calls.push(stop));
  b.take(60);
  b.take(40);
  assert.deepEqual(calls, [], 'at the high mark is not above it');
  b.take(10);
  b.take(10);
  assert.deepEqual(calls, [true]);
  b.give(60);
  assert.deepEqual(calls, [true], '60 held: above the low mark');
  b.give(20);
  assert.deepEqual(calls, [true, false]);
  b.give(40);
  assert.deepEqual(calls, [true, false]);
  assert.equal(b.peak, 120);
});
