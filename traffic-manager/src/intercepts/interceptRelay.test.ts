import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { status, type ServiceError } from '@grpc/grpc-js';
import type {
  AgentIntercepts,
  CreateInterceptResponse,
  DialRequest,
  InterceptSpec,
} from '../../../protocol/src/gen/telepath/manager/v1/manager.js';
import { DialOutcome } from '../../../protocol/src/gen/telepath/tunnel/v1/tunnel.js';
import { ipToBytes } from '../../../protocol/src/ipAddress.js';
import { testSpec } from '../../../common/src/testing/interceptSpecs.js';
import { startTestManager, tcpOpen, TunnelClient, type TestManager, unary } from '../testing/managerHarness.js';

let m: TestManager;
before(async () => {
  m = await startTestManager({ relay: { acceptTimeoutMs: 500 } });
});
after(() => m.close());

/** A global intercept of samples/echo port 9900, unless `extra` says otherwise. */
function spec(extra: Partial<InterceptSpec>): InterceptSpec {
  return testSpec({ global: true, headers: [], ...extra });
}

function arriveAgent(pod: string): Promise<string> {
  return m.arriveAgent(pod);
}

/** The agent's view of the intercepts: each message of its watch, in order. */
function watchAgent(sessionId: string): { next(): Promise<AgentIntercepts>; cancel(): void } {
  const call = m.agentClient.watchAgentIntercepts({ session: { sessionId } });
  const queue: AgentIntercepts[] = [];
  const waiters: ((a: AgentIntercepts) => void)[] = [];
  call.on('data', (a: AgentIntercepts) => {
    const w = waiters.shift();
    if (w) w(a);
    else queue.push(a);
  });
  call.on('error', () => undefined);
  return {
    next: () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => waiters.push(r))),
    cancel: () => call.cancel(),
  };
}

test('an intercepted connection is relayed from the agent to the client that accepts it, both ways', async () => {
  const client = await m.arrive('samples');
  const agent = await arriveAgent('echo-1');
  const agentWatch = watchAgent(agent);
  assert.deepEqual((await agentWatch.next()).intercepts, []);

  const dials = m.client.watchDials({ session: { sessionId: client } });
  dials.on('error', () => undefined);
  const created = await unary<CreateInterceptResponse>((cb) => m.client.createIntercept({ session: { sessionId: client }, spec: spec({}) }, cb));
  const id = created.intercept!.id;
  assert.equal(created.intercept!.mine, true);
  // The agent hears of it once the client watches its dials.
  let seen = await agentWatch.next();
  while (!seen.intercepts.some((i) => i.id === id && i.active)) seen = await agentWatch.next();

  const fromAgent = new TunnelClient(m.agentClient);
  fromAgent.send(tcpOpen(agent, '10.244.0.9', 8080, { interceptId: id, sourceIp: ipToBytes('10.244.0.5'), sourcePort: 41000 }).message!);
  const [dial] = (await once(dials, 'data')) as [DialRequest];
  assert.equal(dial.interceptId, id);
  assert.equal(dial.interceptName, 'echo');
  assert.equal(dial.sourcePort, 41000);

  const accept = new TunnelClient(m.client);
  accept.send({ $case: 'accept', value: { sessionId: client, dialId: dial.dialId } });
  const open = await accept.next();
  assert.equal(open.kind === 'message' && open.message.$case === 'open' && open.message.value.interceptId, id);
  accept.send({ $case: 'dialResult', value: { outcome: DialOutcome.OK, message: '' } });
  const result = await fromAgent.next();
  assert.equal(result.kind === 'message' && result.message.$case === 'dialResult' && result.message.value.outcome, DialOutcome.OK);

  fromAgent.send({ $case: 'data', value: Buffer.from('GET / HTTP/1.1\r\n\r\n') });
  const got = await accept.next();
  assert.equal(got.kind === 'message' && got.message.$case === 'data' && Buffer.from(got.message.value).toString(), 'GET / HTTP/1.1\r\n\r\n');
  accept.send({ $case: 'data', value: Buffer.from('HTTP/1.1 200 OK\r\n\r\n') });
  const back = await fromAgent.next();
  assert.equal(back.kind === 'message' && back.message.$case === 'data' && Buffer.from(back.message.value).toString(), 'HTTP/1.1 200 OK\r\n\r\n');

  // Both close their sending side, the agent (the client role) ends its half; both calls end OK.
  fromAgent.send({ $case: 'closeSend', value: {} });
  assert.equal((await accept.next()).kind === 'message', true);
  accept.send({ $case: 'closeSend', value: {} });
  assert.equal((await fromAgent.next()).kind === 'message', true);
  fromAgent.call.end();
  assert.equal((await accept.rest()).code, status.OK);
  accept.call.end();
  assert.equal((await fromAgent.rest()).code, status.OK);

  // The client stops watching its dials: the agent sends that traffic to the app again.
  dials.cancel();
  seen = await agentWatch.next();
  while (seen.intercepts.some((i) => i.id === id)) seen = await agentWatch.next();
  agentWatch.cancel();
  await unary((cb) => m.client.removeIntercept({ session: { sessionId: client }, name: 'echo' }, cb));
});

test('a global intercept excludes personal ones, and the refusal names who holds it', async () => {
  const alice = await m.arrive('samples', 'alice');
  const bob = await m.arrive('samples', 'bob');
  await unary((cb) => m.client.createIntercept({ session: { sessionId: alice }, spec: spec({ name: 'g' }) }, cb));
  const err = await unary((cb) =>
    m.client.createIntercept(
      { session: { sessionId: bob }, spec: spec({ name: 'p', global: false, headers: [{ name: 'x-dev', value: 'bob' }] }) },
      cb,
    ),
  ).catch((e: ServiceError) => e);
  assert.equal((err as ServiceError).code, status.ALREADY_EXISTS);
  assert.match((err as ServiceError).details, /intercepted globally by tester@test \(intercept g\)/);
  await unary((cb) => m.client.removeIntercept({ session: { sessionId: alice }, name: 'g' }, cb));
  // Two personal intercepts with different headers share the port.
  await unary((cb) => m.client.createIntercept({ session: { sessionId: alice }, spec: spec({ name: 'a', global: false, headers: [{ name: 'x-dev', value: 'alice' }] }) }, cb));
  await unary((cb) => m.client.createIntercept({ session: { sessionId: bob }, spec: spec({ name: 'b', global: false, headers: [{ name: 'X-Dev', value: 'bob' }] }) }, cb));
  assert.equal(m.intercepts.list('samples', '').length, 2);
  await unary((cb) => m.client.depart({ session: { sessionId: alice } }, cb));
  await unary((cb) => m.client.depart({ session: { sessionId: bob } }, cb));
  assert.equal(m.intercepts.list('samples', '').length, 0);
});

test('a connection nobody accepts times out for the agent', async () => {
  const client = await m.arrive('samples', 'sleepy');
  const agent = await arriveAgent('echo-2');
  const dials = m.client.watchDials({ session: { sessionId: client } });
  dials.on('error', () => undefined);
  const created = await unary<CreateInterceptResponse>((cb) => m.client.createIntercept({ session: { sessionId: client }, spec: spec({ name: 'slow' }) }, cb));
  const fromAgent = new TunnelClient(m.agentClient);
  fromAgent.send(tcpOpen(agent, '10.244.0.9', 8080, { interceptId: created.intercept!.id }).message!);
  await once(dials, 'data');
  const r = await fromAgent.next(3000);
  assert.equal(r.kind === 'message' && r.message.$case === 'dialResult' && r.message.value.outcome, DialOutcome.TIMEOUT);
  dials.cancel();
  await unary((cb) => m.client.depart({ session: { sessionId: client } }, cb));
});

test('an Open for an intercept that does not exist is refused with a dial result', async () => {
  const agent = await arriveAgent('echo-3');
  const fromAgent = new TunnelClient(m.agentClient);
  fromAgent.send(tcpOpen(agent, '10.244.0.9', 8080, { interceptId: 'nope' }).message!);
  const r = await fromAgent.next();
  assert.equal(r.kind === 'message' && r.message.$case === 'dialResult' && r.message.value.outcome, DialOutcome.FAILED);
});

test('a workstation that stopped its heartbeats is away: its connections are reset and new ones answered at once, until it is heard again', async () => {
  // Heartbeats every second: away after four missed ones.
  const client = await m.arrive('samples', 'lid-closed', 1_000);
  const agent = await arriveAgent('echo-4');
  const dials = m.client.watchDials({ session: { sessionId: client } });
  dials.on('error', () => undefined);
  const created = await unary<CreateInterceptResponse>((cb) => m.client.createIntercept({ session: { sessionId: client }, spec: spec({ name: 'lid' }) }, cb));
  const interceptId = created.intercept!.id;
  const connect = async (): Promise<{ fromAgent: TunnelClient; accept: TunnelClient }> => {
    const fromAgent = new TunnelClient(m.agentClient);
    fromAgent.send(tcpOpen(agent, '10.244.0.9', 8080, { interceptId }).message!);
    const [dial] = (await once(dials, 'data')) as [DialRequest];
    const accept = new TunnelClient(m.client);
    accept.send({ $case: 'accept', value: { sessionId: client, dialId: dial.dialId } });
    await accept.next();
    accept.send({ $case: 'dialResult', value: { outcome: DialOutcome.OK, message: '' } });
    await fromAgent.next();
    return { fromAgent, accept };
  };
  const { fromAgent, accept } = await connect();

  // Bytes from the workstation count as hearing from it.
  m.clock.advance(3_500);
  accept.send({ $case: 'data', value: Buffer.from('HTTP/1.1 200 OK\r\n') });
  await fromAgent.next();
  m.clock.advance(3_500);
  assert.equal(m.relay.resetAway(), 0, 'heard 3.5 s ago: still there');

  // Silent for 4.5 s: the agent's side and the workstation's side are reset, saying why.
  m.clock.advance(1_000);
  assert.equal(m.relay.resetAway(), 1);
  const reset = await fromAgent.next();
  assert.ok(reset.kind === 'message' && reset.message.$case === 'disconnect', JSON.stringify(reset));
  assert.match(reset.message.value.error, /workstation is away: nothing heard from it for 4\.5 s/);

  // A new connection is answered at once, without asking the workstation.
  const again = new TunnelClient(m.agentClient);
  let asked = false;
  dials.once('data', () => (asked = true));
  again.send(tcpOpen(agent, '10.244.0.9', 8080, { interceptId }).message!);
  const refused = await again.next(400);
  assert.ok(refused.kind === 'message' && refused.message.$case === 'dialResult', JSON.stringify(refused));
  assert.equal(refused.message.value.outcome, DialOutcome.TIMEOUT);
  assert.match(refused.message.value.message, /away/);
  assert.equal(asked, false);

  // A heartbeat: it is there again.
  await unary((cb) => m.client.remain({ session: { sessionId: client } }, cb));
  dials.removeAllListeners('data');
  const back = await connect();
  back.fromAgent.send({ $case: 'data', value: Buffer.from('GET / HTTP/1.1\r\n\r\n') });
  const got = await back.accept.next();
  assert.equal(got.kind === 'message' && got.message.$case, 'data');
  dials.cancel();
  await unary((cb) => m.client.depart({ session: { sessionId: client } }, cb));
});

test('a client that sends no heartbeats (an older daemon) is never called away', async () => {
  const client = await m.arrive('samples', 'old-daemon');
  m.clock.advance(30_000);
  const session = m.sessions.get(client, 'client');
  assert.ok(session);
  assert.equal(m.sessions.silentFor(session), undefined);
  await unary((cb) => m.client.depart({ session: { sessionId: client } }, cb));
});

test('ten developers hold personal intercepts on one workload at once: the agent sees them all, and each connection reaches only its own developer', async () => {
  const agent = await arriveAgent('echo-10');
  const agentWatch = watchAgent(agent);
  const devs = await Promise.all(
    Array.from({ length: 10 }, async (_, n) => {
      const session = await m.arrive('samples', `dev-${n}`, 1_500);
      const dials = m.client.watchDials({ session: { sessionId: session } });
      dials.on('error', () => undefined);
      const seen: DialRequest[] = [];
      dials.on('data', (d: DialRequest) => seen.push(d));
      const created = await unary<CreateInterceptResponse>((cb) =>
        m.client.createIntercept({ session: { sessionId: session }, spec: spec({ name: `dev-${n}`, global: false, headers: [{ name: 'x-dev', value: `dev-${n}` }] }) }, cb),
      );
      return { n, session, dials, seen, id: created.intercept!.id };
    }),
  );
  let view = await agentWatch.next();
  while (view.intercepts.filter((i) => i.active).length < 10) view = await agentWatch.next();
  assert.deepEqual(view.intercepts.map((i) => i.spec?.headers[0]?.value).sort(), devs.map((d) => `dev-${d.n}`).sort());

  // One connection per developer, all at once; each answers with its own name.
  await Promise.all(
    devs.map(async (d) => {
      const fromAgent = new TunnelClient(m.agentClient);
      fromAgent.send(tcpOpen(agent, '10.244.0.9', 8080, { interceptId: d.id }).message!);
      while (d.seen.length === 0) await new Promise((r) => setTimeout(r, 5));
      const accept = new TunnelClient(m.client);
      accept.send({ $case: 'accept', value: { sessionId: d.session, dialId: d.seen[0]!.dialId } });
      await accept.next();
      accept.send({ $case: 'dialResult', value: { outcome: DialOutcome.OK, message: '' } });
      await fromAgent.next();
      accept.send({ $case: 'data', value: Buffer.from(`dev-${d.n}`) });
      const got = await fromAgent.next();
      assert.equal(got.kind === 'message' && got.message.$case === 'data' && Buffer.from(got.message.value).toString(), `dev-${d.n}`);
      fromAgent.call.cancel();
      accept.call.cancel();
    }),
  );
  for (const d of devs) {
    assert.deepEqual(d.seen.map((s) => s.interceptId), [d.id], `dev-${d.n} was asked only for its own connection`);
    d.dials.cancel();
    await unary((cb) => m.client.depart({ session: { sessionId: d.session } }, cb));
  }
  agentWatch.cancel();
});
