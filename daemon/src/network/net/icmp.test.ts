import assert from 'node:assert/strict';
import { test } from 'node:test';
import { internetChecksum } from './checksum.js';
import { buildDestinationUnreachable, parseIcmp } from './icmp.js';
import { parseIpPacket } from './ipPacket.js';
import { ICMP4_PORT_UNREACHABLE, ICMP6_PORT_UNREACHABLE, UDP4_PARTIAL, UDP6_PARTIAL } from './testing/vectors.js';

test('port unreachable matches what Linux sends, ICMP message byte for byte (IPv4)', () => {
  const built = buildDestinationUnreachable(UDP4_PARTIAL, 'port');
  assert.ok(built);
  const ip = parseIpPacket(built);
  assert.ok(ip.ok);
  assert.equal(ip.protocol, 1);
  assert.deepEqual([...ip.src], [127, 0, 0, 1]);
  assert.equal(ip.payload.toString('hex'), ICMP4_PORT_UNREACHABLE.subarray(20).toString('hex'));
});

test('port unreachable matches what Linux sends, ICMPv6 message byte for byte', () => {
  const built = buildDestinationUnreachable(UDP6_PARTIAL, 'port');
  assert.ok(built);
  assert.equal(built.subarray(40).toString('hex'), ICMP6_PORT_UNREACHABLE.subarray(40).toString('hex'));
  const ip = parseIpPacket(built);
  assert.ok(ip.ok);
  assert.equal(ip.protocol, 58);
});

test('host unreachable goes from the unreachable address to the sender', () => {
  const offending = Buffer.from(UDP4_PARTIAL);
  offending.set([10, 0, 0, 2], 12); // sender
  offending.set([10, 96, 0, 10], 16); // cluster address
  const built = buildDestinationUnreachable(offending, 'host');
  assert.ok(built);
  const ip = parseIpPacket(built);
  assert.ok(ip.ok);
  assert.deepEqual([...ip.src], [10, 96, 0, 10]);
  assert.deepEqual([...ip.dst], [10, 0, 0, 2]);
  const m = parseIcmp(ip.payload);
  assert.ok(m.ok);
  assert.equal(m.type, 3);
  assert.equal(m.code, 1);
  assert.equal(internetChecksum(ip.payload), 0);
  assert.deepEqual(m.body, offending);
});

test('quotes are bounded and non-IP input yields nothing', () => {
  const big = Buffer.alloc(2000);
  UDP4_PARTIAL.copy(big);
  const v4 = buildDestinationUnreachable(big, 'port');
  assert.ok(v4 && v4.length <= 576);
  const big6 = Buffer.alloc(3000);
  UDP6_PARTIAL.copy(big6);
  const v6 = buildDestinationUnreachable(big6, 'host');
  assert.ok(v6 && v6.length <= 1280);
  assert.equal(buildDestinationUnreachable(Buffer.alloc(0), 'port'), undefined);
  assert.equal(buildDestinationUnreachable(Buffer.from([0x45, 0, 0]), 'port'), undefined);
  assert.equal(buildDestinationUnreachable(Buffer.alloc(60, 0x20), 'port'), undefined);
  assert.equal(parseIcmp(Buffer.alloc(7)).ok, false);
});
