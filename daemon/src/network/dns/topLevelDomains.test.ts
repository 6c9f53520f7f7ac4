import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { silentDnsLogger } from './dnsLogger.js';
import { Forwarder } from './forwarder.js';
import { FakeNameserver } from './testing/fakeNameserver.js';
import { askTopLevelDomains, findTopLevelDomains } from './topLevelDomains.js';

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

test('a resolver that fails (SERVFAIL) or does not answer leaves the name out; NXDOMAIN and NODATA say "no TLD"; ids are random', async () => {
  const ids: number[] = [];
  const answers = await askTopLevelDomains(['dev', 'samples', 'broken', 'silent'], async (q) => {
    const p = dnsPacket.decode(q);
    ids.push(p.id ?? 0);
    const name = p.questions![0]!.name;
    if (name === 'silent') throw new Error('timeout');
    const rcode = name === 'broken' ? 2 : name === 'samples' ? 3 : 0;
    return dnsPacket.encode({ type: 'response', id: p.id, flags: rcode, questions: p.questions, answers: name === 'dev' ? [soa('dev')] : [] });
  });
  assert.deepEqual([...answers].sort(), [['dev', true], ['samples', false]]);
  assert.notDeepEqual(ids, [1, 7920, 15839, 23758], 'not a sequence an off-path answer could guess');
});
