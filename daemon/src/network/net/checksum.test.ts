import assert from 'node:assert/strict';
import { test } from 'node:test';
import { finishChecksum, foldSum, internetChecksum, pseudoHeaderSum, sumWords } from './checksum.js';
import { prng } from './testing/prng.js';
import { SYN4_PARTIAL, SYN6_PARTIAL, WIKIPEDIA_IPV4_HEADER } from './testing/vectors.js';

/** The textbook definition, for comparison. */
function naiveChecksum(b: Uint8Array, start: number, end: number): number {
  let s = 0;
  for (let i = start; i < end; i += 2) s += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

test('RFC 1071 §3 example: sum ddf2, checksum 220d', () => {
  const b = Buffer.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
  assert.equal(sumWords(b, 0, b.length), 0xddf2);
  assert.equal(internetChecksum(b), 0x220d);
});

test('the IPv4 header checksum of a known header', () => {
  const h = Buffer.from(WIKIPEDIA_IPV4_HEADER);
  assert.equal(internetChecksum(h), 0, 'a header with its checksum sums to zero');
  h.writeUInt16BE(0, 10);
  assert.equal(internetChecksum(h), 0xb861);
});

test('pseudo-header sums match the seed Linux leaves in CHECKSUM_PARTIAL packets', () => {
  const tcp4Length = SYN4_PARTIAL.length - 20;
  assert.equal(pseudoHeaderSum(SYN4_PARTIAL.subarray(12, 16), SYN4_PARTIAL.subarray(16, 20), 6, tcp4Length), SYN4_PARTIAL.readUInt16BE(36));
  const tcp6Length = SYN6_PARTIAL.length - 40;
  assert.equal(pseudoHeaderSum(SYN6_PARTIAL.subarray(8, 24), SYN6_PARTIAL.subarray(24, 40), 6, tcp6Length), SYN6_PARTIAL.readUInt16BE(56));
});

test('matches the textbook checksum at every alignment, odd lengths and large sizes', () => {
  const rand = prng(1071);
  const backing = Buffer.alloc(70_000 + 16);
  for (let i = 0; i < backing.length; i++) backing[i] = rand() & 0xff;
  const cases: Array<[number, number]> = [];
  for (let offset = 0; offset < 8; offset++) for (const len of [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 20, 40, 1499, 1500]) cases.push([offset, len]);
  for (let i = 0; i < 200; i++) cases.push([rand() % 16, rand() % 70_000]);
  for (const [offset, len] of cases) {
    // A view that is itself unaligned, summed from a further (possibly odd) start.
    const view = backing.subarray(offset);
    for (const start of [0, 1, 2, 3]) {
      if (start + len > view.length) continue;
      assert.equal(internetChecksum(view, start, start + len), naiveChecksum(view, start, start + len), `offset ${offset} start ${start} len ${len}`);
    }
  }
});

test('partial sums chain: header sum as the initial value of the payload sum', () => {
  const rand = prng(7);
  const b = Buffer.alloc(1000);
  for (let i = 0; i < b.length; i++) b[i] = rand() & 0xff;
  const whole = internetChecksum(b);
  assert.equal(finishChecksum(sumWords(b, 40, 1000, sumWords(b, 0, 40))), whole);
  assert.equal(foldSum(0x1fffe), 0xffff);
  assert.equal(foldSum(2 ** 40 + 5), foldSum(foldSum(2 ** 40) + 5));
});
