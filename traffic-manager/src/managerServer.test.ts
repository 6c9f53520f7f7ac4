/**
 * The Manager service over real grpc-js (unix socket): sessions, cluster info, DNS through a real
 * DNS server on 127.0.0.1, and shutdown.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { type ClientReadableStream, status } from '@grpc/grpc-js';
import type { ClusterInfo, LookupDNSResponse, VersionResponse } from '../../protocol/src/gen/telepath/manager/v1/manager.js';
import { DisconnectReason } from '../../protocol/src/gen/telepath/tunnel/v1/tunnel.js';
import { ipFromBytes, subnetToCidr } from '../../protocol/src/ipAddress.js';
import type { ClusterNetworks } from './clusterInfo.js';
import { ClusterDnsResolver } from './dns/clusterDnsResolver.js';
import { silentLogger } from '../../common/src/log/jsonLogger.js';
import { CONNECTION_WINDOW_BYTES, STREAM_WINDOW_BYTES } from './managerServer.js';
import { startTestManager, tcpOpen, type TestManager, TunnelClient, unary } from './testing/managerHarness.js';
import { ECHO, ECHO_IP, SAMPLE_ZONE } from './testing/sampleZone.js';
import { startTinyDnsServer, type TinyDnsServer } from './testing/tinyDnsServer.js';

const NETWORKS: ClusterNetworks = {
  serviceCidrs: ['10.96.0.0/16'],
  podCidrs: ['10.244.0.0/24'],
  dnsServer: '10.96.0.10',
  clusterDomain: 'cluster.local',
};

/** Reads a server stream as a queue: messages, then its final status. */
class StreamReader<T> {
  private readonly items: ({ value: T } | { code: status; details: string })[] = [];
  private waiter: (() => void) | undefined;

  constructor(readonly call: ClientReadableStream<T>) {
    call.on('data', (v: T) => this.push({ value: v }));
    call.on('status', (s: { code: status; details: string }) => this.push({ code: s.code, details: s.details }));
    call.on('error', () => undefined);
  }

  async next(timeoutMs = 3000): Promise<{ value: T } | { code: status; details: string }> {
    const deadline = Date.now() + timeoutMs;
    while (this.items.length === 0) {
      if (Date.now() > deadline) throw new Error('nothing arrived on the stream');
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 50);
      });
    }
    return this.items.shift()!;
  }

  private push(item: { value: T } | { code: status; details: string }): void {
    this.items.push(item);
    this.waiter?.();
  }
}

function cidrsOf(info: ClusterInfo): unknown {
  return {
    service: info.serviceSubnets.map(subnetToCidr),
    pod: info.podSubnets.map(subnetToCidr),
    dns: ipFromBytes(info.dnsIp),
    domain: info.clusterDomain,
    ns: info.managerNamespace,
  };
}

describe('sessions and version', () => {
  let m: TestManager;
  before(async () => {
    m = await startTestManager({ clusterInfo: NETWORKS, ttlMs: 10_000 });
  });
  after(() => m.close());

  test('Version names the program and its version', async () => {
    assert.deepEqual(await unary<VersionResponse>((cb) => m.client.version({}, cb)), { version: '9.8.7', name: 'traffic-manager' });
  });

  test('ArriveAsClient gives a session and its TTL; Remain keeps it; Depart ends it; then NOT_FOUND', async () => {
    const r = await unary<{ session?: { sessionId: string }; ttlMs: number }>((cb) =>
      m.client.arriveAsClient({ client: { name: 'alice@laptop', installId: 'a', namespace: 'shop', version: '0.1.0' } }, cb),
    );
    const session = { sessionId: r.session?.sessionId ?? '' };
    assert.ok(session.sessionId.length >= 16, 'an unguessable id');
    assert.equal(r.ttlMs, 10_000);
    m.clock.advance(9_000);
    await unary((cb) => m.client.remain({ session }, cb));
    m.clock.advance(9_000);
    await unary((cb) => m.client.remain({ session }, cb));
    await unary((cb) => m.client.depart({ session }, cb));
    await assert.rejects(unary((cb) => m.client.remain({ session }, cb)), { code: status.NOT_FOUND });
    await assert.rejects(unary((cb) => m.client.depart({ session }, cb)), { code: status.NOT_FOUND });
  });

  test('a session not kept within its TTL expires', async () => {
    const id = await m.arrive();
    m.clock.advance(10_000);
    await assert.rejects(unary((cb) => m.client.remain({ session: { sessionId: id } }, cb)), { code: status.NOT_FOUND });
  });

  test('ArriveAsClient without a client name is INVALID_ARGUMENT', async () => {
    await assert.rejects(unary((cb) => m.client.arriveAsClient({}, cb)), { code: status.INVALID_ARGUMENT });
  });
});

describe('WatchClusterInfo', () => {
  let m: TestManager;
  before(async () => {
    m = await startTestManager();
  });
  after(() => m.close());

  test('waits for the first discovery, then sends a full snapshot on every change', async () => {
    const id = await m.arrive();
    const watch = new StreamReader<ClusterInfo>(m.client.watchClusterInfo({ session: { sessionId: id } }));
    await new Promise((r) => setTimeout(r, 100));
    m.clusterInfo.set(NETWORKS);
    const first = await watch.next();
    assert.ok('value' in first);
    assert.deepEqual(cidrsOf(first.value), { service: ['10.96.0.0/16'], pod: ['10.244.0.0/24'], dns: '10.96.0.10', domain: 'cluster.local', ns: 'telepath' });
    m.clusterInfo.set({ ...NETWORKS, podCidrs: ['10.244.0.0/24', '10.244.1.0/24'] });
    const second = await watch.next();
    assert.ok('value' in second);
    assert.deepEqual(cidrsOf(second.value), { service: ['10.96.0.0/16'], pod: ['10.244.0.0/24', '10.244.1.0/24'], dns: '10.96.0.10', domain: 'cluster.local', ns: 'telepath' });
  });

  test('a new watcher gets the current snapshot at once; the stream ends NOT_FOUND when its session ends', async () => {
    const id = await m.arrive();
    const watch = new StreamReader<ClusterInfo>(m.client.watchClusterInfo({ session: { sessionId: id } }));
    const first = await watch.next();
    assert.ok('value' in first);
    const listeners = m.clusterInfo.listenerCount;
    await unary((cb) => m.client.depart({ session: { sessionId: id } }, cb));
    const end = await watch.next();
    assert.ok('code' in end);
    assert.equal(end.code, status.NOT_FOUND);
    assert.match(end.details, /departed/);
    assert.equal(m.clusterInfo.listenerCount, listeners - 1, 'the watch unsubscribed');
  });

  test('an unknown session is NOT_FOUND', async () => {
    const watch = new StreamReader<ClusterInfo>(m.client.watchClusterInfo({ session: { sessionId: 'nope' } }));
    const end = await watch.next();
    assert.ok('code' in end);
    assert.equal(end.code, status.NOT_FOUND);
  });
});

describe('LookupDNS', () => {
  let m: TestManager;
  let dns: TinyDnsServer;
  let session: string;
  const lookup = (name: string, qtype: number, sessionId = session): Promise<LookupDNSResponse> =>
    unary<LookupDNSResponse>((cb) => m.client.lookupDns({ session: { sessionId }, name, qtype }, cb));
  const view = (r: LookupDNSResponse): unknown[] =>
    r.answers.map((a) => [a.name, a.type, a.data?.$case === 'ip' ? ipFromBytes(a.data.value) : a.data?.value]);

  before(async () => {
    dns = await startTinyDnsServer({ answers: SAMPLE_ZONE });
    m = await startTestManager({
      clusterInfo: NETWORKS,
      dns: new ClusterDnsResolver({ server: '127.0.0.1', port: dns.port, timeoutMs: 500, logger: silentLogger }),
    });
    session = await m.arrive('samples');
  });
  after(async () => {
    await m.close();
    await dns.close();
  });

  test('a full name resolves as given; CNAME chains and SRV come back', async () => {
    assert.deepEqual(view(await lookup(ECHO, 1)), [[ECHO, 1, ECHO_IP]]);
    assert.deepEqual(view(await lookup('external.samples.svc.cluster.local', 1)), [
      ['external.samples.svc.cluster.local', 5, ECHO],
      [ECHO, 1, ECHO_IP],
    ]);
    assert.deepEqual(view(await lookup(`_http._tcp.${ECHO}`, 33)), [[`_http._tcp.${ECHO}`, 33, { priority: 0, weight: 100, port: 8080, target: ECHO }]]);
  });

  test('NXDOMAIN and no-data differ', async () => {
    assert.deepEqual(await lookup('missing.samples.svc.cluster.local', 1), { rcode: 3, answers: [] });
    assert.deepEqual(await lookup(ECHO, 28), { rcode: 0, answers: [] });
  });

  test("a short name resolves in the session's namespace and is answered under the name asked", async () => {
    assert.deepEqual(view(await lookup('echo', 1)), [['echo', 1, ECHO_IP]]);
    assert.deepEqual(view(await lookup('external', 1)), [
      ['external', 5, ECHO],
      [ECHO, 1, ECHO_IP],
    ]);
    const elsewhere = await m.arrive('default');
    assert.equal((await lookup('echo', 1, elsewhere)).rcode, 3, 'echo is not a Service in default');
  });

  test('an unknown session is NOT_FOUND; a malformed name INVALID_ARGUMENT', async () => {
    await assert.rejects(lookup(ECHO, 1, 'nope'), { code: status.NOT_FOUND });
    await assert.rejects(lookup('a..b.svc.cluster.local', 1), { code: status.INVALID_ARGUMENT });
    await assert.rejects(lookup(ECHO, 0), { code: status.INVALID_ARGUMENT });
  });
});

describe('shutdown', () => {
  test('ends watches at once, lets tunnels drain until the deadline, then disconnects them', async () => {
    const m = await startTestManager({ clusterInfo: NETWORKS });
    const id = await m.arrive();
    const watch = new StreamReader<ClusterInfo>(m.client.watchClusterInfo({ session: { sessionId: id } }));
    assert.ok('value' in (await watch.next()));
    const server = net.createServer((s) => s.on('error', () => undefined)).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const tunnel = new TunnelClient(m.client);
    tunnel.call.write(tcpOpen(id, '127.0.0.1', (server.address() as net.AddressInfo).port));
    assert.equal((await tunnel.next()).kind, 'message');

    const started = Date.now();
    const stopping = m.host.shutdown(300, 300);
    const end = await watch.next();
    assert.ok('code' in end);
    assert.equal(end.code, status.UNAVAILABLE);
    assert.ok(Date.now() - started < 200, 'the watch ended without waiting for the drain');
    const rest = await tunnel.rest();
    const last = rest.messages.at(-1);
    assert.equal(last?.$case === 'disconnect' && last.value.reason, DisconnectReason.SHUTDOWN);
    assert.ok(Date.now() - started >= 290, 'the tunnel had its drain time');
    await stopping;
    await assert.rejects(unary((cb) => m.client.version({}, cb)), { code: status.UNAVAILABLE });
    server.close();
    await m.close();
  });
});

test('the manager opens 8 MiB HTTP/2 windows, per stream and per connection, so tunnel streams can fill the path', async () => {
  const m = await startTestManager();
  try {
    const http2 = await import('node:http2');
    const socketPath = m.address.replace(/^unix:/, '');
    const session = http2.connect('http://manager', { createConnection: () => net.connect(socketPath) });
    await once(session, 'remoteSettings');
    assert.equal(session.remoteSettings.initialWindowSize, STREAM_WINDOW_BYTES);
    // The connection window is no setting: the server's WINDOW_UPDATE goes out with its
    // SETTINGS, before it answers a ping.
    await new Promise<void>((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
    assert.equal(session.state.remoteWindowSize, CONNECTION_WINDOW_BYTES);
    session.close();
  } finally {
    await m.close();
  }
});
