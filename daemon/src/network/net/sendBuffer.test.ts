import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SendBuffer } from './sendBuffer.js';
import { prng, randomBytes } from './testing/prng.js';

test('copies arbitrary ranges across chunks while the front is consumed', () => {
  const rand = prng(42);
  const buf = new SendBuffer();
  const model: Buffer[] = [];
  let consumed = 0;
  let modelBytes = Buffer.alloc(0);
  for (let round = 0; round < 2000; round++) {
    const op = rand() % 3;
    if (op === 0) {
      const chunk = randomBytes(rand, rand() % 3000);
      buf.push(chunk);
      model.push(chunk);
      modelBytes = Buffer.concat([modelBytes, chunk]);
    } else if (op === 1 && buf.length > 0) {
      const n = rand() % (buf.length + 1);
      buf.consume(n);
      modelBytes = modelBytes.subarray(n);
      consumed += n;
    } else if (buf.length > 0) {
      // Sequential reads, as segments are sent, plus an occasional rewind (retransmission).
      let offset = rand() % buf.length;
      for (let k = 0; k < 5 && offset < buf.length; k++) {
        const len = Math.min(buf.length - offset, 1 + (rand() % 1460));
        const target = Buffer.alloc(len + 3);
        buf.copyOut(target, 3, offset, len);
        assert.deepEqual(target.subarray(3), modelBytes.subarray(offset, offset + len), `round ${round}`);
        offset += len;
      }
    }
    assert.equal(buf.length, modelBytes.length);
  }
  assert.ok(consumed > 0);
});

test('rejects reads outside the buffer and releases everything on clear', () => {
  const buf = new SendBuffer();
  buf.push(Buffer.from('abcdef'));
  assert.throws(() => buf.copyOut(Buffer.alloc(10), 0, 4, 3), RangeError);
  buf.consume(100);
  assert.equal(buf.length, 0);
  buf.push(Buffer.from('xyz'));
  const t = Buffer.alloc(3);
  buf.copyOut(t, 0, 0, 3);
  assert.equal(t.toString(), 'xyz');
  buf.clear();
  assert.equal(buf.length, 0);
});
