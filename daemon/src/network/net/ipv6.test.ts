import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseIpPacket } from './ipPacket.js';
import { parseIpv6, writeIpv6Header } from './ipv6.js';
import { SYN6_FULL } from './testing/vectors.js';

const TCP = SYN6_FULL.subarray(40);
const LOOPBACK = SYN6_FULL.subarray(8, 24);

/** An IPv6 packet with the given extension headers (each [type, bytes]) before TCP. */
function withExtensions(exts: Array<[number, Buffer]>): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < exts.length; i++) {
    const body = Buffer.from(exts[i]![1]);
    body[0] = i + 1 < exts.length ? exts[i + 1]![0] : 6;
    parts.push(body);
  }
  const payload = Buffer.concat([...parts, TCP]);
  const b = Buffer.alloc(40 + payload.length);
  writeIpv6Header(b, 0, { payloadLength: payload.length, nextHeader: exts[0]?.[0] ?? 6, src: LOOPBACK, dst: LOOPBACK });
  payload.copy(b, 40);
  return b;
}

test('parses a captured Linux SYN over IPv6', () => {
  const p = parseIpv6(SYN6_FULL);
  assert.ok(p.ok);
  assert.equal(p.headerLength, 40);
  assert.equal(p.flowLabel, 0xf9b6a);
  assert.equal(p.trafficClass, 0);
  assert.equal(p.hopLimit, 64);
  assert.equal(p.protocol, 6);
  assert.equal(p.nextHeader, 6);
  assert.equal(p.payload.length, 40);
  assert.deepEqual(p.src, LOOPBACK);
  assert.equal(parseIpPacket(SYN6_FULL).ok, true);
});

test('walks hop-by-hop, destination options, routing, atomic fragment and AH to TCP', () => {
  const hbh = Buffer.from([0, 0, 1, 4, 0, 0, 0, 0]); // PadN
  const dst = Buffer.alloc(16);
  dst[1] = 1; // 16 bytes
  dst[2] = 1;
  dst[3] = 12;
  const routing = Buffer.from([0, 0, 4, 0, 0, 0, 0, 0]);
  const fragment = Buffer.from([0, 0, 0, 0, 0, 0, 0x12, 0x34]); // offset 0, M=0
  const ah = Buffer.alloc(16);
  ah[1] = 2; // (2+2)*4 = 16
  const b = withExtensions([[0, hbh], [60, dst], [43, routing], [44, fragment], [51, ah]]);
  const p = parseIpv6(b);
  assert.ok(p.ok, JSON.stringify(p));
  assert.equal(p.nextHeader, 0);
  assert.equal(p.protocol, 6);
  assert.equal(p.headerLength, 40 + 8 + 16 + 8 + 8 + 16);
  assert.deepEqual(p.payload, TCP);
});

test('refuses fragments, ESP, no-next-header, jumbograms and truncated chains', () => {
  const frag = (word: number): Buffer => {
    const f = Buffer.alloc(8);
    f.writeUInt16BE(word, 2);
    return withExtensions([[44, f]]);
  };
  assert.deepEqual(parseIpv6(frag(0x0001)), { ok: false, reason: 'ipv6: fragment' }); // M set
  assert.deepEqual(parseIpv6(frag(0x0008)), { ok: false, reason: 'ipv6: fragment' }); // offset 1
  const esp = Buffer.from(SYN6_FULL);
  esp[6] = 50;
  assert.deepEqual(parseIpv6(esp), { ok: false, reason: 'ipv6: encrypted payload' });
  const none = Buffer.from(SYN6_FULL);
  none[6] = 59;
  assert.deepEqual(parseIpv6(none), { ok: false, reason: 'ipv6: no next header' });
  const jumbo = Buffer.from(SYN6_FULL);
  jumbo.writeUInt16BE(0, 4);
  jumbo[6] = 0;
  assert.deepEqual(parseIpv6(jumbo), { ok: false, reason: 'ipv6: jumbogram' });
  const long = Buffer.from([0, 200, 0, 0, 0, 0, 0, 0]); // claims 1608 bytes
  assert.deepEqual(parseIpv6(withExtensions([[0, long]])), { ok: false, reason: 'ipv6: truncated extension header' });
  const many: Array<[number, Buffer]> = [];
  for (let i = 0; i < 20; i++) many.push([60, Buffer.alloc(8)]);
  assert.deepEqual(parseIpv6(withExtensions(many)), { ok: false, reason: 'ipv6: too many extension headers' });
});

test('truncated packets fail without throwing; the payload length bounds the payload', () => {
  for (let n = 0; n < SYN6_FULL.length; n++) assert.equal(parseIpv6(SYN6_FULL.subarray(0, n)).ok, false, `truncated to ${n}`);
  const padded = Buffer.concat([SYN6_FULL, Buffer.alloc(7)]);
  const p = parseIpv6(padded);
  assert.ok(p.ok);
  assert.equal(p.payload.length, 40);
});

test('writes the fixed header of the captured packet byte for byte', () => {
  const b = Buffer.alloc(40);
  writeIpv6Header(b, 0, { payloadLength: 40, nextHeader: 6, src: LOOPBACK, dst: LOOPBACK, flowLabel: 0xf9b6a });
  assert.deepEqual(b, SYN6_FULL.subarray(0, 40));
});
