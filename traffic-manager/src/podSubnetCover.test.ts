import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coveringCidrs, mergeBlocks, podBlocksOf, podIpBlock, podIpsOf, PodSubnetCover } from './podSubnetCover.js';

test('an IPv4 pod address stands for its /24, an IPv6 one for its /64', () => {
  assert.equal(podIpBlock('10.244.1.17'), '10.244.1.0/24');
  assert.equal(podIpBlock('192.168.255.255'), '192.168.255.0/24');
  assert.equal(podIpBlock('fd00:10:244:1:abcd::17'), 'fd00:10:244:1::/64');
  assert.equal(podIpBlock('2001:DB8::1'), '2001:db8::/64');
});

test('what is not a pod address, or lies where the daemon routes nothing, has no block', () => {
  for (const ip of ['', 'pending', '10.0.0', '0.1.2.3', '127.0.0.1', '169.254.169.254', '224.0.0.1', '240.0.0.1', '255.255.255.255', '::', '::1', '::ffff:10.0.0.1', 'fe80::1', 'febf::1', 'ff02::1']) {
    assert.equal(podIpBlock(ip), undefined, ip);
  }
  assert.equal(podIpBlock('fec0::1'), 'fec0::/64', 'just past link-local');
});

test('the addresses of many pods become few CIDRs, exactly the blocks in use', () => {
  assert.deepEqual(coveringCidrs([]), []);
  assert.deepEqual(coveringCidrs(['10.244.0.5', '10.244.0.6', '10.244.0.200']), ['10.244.0.0/24']);
  // Siblings merge; 10.244.2.0/24 has no sibling in use, so it stays on its own.
  assert.deepEqual(coveringCidrs(['10.244.0.5', '10.244.1.5', '10.244.2.5']), ['10.244.0.0/23', '10.244.2.0/24']);
  assert.deepEqual(coveringCidrs(['10.244.0.5', '10.244.1.5', '10.244.2.5', '10.244.3.5']), ['10.244.0.0/22']);
  // Neighbours that are not siblings (1 and 2 straddle a /23 border) do not merge.
  assert.deepEqual(coveringCidrs(['10.244.1.5', '10.244.2.5']), ['10.244.1.0/24', '10.244.2.0/24']);
  // Far apart stays apart, in address order (not text order: 9 before 10).
  assert.deepEqual(coveringCidrs(['10.1.0.1', '10.200.7.1', '9.0.0.1', '192.168.3.4']), ['9.0.0.0/24', '10.1.0.0/24', '10.200.7.0/24', '192.168.3.0/24']);
});

test('merging stops at /16 (IPv4) and /48 (IPv6) even when everything below is in use', () => {
  const all = (second: number): string[] => Array.from({ length: 256 }, (_, i) => `10.${second}.${i}.9`);
  assert.deepEqual(coveringCidrs(all(244)), ['10.244.0.0/16']);
  assert.deepEqual(coveringCidrs([...all(244), ...all(245)]), ['10.244.0.0/16', '10.245.0.0/16']);
  // 65,536 /64s in use take long to list; their two halves stand for them.
  assert.deepEqual(mergeBlocks(['fd00:1:2::/49', 'fd00:1:2:8000::/49']), ['fd00:1:2::/48']);
  assert.deepEqual(mergeBlocks(['fd00:1:2::/48', 'fd00:1:3::/48']), ['fd00:1:2::/48', 'fd00:1:3::/48']);
  assert.deepEqual(coveringCidrs(['fd00:1:2::9', 'fd00:1:2:1::9', 'fd00:1:3::9']), ['fd00:1:2::/63', 'fd00:1:3::/64']);
});

test('IPv6, and both families together: IPv4 first, each family merged on its own', () => {
  assert.deepEqual(coveringCidrs(['fd00:10:244:1::5', 'fd00:10:244::5', 'fd00:10:244:3::5']), ['fd00:10:244::/63', 'fd00:10:244:3::/64']);
  assert.deepEqual(
    coveringCidrs(['fd00:10:244::5', '10.244.1.5', 'fd00:10:244:1::5', '10.244.0.5', '10.244.9.5']),
    ['10.244.0.0/23', '10.244.9.0/24', 'fd00:10:244::/63'],
  );
});

test('mergeBlocks drops CIDRs inside others and what does not parse', () => {
  assert.deepEqual(mergeBlocks(['10.244.0.0/24', '10.244.0.0/22', '10.244.3.0/24', '10.244.4.0/24', 'junk', '10.0.0.1/8']), ['10.244.0.0/22', '10.244.4.0/24']);
  // A merge can make a block that merges again with one kept before it.
  assert.deepEqual(mergeBlocks(['10.244.0.0/23', '10.244.2.0/24', '10.244.3.0/24']), ['10.244.0.0/22']);
});

test("a pod's addresses: podIPs and podIP, none for a hostNetwork pod or one not started", () => {
  assert.deepEqual(podIpsOf({ status: { podIP: '10.244.0.5', podIPs: [{ ip: '10.244.0.5' }, { ip: 'fd00::5' }] } }), ['10.244.0.5', 'fd00::5']);
  assert.deepEqual(podIpsOf({ status: { podIP: '10.244.0.5' } }), ['10.244.0.5']);
  assert.deepEqual(podIpsOf({ spec: { hostNetwork: true }, status: { podIP: '172.18.0.2', podIPs: [{ ip: '172.18.0.2' }] } }), []);
  assert.deepEqual(podIpsOf({ status: {} }), []);
  assert.deepEqual(podIpsOf({}), []);
});

test('what is kept of a pod is the blocks of its addresses, once each', () => {
  assert.deepEqual(podBlocksOf({ status: { podIP: '10.244.0.5', podIPs: [{ ip: '10.244.0.5' }, { ip: 'fd00::5' }] } }), ['10.244.0.0/24', 'fd00::/64']);
  assert.deepEqual(podBlocksOf({ status: { podIPs: [{ ip: '10.244.0.5' }, { ip: '10.244.0.6' }] } }), ['10.244.0.0/24']);
  assert.deepEqual(podBlocksOf({ status: { podIP: '127.0.0.1' } }), []);
  assert.deepEqual(podBlocksOf({ spec: { hostNetwork: true }, status: { podIP: '10.0.0.5' } }), []);
});

/** What podBlocksOf keeps of pods with these addresses, one each. */
const pods = (...ips: string[]): string[][] => ips.map((ip) => podBlocksOf({ status: { podIP: ip } }));

test('a block is kept for a while after its last pod goes, and dropped only if no pod came back', () => {
  const cover = new PodSubnetCover(1000);
  assert.deepEqual(cover.update(pods('10.244.0.5', '10.244.1.5'), 0), { cidrs: ['10.244.0.0/23'], nextDrop: undefined });
  // The pod of 10.244.1.0/24 goes at 100: the block stays, due to go at 1100.
  assert.deepEqual(cover.update(pods('10.244.0.5'), 100), { cidrs: ['10.244.0.0/23'], nextDrop: 1100 });
  assert.deepEqual(cover.update(pods('10.244.0.5'), 900), { cidrs: ['10.244.0.0/23'], nextDrop: 1100 }, 'the clock runs from when it emptied');
  assert.deepEqual(cover.update(pods('10.244.0.5'), 1100), { cidrs: ['10.244.0.0/24'], nextDrop: undefined });
  // A pod back in time cancels the drop; emptied again, the wait starts over.
  cover.update(pods('10.244.0.5', '10.244.1.9'), 1200);
  assert.deepEqual(cover.update(pods('10.244.0.5'), 1500), { cidrs: ['10.244.0.0/23'], nextDrop: 2500 });
  assert.deepEqual(cover.update(pods('10.244.0.5', '10.244.1.7'), 2000), { cidrs: ['10.244.0.0/23'], nextDrop: undefined });
  assert.deepEqual(cover.update(pods('10.244.0.5', '10.244.1.7'), 9000), { cidrs: ['10.244.0.0/23'], nextDrop: undefined });
  // Every pod gone: the next drop is the earliest one due.
  assert.deepEqual(cover.update(pods(), 9100), { cidrs: ['10.244.0.0/23'], nextDrop: 10_100 });
  assert.deepEqual(cover.update(pods(), 10_100), { cidrs: [], nextDrop: undefined });
});
