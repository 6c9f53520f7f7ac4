import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import type { DNSRecord, LookupDNSResponse } from '../../../../protocol/src/gen/telepath/manager/v1/manager.js';
import { ipToBytes } from '../../../../protocol/src/ipAddress.js';
import { QTYPE } from './dnsAnswer.js';
import { silentDnsLogger } from './dnsLogger.js';
import { DnsQueryHandler, danglingTarget, type LookupCluster } from './dnsQueryHandler.js';

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
    routing,
    lookupCluster: overrides.lookup ?? cluster.lookup,
    forward: up.forward,
    logger: silentDnsLogger,
    now: overrides.now,
    lookupTimeoutMs: overrides.lookupTimeoutMs,
  });
  return { handler, ask: asker(handler), asked: cluster.asked, forwarded: up.forwarded };
}

/** Sends one query to `handler` as a client would and decodes the answer. */
function asker(handler: DnsQueryHandler) {
  return async (name: string, type: dnsPacket.RecordType = 'A', transport: 'udp' | 'tcp' = 'udp'): Promise<Decoded> => {
    const q = dnsPacket.encode({ type: 'query', id: 321, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type }] });
    const r = await handler.handle(q, transport);
    assert.ok(r, 'no response');
    const p = dnsPacket.decode(r) as Decoded;
    assert.equal(p.id, 321);
    assert.equal(p.questions?.[0]?.name, name);
    return p;
  };
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
  s.handler.setRouting({ ...routing, connectedNamespace: 'other' });
  await s.ask('echo');
  assert.deepEqual(s.asked, ['echo.samples.svc.cluster.local/1', 'echo.other.svc.cluster.local/1']);
});

// ---- Namespaces named like top-level domains, found by asking the original resolver ----

/**
 * The original resolver as the internet answers it: `dev`, `app` and `prod` are TLDs (an SOA of
 * their own), `samples` is not; `pkg.go.dev` and `web.app` exist. It can be offline, and can hold
 * its SOA answers back until told.
 */
function internet() {
  const asked: string[] = [];
  const state = { offline: false, holdSoa: undefined as Promise<void> | undefined };
  const zones = new Set(['dev', 'app', 'prod']);
  const hosts: Record<string, string> = { 'pkg.go.dev': '192.0.2.53', 'web.app': '198.51.100.7' };
  const forward = async (q: Buffer): Promise<Buffer> => {
    const p = dnsPacket.decode(q);
    const question = p.questions![0]!;
    const name = question.name.toLowerCase().replace(/\.$/, '');
    asked.push(`${name}/${question.type}`);
    if (state.offline) throw new Error('network unreachable');
    if (question.type === 'SOA') await state.holdSoa;
    const soa: dnsPacket.Answer = { name, type: 'SOA', ttl: 900, data: { mname: `ns.${name}`, rname: `hostmaster.${name}`, serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 1 } };
    const answers: dnsPacket.Answer[] =
      question.type === 'SOA' && zones.has(name) ? [soa] : question.type === 'A' && hosts[name] ? [{ name: question.name, type: 'A', ttl: 300, data: hosts[name] }] : [];
    const exists = zones.has(name) || hosts[name] !== undefined;
    return dnsPacket.encode({ type: 'response', id: p.id, flags: exists ? 0 : 3, questions: [question], answers });
  };
  const count = (entry: string) => asked.filter((a) => a === entry).length;
  return { forward, asked, state, count };
}

/** A handler that finds TLDs; `before` sets the resolver up before the handler first asks it. */
function tldSetup(namespaces = ['samples', 'dev', 'app'], before: (net: ReturnType<typeof internet>) => void = () => {}) {
  const net = internet();
  before(net);
  const cluster = clusterTable();
  const handler = new DnsQueryHandler({
    routing: { clusterDomain: 'cluster.local', connectedNamespace: 'samples', namespaces },
    discoverTopLevelDomains: true,
    tldRetryMs: 20,
    lookupCluster: cluster.lookup,
    forward: net.forward,
    logger: silentDnsLogger,
  });
  return { handler, net, ask: asker(handler), clusterAsked: cluster.asked };
}

test('a namespace named like a TLD keeps its cluster names, and public names under it reach the original resolver', async (t) => {
  const s = tldSetup();
  t.after(() => s.handler.dispose());
  await s.handler.topLevelDomainsAsked();
  assert.deepEqual([...s.net.asked].sort(), ['app/SOA', 'dev/SOA', 'samples/SOA'], 'one SOA query per namespace');
  assert.deepEqual(ips(await s.ask('api.dev')), ['10.96.0.30'], 'a Service in namespace dev');
  const pkg = await s.ask('pkg.go.dev');
  assert.equal(pkg.rcode, 'NOERROR');
  assert.deepEqual(ips(pkg), ['192.0.2.53'], 'pkg.go.dev is not swallowed by namespace dev');
  assert.deepEqual(ips(await s.ask('web.app')), ['198.51.100.7']);
  assert.ok(s.clusterAsked.includes('pkg.go.dev.svc.cluster.local/1'), 'the cluster is asked first: it wins a tie');
  const nope = await s.ask('nope.samples');
  assert.equal(nope.rcode, 'NXDOMAIN', 'a namespace that is no TLD stays the cluster\'s');
  assert.equal(nope.authorities?.[0]?.type, 'SOA');
  assert.ok(!s.net.asked.includes('nope.samples/A'), 'answered by the daemon alone');
});

test('until the resolver has answered, every namespace counts as a TLD: no public name is lost right after connecting', async (t) => {
  let release = () => {};
  const s = tldSetup(undefined, (net) => (net.state.holdSoa = new Promise<void>((r) => (release = r))));
  t.after(() => s.handler.dispose());
  assert.deepEqual(ips(await s.ask('pkg.go.dev')), ['192.0.2.53']);
  assert.equal((await s.ask('nope.samples')).rcode, 'NXDOMAIN');
  assert.ok(s.net.asked.includes('nope.samples/A'), 'meanwhile a missing cluster name costs one forward');
  release();
  await s.handler.topLevelDomainsAsked();
  assert.equal((await s.ask('gone.samples')).rcode, 'NXDOMAIN');
  assert.ok(!s.net.asked.includes('gone.samples/A'), 'once answered, samples is the cluster\'s alone');
});

test('a resolver that does not answer makes no namespace a TLD, and is asked again later', async (t) => {
  const s = tldSetup(undefined, (net) => (net.state.offline = true));
  t.after(() => s.handler.dispose());
  await s.handler.topLevelDomainsAsked();
  const offline = await s.ask('pkg.go.dev');
  assert.equal(offline.rcode, 'NXDOMAIN', 'offline: the cluster answers at once, nothing public is reachable anyway');
  assert.equal(offline.authorities?.[0]?.name, 'dev');
  s.net.state.offline = false;
  for (let i = 0; i < 200 && s.net.count('dev/SOA') < 2; i++) await new Promise((r) => setTimeout(r, 5));
  await s.handler.topLevelDomainsAsked();
  assert.equal(s.net.count('dev/SOA'), 2, 'asked again after tldRetryMs');
  assert.deepEqual(ips(await s.ask('pkg.go.dev')), ['192.0.2.53']);
});

test('a new namespace is asked about when the list changes; the ones answered are not asked again', async (t) => {
  const s = tldSetup(['samples', 'dev']);
  t.after(() => s.handler.dispose());
  await s.handler.topLevelDomainsAsked();
  s.handler.setRouting({ clusterDomain: 'cluster.local', connectedNamespace: 'dev', namespaces: ['samples', 'dev', 'prod'] });
  await s.handler.topLevelDomainsAsked();
  assert.deepEqual([s.net.count('samples/SOA'), s.net.count('dev/SOA'), s.net.count('prod/SOA')], [1, 1, 1]);
  assert.equal((await s.ask('nope.prod')).rcode, 'NXDOMAIN');
  assert.ok(s.net.asked.includes('nope.prod/A'), 'prod is a TLD: what the cluster lacks goes to the original resolver');
});

test('without discovery, only the namespaces given as TLDs are (the resolver is not asked)', async () => {
  const s = setup();
  await s.handler.topLevelDomainsAsked();
  assert.deepEqual(s.forwarded, []);
});

test('danglingTarget finds where a chain stops, and ignores loops', () => {
  const l = (owner: string, type: number, target?: string) => ({ owner, type, target });
  assert.equal(danglingTarget('a', 1, [l('a', 1)]), undefined);
  assert.equal(danglingTarget('a', 1, []), undefined);
  assert.equal(danglingTarget('a', 1, [l('a', 5, 'b'), l('b', 5, 'c')]), 'c');
  assert.equal(danglingTarget('a', 1, [l('a', 5, 'b'), l('B', 1)]), undefined);
  assert.equal(danglingTarget('a', 1, [l('a', 5, 'b'), l('b', 5, 'a')]), undefined);
});
