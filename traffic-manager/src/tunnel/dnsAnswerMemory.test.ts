import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DNSRecord } from '../../../protocol/src/gen/telepath/manager/v1/manager.js';
import { ipToBytes } from '../../../protocol/src/ipAddress.js';
import { DnsAnswerMemory, isClusterName, MAX_PER_SESSION } from './dnsAnswerMemory.js';

const A = 1;
const AAAA = 28;
const CNAME = 5;

function ipRecord(name: string, ip: string, ttl = 30): DNSRecord {
  return { name, type: ip.includes(':') ? AAAA : A, ttl, data: { $case: 'ip', value: ipToBytes(ip) } };
}

function setup(options: { maxPerSession?: number } = {}) {
  let now = 5_000;
  const clock = { now: () => now };
  const memory = new DnsAnswerMemory({ clusterDomain: () => 'cluster.local', clock, ...options });
  const sessions = new Map<string, AbortController>();
  const session = (id: string) => {
    let c = sessions.get(id);
    if (!c) sessions.set(id, (c = new AbortController()));
    return { id, signal: c.signal };
  };
  return { memory, session, end: (id: string) => sessions.get(id)?.abort(), advance: (ms: number) => (now += ms) };
}

const NAME = 'db.samples.svc.cluster.local';

test('A and AAAA answers are remembered for the session that asked, other records and sessions are not', () => {
  const { memory, session } = setup();
  memory.remember(session('s1'), NAME, [
    { name: NAME, type: CNAME, ttl: 30, data: { $case: 'target', value: 'db.example.com' } },
    ipRecord('db.example.com', '203.0.113.9'),
    ipRecord('db.example.com', '2001:DB8::9'),
    // An IPv4-mapped AAAA is the IPv4 address.
    ipRecord('db.example.com', '::ffff:198.51.100.4'),
  ]);
  assert.equal(memory.has('s1', '203.0.113.9'), true);
  assert.equal(memory.has('s1', '2001:db8::9'), true);
  assert.equal(memory.has('s1', '198.51.100.4'), true);
  assert.equal(memory.size('s1'), 3);
  assert.equal(memory.has('s2', '203.0.113.9'), false);
  assert.equal(memory.has('s1', '203.0.113.10'), false);
});

test('an answer is remembered for its TTL, and at least 60 s', () => {
  const { memory, session, advance } = setup();
  memory.remember(session('s'), NAME, [ipRecord(NAME, '203.0.113.1', 300), ipRecord(NAME, '203.0.113.2', 5), ipRecord(NAME, '203.0.113.3', 0)]);
  advance(59_999);
  assert.deepEqual(['203.0.113.1', '203.0.113.2', '203.0.113.3'].map((ip) => memory.has('s', ip)), [true, true, true]);
  advance(1);
  assert.deepEqual(['203.0.113.1', '203.0.113.2', '203.0.113.3'].map((ip) => memory.has('s', ip)), [true, false, false]);
  advance(239_999);
  assert.equal(memory.has('s', '203.0.113.1'), true);
  advance(1);
  assert.equal(memory.has('s', '203.0.113.1'), false);
});

test('a new answer extends the time; a shorter one does not cut it', () => {
  const { memory, session, advance } = setup();
  memory.remember(session('s'), NAME, [ipRecord(NAME, '203.0.113.1', 120), ipRecord(NAME, '203.0.113.2', 600)]);
  advance(100_000);
  memory.remember(session('s'), NAME, [ipRecord(NAME, '203.0.113.1', 1), ipRecord(NAME, '203.0.113.2', 1)]);
  advance(59_999);
  assert.equal(memory.has('s', '203.0.113.1'), true, 'the second answer keeps it a minute past the first TTL');
  advance(1);
  assert.equal(memory.has('s', '203.0.113.1'), false);
  assert.equal(memory.has('s', '203.0.113.2'), true, 'still the first, longer TTL');
  advance(439_999);
  assert.equal(memory.has('s', '203.0.113.2'), true);
  advance(1);
  assert.equal(memory.has('s', '203.0.113.2'), false);
});

test('only names of the cluster domain count, not those under pod.<domain>', () => {
  const { memory, session } = setup();
  const ask = (question: string, ip: string) => {
    memory.remember(session('s'), question, [ipRecord(question, ip)]);
    return memory.has('s', ip);
  };
  assert.equal(ask('ext.samples.svc.cluster.local', '203.0.113.1'), true);
  assert.equal(ask('EXT.Samples.svc.Cluster.Local.', '203.0.113.2'), true);
  assert.equal(ask('example.com', '203.0.113.3'), false);
  assert.equal(ask('evilcluster.local', '203.0.113.4'), false);
  // CoreDNS's "pods insecure" answers any address spelled in the name.
  assert.equal(ask('203-0-113-5.samples.pod.cluster.local', '203.0.113.5'), false);
  assert.equal(isClusterName('cluster.local', 'cluster.local'), true);
  assert.equal(isClusterName('pod.cluster.local', 'cluster.local'), false);
  assert.equal(isClusterName('a.b', ''), false);
});

test(`a session keeps at most ${MAX_PER_SESSION} addresses; the oldest go first`, () => {
  const { memory, session } = setup();
  const ip = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  for (let i = 0; i < 5000; i += 100) {
    memory.remember(
      session('s'),
      NAME,
      Array.from({ length: 100 }, (_, k) => ipRecord(NAME, ip(i + k))),
    );
  }
  assert.equal(memory.size('s'), MAX_PER_SESSION);
  assert.equal(memory.has('s', ip(0)), false);
  assert.equal(memory.has('s', ip(5000 - MAX_PER_SESSION - 1)), false);
  assert.equal(memory.has('s', ip(5000 - MAX_PER_SESSION)), true);
  assert.equal(memory.has('s', ip(4999)), true);
  // Another session has its own room.
  memory.remember(session('t'), NAME, [ipRecord(NAME, ip(0))]);
  assert.equal(memory.has('t', ip(0)), true);
});

test('at the cap, expired addresses go before live ones; asking again makes an address young', () => {
  const { memory, session, advance } = setup({ maxPerSession: 3 });
  memory.remember(session('s'), NAME, [ipRecord(NAME, '203.0.113.1', 600)]);
  memory.remember(session('s'), NAME, [ipRecord(NAME, '203.0.113.2', 1)]);
  memory.remember(session('s'), NAME, [ipRecord(NAME, '203.0.113.3', 600)]);
  advance(61_000);
  memory.remember(session('s'), NAME, [ipRecord(NAME, '203.0.113.4', 600)]);
  assert.deepEqual(['1', '2', '3', '4'].map((n) => memory.has('s', `203.0.113.${n}`)), [true, false, true, true]);
  memory.remember(session('s'), NAME, [ipRecord(NAME, '203.0.113.1', 600)]);
  memory.remember(session('s'), NAME, [ipRecord(NAME, '203.0.113.5', 600)]);
  assert.deepEqual(['1', '3', '4', '5'].map((n) => memory.has('s', `203.0.113.${n}`)), [true, false, true, true]);
});

test("a session's memory ends with the session; an ended session is not remembered for", () => {
  const { memory, session, end } = setup();
  memory.remember(session('s'), NAME, [ipRecord(NAME, '203.0.113.1')]);
  end('s');
  assert.equal(memory.has('s', '203.0.113.1'), false);
  assert.equal(memory.size('s'), 0);
  memory.remember(session('s'), NAME, [ipRecord(NAME, '203.0.113.1')]);
  assert.equal(memory.size('s'), 0);
});
