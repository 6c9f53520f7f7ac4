import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appEnvironment } from './agentEnv.js';

test('the app environment leaves out the agent’s own variables and the image’s', () => {
  const env = appEnvironment({
    SAMPLE_GREETING: 'hello',
    _TP_AGENT_CONFIG: '{}',
    _TP_POD_IP: '10.244.0.7',
    PATH: '/usr/bin',
    HOSTNAME: 'echo-1',
    NODE_VERSION: '20.0.0',
    ECHO_SERVICE_HOST: '10.96.0.5',
    EMPTY: '',
  });
  assert.deepEqual(env, { SAMPLE_GREETING: 'hello', ECHO_SERVICE_HOST: '10.96.0.5', EMPTY: '' });
});
