import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReassemblyQueue } from './reassemblyQueue.js';
import { seqAdd } from './seq.js';
import { prng, randomBytes } from './testing/prng.js';

test('reassembles overlapping, duplicated, shuffled pieces across the 2^32 wrap', () => {
  const rand = prng(9);
  for (let trial = 0; trial < 50; trial++) {
    const data = randomBytes(rand, 5000 + (rand() % 5000));
    const base = (0xffffffff - (rand() % 4000)) >>> 0; // wraps inside the data
    const q = new ReassemblyQueue(10_000);
    const pieces: Array<[number, number]> = [];
    for (let i = 0; i < 60; i++) {
      const start = 1 + (rand() % (data.length - 1));
      pieces.push([start, Math.min(data.length, start + 1 + (rand() % 900))]);
    }
    // Cover everything after byte 0 at least once.
    for (let s = 1; s < data.length; s += 700) pieces.push([s, Math.min(data.length, s + 700)]);
    pieces.sort(() => (rand() & 1 ? 1 : -1));
    for (const [s, e] of pieces) assert.ok(q.insert(seqAdd(base, s), data.subarray(s, e), base));
    assert.ok(q.size <= data.length - 1, 'no byte is held twice');
    assert.equal(q.shift(base), undefined, 'byte 0 is still missing');
    let next = seqAdd(base, 1);
    const out: Buffer[] = [data.subarray(0, 1)];
    let piece: Buffer | undefined;
    while ((piece = q.shift(next)) !== undefined) {
      out.push(piece);
      next = seqAdd(next, piece.length);
    }
    assert.deepEqual(Buffer.concat(out), data);
    assert.ok(q.isEmpty);
    assert.equal(q.size, 0);
  }
});

test('copies what it keeps, drops pure duplicates and bounds the piece count', () => {
  const q = new ReassemblyQueue(3);
  const src = Buffer.from('0123456789');
  assert.ok(q.insert(100, src.subarray(2, 4), 98));
  src[2] = 0x58; // the caller's buffer is reused: the queue must not care
  assert.ok(q.insert(100, Buffer.from('23'), 98)); // duplicate
  assert.equal(q.size, 2);
  assert.ok(q.insert(110, Buffer.from('x'), 98));
  assert.ok(q.insert(120, Buffer.from('y'), 98));
  assert.equal(q.insert(130, Buffer.from('z'), 98), false, 'a fourth piece is refused');
  assert.deepEqual(q.ranges(), [
    { left: 100, right: 102 },
    { left: 110, right: 111 },
    { left: 120, right: 121 },
  ]);
  assert.equal(q.shift(100)?.toString(), '23');
  assert.equal(q.highestEnd, 121);
  assert.equal(q.shift(115), undefined, 'pieces wholly before the base are discarded');
  assert.equal(q.shift(120)?.toString(), 'y');
});
