import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openTun, TunUnsupportedError } from './openTun.js';

for (const platform of ['darwin', 'win32'] as const) {
  test(`openTun on ${platform} says it is not supported yet`, () => {
    assert.throws(
      () => openTun({}, platform),
      (e: unknown) =>
        e instanceof TunUnsupportedError &&
        e.code === 'ERR_TUN_UNSUPPORTED' &&
        e.message.includes(`on ${platform} yet`) &&
        e.message.includes('intercepts, environment and volumes work without it'),
    );
  });
}
