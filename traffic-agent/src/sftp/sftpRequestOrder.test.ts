import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RequestOrder } from './sftpRequestOrder.js';

/** A request whose end the test decides. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('an exclusive request waits for all before it, and all after it wait for it', async () => {
  const order = new RequestOrder();
  const log: string[] = [];
  const open1 = gate();
  order.exclusive(async () => {
    log.push('open start');
    await open1.promise;
    log.push('open end');
  });
  order.shared(async () => {
    log.push('lstat');
  });
  await tick();
  assert.deepEqual(log, ['open start'], 'the LSTAT after an OPEN waits for it');
  open1.open();
  await tick();
  await tick();
  assert.deepEqual(log, ['open start', 'open end', 'lstat']);
});

test('shared requests run side by side; the next exclusive one waits for all of them', async () => {
  const order = new RequestOrder();
  const log: string[] = [];
  const reads = [gate(), gate(), gate()];
  reads.forEach((g, i) =>
    order.shared(async () => {
      log.push(`read ${i} start`);
      await g.promise;
      log.push(`read ${i} end`);
    }),
  );
  order.exclusive(async () => {
    log.push('close');
  });
  await tick();
  assert.deepEqual(log, ['read 0 start', 'read 1 start', 'read 2 start']);
  reads[2].open();
  reads[0].open();
  await tick();
  assert.ok(!log.includes('close'), 'one read is still running');
  reads[1].open();
  await tick();
  await tick();
  assert.equal(log.at(-1), 'close');
});

test('a failed request does not stop the ones after it', async () => {
  const order = new RequestOrder();
  const log: string[] = [];
  order.exclusive(() => Promise.reject(new Error('boom')));
  order.shared(async () => {
    log.push('after');
  });
  await tick();
  await tick();
  assert.deepEqual(log, ['after']);
});
