import { test } from 'node:test';
import assert from 'node:assert/strict';
import { flatHeaders, groupedHeaders, headerPairs, withoutHopByHop } from './http1Headers.js';

test('headerPairs and flatHeaders round-trip, order and case kept', () => {
  const raw = ['Host', 'a', 'X-B', '1', 'x-b', '2'];
  assert.deepEqual(headerPairs(raw), [['Host', 'a'], ['X-B', '1'], ['x-b', '2']]);
  assert.deepEqual(flatHeaders(headerPairs(raw)), raw);
});

test('groupedHeaders keeps first spelling and first position of a repeated name', () => {
  assert.deepEqual(groupedHeaders([['Host', 'a'], ['X-B', '1'], ['Accept', '*/*'], ['x-b', '2']]), [
    { name: 'Host', values: ['a'] },
    { name: 'X-B', values: ['1', '2'] },
    { name: 'Accept', values: ['*/*'] },
  ]);
});

test('withoutHopByHop drops connection-scoped fields and those Connection names, never framing', () => {
  const pairs = headerPairs([
    'Content-Type', 'text/plain',
    'Connection', 'keep-alive, X-Hop, Transfer-Encoding',
    'Keep-Alive', 'timeout=5',
    'x-hop', 'gone',
    'Transfer-Encoding', 'chunked',
    'Set-Cookie', 'a=1',
    'Set-Cookie', 'b=2',
  ]);
  assert.deepEqual(withoutHopByHop(pairs), [
    ['Content-Type', 'text/plain'],
    ['Transfer-Encoding', 'chunked'],
    ['Set-Cookie', 'a=1'],
    ['Set-Cookie', 'b=2'],
  ]);
});
