import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PacketArena } from './packetArena.js';

test('buffers handed out between resets never overlap; after a reset the memory is reused', () => {
  const arena = new PacketArena(4096, 16384);
  const a = arena.alloc(1000);
  const b = arena.alloc(1001);
  const c = arena.alloc(3);
  a.fill(1);
  b.fill(2);
  c.fill(3);
  assert.ok(a.every((x) => x === 1) && b.every((x) => x === 2) && c.every((x) => x === 3));
  assert.equal(a.buffer, b.buffer, 'cut from one slab');
  assert.equal(b.byteOffset % 8, 0, 'aligned, so the checksum reads whole words');
  arena.reset();
  const d = arena.alloc(1000);
  assert.equal(d.buffer, a.buffer);
  assert.equal(d.byteOffset, a.byteOffset, 'the same memory again');
});

test('an output larger than the slab takes a bigger one; earlier buffers stay intact', () => {
  const arena = new PacketArena(4096, 16384);
  const first = arena.alloc(3000).fill(7);
  const second = arena.alloc(3000).fill(8);
  assert.notEqual(first.buffer, second.buffer);
  assert.ok(first.every((x) => x === 7), 'the old slab was not reused while its buffers may be in use');
  assert.equal(arena.capacity, 8192, 'grew by doubling');
  arena.reset();
  assert.equal(arena.alloc(6000).buffer, second.buffer, 'the bigger slab is kept');
  arena.alloc(20000);
  assert.equal(arena.capacity, 20000, 'a packet above the cap gets a slab of its own size');
});
