import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatCidr, parseCidr } from './cidr.js';

test('parseCidr accepts IPv4 and IPv6 prefixes', () => {
  assert.deepEqual(parseCidr('10.96.0.0/12'), { address: '10.96.0.0', prefix: 12, family: 4 });
  assert.deepEqual(parseCidr('fd00:10:96::/112'), { address: 'fd00:10:96::', prefix: 112, family: 6 });
  assert.equal(formatCidr(parseCidr('10.99.0.1/32')), '10.99.0.1/32');
});

test('parseCidr rejects what ip(8) would misread', () => {
  for (const bad of ['10.96.0.0', '10.96.0.0/33', 'fd00::/129', '-h/24', 'dev/8', '10.96.0.0/12 dev', '300.1.1.1/8', '']) {
    assert.throws(() => parseCidr(bad), /is not an address with a prefix length/, bad);
  }
});
