import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type dnsPacket from 'dns-packet';
import { silentDnsLogger } from './dnsLogger.js';
import { Forwarder } from './forwarder.js';
import { FakeNameserver } from './testing/fakeNameserver.js';
import { findTopLevelDomains } from './topLevelDomains.js';

const soa = (zone: string): dnsPacket.Answer => ({
  name: zone,
  type: 'SOA',
  ttl: 60,
  data: { mname: `ns.${zone}`, rname: `hostmaster.${zone}`, serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 1 },
});

let ns: FakeNameserver;
before(async () => {
  // Like the root zone: `dev` and `app` exist (with an SOA), `samples` does not; `corp` is a
  // private TLD that a corporate resolver serves.
  ns = await FakeNameserver.start({ host: '127.0.0.1', records: { dev: [soa('dev')], app: [soa('app')], corp: [soa('corp')] } });
});
after(() => ns.close());

test('namespaces named like a TLD the original resolver knows are found, others are not', async () => {
  const f = new Forwarder({ nameservers: [{ address: '127.0.0.1', port: ns.port }], logger: silentDnsLogger });
  const found = await findTopLevelDomains(['samples', 'dev', 'DEV', 'corp', 'kube-system', 'weird.name'], (q, s) => f.forward(q, s));
  assert.deepEqual([...found].sort(), ['corp', 'dev']);
  assert.ok(!ns.seen.some((q) => q.name === 'weird.name'), 'only single labels are asked');
});

test('an unreachable resolver makes no namespace a TLD', async () => {
  const found = await findTopLevelDomains(['dev'], async () => Promise.reject(new Error('offline')));
  assert.equal(found.size, 0);
});
