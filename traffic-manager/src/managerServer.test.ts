/**
 * The Manager service over real grpc-js (unix sockets): the two listeners and what each refuses,
 * agent arrivals, sessions, cluster info, DNS through a real DNS server on 127.0.0.1, and
 * shutdown.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { type ClientReadableStream, credentials, Metadata, status } from '@grpc/grpc-js';
import { ManagerClient } from '../../protocol/src/manager/managerService.js';
import { API_LEVEL, MIN_API_LEVEL } from '../../protocol/src/version.js';
import { generateEd25519KeyPair } from '../../common/src/sshKeys.js';
import { testSpec } from '../../common/src/testing/interceptSpecs.js';
import type {
  AgentIntercepts,
  ArriveAsAgentResponse,
  ClusterInfo,
  LookupDNSResponse,
  VersionResponse,
} from '../../protocol/src/gen/telepath/manager/v1/manager.js';
import { DisconnectReason } from '../../protocol/src/gen/telepath/tunnel/v1/tunnel.js';
import { ipFromBytes, subnetToCidr } from '../../protocol/src/ipAddress.js';
import type { ClusterNetworks } from './clusterInfo.js';
import { ClusterDnsResolver } from './dns/clusterDnsResolver.js';
import { silentLogger } from '../../common/src/log/jsonLogger.js';
import { CONNECTION_WINDOW_BYTES, STREAM_WINDOW_BYTES } from './managerServer.js';
import type { AgentArrivalCheck, ArrivalVerdict } from './auth/agentVerifier.js';
import {
  bearer,
  echoAgent,
  startTestManager,
  TestClientRights,
  tcpOpen,
  TEST_AGENT_TOKEN,
  TestAgentCheck,
  type TestManager,
  TunnelClient,
  unary,
} from './testing/managerHarness.js';
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

/** A tunnel's end, without the details: its status and how many messages came before it. */
function pick(r: { messages: unknown[]; code: status }): { code: status; messages: number } {
  return { code: r.code, messages: r.messages.length };
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
    assert.deepEqual(await unary<VersionResponse>((cb) => m.client.version({}, cb)), {
      version: '9.8.7',
      name: 'traffic-manager',
      apiLevel: API_LEVEL,
      minApiLevel: MIN_API_LEVEL,
    });
  });

  test('ArriveAsClient gives a session and its TTL; Remain keeps it; Depart ends it; then NOT_FOUND', async () => {
    const r = await unary<{ session?: { sessionId: string }; ttlMs: number }>((cb) =>
      m.client.arriveAsClient({ client: { name: 'alice@laptop', installId: 'a', namespace: 'shop', version: '0.1.0', heartbeatMs: 0, apiLevel: 0, minApiLevel: 0 } }, cb),
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

describe('API levels: the manager serves clients and agents whose levels overlap its own', () => {
  // A manager two levels ahead that dropped level 1: what builds before 0.2.0 (level 0 on the wire) speak.
  const ahead = { level: API_LEVEL + 2, min: API_LEVEL };
  const client = (apiLevel: number, minApiLevel: number) => ({ client: { name: 'alice@laptop', installId: 'a', namespace: 'shop', version: 'x', heartbeatMs: 0, apiLevel, minApiLevel } });

  test('an older client within its range arrives; one below it is FAILED_PRECONDITION with both ranges, and gets no session', async () => {
    const m = await startTestManager({ api: ahead });
    try {
      const v = await unary<VersionResponse>((cb) => m.client.version({}, cb));
      assert.deepEqual([v.apiLevel, v.minApiLevel], [ahead.level, ahead.min]);
      await unary((cb) => m.client.arriveAsClient(client(API_LEVEL, MIN_API_LEVEL), cb));
      await assert.rejects(unary((cb) => m.client.arriveAsClient(client(0, 0), cb)), {
        code: status.FAILED_PRECONDITION,
        details: `client alice@laptop (telepath x) speaks API levels 1-1; this traffic-manager 9.8.7 serves ${API_LEVEL}-${API_LEVEL + 2}: it is too old (upgrade Telepath; a daemon that intercepts the workload rolls it with a current agent)`,
      });
      assert.equal(m.sessions.size, 1);
    } finally {
      await m.close();
    }
  });

  test('a client whose minimum is above the manager level is told the manager is too old', async () => {
    const m = await startTestManager({ api: { level: 1, min: 1 } });
    try {
      await assert.rejects(unary((cb) => m.client.arriveAsClient(client(4, 3), cb)), { code: status.FAILED_PRECONDITION, details: /the traffic-manager is too old/ });
      await unary((cb) => m.client.arriveAsClient(client(API_LEVEL, MIN_API_LEVEL), cb));
    } finally {
      await m.close();
    }
  });

  test('an agent outside its range is FAILED_PRECONDITION before its token is checked; one within it arrives', async () => {
    const check = new TestAgentCheck();
    const m = await startTestManager({ api: ahead, agentCheck: check });
    try {
      const old = { ...echoAgent('echo-1'), version: '0.1.0', apiLevel: 0, minApiLevel: 0 };
      await assert.rejects(unary((cb) => m.agentClient.arriveAsAgent({ agent: old }, bearer(TEST_AGENT_TOKEN), cb)), {
        code: status.FAILED_PRECONDITION,
        details: /^the traffic-agent 0\.1\.0 speaks API levels 1-1; this traffic-manager 9\.8\.7 serves/,
      });
      assert.equal(check.asked.length, 0, 'no TokenReview for an agent that cannot be served');
      await m.arriveAgent('echo-2');
      assert.deepEqual(m.intercepts.listAgents('samples', '').map((a) => a.podName), ['echo-2']);
    } finally {
      await m.close();
    }
  });

  test('an intercept held while its workload is rolled from a refused agent to a current one reaches the new agent', async () => {
    const m = await startTestManager({ api: ahead });
    try {
      // The daemon re-created its intercept at the upgraded manager, and watches its dials.
      const session = { sessionId: await m.arrive() };
      await unary((cb) => m.client.createIntercept({ session, spec: testSpec({ name: 'mine', global: true, headers: [], localPort: 1 }) }, cb));
      const dials = m.client.watchDials({ session });
      dials.on('error', () => undefined);
      const old = { ...echoAgent('echo-old'), apiLevel: 0, minApiLevel: 0 };
      await assert.rejects(unary((cb) => m.agentClient.arriveAsAgent({ agent: old }, bearer(TEST_AGENT_TOKEN), cb)), { code: status.FAILED_PRECONDITION });
      // The rollout's pod, with the daemon's current agent.
      const agent = await m.arriveAgent('echo-new');
      const watch = m.agentClient.watchAgentIntercepts({ session: { sessionId: agent } });
      const seen: string[][] = [];
      watch.on('data', (u: AgentIntercepts) => seen.push(u.intercepts.map((i) => i.spec?.name ?? '')));
      watch.on('error', () => undefined);
      const deadline = Date.now() + 5000;
      while (!seen.some((names) => names.includes('mine')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(seen.some((names) => names.includes('mine')), `the new agent routes the intercept (saw ${JSON.stringify(seen)})`);
      watch.cancel();
      dials.cancel();
    } finally {
      await m.close();
    }
  });

  test('this build serves agents and clients from before levels (0.1.x)', async () => {
    const m = await startTestManager();
    try {
      await unary((cb) => m.client.arriveAsClient(client(0, 0), cb));
      await m.arriveAgent('echo-1', { ...echoAgent('echo-1'), apiLevel: 0, minApiLevel: 0 });
    } finally {
      await m.close();
    }
  });
});

describe('two listeners: each refuses the other side\'s methods', () => {
  let m: TestManager;
  let check: TestAgentCheck;
  before(async () => {
    check = new TestAgentCheck();
    m = await startTestManager({ clusterInfo: NETWORKS, agentCheck: check });
  });
  after(() => m.close());

  const denied = { code: status.PERMISSION_DENIED };

  test('Version answers on both', async () => {
    assert.equal((await unary<VersionResponse>((cb) => m.client.version({}, cb))).name, 'traffic-manager');
    assert.equal((await unary<VersionResponse>((cb) => m.agentClient.version({}, cb))).name, 'traffic-manager');
  });

  test("every client method is PERMISSION_DENIED on the agent listener, even with a client's session id", async () => {
    const session = { sessionId: await m.arrive() };
    const a = m.agentClient;
    await assert.rejects(
      unary((cb) => a.arriveAsClient({ client: { name: 'mallory', installId: 'x', namespace: 'samples', version: '1', heartbeatMs: 0, apiLevel: 0, minApiLevel: 0 } }, cb)),
      { ...denied, details: /ArriveAsClient is served to workstations only, through a port-forward/ },
    );
    await assert.rejects(unary((cb) => a.lookupDns({ session, name: ECHO, qtype: 1 }, cb)), denied);
    await assert.rejects(unary((cb) => a.createIntercept({ session, spec: undefined }, cb)), denied);
    await assert.rejects(unary((cb) => a.removeIntercept({ session, name: 'echo' }, cb)), denied);
    await assert.rejects(unary((cb) => a.listIntercepts({ session, namespace: '' }, cb)), denied);
    await assert.rejects(unary((cb) => a.listAgents({ session, namespace: '', workloadName: '' }, cb)), denied);
    for (const call of [a.watchClusterInfo({ session }), a.watchDials({ session })]) {
      const end = await new StreamReader<unknown>(call).next();
      assert.ok('code' in end);
      assert.equal(end.code, status.PERMISSION_DENIED);
    }
    // A tunnel into the cluster, and taking an intercepted connection, are a client's.
    const dial = new TunnelClient(a);
    dial.send(tcpOpen(session.sessionId, '127.0.0.1', 1).message!);
    assert.deepEqual(pick(await dial.rest()), { code: status.PERMISSION_DENIED, messages: 0 });
    const accept = new TunnelClient(a);
    accept.send({ $case: 'accept', value: { sessionId: session.sessionId, dialId: 'd' } });
    assert.deepEqual(pick(await accept.rest()), { code: status.PERMISSION_DENIED, messages: 0 });
    // Its session is the client listener's: there it is still good.
    await unary((cb) => m.client.remain({ session }, cb));
  });

  test('the agent methods are PERMISSION_DENIED on the client listener, before any token is looked at', async () => {
    const asked = check.asked.length;
    await assert.rejects(
      unary((cb) => m.client.arriveAsAgent({ agent: echoAgent('echo-x') }, bearer(TEST_AGENT_TOKEN), cb)),
      { ...denied, details: /ArriveAsAgent is served to agents only, on the agent port/ },
    );
    assert.equal(check.asked.length, asked, 'the token was not even checked');
    assert.equal(m.intercepts.listAgents('', '').length, 0);
    const agent = await m.arriveAgent('echo-w');
    const end = await new StreamReader<AgentIntercepts>(m.client.watchAgentIntercepts({ session: { sessionId: agent } })).next();
    assert.ok('code' in end);
    assert.equal(end.code, status.PERMISSION_DENIED);
    // An agent's intercepted connection is handed over on the agent port only.
    const handOver = new TunnelClient(m.client);
    handOver.send(tcpOpen(agent, '10.244.0.9', 8080, { interceptId: 'i' }).message!);
    assert.deepEqual(pick(await handOver.rest()), { code: status.PERMISSION_DENIED, messages: 0 });
    await unary((cb) => m.agentClient.depart({ session: { sessionId: agent } }, cb));
  });

  test("an agent's session id is unknown on the client listener, and a client's on the agent listener", async () => {
    const agent = { sessionId: await m.arriveAgent('echo-s') };
    const client = { sessionId: await m.arrive() };
    const notFound = { code: status.NOT_FOUND };
    // The agent's id opens nothing of a client's: no tunnel into the cluster, no Remain there.
    await assert.rejects(unary((cb) => m.client.remain({ session: agent }, cb)), notFound);
    await assert.rejects(unary((cb) => m.client.depart({ session: agent }, cb)), notFound);
    const dial = new TunnelClient(m.client);
    dial.send(tcpOpen(agent.sessionId, '127.0.0.1', 1).message!);
    assert.equal((await dial.rest()).code, status.NOT_FOUND);
    // The client's id is no agent's.
    await assert.rejects(unary((cb) => m.agentClient.remain({ session: client }, cb)), notFound);
    await assert.rejects(unary((cb) => m.agentClient.depart({ session: client }, cb)), notFound);
    const watch = await new StreamReader<AgentIntercepts>(m.agentClient.watchAgentIntercepts({ session: client })).next();
    assert.ok('code' in watch);
    assert.equal(watch.code, status.NOT_FOUND);
    const handOver = new TunnelClient(m.agentClient);
    handOver.send(tcpOpen(client.sessionId, '10.244.0.9', 8080, { interceptId: 'i' }).message!);
    assert.equal((await handOver.rest()).code, status.NOT_FOUND);
    // Both sessions are still there, each on its own listener.
    await unary((cb) => m.agentClient.remain({ session: agent }, cb));
    await unary((cb) => m.client.remain({ session: client }, cb));
    await unary((cb) => m.agentClient.depart({ session: agent }, cb));
  });
});

describe('ArriveAsAgent', () => {
  test('without a token, or with one the check refuses, it is UNAUTHENTICATED and the real agent keeps its session', async () => {
    const check = new TestAgentCheck();
    const m = await startTestManager({ agentCheck: check });
    try {
      const real = await m.arriveAgent('echo-1');
      const watch = new StreamReader<AgentIntercepts>(m.agentClient.watchAgentIntercepts({ session: { sessionId: real } }));
      assert.ok('value' in (await watch.next()));
      const unauthenticated = { code: status.UNAUTHENTICATED, details: 'not the test token' };
      await assert.rejects(unary((cb) => m.agentClient.arriveAsAgent({ agent: echoAgent('echo-1') }, cb)), unauthenticated);
      await assert.rejects(unary((cb) => m.agentClient.arriveAsAgent({ agent: echoAgent('echo-1') }, bearer('forged'), cb)), unauthenticated);
      const basic = new Metadata();
      basic.set('authorization', `Basic ${TEST_AGENT_TOKEN}`);
      await assert.rejects(unary((cb) => m.agentClient.arriveAsAgent({ agent: echoAgent('echo-1') }, basic, cb)), unauthenticated);
      assert.deepEqual(check.asked.slice(1).map((a) => a.token), [undefined, 'forged', undefined]);
      // Not replaced: its session lives, its watch is open, and it is the one agent listed.
      await unary((cb) => m.agentClient.remain({ session: { sessionId: real } }, cb));
      const client = await m.arrive();
      const agents = await unary<{ agents: { podName: string }[] }>((cb) => m.client.listAgents({ session: { sessionId: client }, namespace: 'samples', workloadName: '' }, cb));
      assert.deepEqual(agents.agents.map((a) => a.podName), ['echo-1']);
      assert.equal(m.intercepts.agent(real)?.info.podName, 'echo-1');
      watch.call.cancel();
    } finally {
      await m.close();
    }
  });

  test("the check's verdict becomes the status: PERMISSION_DENIED and UNAVAILABLE with its reason; the token is what the agent sent", async () => {
    const seen: (string | undefined)[] = [];
    const verdicts: ArrivalVerdict[] = [
      { ok: false, code: 'permissionDenied', reason: 'the token is pod samples/client-1\'s, but the agent claims pod echo-1' },
      { ok: false, code: 'unavailable', reason: 'cannot check the agent\'s token with the API server: ECONNREFUSED' },
    ];
    const check: AgentArrivalCheck = {
      verify: (token) => {
        seen.push(token);
        return Promise.resolve(verdicts.shift()!);
      },
    };
    const m = await startTestManager({ agentCheck: check });
    try {
      const arrive = (): Promise<ArriveAsAgentResponse> =>
        unary<ArriveAsAgentResponse>((cb) => m.agentClient.arriveAsAgent({ agent: echoAgent('echo-1') }, bearer('eyJ.some.jwt'), cb));
      await assert.rejects(arrive(), { code: status.PERMISSION_DENIED, details: /claims pod echo-1/ });
      await assert.rejects(arrive(), { code: status.UNAVAILABLE, details: /ECONNREFUSED/ });
      assert.deepEqual(seen, ['eyJ.some.jwt', 'eyJ.some.jwt']);
      assert.equal(m.sessions.size, 0, 'no session was opened');
      assert.equal(m.intercepts.listAgents('', '').length, 0);
    } finally {
      await m.close();
    }
  });

  test('an accepted agent arriving again replaces its own earlier session', async () => {
    const m = await startTestManager();
    try {
      const first = await m.arriveAgent('echo-1');
      const second = await m.arriveAgent('echo-1');
      assert.notEqual(first, second);
      await assert.rejects(unary((cb) => m.agentClient.remain({ session: { sessionId: first } }, cb)), { code: status.NOT_FOUND });
      assert.deepEqual(m.intercepts.listAgents('samples', '').map((a) => a.podName), ['echo-1']);
    } finally {
      await m.close();
    }
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

test('the manager opens 8 MiB HTTP/2 windows, per stream and per connection, on both listeners, so tunnel streams can fill the path', async () => {
  const m = await startTestManager();
  try {
    const http2 = await import('node:http2');
    for (const address of [m.address, m.agentAddress]) {
      const connect = (): net.Socket =>
        address.startsWith('unix:') ? net.connect(address.slice('unix:'.length)) : net.connect(Number(address.split(':')[1]), '127.0.0.1');
      const session = http2.connect('http://manager', { createConnection: connect });
      await once(session, 'remoteSettings');
      assert.equal(session.remoteSettings.initialWindowSize, STREAM_WINDOW_BYTES, address);
      // The connection window is no setting: the server's WINDOW_UPDATE goes out with its
      // SETTINGS, before it answers a ping.
      await new Promise<void>((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
      assert.equal(session.state.remoteWindowSize, CONNECTION_WINDOW_BYTES, address);
      session.close();
    }
  } finally {
    await m.close();
  }
});

describe("rights in a namespace are the cluster's (auth/clientRights.ts decides; here a fixed table)", () => {
  const intercept = (name: string, namespace: string) => testSpec({ name, namespace, global: true, headers: [], localPort: 3000 });

  test('CreateIntercept without the right is PERMISSION_DENIED with the reason, and creates nothing', async () => {
    const m = await startTestManager({ clientRights: new TestClientRights(new Set(['intercept samples'])) });
    try {
      const session = { sessionId: await m.arrive() };
      await assert.rejects(unary((cb) => m.client.createIntercept({ session, spec: intercept('echo', 'other') }, cb)), {
        code: status.PERMISSION_DENIED,
        details: 'tester may not intercept in namespace other',
      });
      assert.equal(m.intercepts.all().length, 0);
      await unary((cb) => m.client.createIntercept({ session, spec: intercept('echo', 'samples') }, cb));
      assert.deepEqual(m.intercepts.all().map((i) => [i.spec.namespace, i.user]), [['samples', 'tester']]);
    } finally {
      await m.close();
    }
  });

  test("ListAgents lists only namespaces one may intercept in, and the environment only where one may read it", async () => {
    const rights = new TestClientRights(new Set(['intercept samples', 'environment samples', 'intercept team-a']));
    const m = await startTestManager({ clientRights: rights });
    try {
      await m.arriveAgent('echo-1');
      await m.arriveAgent('web-1', { ...echoAgent('web-1'), namespace: 'team-a', environment: { TOKEN: 'a-secret' } });
      await m.arriveAgent('db-1', { ...echoAgent('db-1'), namespace: 'team-b', environment: { TOKEN: 'b-secret' } });
      const session = { sessionId: await m.arrive() };
      const r = await unary<{ agents: { podName: string; environment: Record<string, string>; environmentWithheld: string }[] }>((cb) =>
        m.client.listAgents({ session, namespace: '', workloadName: '' }, cb),
      );
      assert.deepEqual(
        r.agents.map((a) => [a.podName, a.environment, a.environmentWithheld]).sort(),
        [
          ['echo-1', { SAMPLE_GREETING: 'hello' }, ''],
          ['web-1', {}, 'tester may not environment in namespace team-a'],
        ],
      );
    } finally {
      await m.close();
    }
  });
});

describe('a client session is bound to its connections', () => {
  test('a session id used on another connection is unknown, for every call; with the join secret that connection may use it too', async () => {
    const m = await startTestManager({ clusterInfo: NETWORKS, tunnelAllow: ['127.0.0.0/8'] });
    // Another connection: a second channel to the same address (grpc-js shares subchannels
    // between clients of one target and options unless told not to).
    const thief = new ManagerClient(m.address, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    const listener = net.createServer((s) => s.end('hi')).listen(0, '127.0.0.1');
    await once(listener, 'listening');
    try {
      const arrived = await unary<{ session?: { sessionId: string }; joinSecret: string }>((cb) =>
        m.client.arriveAsClient({ client: { name: 'alice@laptop', installId: 'alice', namespace: 'samples', version: '1', heartbeatMs: 0, apiLevel: 0, minApiLevel: 0 } }, cb),
      );
      const session = arrived.session!;
      assert.match(arrived.joinSecret, /^[0-9a-f]{64}$/);
      const spec = testSpec({ global: true, headers: [], localPort: 1 });
      const notFound = { code: status.NOT_FOUND };
      await assert.rejects(unary((cb) => thief.remain({ session }, cb)), notFound);
      await assert.rejects(unary((cb) => thief.listIntercepts({ session, namespace: '' }, cb)), notFound);
      await assert.rejects(unary((cb) => thief.createIntercept({ session, spec }, cb)), notFound);
      await assert.rejects(unary((cb) => thief.lookupDns({ session, name: 'echo', qtype: 1 }, cb)), notFound);
      await assert.rejects(unary((cb) => thief.depart({ session }, cb)), notFound);
      const t = new TunnelClient(thief);
      t.call.write(tcpOpen(session.sessionId, '127.0.0.1', (listener.address() as net.AddressInfo).port));
      const ended = await t.next();
      assert.equal(ended.kind === 'end' && ended.code, status.NOT_FOUND);
      // A wrong secret is told apart from nothing.
      await assert.rejects(unary((cb) => thief.joinSession({ session, joinSecret: 'f'.repeat(64) }, cb)), notFound);
      await assert.rejects(unary((cb) => thief.joinSession({ session: { sessionId: 'nope' }, joinSecret: arrived.joinSecret }, cb)), notFound);
      assert.equal(m.intercepts.all().length, 0);
      // The session's own connection was never disturbed; a connection that knows the secret joins.
      await unary((cb) => m.client.remain({ session }, cb));
      await unary((cb) => thief.joinSession({ session, joinSecret: arrived.joinSecret }, cb));
      await unary((cb) => thief.remain({ session }, cb));
      await unary((cb) => thief.createIntercept({ session, spec }, cb));
      assert.equal(m.intercepts.all().length, 1);
    } finally {
      thief.close();
      listener.close();
      await m.close();
    }
  });

  test("a closed connection's address is unbound", async () => {
    const m = await startTestManager();
    try {
      const id = await m.arrive();
      const [peer] = [...(m.sessions as unknown as { sessions: Map<string, { peers: Set<string> }> }).sessions.get(id)!.peers];
      assert.match(peer!, /^127\.0\.0\.1:\d+$/);
      m.client.close();
      const deadline = Date.now() + 5000;
      while (m.sessions.get(id, 'client', peer) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(m.sessions.get(id, 'client', peer), undefined);
      assert.ok(m.sessions.get(id, 'client'), 'the session lives on, for its daemon to join again');
    } finally {
      await m.close();
    }
  });
});

describe('AuthorizeVolumes', () => {
  test("a holder with the volumes right hands a key to the workload's agents; without the right, or with a bad key, nothing changes", async () => {
    const rights = new TestClientRights(new Set(['intercept samples', 'volumes samples', 'intercept other']));
    const m = await startTestManager({ clientRights: rights });
    try {
      const agent = await m.arriveAgent('echo-1');
      const watch = m.agentClient.watchAgentIntercepts({ session: { sessionId: agent } });
      const updates: { volumeKeys: string[] }[] = [];
      watch.on('data', (u: { volumeKeys: string[] }) => updates.push(u));
      watch.on('error', () => undefined);
      const session = { sessionId: await m.arrive() };
      const spec = (name: string, namespace: string) => testSpec({ name, namespace, headers: [{ name: 'x', value: name }], localPort: 1 });
      await unary((cb) => m.client.createIntercept({ session, spec: spec('mine', 'samples') }, cb));
      await unary((cb) => m.client.createIntercept({ session, spec: spec('theirs', 'other') }, cb));
      const key = generateEd25519KeyPair().public;
      await assert.rejects(unary((cb) => m.client.authorizeVolumes({ session, interceptName: 'mine', publicKey: 'ssh-ed25519 AAAAC3Nza' }, cb)), { code: status.INVALID_ARGUMENT });
      await assert.rejects(unary((cb) => m.client.authorizeVolumes({ session, interceptName: 'nope', publicKey: key }, cb)), { code: status.NOT_FOUND });
      await assert.rejects(unary((cb) => m.client.authorizeVolumes({ session, interceptName: 'theirs', publicKey: key }, cb)), {
        code: status.PERMISSION_DENIED,
        details: 'tester may not volumes in namespace other',
      });
      assert.deepEqual(m.intercepts.volumeKeys('samples', 'echo'), []);
      await unary((cb) => m.client.authorizeVolumes({ session, interceptName: 'mine', publicKey: key }, cb));
      assert.deepEqual(m.intercepts.volumeKeys('samples', 'echo'), [key.trim()]);
      const deadline = Date.now() + 5000;
      while (!updates.some((u) => u.volumeKeys.includes(key.trim())) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(updates.some((u) => u.volumeKeys.includes(key.trim())), 'the agent is told the key');
      // The key goes with the intercept.
      await unary((cb) => m.client.removeIntercept({ session, name: 'mine' }, cb));
      assert.deepEqual(m.intercepts.volumeKeys('samples', 'echo'), []);
      watch.cancel();
    } finally {
      await m.close();
    }
  });
});
