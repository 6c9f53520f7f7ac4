import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseIpPacket } from './ipPacket.js';
import { PacketWriter } from './packetWriter.js';
import { parseTcp, tcpFlagsToString, tcpOptionsLength, TCP_ACK, TCP_PSH, TCP_SYN, writeTcpHeader, type TcpOptions, type TcpSegment } from './tcp.js';
import { DATA4_FULL, DATA6_FULL, SYN4_FULL, SYNACK4_FULL } from './testing/vectors.js';

function tcpOf(packet: Buffer): TcpSegment {
  const ip = parseIpPacket(packet);
  assert.ok(ip.ok);
  const seg = parseTcp(ip.payload);
  assert.ok(seg.ok, JSON.stringify(seg));
  return seg;
}

const LOOP4 = Buffer.from([127, 0, 0, 1]);

test('parses the options of a captured Linux SYN', () => {
  const s = tcpOf(SYN4_FULL);
  assert.equal(s.srcPort, 0x9c48);
  assert.equal(s.dstPort, 0xa361);
  assert.equal(s.seq, 0x93f21dfd);
  assert.equal(s.ack, 0);
  assert.equal(s.flags, TCP_SYN);
  assert.equal(s.window, 0xffd7);
  assert.equal(s.headerLength, 40);
  assert.deepEqual(s.options, { mss: 65495, sackPermitted: true, tsValue: 0xb1c75817, tsEcho: 0, windowScale: 10 });
  assert.equal(s.payload.length, 0);
  assert.equal(tcpFlagsToString(s.flags), 'S');
});

test('builds the captured SYN-ACK byte for byte, checksum included', () => {
  const writer = new PacketWriter(LOOP4, LOOP4, 0);
  const options: TcpOptions = { mss: 65495, sackPermitted: true, tsValue: 0xa7c6ff3f, tsEcho: 0xb1c75817, windowScale: 10 };
  const packet = writer.tcp({ srcPort: 0xa361, dstPort: 0x9c48, seq: 0x2ef6dd38, ack: 0x93f21dfe, flags: TCP_SYN | TCP_ACK, window: 0xffcb, options });
  assert.equal(packet.toString('hex'), SYNACK4_FULL.toString('hex'));
});

test('builds captured data segments byte for byte (IPv4 whole packet, IPv6 TCP part)', () => {
  const d4 = tcpOf(DATA4_FULL);
  const writer4 = new PacketWriter(LOOP4, LOOP4, 0x502b);
  const p4 = writer4.tcp({ srcPort: d4.srcPort, dstPort: d4.dstPort, seq: d4.seq, ack: d4.ack, flags: TCP_PSH | TCP_ACK, window: 0x40, options: { tsValue: 0xb1c75817, tsEcho: 0xa7c6ff3f } }, d4.payload, 0, d4.payload.length);
  assert.equal(p4.toString('hex'), DATA4_FULL.toString('hex'));
  assert.equal(d4.payload.toString(), 'hello, cluster\n');

  const d6 = tcpOf(DATA6_FULL);
  const loop6 = DATA6_FULL.subarray(8, 24);
  const p6 = new PacketWriter(loop6, loop6).tcp(
    { srcPort: d6.srcPort, dstPort: d6.dstPort, seq: d6.seq, ack: d6.ack, flags: d6.flags, window: d6.window, options: d6.options },
    d6.payload,
    0,
    d6.payload.length,
  );
  assert.equal(p6.subarray(40).toString('hex'), DATA6_FULL.subarray(40).toString('hex'));
});

test('options round-trip in every combination, 4-byte aligned, SACK blocks trimmed to fit', () => {
  const all: TcpOptions[] = [];
  for (const mss of [undefined, 1460])
    for (const windowScale of [undefined, 0, 14])
      for (const sackPermitted of [undefined, true])
        for (const ts of [undefined, [1, 0xffffffff]])
          for (const sack of [undefined, [{ left: 1, right: 2 }], [1, 2, 3, 4].map((i) => ({ left: i * 100, right: i * 100 + 50 }))]) {
            const o: TcpOptions = {};
            if (mss !== undefined) o.mss = mss;
            if (windowScale !== undefined) o.windowScale = windowScale;
            if (sackPermitted) o.sackPermitted = true;
            if (ts) {
              o.tsValue = ts[0];
              o.tsEcho = ts[1];
            }
            if (sack) o.sack = sack;
            all.push(o);
          }
  for (const o of all) {
    const len = tcpOptionsLength(o);
    assert.equal(len % 4, 0);
    assert.ok(len <= 40, `${JSON.stringify(o)} takes ${len}`);
    const b = Buffer.alloc(20 + len);
    writeTcpHeader(b, 0, { srcPort: 1, dstPort: 2, seq: 3, ack: 4, flags: TCP_ACK, window: 5, options: o });
    const s = parseTcp(b);
    assert.ok(s.ok);
    const expected = { ...o };
    if (expected.sack) expected.sack = expected.sack.slice(0, Math.floor((40 - (len - 4 - 8 * Math.min(expected.sack.length, 4)) - 4) / 8));
    const got = { ...s.options };
    if (got.sack) assert.ok(got.sack.length >= 1 && got.sack.length <= o.sack!.length);
    assert.deepEqual({ ...got, sack: undefined }, { ...expected, sack: undefined }, JSON.stringify(o));
    if (o.sack) assert.deepEqual(got.sack, o.sack.slice(0, got.sack!.length));
  }
});

test('malformed options end option parsing but keep the segment', () => {
  const base = (opts: number[]): Buffer => {
    const len = Math.ceil(opts.length / 4) * 4;
    const b = Buffer.alloc(20 + len);
    writeTcpHeader(b, 0, { srcPort: 1, dstPort: 2, seq: 0, ack: 0, flags: TCP_SYN, window: 100 });
    b[12] = ((20 + len) / 4) << 4;
    Buffer.from(opts).copy(b, 20);
    return b;
  };
  const zeroLength = parseTcp(base([2, 4, 5, 0xb4, 99, 0, 3, 3, 7]));
  assert.ok(zeroLength.ok);
  assert.deepEqual(zeroLength.options, { mss: 1460 }); // stopped at the zero-length option
  const overrun = parseTcp(base([1, 3, 3, 7, 8, 40]));
  assert.ok(overrun.ok);
  assert.deepEqual(overrun.options, { windowScale: 7 });
  const unknownAndHuge = parseTcp(base([30, 4, 0, 0, 3, 3, 200, 0]));
  assert.ok(unknownAndHuge.ok);
  assert.deepEqual(unknownAndHuge.options, { windowScale: 14 }); // RFC 7323 caps the shift
  const wrongLength = parseTcp(base([2, 3, 5, 1, 1, 1, 1, 1]));
  assert.ok(wrongLength.ok);
  assert.deepEqual(wrongLength.options, {});
});

test('bad data offsets and truncations fail without throwing', () => {
  const seg = SYN4_FULL.subarray(20);
  for (let n = 0; n < seg.length; n++) assert.equal(parseTcp(seg.subarray(0, n)).ok, false, `truncated to ${n}`);
  const b = Buffer.from(seg);
  b[12] = 0x40;
  assert.deepEqual(parseTcp(b), { ok: false, reason: 'tcp: data offset below 5' });
  b[12] = 0xf0;
  assert.deepEqual(parseTcp(b), { ok: false, reason: 'tcp: truncated options' });
});

test('flags include the NS bit from the offset byte', () => {
  const b = Buffer.alloc(20);
  writeTcpHeader(b, 0, { srcPort: 1, dstPort: 2, seq: 0xffffffff, ack: 0x80000000, flags: 0x1ff, window: 0xffff });
  const s = parseTcp(b);
  assert.ok(s.ok);
  assert.equal(s.flags, 0x1ff);
  assert.equal(s.seq, 0xffffffff);
  assert.equal(s.ack, 0x80000000);
});
