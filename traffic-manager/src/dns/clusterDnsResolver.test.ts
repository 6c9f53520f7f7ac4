import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ipFromBytes } from '../../../protocol/src/ipAddress.js';
import { silentLogger } from '../../../common/src/log/jsonLogger.js';
import { ECHO, ECHO_IP, SAMPLE_ZONE } from '../testing/sampleZone.js';
import { startTinyDnsServer, type TinyDnsServer } from '../testing/tinyDnsServer.js';
import { ClusterDnsResolver, type DnsAnswer } from './clusterDnsResolver.js';

let server: TinyDnsServer;
let resolver: ClusterDnsResolver;

before(async () => {
  server = await startTinyDnsServer({ answers: SAMPLE_ZONE, silentNames: ['silent.samples.svc.cluster.local'] });
  resolver = new ClusterDnsResolver({ server: '127.0.0.1', port: server.port, timeoutMs: 300, attempts: 2, logger: silentLogger });
});

after(() => server.close());

/** [name, type, data] of each answer, IPs as text. */
function view(r: DnsAnswer): unknown[] {
  return r.answers.map((a) => [a.name, a.type, a.data?.$case === 'ip' ? ipFromBytes(a.data.value) : a.data?.value]);
}

test('A record of a Service', async () => {
  const r = await resolver.lookup(ECHO, 1);
  assert.equal(r.rcode, 0);
  assert.deepEqual(view(r), [[ECHO, 1, ECHO_IP]]);
  assert.equal(r.answers[0]?.ttl, 5);
});

test('a CNAME chain comes back before the address it leads to', async () => {
  const r = await resolver.lookup('external.samples.svc.cluster.local', 1);
  assert.equal(r.rcode, 0);
  assert.deepEqual(view(r), [
    ['external.samples.svc.cluster.local', 5, ECHO],
    [ECHO, 1, ECHO_IP],
  ]);
});

test('SRV and TXT records are structured', async () => {
  const srv = await resolver.lookup(`_http._tcp.${ECHO}`, 33);
  assert.deepEqual(view(srv), [[`_http._tcp.${ECHO}`, 33, { priority: 0, weight: 100, port: 8080, target: ECHO }]]);
  const txt = await resolver.lookup('txt.samples.svc.cluster.local', 16);
  assert.deepEqual(txt.answers.map((a) => (a.data?.$case === 'txt' ? a.data.value.strings.map((s) => Buffer.from(s).toString()) : [])), [['hello', 'world']]);
});

test('NXDOMAIN and no-data differ by rcode', async () => {
  assert.deepEqual(await resolver.lookup('missing.samples.svc.cluster.local', 1), { rcode: 3, answers: [] });
  assert.deepEqual(await resolver.lookup(ECHO, 28), { rcode: 0, answers: [] });
});

test('an unknown type keeps its RDATA', async () => {
  const r = await resolver.lookup('odd.samples.svc.cluster.local', 65280);
  assert.deepEqual(view(r), [['odd.samples.svc.cluster.local', 65280, Uint8Array.from([1, 2, 3])]]);
});

test('a truncated UDP answer is asked again over TCP', async () => {
  server.log.length = 0;
  const r = await resolver.lookup('big.samples.svc.cluster.local', 1);
  assert.equal(r.answers.length, 120);
  assert.equal(ipFromBytes(r.answers[119]!.data?.$case === 'ip' ? r.answers[119]!.data.value : new Uint8Array()), '10.244.0.119');
  assert.deepEqual(server.log, ['udp big.samples.svc.cluster.local A', 'tcp big.samples.svc.cluster.local A']);
});

test('a server that does not answer is SERVFAIL after the retries', async () => {
  server.log.length = 0;
  const started = Date.now();
  assert.deepEqual(await resolver.lookup('silent.samples.svc.cluster.local', 1), { rcode: 2, answers: [] });
  assert.equal(server.log.length, 2, 'two UDP attempts');
  assert.ok(Date.now() - started >= 550, 'each attempt waited for its timeout');
});
