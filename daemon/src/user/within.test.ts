import assert from 'node:assert/strict';
import { test } from 'node:test';
import { within } from './within.js';

test('within gives the promise when it settles in time, and rejects with the reason when it does not', async () => {
  assert.equal(await within(Promise.resolve(7), 1000, 'late'), 7);
  await assert.rejects(within(Promise.reject(new Error('own')), 1000, 'late'), /own/);
  await assert.rejects(within(new Promise(() => {}), 20, 'did not answer within 20 ms'), /did not answer within 20 ms/);
});
