import assert from 'node:assert/strict';
import { test } from 'node:test';
import { internetChecksum } from './checksum.js';
import { parseIpv4, writeIpv4Header } from './ipv4.js';
import { SYN4_FULL, WIKIPEDIA_IPV4_HEADER } from './testing/vectors.js';

function ok<T extends { ok: boolean }>(r: T | { ok: false; reason: string }): Extract<T, { ok: true }> {
  if (!r.ok) assert.fail(`parse failed: ${(r as { reason: string }).reason}`);
  return r as Extract<T, { ok: true }>;
}

test('parses a captured Linux SYN', () => {
  const p = ok(parseIpv4(SYN4_FULL));
  assert.equal(p.version, 4);
  assert.equal(p.headerLength, 20);
  assert.equal(p.totalLength, 60);
  assert.equal(p.id, 0x5029);
  assert.equal(p.dontFragment, true);
  assert.equal(p.hopLimit, 64);
  assert.equal(p.protocol, 6);
  assert.deepEqual([...p.src], [127, 0, 0, 1]);
  assert.deepEqual([...p.dst], [127, 0, 0, 1]);
  assert.equal(p.payload.length, 40);
  assert.equal(p.payload[0], 0x9c);
});

test('writes the header of the known example byte for byte', () => {
  const b = Buffer.alloc(20);
  writeIpv4Header(b, 0, {
    totalLength: 0x73,
    id: 0,
    protocol: 17,
    src: Buffer.from([192, 168, 0, 1]),
    dst: Buffer.from([192, 168, 0, 199]),
  });
  assert.deepEqual(b, WIKIPEDIA_IPV4_HEADER);
});

test('rejects a bad header checksum unless told not to verify', () => {
  const b = Buffer.from(SYN4_FULL);
  b[10] ^= 1;
  const r = parseIpv4(b);
  assert.equal(r.ok, false);
  assert.match((r as { reason: string }).reason, /checksum/);
  assert.equal(parseIpv4(b, false).ok, true);
});

test('drops fragments with a reason: more-fragments set, or a non-zero offset', () => {
  for (const flags of [0x2000 /* MF */, 0x0001 /* offset 8 */, 0x4000 | 0x00b9]) {
    const b = Buffer.from(SYN4_FULL);
    b.writeUInt16BE(flags, 6);
    b.writeUInt16BE(0, 10);
    b.writeUInt16BE(internetChecksum(b, 0, 20), 10);
    const r = parseIpv4(b);
    assert.deepEqual(r, { ok: false, reason: 'ipv4: fragment' }, flags.toString(16));
  }
});

test('skips options and trims link-layer padding after the total length', () => {
  const opts = Buffer.from([0x01, 0x01, 0x01, 0x00]); // NOP NOP NOP EOL
  const payload = SYN4_FULL.subarray(20);
  const b = Buffer.concat([Buffer.alloc(24), payload, Buffer.from([0xde, 0xad])]);
  SYN4_FULL.copy(b, 0, 0, 20);
  opts.copy(b, 20);
  b[0] = 0x46;
  b.writeUInt16BE(24 + payload.length, 2);
  b.writeUInt16BE(0, 10);
  b.writeUInt16BE(internetChecksum(b, 0, 24), 10);
  const p = ok(parseIpv4(b));
  assert.equal(p.headerLength, 24);
  assert.deepEqual(p.payload, payload);
});

test('truncations and nonsense lengths fail without throwing', () => {
  for (let n = 0; n < SYN4_FULL.length; n++) {
    const r = parseIpv4(SYN4_FULL.subarray(0, n), false);
    assert.equal(r.ok, false, `truncated to ${n}`);
  }
  const shortIhl = Buffer.from(SYN4_FULL);
  shortIhl[0] = 0x44;
  assert.match((parseIpv4(shortIhl, false) as { reason: string }).reason, /header length/);
  const shortTotal = Buffer.from(SYN4_FULL);
  shortTotal.writeUInt16BE(10, 2);
  assert.match((parseIpv4(shortTotal, false) as { reason: string }).reason, /total length/);
  const v6 = Buffer.from(SYN4_FULL);
  v6[0] = 0x65;
  assert.match((parseIpv4(v6, false) as { reason: string }).reason, /version/);
});
