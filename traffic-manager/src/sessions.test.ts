import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../common/src/log/jsonLogger.js';
import { type ClientDescription, type Clock, SessionRegistry, sessionEndReason } from './sessions.js';

class FakeClock implements Clock {
  t = 0;
  now(): number {
    return this.t;
  }
}

const alice: ClientDescription = { name: 'alice@laptop', installId: 'i-alice', namespace: 'shop', version: '0.1.0' };
const bob: ClientDescription = { name: 'bob@desk', installId: 'i-bob', namespace: 'default', version: '0.1.0' };

function registry(ttlMs = 10_000): { reg: SessionRegistry; clock: FakeClock } {
  const clock = new FakeClock();
  let n = 0;
  return { reg: new SessionRegistry({ ttlMs, clock, logger: silentLogger, newId: () => `s-${++n}` }), clock };
}

test('a session lives for the TTL after arrival and after each Remain', () => {
  const { reg, clock } = registry(10_000);
  const s = reg.arrive(alice);
  assert.equal(s.id, 's-1');
  assert.deepEqual(s.client, { ...alice, heartbeatMs: 0 });
  clock.t = 9_999;
  assert.equal(reg.remain(s.id, 'client'), true);
  clock.t = 19_998;
  assert.equal(reg.get(s.id, 'client')?.id, 's-1', 'Remain extends the session by a full TTL');
  clock.t = 19_999;
  assert.equal(reg.get(s.id, 'client'), undefined, 'a session not kept expires at arrival/remain + TTL');
  assert.equal(reg.remain(s.id, 'client'), false);
  assert.equal(sessionEndReason(s.signal), 'expired');
});

test('sweep ends the expired sessions only, and aborts their signals', () => {
  const { reg, clock } = registry(10_000);
  const a = reg.arrive(alice);
  clock.t = 5_000;
  const b = reg.arrive(bob);
  clock.t = 12_000;
  assert.equal(reg.sweep(), 1);
  assert.equal(a.signal.aborted, true);
  assert.equal(sessionEndReason(a.signal), 'expired');
  assert.equal(b.signal.aborted, false);
  assert.equal(reg.size, 1);
  clock.t = 15_000;
  assert.equal(reg.sweep(), 1);
  assert.equal(reg.size, 0);
});

test('depart ends a session at once; a second depart, or one of an unknown id, is refused', () => {
  const { reg } = registry();
  const s = reg.arrive(alice);
  assert.equal(reg.depart(s.id, 'client'), true);
  assert.equal(sessionEndReason(s.signal), 'departed');
  assert.equal(reg.get(s.id, 'client'), undefined);
  assert.equal(reg.depart(s.id, 'client'), false);
  assert.equal(reg.depart('nope', 'client'), false);
});

test('arriving again with the same install id replaces the earlier session', () => {
  const { reg } = registry();
  const first = reg.arrive(alice);
  const other = reg.arrive(bob);
  const second = reg.arrive({ ...alice, name: 'alice@laptop (restarted)' });
  assert.notEqual(first.id, second.id);
  assert.equal(sessionEndReason(first.signal), 'replaced');
  assert.equal(reg.get(first.id, 'client'), undefined);
  assert.equal(reg.get(second.id, 'client')?.client.name, 'alice@laptop (restarted)');
  assert.equal(reg.get(other.id, 'client')?.id, other.id, 'other installs keep their sessions');
});

test('endAll ends every session with the given reason', () => {
  const { reg } = registry();
  const a = reg.arrive(alice);
  const b = reg.arrive(bob);
  reg.endAll('shutdown');
  assert.equal(reg.size, 0);
  assert.deepEqual([sessionEndReason(a.signal), sessionEndReason(b.signal)], ['shutdown', 'shutdown']);
});

test('a session is found only under its kind, and only a session of the same kind is replaced', () => {
  const { reg } = registry();
  const agent = reg.arrive({ name: 'agent samples/echo-1', installId: 'agent/samples/echo-1', namespace: 'samples', version: '0.1.0' }, 'agent');
  assert.equal(agent.kind, 'agent');
  assert.equal(reg.get(agent.id, 'client'), undefined, "an agent's session id opens nothing on the client side");
  assert.equal(reg.remain(agent.id, 'client'), false);
  assert.equal(reg.depart(agent.id, 'client'), false);
  assert.equal(reg.get(agent.id, 'agent')?.id, agent.id);
  // A client naming the agent's install id gets its own session; the agent keeps its one.
  const client = reg.arrive({ name: 'mallory@laptop', installId: 'agent/samples/echo-1', namespace: 'samples', version: '0.1.0' });
  assert.equal(client.kind, 'client');
  assert.equal(agent.signal.aborted, false);
  assert.equal(reg.get(client.id, 'agent'), undefined);
  assert.equal(reg.depart(agent.id, 'agent'), true);
});
