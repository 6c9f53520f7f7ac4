import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyPreface, H2_PREFACE } from './h2cPreface.js';

test('the full HTTP/2 preface is h2; a prefix of it is undecided', () => {
  assert.equal(classifyPreface(H2_PREFACE), 'h2');
  assert.equal(classifyPreface(Buffer.concat([H2_PREFACE, Buffer.from([0, 0, 0, 4])])), 'h2');
  assert.equal(classifyPreface(H2_PREFACE.subarray(0, 3)), 'undecided');
  assert.equal(classifyPreface(Buffer.alloc(0)), 'undecided');
});

test('anything that departs from the preface is HTTP/1', () => {
  assert.equal(classifyPreface(Buffer.from('GET / HTTP/1.1\r\n')), 'http1');
  assert.equal(classifyPreface(Buffer.from('PRIX')), 'http1');
  assert.equal(classifyPreface(Buffer.from('PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n')), 'http1');
});
