import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CONFIG, readConfig } from './config.js';

test('the environment sets the manager, defaults fill the rest', () => {
  assert.deepEqual(readConfig({}), { config: DEFAULT_CONFIG, problems: [] });
  const { config, problems } = readConfig({
    TELEPATH_NAMESPACE: 'tp',
    TELEPATH_GRPC_PORT: '9000',
    TELEPATH_AGENT_PORT: '9003',
    TELEPATH_LOG_LEVEL: 'DEBUG',
    TELEPATH_SESSION_TTL_MS: '5000',
  });
  assert.deepEqual(problems, []);
  assert.deepEqual(config, { ...DEFAULT_CONFIG, namespace: 'tp', grpcPort: 9000, agentPort: 9003, logLevel: 'debug', sessionTtlMs: 5000 });
});

test('bad values are reported and replaced by the defaults', () => {
  const { config, problems } = readConfig({ TELEPATH_GRPC_PORT: '70000', TELEPATH_LOG_LEVEL: 'loud', TELEPATH_DRAIN_MS: 'x' });
  assert.equal(config.grpcPort, 8081);
  assert.equal(config.logLevel, 'info');
  assert.equal(config.drainMs, 5000);
  assert.equal(problems.length, 3);
  assert.match(problems.join('\n'), /TELEPATH_GRPC_PORT="70000"/);
  assert.match(problems.join('\n'), /TELEPATH_LOG_LEVEL="loud"/);
});
