import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeDebugEnv } from './envMerge.js';

describe('the debug session environment', () => {
  const pod = { DB_HOST: 'db.samples', GREETING: 'from the pod', PORT: '8080' };

  test('the pod\'s environment, then TELEPATH_ROOT', () => {
    assert.deepEqual(mergeDebugEnv(pod, '/tmp/telepath/echo', undefined), { ...pod, TELEPATH_ROOT: '/tmp/telepath/echo' });
  });

  test('the configuration\'s own env wins over the pod and over TELEPATH_ROOT', () => {
    const merged = mergeDebugEnv(pod, '/tmp/telepath/echo', { GREETING: 'mine', PORT: 3000, TELEPATH_ROOT: '/mnt/x', EXTRA: 'yes' });
    assert.deepEqual(merged, { DB_HOST: 'db.samples', GREETING: 'mine', PORT: '3000', TELEPATH_ROOT: '/mnt/x', EXTRA: 'yes' });
  });

  test('null in the configuration unsets a pod variable (as js-debug reads it)', () => {
    assert.deepEqual(mergeDebugEnv(pod, undefined, { DB_HOST: null }), { DB_HOST: null, GREETING: 'from the pod', PORT: '8080' });
  });

  test('without volumes there is no TELEPATH_ROOT, unless the pod env had one', () => {
    assert.equal('TELEPATH_ROOT' in mergeDebugEnv(pod, undefined, {}), false);
    assert.equal(mergeDebugEnv({ TELEPATH_ROOT: '/tmp/t' }, undefined, {}).TELEPATH_ROOT, '/tmp/t');
  });

  test('an env that is not an object is ignored, the pod env is not changed', () => {
    const copy = { ...pod };
    assert.deepEqual(mergeDebugEnv(pod, undefined, 'oops'), pod);
    assert.deepEqual(mergeDebugEnv(pod, undefined, ['A=1']), pod);
    mergeDebugEnv(pod, '/x', { GREETING: 'changed' });
    assert.deepEqual(pod, copy);
  });
});
