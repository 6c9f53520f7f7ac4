import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipFromBytes, ipToBytes, subnetFromCidr, subnetToCidr } from './ipAddress.js';

test('IPv4 addresses convert to 4 bytes and back', () => {
  assert.deepEqual([...ipToBytes('10.96.0.10')], [10, 96, 0, 10]);
  assert.equal(ipFromBytes(Uint8Array.of(192, 168, 1, 255)), '192.168.1.255');
});

test('IPv6 addresses convert to 16 bytes and back in RFC 5952 form', () => {
  const cases: Array<[string, string]> = [
    ['::', '::'],
    ['::1', '::1'],
    ['FD00:10:96:0:0:0:0:A', 'fd00:10:96::a'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // the first of two equal runs is compressed
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group stays
    ['1::', '1::'],
    ['::ffff:10.1.2.3', '::ffff:a01:203'],
  ];
  for (const [input, canonical] of cases) {
    const bytes = ipToBytes(input);
    assert.equal(bytes.length, 16, input);
    assert.equal(ipFromBytes(bytes), canonical, input);
    assert.deepEqual(ipToBytes(canonical), bytes, canonical);
  }
  assert.deepEqual([...ipToBytes('::ffff:10.1.2.3').subarray(10)], [0xff, 0xff, 10, 1, 2, 3]);
});

test('malformed addresses are rejected', () => {
  assert.throws(() => ipToBytes('10.0.0.256'), /not an IP address/);
  assert.throws(() => ipToBytes('web.default'), /not an IP address/);
  assert.throws(() => ipFromBytes(new Uint8Array(5)), /4 or 16 bytes/);
});

test('subnets convert from CIDR and back; host bits must be zero', () => {
  assert.deepEqual(subnetFromCidr('10.96.0.0/12'), { ip: Uint8Array.of(10, 96, 0, 0), prefixLength: 12 });
  assert.equal(subnetToCidr(subnetFromCidr('fd00:10:96::/112')), 'fd00:10:96::/112');
  assert.throws(() => subnetFromCidr('10.96.0.1/12'), /host bits/);
  assert.throws(() => subnetFromCidr('10.96.0.0/33'), /prefix length/);
  assert.throws(() => subnetFromCidr('10.96.0.0'), /not a CIDR/);
});
