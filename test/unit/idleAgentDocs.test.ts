/**
 * The YAML an admin applies to let the manager remove idle agents (docs/security.md, "Idle
 * agents") is exactly what common/src/install/idleAgentRbac.ts makes, and so what the manager
 * asks the API server for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadAllYaml } from '@kubernetes/client-node';
import { idleAgentRbac } from '../../common/src/install/idleAgentRbac.js';

test('docs/security.md "Idle agents" shows the ClusterRole and binding of a manager in namespace telepath', () => {
  const doc = readFileSync(new URL('../../docs/security.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('### Idle agents'));
  const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block, 'the section has a yaml block');
  const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));
  assert.deepEqual(plain(loadAllYaml(block)), plain(idleAgentRbac('telepath')));
});
