import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InterceptSpec } from '../../../protocol/src/gen/telepath/manager/v1/manager.js';
import { silentLogger } from '../../../common/src/log/jsonLogger.js';
import type { ClientSession } from '../sessions.js';
import { InterceptRegistry } from './interceptRegistry.js';

function session(id: string): ClientSession {
  return { id, kind: 'client', client: { name: `${id}@host`, installId: id, namespace: 'samples', version: '0' }, arrivedAt: 0, signal: new AbortController().signal };
}

const spec: InterceptSpec = {
  name: 'echo',
  namespace: 'samples',
  workloadKind: 'Deployment',
  workloadName: 'echo',
  agentPort: 9900,
  global: true,
  headers: [],
  pathPrefix: '',
  previewToken: '',
  localPort: 8080,
};

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
  assert.equal(r.list('samples').length, 1, 'kept through a short gap');
  // Back within the grace: still there.
  const again = r.watchDials(alice);
  await new Promise((res) => setTimeout(res, 80));
  assert.equal(r.list('samples').length, 1);
  again();
  await new Promise((res) => setTimeout(res, 80));
  assert.equal(r.list('samples').length, 0, 'dropped after the grace: the port is free for others');
  r.create(session('bob'), spec);
  assert.deepEqual(changes, [0, 1, 0, 1, 0, 0, 0]);
});
