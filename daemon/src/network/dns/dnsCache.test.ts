import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LookupDNSResponse } from '../../../../protocol/src/gen/telepath/manager/v1/manager.js';
import { ipToBytes } from '../../../../protocol/src/ipAddress.js';
import { DnsCache } from './dnsCache.js';

const A = 1;
const positive = (ttl: number): LookupDNSResponse => ({
  rcode: 0,
  answers: [{ name: 'echo.samples.svc.cluster.local', type: A, ttl, data: { $case: 'ip', value: ipToBytes('10.96.0.20') } }],
});

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

test('a positive answer lives its smallest TTL, capped, and counts down', () => {
  const c = clock();
  const cache = new DnsCache({ now: c.now, maxTtlSeconds: 5 });
  assert.equal(cache.set('echo.samples.svc.cluster.local', A, positive(30)), 5);
  assert.equal(cache.get('ECHO.samples.svc.cluster.local', A)?.remainingSeconds, 5);
  c.advance(3_200);
  assert.equal(cache.get('echo.samples.svc.cluster.local', A)?.remainingSeconds, 2);
  c.advance(1_799);
  assert.equal(cache.get('echo.samples.svc.cluster.local', A)?.remainingSeconds, 1);
  c.advance(1);
  assert.equal(cache.get('echo.samples.svc.cluster.local', A), undefined);
  assert.equal(cache.size, 0);
});

test('a short TTL from the cluster is kept', () => {
  const c = clock();
  const cache = new DnsCache({ now: c.now, maxTtlSeconds: 5 });
  assert.equal(cache.set('x', A, positive(2)), 2);
  c.advance(2_000);
  assert.equal(cache.get('x', A), undefined);
});

test('NXDOMAIN and no-data are cached for the negative TTL; failures are not cached', () => {
  const c = clock();
  const cache = new DnsCache({ now: c.now, negativeTtlSeconds: 2 });
  assert.equal(cache.set('nope', A, { rcode: 3, answers: [] }), 2);
  assert.equal(cache.set('nodata', 28, { rcode: 0, answers: [] }), 2);
  assert.equal(cache.set('broken', A, { rcode: 2, answers: [] }), 0);
  assert.equal(cache.get('broken', A), undefined);
  assert.equal(cache.get('nope', A)?.answer.rcode, 3);
  assert.equal(cache.get('nodata', 28)?.answer.answers.length, 0);
  c.advance(2_000);
  assert.equal(cache.get('nope', A), undefined);
  assert.equal(cache.get('nodata', 28), undefined);
});

test('entries are per type, a failure replaces an older entry, clear() forgets all', () => {
  const c = clock();
  const cache = new DnsCache({ now: c.now });
  cache.set('x', A, positive(5));
  assert.equal(cache.get('x', 28), undefined);
  cache.set('x', A, { rcode: 2, answers: [] });
  assert.equal(cache.get('x', A), undefined);
  cache.set('y', A, positive(5));
  cache.clear();
  assert.equal(cache.get('y', A), undefined);
});

test('beyond maxEntries the oldest entries go first', () => {
  const c = clock();
  const cache = new DnsCache({ now: c.now, maxEntries: 3 });
  for (const n of ['a', 'b', 'c', 'd']) cache.set(n, A, positive(5));
  assert.equal(cache.size, 3);
  assert.equal(cache.get('a', A), undefined);
  assert.ok(cache.get('d', A));
});
