import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import type {
  AgentIntercepts,
  CreateInterceptResponse,
  InterceptInfo,
  InterceptSpec,
  ListInterceptsResponse,
} from '../../../protocol/src/gen/telepath/manager/v1/manager.js';
import { ManagerClient } from '../../../protocol/src/manager/managerService.js';
import { testSpec } from '../../../common/src/testing/interceptSpecs.js';
import { startTestManager, type TestManager, unary } from '../testing/managerHarness.js';
import { silentLogger } from '../../../common/src/log/jsonLogger.js';
import type { ClientSession } from '../sessions.js';
import { InterceptRegistry } from './interceptRegistry.js';

function session(id: string): ClientSession {
  return { id, kind: 'client', client: { name: `${id}@host`, installId: id, namespace: 'samples', version: '0' }, arrivedAt: 0, signal: new AbortController().signal };
}

const spec = testSpec({ global: true, headers: [] });

test('an intercept routes only while its holder watches, and is dropped when the holder stays away', async () => {
  let n = 0;
  const r = new InterceptRegistry(silentLogger, () => `id-${++n}`, 50);
  const alice = session('alice');
  const changes: number[] = [];
  r.onWorkloadChange('samples', 'echo', () => changes.push(r.forWorkload('samples', 'echo').length));
  r.create(alice, spec);
  assert.deepEqual(r.forWorkload('samples', 'echo'), [], 'not watching yet: agents route to the app');
  const unwatch = r.watchDials(alice);
  assert.equal(r.forWorkload('samples', 'echo').length, 1);
  unwatch();
  assert.equal(r.list('samples', 'alice').length, 1, 'kept through a short gap');
  // Back within the grace: still there.
  const again = r.watchDials(alice);
  await new Promise((res) => setTimeout(res, 80));
  assert.equal(r.list('samples', 'alice').length, 1);
  again();
  await new Promise((res) => setTimeout(res, 80));
  assert.equal(r.list('samples', 'alice').length, 0, 'dropped after the grace: the port is free for others');
  r.create(session('bob'), spec);
  assert.deepEqual(changes, [0, 1, 0, 1, 0, 0, 0]);
});

describe('through the manager: what other developers see of an intercept', () => {
  let m: TestManager;
  before(async () => {
    m = await startTestManager();
  });
  after(() => m.close());

  const personal = (name: string, value: string, previewToken = ''): InterceptSpec => ({
    ...spec,
    name,
    global: false,
    headers: [{ name: 'x-telepath-intercept', value }],
    previewToken,
    localPort: 3000,
  });
  const list = (client: ManagerClient, sessionId: string): Promise<InterceptInfo[]> =>
    unary<ListInterceptsResponse>((cb) => client.listIntercepts({ session: { sessionId }, namespace: 'samples' }, cb)).then((r) => r.intercepts);
  const byName = (infos: InterceptInfo[], name: string): InterceptInfo => infos.find((i) => i.spec?.name === name)!;

  test("ListIntercepts blanks others' header values, preview token and local port, and shows the caller's own whole", async () => {
    const alice = await m.arrive('samples', 'alice');
    const bob = await m.arrive('samples', 'bob');
    const aliceSpec = personal('a', 'alice-secret', 'alice-preview-token');
    const created = await unary<CreateInterceptResponse>((cb) => m.client.createIntercept({ session: { sessionId: alice }, spec: aliceSpec }, cb));
    assert.deepEqual(created.intercept?.spec, aliceSpec, 'the holder gets its own intercept back whole');
    await unary((cb) => m.client.createIntercept({ session: { sessionId: bob }, spec: personal('b', 'bob-secret') }, cb));

    // m.client is a bare grpc-js client (no daemon in between); so is a second one of its own.
    const raw = new ManagerClient(m.address, credentials.createInsecure());
    try {
      for (const client of [m.client, raw]) {
        const seenByBob = await list(client, bob);
        assert.equal(byName(seenByBob, 'a').mine, false);
        assert.deepEqual(byName(seenByBob, 'a').spec, { ...aliceSpec, headers: [{ name: 'x-telepath-intercept', value: '' }], previewToken: '', localPort: 0 });
        assert.equal(byName(seenByBob, 'a').clientName, 'tester@test');
        assert.deepEqual(byName(seenByBob, 'b').spec, personal('b', 'bob-secret'), "bob's own is whole");

        const seenByAlice = await list(client, alice);
        assert.deepEqual(byName(seenByAlice, 'a').spec, aliceSpec, "alice's own is whole");
        assert.equal(byName(seenByAlice, 'b').spec?.headers[0]?.value, '');
        assert.doesNotMatch(JSON.stringify(seenByAlice), /bob-secret/);
        assert.doesNotMatch(JSON.stringify(seenByBob), /alice-secret|alice-preview-token/);
      }
    } finally {
      raw.close();
    }

    // Nor does a refusal name the values: a global intercept beside them lists the holders.
    const carol = await m.arrive('samples', 'carol');
    const refused = await unary((cb) => m.client.createIntercept({ session: { sessionId: carol }, spec: { ...spec, name: 'g' } }, cb)).catch(
      (e: ServiceError) => e,
    );
    assert.equal((refused as ServiceError).code, status.ALREADY_EXISTS);
    assert.match((refused as ServiceError).details, /x-telepath-intercept=\(hidden\)/);
    assert.doesNotMatch((refused as ServiceError).details, /alice-secret|bob-secret/);

    // The agent routes by the values, so its watch (agent listener, verified agents only) has them.
    const dials = m.client.watchDials({ session: { sessionId: alice } });
    dials.on('error', () => undefined);
    const agent = await m.arriveAgent('echo-1');
    const watch = m.agentClient.watchAgentIntercepts({ session: { sessionId: agent } });
    watch.on('error', () => undefined);
    const routed = await new Promise<InterceptInfo>((resolve) =>
      watch.on('data', (a: AgentIntercepts) => {
        const i = a.intercepts.find((x) => x.spec?.name === 'a');
        if (i) resolve(i);
      }),
    );
    assert.deepEqual(routed.spec, aliceSpec);
    watch.cancel();
    dials.cancel();
    for (const sessionId of [alice, bob, carol]) await unary((cb) => m.client.depart({ session: { sessionId } }, cb));
  });
});
