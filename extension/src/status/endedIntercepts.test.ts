import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DaemonStatus } from '../../../protocol/src/daemon';
import { newEndedIntercepts } from './endedIntercepts.js';

test('each ended intercept is told once, also when the status repeats it', () => {
  const told = new Set<string>();
  const status = (ended: { name: string; at: string }[]): DaemonStatus => ({
    state: 'connected',
    routedSubnets: [],
    endedIntercepts: ended.map((e) => ({ ...e, reason: 'alice may not create intercepts.telepath.dev in namespace samples' })),
  });
  assert.deepEqual(newEndedIntercepts(undefined, told), []);
  assert.deepEqual(newEndedIntercepts(status([{ name: 'echo', at: '1' }]), told).map((e) => e.name), ['echo']);
  assert.deepEqual(newEndedIntercepts(status([{ name: 'echo', at: '1' }]), told), []);
  // The same name ended again later is news.
  assert.deepEqual(newEndedIntercepts(status([{ name: 'echo', at: '1' }, { name: 'echo', at: '2' }]), told).map((e) => e.at), ['2']);
});
