import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { InterceptInfo, InterceptResult } from '../../../protocol/src/daemon';
import { InterceptRegistry } from './interceptRegistry.js';

const info = (name: string): InterceptInfo => ({
  name, namespace: 'samples', workload: `deployment/${name}`, servicePort: `${name}:8080`, agentPort: 9900, localPort: 8080, mode: 'global', headers: [], state: 'active',
});
const result = (name: string): InterceptResult => ({ intercept: info(name), environment: { A: name }, podName: `${name}-pod` });

describe('the environments of my intercepts', () => {
  test('remembered, and forgotten once the daemon no longer holds them', () => {
    const r = new InterceptRegistry();
    r.remember(result('echo'));
    r.remember(result('web'));
    r.sync([info('web')]);
    assert.equal(r.get('echo'), undefined);
    assert.deepEqual(r.get('web')?.environment, { A: 'web' });
    r.sync([]); // the daemon restarted: its intercepts are gone
    assert.equal(r.get('web'), undefined);
  });

  test('a new intercept of the same name replaces the old environment', () => {
    const r = new InterceptRegistry();
    r.remember(result('echo'));
    r.remember({ ...result('echo'), environment: { A: 'new' } });
    assert.deepEqual(r.get('echo')?.environment, { A: 'new' });
    r.forget('echo');
    assert.equal(r.get('echo'), undefined);
  });
});
