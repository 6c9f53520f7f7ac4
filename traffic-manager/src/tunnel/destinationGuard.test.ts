/**
 * The destination policy in a running manager: real Tunnel and LookupDNS calls, and real listeners
 * that must see no connection when the policy refuses. The manager here has no TELEPATH_TUNNEL_ALLOW,
 * as a real install has none, so its loopback is closed.
 */
import { sessionHandle } from '../../../common/src/sessionIdentity.js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import { status } from '@grpc/grpc-js';
import type { LookupDNSResponse } from '../../../protocol/src/gen/telepath/manager/v1/manager.js';
import { DialOutcome, Protocol } from '../../../protocol/src/gen/telepath/tunnel/v1/tunnel.js';
import { ipToBytes } from '../../../protocol/src/ipAddress.js';
import { jsonLogger } from '../../../common/src/log/jsonLogger.js';
import type { ClusterNetworks } from '../clusterInfo.js';
import type { DnsLookup } from '../dns/clusterDnsResolver.js';
import { startTestManager, tcpOpen, type TestManager, TunnelClient, unary } from '../testing/managerHarness.js';
import { interfaceAddresses } from './destinationGuard.js';

const NETWORKS: ClusterNetworks = { serviceCidrs: ['10.96.0.0/16'], podCidrs: ['10.244.0.0/24'], dnsServer: '10.96.0.10', clusterDomain: 'cluster.local' };
/** An address of this machine that is not loopback: the tests' stand-in for a host outside the cluster. */
const outside = interfaceAddresses(os.networkInterfaces()).find((a) => net.isIPv4(a));

/** Cluster DNS as the manager would ask it: `answers` maps a question to the A record's address. */
function dnsAnswering(answers: Record<string, string>): DnsLookup {
  return {
    lookup: (name) => {
      const ip = answers[name];
      if (!ip) return Promise.resolve({ rcode: 3, answers: [] });
      return Promise.resolve({ rcode: 0, answers: [{ name, type: 1, ttl: 5, data: { $case: 'ip', value: ipToBytes(ip) } }] });
    },
  };
}

const logLines: Record<string, unknown>[] = [];
const logger = jsonLogger({ level: 'info', write: (line) => logLines.push(JSON.parse(line) as Record<string, unknown>) });
let m: TestManager;
let session: string;
const closers: (() => void)[] = [];

before(async () => {
  m = await startTestManager({
    tunnelAllow: [],
    clusterInfo: NETWORKS,
    ttlMs: 24 * 3600_000,
    dns: dnsAnswering(outside ? { 'db.samples.svc.cluster.local': outside, 'db.example.com': outside } : {}),
    tunnel: { logger },
  });
  session = await m.arrive();
});

after(async () => {
  for (const close of closers) close();
  await m.close();
});

/** A TCP listener that counts the connections it accepted. */
async function countingListener(host: string): Promise<{ port: number; accepted: () => number }> {
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    s.on('error', () => undefined);
    s.pipe(s);
  });
  closers.push(() => server.close());
  server.listen(0, host);
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, accepted: () => accepted };
}

/** Opens a tunnel and returns everything it got until the call ended. */
async function openAndRead(manager: TestManager, sessionId: string, ip: string, port: number, protocol = Protocol.TCP) {
  const t = new TunnelClient(manager.client);
  t.call.write(tcpOpen(sessionId, ip, port, { protocol }));
  return t.rest();
}

function refusedWith(rest: Awaited<ReturnType<typeof openAndRead>>, reason: RegExp): void {
  assert.equal(rest.messages.length, 1, JSON.stringify(rest.messages));
  const r = rest.messages[0];
  assert.equal(r?.$case === 'dialResult' && r.value.outcome, DialOutcome.FAILED);
  assert.match(r?.$case === 'dialResult' ? r.value.message : '', reason);
  assert.equal(rest.code, status.OK, 'a refusal is a dial result, not a broken stream');
}

function lookup(sessionId: string, name: string): Promise<LookupDNSResponse> {
  return unary<LookupDNSResponse>((cb) => m.client.lookupDns({ session: { sessionId }, name, qtype: 1 }, cb));
}

/** Lets a connection that a dial would have made arrive at its listener. */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 100));

describe('refused destinations are never dialed', () => {
  test('loopback, in every spelling, gets DialResult FAILED with the reason and no connection', async () => {
    const listener = await countingListener('127.0.0.1');
    for (const ip of ['127.0.0.1', '::ffff:127.0.0.1', '127.0.0.2']) {
      refusedWith(await openAndRead(m, session, ip, listener.port), new RegExp(`^${ip.replace('::ffff:', '').replaceAll('.', '\\.')}:${listener.port} is loopback`));
    }
    await settle();
    assert.equal(listener.accepted(), 0, 'the listener saw a connection');
  });

  test('UDP too: refused before a socket exists, and data sent after the refusal goes nowhere', async () => {
    const socket = dgram.createSocket('udp4');
    closers.push(() => socket.close());
    let datagrams = 0;
    socket.on('message', () => datagrams++);
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    const t = new TunnelClient(m.client);
    t.call.write(tcpOpen(session, '127.0.0.1', socket.address().port, { protocol: Protocol.UDP }));
    t.send({ $case: 'data', value: Buffer.from('sneaked in') });
    const rest = await t.rest();
    refusedWith(rest, /^127\.0\.0\.1:\d+ is loopback/);
    await settle();
    assert.equal(datagrams, 0);
  });

  test('the link-local metadata address and TEST-NET are refused at once', async () => {
    const started = Date.now();
    refusedWith(await openAndRead(m, session, '169.254.169.254', 80), /^169\.254\.169\.254:80 is link-local \(cloud metadata lives there\)/);
    refusedWith(await openAndRead(m, session, '192.0.2.1', 80), /^192\.0\.2\.1:80 is outside the cluster's service and pod subnets \(10\.96\.0\.0\/16, 10\.244\.0\.0\/24\)/);
    assert.ok(Date.now() - started < 1000, 'no dial timeout was waited for');
  });

  test("a refusal is logged at info with the session's handle (never its id) and the reason", async () => {
    logLines.length = 0;
    await openAndRead(m, session, '169.254.169.254', 80);
    const line = logLines.find((l) => l.msg === 'destination refused');
    assert.ok(line, JSON.stringify(logLines));
    assert.equal(line.level, 'info');
    assert.equal(line.session, sessionHandle(session));
    assert.ok(!JSON.stringify(logLines).includes(session), 'the session id, which opens tunnels, is not in the log');
    assert.equal(line.tag, 'tcp 169.254.169.254:80');
    assert.match(String(line.reason), /link-local/);
  });
});

describe('cluster DNS answers open their addresses to the session that asked', { skip: !outside && 'no non-loopback IPv4 address here' }, () => {
  test('refused before the lookup, allowed after it, for that session only, until the answer is forgotten', async () => {
    const listener = await countingListener(outside!);
    refusedWith(await openAndRead(m, session, outside!, listener.port), /is outside the cluster's service and pod subnets/);

    // A short name, expanded in the session's namespace, as the daemon asks it.
    const answered = await lookup(session, 'db');
    assert.equal(answered.answers.length, 1);
    const t = new TunnelClient(m.client);
    t.call.write(tcpOpen(session, outside!, listener.port));
    assert.deepEqual(await t.next(), { kind: 'message', message: { $case: 'dialResult', value: { outcome: DialOutcome.OK, message: '' } } });
    t.send({ $case: 'data', value: Buffer.from('ping') });
    const echoed = await t.next();
    assert.equal(echoed.kind === 'message' && echoed.message.$case === 'data' && Buffer.from(echoed.message.value).toString(), 'ping');
    t.send({ $case: 'closeSend', value: {} });
    await t.rest();
    assert.equal(listener.accepted(), 1);

    const other = await m.arrive('samples', 'install-other');
    refusedWith(await openAndRead(m, other, outside!, listener.port), /cluster DNS has not answered it to this session/);

    m.clock.advance(60_001);
    refusedWith(await openAndRead(m, session, outside!, listener.port), /cluster DNS has not answered it to this session/);
    assert.equal(listener.accepted(), 1);
  });

  test('an answer for a name outside the cluster domain opens nothing', async () => {
    const listener = await countingListener(outside!);
    const fresh = await m.arrive('samples', 'install-outside-name');
    assert.equal((await lookup(fresh, 'db.example.com')).answers.length, 1);
    refusedWith(await openAndRead(m, fresh, outside!, listener.port), /is outside/);
    await settle();
    assert.equal(listener.accepted(), 0);
  });

  test("the manager pod's own address stays closed on every port, though DNS answered it and it is in the pod subnet", async (t) => {
    const own = await startTestManager({
      tunnelAllow: [],
      clusterInfo: { ...NETWORKS, podCidrs: [`${outside!}/32`] },
      managerIps: [outside!],
      dns: dnsAnswering({ 'db.samples.svc.cluster.local': outside! }),
    });
    t.after(() => own.close());
    const listener = await countingListener(outside!);
    const s = await own.arrive();
    await unary<LookupDNSResponse>((cb) => own.client.lookupDns({ session: { sessionId: s }, name: 'db', qtype: 1 }, cb));
    const rest = await openAndRead(own, s, outside!, listener.port);
    refusedWith(rest, new RegExp(`is the traffic-manager pod itself \\(all of its ports\\).*inside ${outside!.replaceAll('.', '\\.')}/32$`));
    await settle();
    assert.equal(listener.accepted(), 0);
  });

  test('the guard follows the cluster networks as they change', async () => {
    const listener = await countingListener(outside!);
    const fresh = await m.arrive('samples', 'install-networks');
    refusedWith(await openAndRead(m, fresh, outside!, listener.port), /is outside/);
    m.clusterInfo.set({ ...NETWORKS, podCidrs: ['10.244.0.0/24', `${outside!}/32`] });
    try {
      const t = new TunnelClient(m.client);
      t.call.write(tcpOpen(fresh, outside!, listener.port));
      assert.equal(((await t.next()) as { message?: { value?: { outcome?: number } } }).message?.value?.outcome, DialOutcome.OK);
      t.send({ $case: 'closeSend', value: {} });
      await t.rest();
    } finally {
      m.clusterInfo.set(NETWORKS);
    }
  });
});

test('interfaceAddresses: the non-internal addresses of every interface', () => {
  const iface = (address: string, internal: boolean): os.NetworkInterfaceInfo =>
    ({ address, internal, family: net.isIPv6(address) ? 'IPv6' : 'IPv4', netmask: '', mac: '', cidr: null, scopeid: 0 }) as os.NetworkInterfaceInfo;
  assert.deepEqual(
    interfaceAddresses({ lo: [iface('127.0.0.1', true), iface('::1', true)], eth0: [iface('10.244.0.5', false), iface('fe80::1', false)], none: undefined }),
    ['10.244.0.5', 'fe80::1'],
  );
});
