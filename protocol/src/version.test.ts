import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSemver, protocolCompatible } from './version.js';

test('parseSemver reads plain, v-prefixed and pre-release versions', () => {
  assert.deepEqual(parseSemver('1.2.3'), { major: 1, minor: 2, patch: 3 });
  assert.deepEqual(parseSemver('v0.10.0-rc.1'), { major: 0, minor: 10, patch: 0 });
  assert.equal(parseSemver('1.2'), undefined);
  assert.equal(parseSemver('latest'), undefined);
});

test('protocolCompatible: same major; for 0.x also the same minor', () => {
  assert.equal(protocolCompatible('1.0.0', '1.4.2'), true);
  assert.equal(protocolCompatible('1.0.0', '2.0.0'), false);
  assert.equal(protocolCompatible('0.1.0', '0.1.9'), true);
  assert.equal(protocolCompatible('0.1.0', '0.2.0'), false);
  assert.equal(protocolCompatible('0.1.0', 'garbage'), false);
});
