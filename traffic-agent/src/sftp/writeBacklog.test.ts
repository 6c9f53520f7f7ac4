import assert from 'node:assert/strict';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { pauseWhileStopped, WriteBacklog } from './writeBacklog.js';

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

test('a socket resumed while reading is stopped (as ssh2 resumes one it is handed) reads nothing until reading starts again', async (t) => {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const client = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
  const [socket] = await accepted;
  t.after(() => {
    client.destroy();
    socket.destroy();
    server.close();
  });

  // Reading stopped for the connections already open; this one arrives afterwards.
  const backlog = new WriteBacklog(10, 0, (stop) => {
    if (!stop) socket.resume();
  });
  backlog.take(11);
  assert.equal(backlog.readingAllowed, false);
  pauseWhileStopped(socket, backlog);

  const got: Buffer[] = [];
  socket.on('data', (d: Buffer) => got.push(d));
  socket.resume();
  client.write('sent while writes pile up');
  // A paused socket still takes what arrives into its buffer, unread: wait for it there (or read).
  while (socket.readableLength === 0 && got.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(socket.isPaused(), true, 'resumed, and paused again');
  assert.deepEqual(got, [], 'nothing read while stopped');

  backlog.give(11);
  assert.equal(backlog.readingAllowed, true);
  await once(socket, 'data');
  assert.equal(Buffer.concat(got).toString(), 'sent while writes pile up');
});
