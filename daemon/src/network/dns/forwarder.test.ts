import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import { silentDnsLogger } from './dnsLogger.js';
import { ForwardError, Forwarder } from './forwarder.js';
import { FakeNameserver } from './testing/fakeNameserver.js';

const records: Record<string, dnsPacket.Answer[]> = {
  'example.test': [{ name: 'example.test', type: 'A', ttl: 60, data: '192.0.2.10' }],
  'big.example.test': Array.from({ length: 40 }, (_, i) => ({ name: 'big.example.test', type: 'A' as const, ttl: 60, data: `192.0.2.${i + 1}` })),
};

function query(name: string, id = 0x0abc): Buffer {
  return dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: 'A' }] });
}

async function unusedUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

let plain: FakeNameserver;
before(async () => {
  plain = await FakeNameserver.start({ host: '127.0.0.1', records });
});
after(() => plain.close());

test('forwards with a fresh id and gives the client its own id back', async () => {
  const f = new Forwarder({ nameservers: [{ address: '127.0.0.1', port: plain.port }], logger: silentDnsLogger, randomId: () => 0x4242 });
  const res = dnsPacket.decode(await f.forward(query('example.test', 0x0abc)));
  assert.equal(res.id, 0x0abc);
  assert.equal(plain.seen.at(-1)?.id, 0x4242);
  assert.deepEqual(res.answers?.map((a) => (a as dnsPacket.StringAnswer).data), ['192.0.2.10']);
  const nx = dnsPacket.decode(await f.forward(query('nope.example.test'))) as dnsPacket.DecodedPacket & { rcode: string };
  assert.equal(nx.rcode, 'NXDOMAIN');
});

test('a truncated UDP answer is fetched again over TCP', async () => {
  const tc = await FakeNameserver.start({ host: '127.0.0.1', records, truncateUdp: true });
  try {
    const f = new Forwarder({ nameservers: [{ address: '127.0.0.1', port: tc.port }], logger: silentDnsLogger });
    const res = dnsPacket.decode(await f.forward(query('big.example.test')));
    assert.ok(!res.flag_tc);
    assert.equal(res.answers?.length, 40);
    assert.deepEqual(tc.seen.map((s) => s.transport), ['udp', 'tcp']);
  } finally {
    await tc.close();
  }
});

test('a server that refuses is skipped at once, not after a timeout', async () => {
  const dead = await unusedUdpPort();
  const f = new Forwarder({
    nameservers: [{ address: '127.0.0.1', port: dead }, { address: '127.0.0.1', port: plain.port }],
    attemptTimeoutMs: 3000,
    logger: silentDnsLogger,
  });
  const t0 = Date.now();
  const res = dnsPacket.decode(await f.forward(query('example.test')));
  assert.equal(res.answers?.length, 1);
  assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
});

test('a lost datagram is retried', async () => {
  const lossy = await FakeNameserver.start({ host: '127.0.0.1', records, ignoreUdp: 1 });
  try {
    const f = new Forwarder({ nameservers: [{ address: '127.0.0.1', port: lossy.port }], attemptTimeoutMs: 150, attempts: 2, logger: silentDnsLogger });
    const res = dnsPacket.decode(await f.forward(query('example.test')));
    assert.equal(res.answers?.length, 1);
    assert.equal(lossy.seen.length, 2);
  } finally {
    await lossy.close();
  }
});

test('an answer with another id is not taken', async () => {
  const spoof = await FakeNameserver.start({ host: '127.0.0.1', records, spoofFirst: true });
  try {
    const f = new Forwarder({ nameservers: [{ address: '127.0.0.1', port: spoof.port }], logger: silentDnsLogger, randomId: () => 7 });
    const res = dnsPacket.decode(await f.forward(query('example.test', 99)));
    assert.equal(res.id, 99);
    assert.equal(res.answers?.length, 1);
  } finally {
    await spoof.close();
  }
});

test('no answer at all ends in ForwardError within attempts x timeout; an abort ends it sooner', async () => {
  const silent = await FakeNameserver.start({ host: '127.0.0.1', records, ignoreUdp: 100 });
  try {
    const f = new Forwarder({ nameservers: [{ address: '127.0.0.1', port: silent.port }], attemptTimeoutMs: 100, attempts: 2, logger: silentDnsLogger });
    const t0 = Date.now();
    await assert.rejects(f.forward(query('example.test')), ForwardError);
    const took = Date.now() - t0;
    assert.ok(took >= 180 && took < 1000, `took ${took} ms`);
    const slow = new Forwarder({ nameservers: [{ address: '127.0.0.1', port: silent.port }], attemptTimeoutMs: 5000, logger: silentDnsLogger });
    const t1 = Date.now();
    await assert.rejects(slow.forward(query('example.test'), AbortSignal.timeout(100)), ForwardError);
    assert.ok(Date.now() - t1 < 1000);
  } finally {
    await silent.close();
  }
});

test('garbage and a missing nameserver list are errors, not hangs', async () => {
  const f = new Forwarder({ nameservers: [{ address: '127.0.0.1', port: plain.port }], logger: silentDnsLogger });
  await assert.rejects(f.forward(Buffer.from('nonsense')), ForwardError);
  await assert.rejects(new Forwarder({ nameservers: [], logger: silentDnsLogger }).forward(query('x')), /no original nameserver/);
});
