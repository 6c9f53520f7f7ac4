import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import type { DNSRecord, LookupDNSResponse } from '../../../../protocol/src/gen/telepath/manager/v1/manager.js';
import { ipToBytes } from '../../../../protocol/src/ipAddress.js';
import { QTYPE } from './dnsAnswer.js';
import { silentDnsLogger } from './dnsLogger.js';
import { DnsQueryHandler, danglingTarget, type LookupCluster } from './dnsQueryHandler.js';
import { DnsRouter } from './dnsRouter.js';

type Decoded = dnsPacket.DecodedPacket & { rcode: string };

const a = (name: string, ip: string): DNSRecord => ({ name, type: QTYPE.A, ttl: 30, data: { $case: 'ip', value: ipToBytes(ip) } });
const cname = (name: string, target: string): DNSRecord => ({ name, type: QTYPE.CNAME, ttl: 30, data: { $case: 'target', value: target } });

/** The cluster as CoreDNS would answer, by fully-qualified name. */
const CLUSTER: Record<string, DNSRecord[]> = {
  'echo.samples.svc.cluster.local': [a('echo.samples.svc.cluster.local', '10.96.0.20')],
  'external.samples.svc.cluster.local': [cname('external.samples.svc.cluster.local', 'echo.samples.svc.cluster.local'), a('echo.samples.svc.cluster.local', '10.96.0.20')],
  'outside.samples.svc.cluster.local': [cname('outside.samples.svc.cluster.local', 'example.test')],
  'api.dev.svc.cluster.local': [a('api.dev.svc.cluster.local', '10.96.0.30')],
};

function clusterTable(): { lookup: LookupCluster; asked: string[] } {
  const asked: string[] = [];
  const lookup: LookupCluster = async (name, qtype) => {
    asked.push(`${name}/${qtype}`);
    const recs = CLUSTER[name];
    if (!recs) return { rcode: 3, answers: [] };
    return { rcode: 0, answers: recs.filter((r) => r.type === qtype || r.type === QTYPE.CNAME) };
  };
  return { lookup, asked };
}

/** The original resolver: knows example.test and the LAN host `nas`. */
function upstream(): { forward: (q: Buffer) => Promise<Buffer>; forwarded: string[] } {
  const forwarded: string[] = [];
  const forward = async (q: Buffer): Promise<Buffer> => {
    const p = dnsPacket.decode(q);
    const question = p.questions![0]!;
    forwarded.push(question.name);
    const known: Record<string, string> = { 'example.test': '192.0.2.10', nas: '192.168.1.5', 'web.dev': '192.0.2.99' };
    const ip = known[question.name.toLowerCase()];
    return dnsPacket.encode({
      type: 'response',
      id: p.id,
      flags: ip ? 0 : 3,
      questions: [question],
      answers: ip && question.type === 'A' ? [{ name: question.name, type: 'A', ttl: 300, data: ip }] : [],
    });
  };
  return { forward, forwarded };
}

const routing = { clusterDomain: 'cluster.local', connectedNamespace: 'samples', namespaces: ['samples', 'dev'], tldNamespaces: ['dev'] };

function setup(overrides: { lookup?: LookupCluster; now?: () => number; lookupTimeoutMs?: number } = {}) {
  const cluster = clusterTable();
  const up = upstream();
  const handler = new DnsQueryHandler({
    router: new DnsRouter(routing),
    lookupCluster: overrides.lookup ?? cluster.lookup,
    forward: up.forward,
    logger: silentDnsLogger,
    now: overrides.now,
    lookupTimeoutMs: overrides.lookupTimeoutMs,
  });
  const ask = async (name: string, type: dnsPacket.RecordType = 'A', transport: 'udp' | 'tcp' = 'udp'): Promise<Decoded> => {
    const q = dnsPacket.encode({ type: 'query', id: 321, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type }] });
    const r = await handler.handle(q, transport);
    assert.ok(r, 'no response');
    const p = dnsPacket.decode(r) as Decoded;
    assert.equal(p.id, 321);
    assert.equal(p.questions?.[0]?.name, name);
    return p;
  };
  return { handler, ask, asked: cluster.asked, forwarded: up.forwarded };
}

const ips = (p: Decoded): string[] => (p.answers ?? []).filter((x) => x.type === 'A').map((x) => (x as dnsPacket.StringAnswer).data);

test('a short name resolves in the connected namespace, answered under the short name', async () => {
  const s = setup();
  const p = await s.ask('echo');
  assert.equal(p.rcode, 'NOERROR');
  assert.deepEqual(p.answers?.map((x) => x.name), ['echo']);
  assert.deepEqual(ips(p), ['10.96.0.20']);
  assert.deepEqual(s.asked, ['echo.samples.svc.cluster.local/1']);
  assert.deepEqual(s.forwarded, []);
});

test('a short name the cluster does not know falls through to the original resolver', async () => {
  const s = setup();
  const p = await s.ask('nas');
  assert.deepEqual(ips(p), ['192.168.1.5']);
  assert.deepEqual(s.asked, ['nas.samples.svc.cluster.local/1']);
  assert.deepEqual(s.forwarded, ['nas']);
});

test('svc.ns is asked as the full name; a missing one is NXDOMAIN from the daemon alone', async () => {
  const s = setup();
  assert.deepEqual(ips(await s.ask('echo.samples')), ['10.96.0.20']);
  const nx = await s.ask('nope.samples');
  assert.equal(nx.rcode, 'NXDOMAIN');
  assert.equal(nx.authorities?.[0]?.type, 'SOA');
  assert.deepEqual(s.forwarded, []);
});

test('a namespace that is also a TLD: cluster names resolve, the rest reaches the internet', async () => {
  const s = setup();
  assert.deepEqual(ips(await s.ask('api.dev')), ['10.96.0.30']);
  assert.deepEqual(ips(await s.ask('web.dev')), ['192.0.2.99']);
  assert.deepEqual(s.forwarded, ['web.dev']);
});

test('names outside the cluster are forwarded and the cluster is never asked', async () => {
  const s = setup();
  assert.deepEqual(ips(await s.ask('example.test')), ['192.0.2.10']);
  assert.equal((await s.ask('nope.example.test')).rcode, 'NXDOMAIN');
  assert.equal((await s.ask('localhost')).rcode, 'NXDOMAIN');
  assert.deepEqual(s.asked, []);
  assert.deepEqual(s.forwarded, ['example.test', 'nope.example.test', 'localhost']);
});

test('an ExternalName to a public host is followed through the original resolver', async () => {
  const s = setup();
  const p = await s.ask('outside.samples');
  assert.equal(p.rcode, 'NOERROR');
  assert.deepEqual(p.answers?.map((x) => [x.name, x.type]), [
    ['outside.samples', 'CNAME'],
    ['example.test', 'A'],
  ]);
  assert.ok(p.answers!.every((x) => (x as dnsPacket.StringAnswer).ttl! <= 5), 'chased TTLs are capped too');
  assert.deepEqual(s.forwarded, ['example.test']);
  // a complete in-cluster chain needs nothing more
  const internal = await s.ask('external.samples');
  assert.deepEqual(internal.answers?.map((x) => x.type), ['CNAME', 'A']);
  assert.deepEqual(s.forwarded, ['example.test']);
  // asking for the CNAME itself is not chased
  const own = await s.ask('outside.samples', 'CNAME');
  assert.deepEqual(own.answers?.map((x) => x.type), ['CNAME']);
});

test('answers are cached for their TTL and negative answers for the negative TTL', async () => {
  let now = 0;
  const s = setup({ now: () => now });
  await s.ask('echo.samples');
  await s.ask('echo.samples');
  await s.ask('nope.samples');
  await s.ask('nope.samples');
  assert.equal(s.asked.length, 2);
  now += 2_000;
  await s.ask('nope.samples');
  await s.ask('echo.samples');
  assert.equal(s.asked.length, 3);
  now += 3_000;
  const p = await s.ask('echo.samples');
  assert.equal(s.asked.length, 4);
  assert.equal((p.answers?.[0] as dnsPacket.StringAnswer).ttl, 5);
});

test('concurrent identical questions share one cluster lookup', async () => {
  let calls = 0;
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const lookup: LookupCluster = async (name) => {
    calls++;
    await gate;
    return { rcode: 0, answers: [a(name, '10.96.0.20')] };
  };
  const s = setup({ lookup });
  const all = Promise.all([s.ask('echo.samples'), s.ask('echo.samples'), s.ask('ECHO.samples')]);
  await new Promise((r) => setImmediate(r));
  release();
  const answers = await all;
  assert.equal(calls, 1);
  assert.deepEqual(answers.map(ips), [['10.96.0.20'], ['10.96.0.20'], ['10.96.0.20']]);
});

test('a cluster that does not answer in time gives SERVFAIL (and a short name goes to the original resolver)', async () => {
  const hang: LookupCluster = (_name, _type, signal) =>
    new Promise<LookupDNSResponse>((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error)));
  const s = setup({ lookup: hang, lookupTimeoutMs: 100 });
  // AbortSignal.timeout does not keep the process alive; in the daemon its sockets do.
  const keepAlive = setInterval(() => {}, 1000);
  try {
    const t0 = Date.now();
    assert.equal((await s.ask('echo.samples')).rcode, 'SERVFAIL');
    assert.ok(Date.now() - t0 < 1000);
    assert.deepEqual(ips(await s.ask('nas')), ['192.168.1.5']);
  } finally {
    clearInterval(keepAlive);
  }
});

test('a cluster lookup that throws or returns nonsense is SERVFAIL, not a crash', async () => {
  const s1 = setup({ lookup: async () => Promise.reject(new Error('session expired')) });
  assert.equal((await s1.ask('echo.samples')).rcode, 'SERVFAIL');
  const s2 = setup({ lookup: async () => ({}) as LookupDNSResponse });
  assert.equal((await s2.ask('echo.samples')).rcode, 'SERVFAIL');
});

test('odd queries: other opcodes NOTIMP, zone transfers REFUSED, other classes forwarded', async () => {
  const s = setup();
  const notify = dnsPacket.encode({ type: 'query', id: 5, flags: 4 << 11, questions: [{ name: 'echo.samples', type: 'SOA' }] });
  assert.equal((dnsPacket.decode((await s.handler.handle(notify, 'udp'))!) as Decoded).rcode, 'NOTIMP');
  assert.equal((await s.ask('samples.svc.cluster.local', 'AXFR', 'tcp')).rcode, 'REFUSED');
  const chaos = dnsPacket.encode({ type: 'query', id: 6, questions: [{ name: 'version.bind', type: 'TXT', class: 'CH' }] });
  await s.handler.handle(chaos, 'udp');
  assert.deepEqual(s.forwarded, ['version.bind']);
});

test('garbage gets FORMERR when it has a query header, and nothing otherwise', async () => {
  const s = setup();
  assert.equal(await s.handler.handle(Buffer.from([1, 2, 3]), 'udp'), undefined);
  const header = Buffer.from([0xbe, 0xef, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0x05, 0x61]);
  const r = dnsPacket.decode((await s.handler.handle(header, 'udp'))!) as Decoded;
  assert.equal(r.id, 0xbeef);
  assert.equal(r.rcode, 'FORMERR');
});

test('new routing drops the cache and applies at once', async () => {
  const s = setup();
  await s.ask('echo');
  s.handler.setRouter(new DnsRouter({ ...routing, connectedNamespace: 'other' }));
  await s.ask('echo');
  assert.deepEqual(s.asked, ['echo.samples.svc.cluster.local/1', 'echo.other.svc.cluster.local/1']);
});

test('danglingTarget finds where a chain stops, and ignores loops', () => {
  const l = (owner: string, type: number, target?: string) => ({ owner, type, target });
  assert.equal(danglingTarget('a', 1, [l('a', 1)]), undefined);
  assert.equal(danglingTarget('a', 1, []), undefined);
  assert.equal(danglingTarget('a', 1, [l('a', 5, 'b'), l('b', 5, 'c')]), 'c');
  assert.equal(danglingTarget('a', 1, [l('a', 5, 'b'), l('B', 1)]), undefined);
  assert.equal(danglingTarget('a', 1, [l('a', 5, 'b'), l('b', 5, 'a')]), undefined);
});
