import assert from 'node:assert/strict';
import { test } from 'node:test';
import { icmpEchoPacket, inetChecksum, parseIpv4, parseUdp, udpPacket } from './tunTestPackets.js';

test('inetChecksum matches the RFC 1071 example and handles odd lengths', () => {
  // RFC 1071 §3: the sum of 0001 f203 f4f5 f6f7 is ddf2, so the checksum is 220d.
  assert.equal(inetChecksum(Buffer.from('0001f203f4f5f6f7', 'hex')), 0x220d);
  assert.equal(inetChecksum(Buffer.from([0x01])), ~0x0100 & 0xffff);
});

test('a built UDP packet parses back with valid checksums, and corruption is noticed', () => {
  const p = udpPacket({ src: '10.99.0.2', dst: '10.99.0.1', srcPort: 7777, dstPort: 5000 }, Buffer.from('hi'));
  const ip = parseIpv4(p);
  assert.ok(ip?.headerChecksumOk);
  const udp = ip && parseUdp(ip);
  assert.deepEqual(udp && [udp.srcPort, udp.dstPort, udp.length, udp.checksumOk, udp.data.toString()], [7777, 5000, 10, true, 'hi']);
  p[p.length - 1] ^= 1;
  const broken = parseIpv4(p);
  assert.equal(broken && parseUdp(broken)?.checksumOk, false);
});

test('an ICMP echo checksums to zero', () => {
  const p = icmpEchoPacket({ src: '10.0.0.1', dst: '10.0.0.2', type: 8, id: 1, seq: 2 }, Buffer.from('abc'));
  assert.equal(inetChecksum(p.subarray(20)), 0);
  assert.equal(parseIpv4(Buffer.from('60000000', 'hex')), undefined);
});
