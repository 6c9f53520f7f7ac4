import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyJsonPatch, jsonPointer } from './jsonPatch.js';

test('pointers escape "~" and "/" in tokens, so annotation keys address one member', () => {
  assert.equal(jsonPointer('metadata', 'annotations', 'telepath.io/agent-injected'), '/metadata/annotations/telepath.io~1agent-injected');
  assert.equal(jsonPointer('a~b', 0, '-'), '/a~0b/0/-');
  const doc = { metadata: { annotations: { 'a/b': '1' } as Record<string, string> } };
  const out = applyJsonPatch(doc, [{ op: 'add', path: jsonPointer('metadata', 'annotations', 'c~/d'), value: '2' }]);
  assert.deepEqual(out.metadata.annotations, { 'a/b': '1', 'c~/d': '2' });
  assert.deepEqual(doc.metadata.annotations, { 'a/b': '1' }, 'the input is not changed');
});

test('add appends with "-", inserts at an index, and replaces an existing member', () => {
  const out = applyJsonPatch({ list: [1, 3], o: { k: 'old' } }, [
    { op: 'add', path: '/list/-', value: 4 },
    { op: 'add', path: '/list/1', value: 2 },
    { op: 'add', path: '/o/k', value: 'new' },
    { op: 'replace', path: '/list/0', value: 0 },
    { op: 'remove', path: '/list/3' },
  ]);
  assert.deepEqual(out, { list: [0, 2, 3], o: { k: 'new' } });
});

test('like the API server, a missing parent, member or index is an error', () => {
  assert.throws(() => applyJsonPatch({ spec: {} }, [{ op: 'add', path: '/spec/volumes/-', value: {} }]), /operation 0 \(add \/spec\/volumes\/-\): path not found/);
  assert.throws(() => applyJsonPatch({ a: {} }, [{ op: 'replace', path: '/a/b', value: 1 }]), /no member "b"/);
  assert.throws(() => applyJsonPatch({ a: [1] }, [{ op: 'replace', path: '/a/1', value: 1 }]), /out of range/);
  assert.throws(() => applyJsonPatch({ a: [1] }, [{ op: 'add', path: '/a/01', value: 1 }]), /bad array index/);
  assert.throws(() => applyJsonPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }]), /test failed/);
  assert.deepEqual(applyJsonPatch({ a: { x: 1, y: 2 } }, [{ op: 'test', path: '/a', value: { y: 2, x: 1 } }]), { a: { x: 1, y: 2 } });
});
