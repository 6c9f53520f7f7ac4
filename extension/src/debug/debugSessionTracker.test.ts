import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DebugSessionTracker } from './debugSessionTracker.js';

describe('which intercept a debug session ending leaves', () => {
  test('the one it started, when its last session ends', () => {
    const t = new DebugSessionTracker();
    const a = t.add('echo', true);
    const b = t.add('echo', false);
    assert.equal(t.end(b), undefined);
    assert.equal(t.end(a), 'echo');
    assert.equal(t.end(a), undefined, 'a session ends once');
  });

  test('not one it only reused', () => {
    const t = new DebugSessionTracker();
    assert.equal(t.end(t.add('echo', false)), undefined);
  });

  test('not one that was left by other means meanwhile', () => {
    const t = new DebugSessionTracker();
    const a = t.add('echo', true);
    t.released('echo');
    assert.equal(t.end(a), undefined);
  });

  test('sessions that are not Telepath\'s are ignored', () => {
    assert.equal(new DebugSessionTracker().end(undefined), undefined);
    assert.equal(new DebugSessionTracker().end('telepath-99'), undefined);
  });
});
