import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apiCompatible, apiRange, compareSemver, formatApiRange, OWN_API, parseApiRange, parseSemver, protocolCompatible } from './version.js';

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

test('compareSemver orders releases and ignores pre-release tags', () => {
  assert.ok(compareSemver('0.2.0', '0.1.9')! > 0);
  assert.ok(compareSemver('0.1.0', '0.2.0')! < 0);
  assert.ok(compareSemver('1.0.0', '0.99.99')! > 0);
  assert.equal(compareSemver('0.2.0', 'v0.2.0-dev'), 0);
  assert.equal(compareSemver('0.2.0', 'unknown'), undefined);
});

test('apiRange: 0 on the wire is a build from before levels, level 1', () => {
  assert.deepEqual(apiRange(0, 0), { level: 1, min: 1 });
  assert.deepEqual(apiRange(undefined, undefined), { level: 1, min: 1 });
  assert.deepEqual(apiRange(3, 2), { level: 3, min: 2 });
  // A minimum above the level would make a build incompatible with itself.
  assert.deepEqual(apiRange(2, 5), { level: 2, min: 2 });
});

test('apiCompatible: each level at least the other minimum, both ways', () => {
  const legacy = apiRange(0, 0);
  assert.equal(apiCompatible(OWN_API, legacy), true, 'this build still works with 0.1.x');
  assert.equal(apiCompatible(legacy, OWN_API), true);
  assert.equal(apiCompatible({ level: 3, min: 2 }, legacy), false, 'a manager that dropped level 1 refuses 0.1.x');
  assert.equal(apiCompatible(legacy, { level: 3, min: 2 }), false);
  assert.equal(apiCompatible({ level: 5, min: 4 }, { level: 3, min: 1 }), false, 'an old client below the manager minimum');
  assert.equal(apiCompatible({ level: 5, min: 3 }, { level: 3, min: 1 }), true, 'they meet at level 3');
});

test('formatApiRange and parseApiRange round-trip; a missing annotation is an old build', () => {
  assert.equal(formatApiRange({ level: 2, min: 1 }), '1-2');
  assert.deepEqual(parseApiRange('1-2'), { level: 2, min: 1 });
  assert.deepEqual(parseApiRange(undefined), { level: 1, min: 1 });
  assert.deepEqual(parseApiRange('two'), { level: 1, min: 1 });
});
