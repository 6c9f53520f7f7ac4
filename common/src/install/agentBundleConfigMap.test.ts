import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agentBundleConfigMap } from './agentBundleConfigMap.js';
import { API_LEVELS_ANNOTATION, VERSION_LABEL } from './managerManifests.js';

test('the agent ConfigMap names the agent version and API levels, so that no older client replaces it', () => {
  const cm = agentBundleConfigMap('samples', Buffer.from('agent code'), '0.2.0', { level: 2, min: 1 });
  assert.equal(cm.metadata?.namespace, 'samples');
  assert.equal(cm.metadata?.labels?.[VERSION_LABEL], '0.2.0');
  assert.equal(cm.metadata?.annotations?.[API_LEVELS_ANNOTATION], '1-2');
});
