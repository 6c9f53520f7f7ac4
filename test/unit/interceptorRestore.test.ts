/**
 * The daemon's Interceptor against a real ManagerServerHost (the traffic-manager's test harness):
 * after the link to the manager is restored, an intercept that the cluster no longer allows is
 * ended in the daemon too, and its owner told why, instead of staying listed as if it ran; so is
 * one whose agent the manager removed as idle meanwhile.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../common/src/log/fileLogger.js';
import { testSpec } from '../../common/src/testing/interceptSpecs.js';
import { Interceptor } from '../../daemon/src/user/intercept/interceptor.js';
import { startTestManager, TestClientRights } from '../../traffic-manager/src/testing/managerHarness.js';

test('a restore that the cluster refuses ends the intercept and tells its owner; one it allows is restored', async () => {
  const rights = new TestClientRights(new Set(['intercept samples', 'intercept other']));
  const m = await startTestManager({ clientRights: rights });
  const sessionId = await m.arrive();
  const ended: string[] = [];
  const interceptor = new Interceptor(
    { client: () => m.client, sessionId: () => sessionId, onEnded: (name, reason) => ended.push(`${name}: ${reason}`) },
    createLogger({ level: 'error', write: () => undefined }),
  );
  const spec = (name: string, namespace: string) => testSpec({ name, namespace, workloadName: name, global: true, headers: [] });
  try {
    await interceptor.add(spec('echo', 'samples'), { host: '127.0.0.1', port: 3000 });
    await interceptor.add(spec('web', 'other'), { host: '127.0.0.1', port: 3001 });
    // The manager forgot them (a restart), and meanwhile samples was taken from this user.
    for (const i of m.intercepts.all()) m.intercepts.end(i, 'test');
    rights.only = new Set(['intercept other']);
    interceptor.suspend();
    await interceptor.resume();
    assert.deepEqual(interceptor.list().map((h) => h.spec.name), ['web']);
    assert.deepEqual(ended, ['echo: tester may not intercept in namespace samples']);
    assert.deepEqual(m.intercepts.all().map((i) => i.spec.name), ['web']);
  } finally {
    interceptor.close();
    await m.close();
  }
});

test('a restore refused because the manager removed the agent as idle meanwhile ends the intercept and tells its owner why', async () => {
  let removed = '';
  const m = await startTestManager({ interceptRefusal: (spec) => (spec.workloadName === removed ? `the traffic-agent of deployment/${removed} was removed a moment ago` : undefined) });
  const sessionId = await m.arrive();
  const ended: string[] = [];
  const interceptor = new Interceptor(
    { client: () => m.client, sessionId: () => sessionId, onEnded: (name, reason) => ended.push(`${name}: ${reason}`) },
    createLogger({ level: 'error', write: () => undefined }),
  );
  try {
    await interceptor.add(testSpec(), { host: '127.0.0.1', port: 3000 });
    // Away long enough for the manager to drop the intercept and then the idle agent.
    for (const i of m.intercepts.all()) m.intercepts.end(i, 'test');
    removed = 'echo';
    interceptor.suspend();
    await interceptor.resume();
    assert.deepEqual(interceptor.list(), []);
    assert.deepEqual(ended, ['echo: the traffic-agent of deployment/echo was removed a moment ago']);
  } finally {
    interceptor.close();
    await m.close();
  }
});
