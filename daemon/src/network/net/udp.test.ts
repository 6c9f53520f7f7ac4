import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseIpPacket } from './ipPacket.js';
import { PacketWriter } from './packetWriter.js';
import { parseUdp } from './udp.js';
import { UDP4_FULL, UDP6_FULL } from './testing/vectors.js';

test('parses and rebuilds captured datagrams byte for byte', () => {
  const ip = parseIpPacket(UDP4_FULL);
  assert.ok(ip.ok);
  const d = parseUdp(ip.payload);
  assert.ok(d.ok);
  assert.equal(d.srcPort, 56732);
  assert.equal(d.dstPort, 9);
  assert.equal(d.payload.toString(), 'ping');
  assert.equal(new PacketWriter(ip.src, ip.dst, 0x6078).udp(d.srcPort, d.dstPort, d.payload).toString('hex'), UDP4_FULL.toString('hex'));

  const ip6 = parseIpPacket(UDP6_FULL);
  assert.ok(ip6.ok);
  const d6 = parseUdp(ip6.payload);
  assert.ok(d6.ok);
  assert.equal(new PacketWriter(ip6.src, ip6.dst).udp(d6.srcPort, d6.dstPort, d6.payload).subarray(40).toString('hex'), UDP6_FULL.subarray(40).toString('hex'));
});

test('a checksum that computes to zero is sent as ffff', () => {
  // Find a payload whose checksum is zero: vary two bytes until it is.
  const writer = new PacketWriter(Buffer.from([10, 0, 0, 1]), Buffer.from([10, 0, 0, 2]));
  let found = false;
  for (let v = 0; v < 0x10000 && !found; v++) {
    const data = Buffer.from([v >> 8, v & 0xff]);
    const p = writer.udp(1000, 53, data);
    if (p.readUInt16BE(26) === 0xffff) found = true;
  }
  assert.ok(found);
});

test('length field bounds the payload; bad lengths fail', () => {
  const ip = parseIpPacket(UDP4_FULL);
  assert.ok(ip.ok);
  const padded = Buffer.concat([ip.payload, Buffer.from([1, 2, 3])]);
  const d = parseUdp(padded);
  assert.ok(d.ok);
  assert.equal(d.payload.toString(), 'ping');
  const short = Buffer.from(ip.payload);
  short.writeUInt16BE(7, 4);
  assert.deepEqual(parseUdp(short), { ok: false, reason: 'udp: length below 8' });
  const long = Buffer.from(ip.payload);
  long.writeUInt16BE(13, 4);
  assert.deepEqual(parseUdp(long), { ok: false, reason: 'udp: truncated datagram' });
  for (let n = 0; n < 8; n++) assert.equal(parseUdp(ip.payload.subarray(0, n)).ok, false);
});
