import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WorkloadRef } from '../../../common/src/agents/agentObjects.js';
import { ManualClock } from '../testing/managerHarness.js';
import { IdleAgentTracker } from './idleAgentTracker.js';

const echo: WorkloadRef = { namespace: 'samples', kind: 'Deployment', name: 'echo' };
const web: WorkloadRef = { namespace: 'samples', kind: 'StatefulSet', name: 'web' };
const MIN = 60_000;

function tracker(): { t: IdleAgentTracker; clock: ManualClock } {
  const clock = new ManualClock();
  return { t: new IdleAgentTracker(30 * MIN, clock), clock };
}

test('a workload whose agent arrived with no intercept is idle once the timeout has passed, not before', () => {
  const { t, clock } = tracker();
  t.agentSeen(echo);
  clock.advance(30 * MIN - 1);
  assert.deepEqual(t.idle(), []);
  assert.equal(t.isIdle(echo), false);
  clock.advance(1);
  assert.deepEqual(t.idle(), [echo]);
  assert.equal(t.isIdle(echo), true);
});

test("more agents of the workload arriving (a rollout, more replicas) do not restart its clock", () => {
  const { t, clock } = tracker();
  t.agentSeen(echo);
  clock.advance(20 * MIN);
  t.agentSeen(echo);
  clock.advance(10 * MIN);
  assert.deepEqual(t.idle(), [echo]);
});

test('never idle while it has an intercept, however long; the clock starts when the last one ends', () => {
  const { t, clock } = tracker();
  t.agentSeen(echo);
  clock.advance(10 * MIN);
  t.interceptsChanged(echo, 1);
  t.interceptsChanged(echo, 2);
  clock.advance(5 * 60 * MIN);
  assert.deepEqual(t.idle(), []);
  t.interceptsChanged(echo, 1);
  clock.advance(MIN);
  assert.deepEqual(t.idle(), [], 'one intercept is left');
  t.interceptsChanged(echo, 0);
  clock.advance(30 * MIN - 1);
  assert.deepEqual(t.idle(), []);
  clock.advance(1);
  assert.deepEqual(t.idle(), [echo]);
});

test('a new intercept resets an idle workload; an intercept that came and went starts the clock again', () => {
  const { t, clock } = tracker();
  t.agentSeen(echo);
  clock.advance(30 * MIN);
  assert.equal(t.isIdle(echo), true);
  t.interceptsChanged(echo, 1);
  assert.equal(t.isIdle(echo), false, 'an intercept just created: the re-check before removing sees it');
  t.interceptsChanged(echo, 0);
  assert.equal(t.isIdle(echo), false);
  clock.advance(29 * MIN);
  assert.equal(t.isIdle(echo), false);
  clock.advance(MIN);
  assert.equal(t.isIdle(echo), true);
});

test('restart: a workload found marked at start (agents not connected yet) gets the whole timeout from then', () => {
  // A new manager knows nothing of what happened before it: the clock starts at its start.
  const { t, clock } = tracker();
  t.agentSeen(echo);
  assert.deepEqual(t.idle(), [], 'not removed at once');
  clock.advance(5 * MIN);
  // Its daemon re-creates the intercept it held before the restart, before the agents are back.
  t.interceptsChanged(web, 1);
  clock.advance(25 * MIN);
  t.agentSeen(web);
  assert.deepEqual(t.idle(), [echo]);
  assert.equal(t.isIdle(web), false);
});

test('workloads are told apart by namespace, kind and name; the longest idle comes first', () => {
  const { t, clock } = tracker();
  const echoSts: WorkloadRef = { ...echo, kind: 'StatefulSet' };
  const echoOther: WorkloadRef = { ...echo, namespace: 'other' };
  t.agentSeen(echoOther);
  clock.advance(MIN);
  t.agentSeen(echo);
  t.agentSeen(echoSts);
  t.interceptsChanged(echo, 1);
  clock.advance(30 * MIN);
  assert.deepEqual(t.idle(), [echoOther, echoSts]);
});

test('a removed agent is no longer tracked and is "removed" until the webhook injects an agent into the workload again', () => {
  const { t, clock } = tracker();
  t.agentSeen(echo);
  clock.advance(30 * MIN);
  t.agentRemoved(echo);
  assert.deepEqual(t.idle(), []);
  assert.equal(t.wasRemoved(echo), true);
  assert.equal(t.wasRemoved(web), false);
  // An agent of a pod being rolled away that connects again says nothing about a new install.
  t.agentSeen(echo);
  assert.equal(t.wasRemoved(echo), true);
  t.agentInjected(echo);
  assert.equal(t.wasRemoved(echo), false);
  assert.deepEqual(t.idle(), [], 'seen again: a fresh clock');
  t.forget(echo);
  clock.advance(60 * MIN);
  assert.deepEqual(t.idle(), []);
  assert.equal(t.size, 0);
});
