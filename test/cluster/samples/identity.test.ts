import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CONFIG_FILE, readIdentity } from './identity.js';

const files = (content: Record<string, string>) => (path: string): string => {
  const text = content[path];
  if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  return text;
};

test('identity comes from POD_NAME, SAMPLE_GREETING, SAMPLE_SECRET and the first config line', () => {
  const identity = readIdentity(
    { POD_NAME: 'echo-1', SAMPLE_GREETING: 'hi', SAMPLE_SECRET: 's', SAMPLE_CONFIG_FILE: '/c.txt' },
    files({ '/c.txt': 'line one\r\nline two\n' }),
    () => 'host',
  );
  assert.deepEqual(identity, { pod: 'echo-1', greeting: 'hi', secret: 's', config: 'line one' });
});

test('defaults: hostname for the pod, empty strings, /etc/sample/config.txt', () => {
  assert.deepEqual(readIdentity({}, files({ [DEFAULT_CONFIG_FILE]: 'from default\n' }), () => 'host'), {
    pod: 'host',
    greeting: '',
    secret: '',
    config: 'from default',
  });
});

test('a missing config file is an empty config, not a crash', () => {
  assert.equal(readIdentity({ SAMPLE_CONFIG_FILE: '/nope' }, files({}), () => 'h').config, '');
});
