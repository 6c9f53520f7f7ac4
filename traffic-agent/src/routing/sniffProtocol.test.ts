import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyPrefix, H2_PREFACE, MAX_REQUEST_LINE } from './sniffProtocol.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('classifyPrefix', () => {
  test('the HTTP/2 preface, whole or still arriving', () => {
    assert.equal(classifyPrefix(H2_PREFACE), 'h2');
    assert.equal(classifyPrefix(Buffer.concat([H2_PREFACE, b('\x00\x00\x12\x04')])), 'h2');
    assert.equal(classifyPrefix(H2_PREFACE.subarray(0, 10)), 'incomplete');
    assert.equal(classifyPrefix(H2_PREFACE.subarray(0, 10), true), 'other');
  });

  test('HTTP/1.x request lines', () => {
    assert.equal(classifyPrefix(b('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), 'http1');
    assert.equal(classifyPrefix(b('POST /a?b=c HTTP/1.0\r\n')), 'http1');
    assert.equal(classifyPrefix(b('M-SEARCH * HTTP/1.1\r\n')), 'http1');
    assert.equal(classifyPrefix(b('OPTIONS * HTTP/1.1\n')), 'http1');
    assert.equal(classifyPrefix(b('CONNECT host:443 HTTP/1.1\r\n')), 'http1');
  });

  test('a request line still arriving waits; at the end of the wait it is not HTTP', () => {
    for (const partial of ['G', 'GE', 'GET', 'GET ', 'GET /x', 'GET /x ', 'GET /x HTTP/1.', 'GET /x HTTP/1.1', 'GET /x HTTP/1.1\r']) {
      assert.equal(classifyPrefix(b(partial)), 'incomplete', partial);
      assert.equal(classifyPrefix(b(partial), true), 'other', partial);
    }
    assert.equal(classifyPrefix(Buffer.alloc(0)), 'incomplete');
    assert.equal(classifyPrefix(Buffer.alloc(0), true), 'other');
  });

  test('anything else is decided as soon as it cannot be HTTP', () => {
    assert.equal(classifyPrefix(b('\x16\x03\x01\x02\x00')), 'other', 'TLS');
    assert.equal(classifyPrefix(b('SSH-2.0-x\r\n')), 'other');
    assert.equal(classifyPrefix(b('X')), 'other');
    assert.equal(classifyPrefix(b('get / HTTP/1.1\r\n')), 'other', 'methods are case-sensitive');
    assert.equal(classifyPrefix(b('FETCH / HTTP/1.1\r\n')), 'other', 'unknown method');
    assert.equal(classifyPrefix(b('GET  / HTTP/1.1\r\n')), 'other', 'empty target');
    assert.equal(classifyPrefix(b('GET / HTTP/2.0\r\n')), 'other');
    assert.equal(classifyPrefix(b('GET / HTTP/1.1 x\r\n')), 'other');
    assert.equal(classifyPrefix(b('GET /a\tb HTTP/1.1\r\n')), 'other');
    assert.equal(classifyPrefix(b('PRI / HTTP/1.1\r\n')), 'other', 'PRI only as the h2 preface');
  });

  test('an endless request line is given up on', () => {
    assert.equal(classifyPrefix(b(`GET /${'a'.repeat(MAX_REQUEST_LINE)}`)), 'other');
  });
});
