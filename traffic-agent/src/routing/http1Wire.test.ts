import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BodyScanner, MAX_HEAD_BYTES, parseRequestHead, parseResponseHead, responseFraming, rewriteResponseHead, withoutRanges } from './http1Wire.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('parseRequestHead', () => {
  test('a complete head: method, target, headers, its length and framing', () => {
    const text = 'POST /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Dup: 1\r\nx-dup: 2\r\nContent-Length: 3\r\n\r\n';
    const r = parseRequestHead(b(`${text}abcGET`));
    assert.equal(r.kind, 'ok');
    if (r.kind !== 'ok') return;
    assert.equal(r.head.method, 'POST');
    assert.equal(r.head.target, '/a?b=1');
    assert.equal(r.head.length, text.length);
    assert.deepEqual(r.head.headers.get('x-dup'), ['1', '2']);
    assert.deepEqual(r.head.framing, { kind: 'length', length: 3 });
    assert.equal(r.head.keepAlive, true);
    assert.equal(r.head.upgrade, false);
  });

  test('incomplete until the empty line; bare LF line ends are accepted', () => {
    assert.equal(parseRequestHead(b('GET / HTTP/1.1\r\nHost: x\r\n')).kind, 'incomplete');
    const r = parseRequestHead(b('GET / HTTP/1.0\nHost: x\n\n'));
    assert.equal(r.kind, 'ok');
    if (r.kind === 'ok') assert.equal(r.head.keepAlive, false, 'HTTP/1.0 without keep-alive');
  });

  test('chunked, upgrade, CONNECT, Expect and Connection: close', () => {
    const chunked = parseRequestHead(b('POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n'));
    assert.ok(chunked.kind === 'ok' && chunked.head.framing.kind === 'chunked' && !chunked.head.keepAlive);
    const up = parseRequestHead(b('GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n'));
    assert.ok(up.kind === 'ok' && up.head.upgrade);
    const connect = parseRequestHead(b('CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n'));
    assert.ok(connect.kind === 'ok' && connect.head.upgrade);
    const expect = parseRequestHead(b('PUT / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n'));
    assert.ok(expect.kind === 'ok' && expect.head.expectContinue);
  });

  test('refused as Node refuses them: obs-fold, space before the colon, CL with TE, conflicting CL, TE not chunked, bad line', () => {
    for (const head of [
      'GET / HTTP/1.1\r\nX-A: 1\r\n  folded\r\n\r\n',
      'GET / HTTP/1.1\r\nX-A : 1\r\n\r\n',
      'POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
      'POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
      'POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n',
      'POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n',
      'GET / HTTP/2.0\r\n\r\n',
      'GET / HTTP/1.1\r\nX-A: a\x00b\r\n\r\n',
      'GET / HTTP/1.1\r\nno colon\r\n\r\n',
    ]) {
      const r = parseRequestHead(b(head));
      assert.equal(r.kind, 'invalid', JSON.stringify(head));
      if (r.kind === 'invalid') assert.equal(r.status, 400);
    }
  });

  test('a head larger than MAX_HEAD_BYTES is refused with 431, complete or not', () => {
    const big = `GET / HTTP/1.1\r\nX-Big: ${'a'.repeat(MAX_HEAD_BYTES)}\r\n`;
    const open = parseRequestHead(b(big));
    assert.ok(open.kind === 'invalid' && open.status === 431);
    const closed = parseRequestHead(b(`${big}\r\n`));
    assert.ok(closed.kind === 'invalid' && closed.status === 431);
  });
});

describe('responses', () => {
  test('status, framing, keep-alive and the Keep-Alive lines to leave out', () => {
    const text = 'HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n';
    const r = parseResponseHead(b(`${text}hi`));
    assert.equal(r.kind, 'ok');
    if (r.kind !== 'ok') return;
    assert.equal(r.head.status, 200);
    assert.equal(r.head.length, text.length);
    assert.equal(r.head.keepAlive, true);
    assert.deepEqual(responseFraming('GET', r.head), { kind: 'length', length: 2 });
    assert.deepEqual(responseFraming('HEAD', r.head), { kind: 'none' });
    assert.equal(
      withoutRanges(b(text), r.head.keepAliveLines).toString(),
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n',
    );
  });

  test('no body for 1xx, 204, 304; until the close without length; chunked wins', () => {
    const frame = (head: string, method = 'GET'): string => {
      const r = parseResponseHead(b(head));
      assert.equal(r.kind, 'ok');
      return r.kind === 'ok' ? responseFraming(method, r.head).kind : '';
    };
    assert.equal(frame('HTTP/1.1 100 Continue\r\n\r\n'), 'none');
    assert.equal(frame('HTTP/1.1 204 No Content\r\n\r\n'), 'none');
    assert.equal(frame('HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n'), 'none');
    assert.equal(frame('HTTP/1.0 200 OK\r\n\r\n'), 'close');
    assert.equal(frame('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), 'chunked');
    assert.equal(frame('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n'), 'close');
    assert.equal(parseResponseHead(b('HTTP/1.1 200\r\n\r\n')).kind, 'ok', 'no reason phrase');
    assert.equal(parseResponseHead(b('HTTX/1.1 200 OK\r\n\r\n')).kind, 'invalid');
  });

  test('rewriteResponseHead: an extra line after the destination\'s own, Keep-Alive gone, Connection: close when asked', () => {
    const head = b('HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n');
    assert.equal(rewriteResponseHead(head, ['Set-Cookie: x=; Max-Age=0'], false).toString(), 'HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nConnection: keep-alive\r\nSet-Cookie: x=; Max-Age=0\r\n\r\n');
    assert.equal(rewriteResponseHead(head, [], true).toString(), 'HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nConnection: close\r\n\r\n');
  });
});

describe('BodyScanner', () => {
  test('Content-Length: stops at the length, across pieces', () => {
    const s = new BodyScanner({ kind: 'length', length: 5 });
    assert.equal(s.scan(b('abc')), 3);
    assert.equal(s.done, false);
    assert.equal(s.scan(b('xdeGET /')), 2);
    assert.equal(s.done, true);
  });

  test('chunked with extensions and trailers, fed one byte at a time, ends exactly at the last CRLF', () => {
    const body = '4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Sum: abc\r\nX-More: 1\r\n\r\n';
    const s = new BodyScanner({ kind: 'chunked' });
    let consumed = 0;
    for (const c of b(`${body}NEXT`)) {
      if (s.done) break;
      consumed += s.scan(Buffer.from([c]));
    }
    assert.equal(s.done, true);
    assert.equal(consumed, body.length);
    const whole = new BodyScanner({ kind: 'chunked' });
    assert.equal(whole.scan(b(`${body}NEXT`), 0), body.length);
    const none = new BodyScanner({ kind: 'chunked' });
    assert.equal(none.scan(b('0\r\n\r\n')), 5);
    assert.equal(none.done, true);
    // Whitespace before an extension, or before the line's end, is tolerated.
    const spaced = new BodyScanner({ kind: 'chunked' });
    assert.equal(spaced.scan(b('1 ;a=b\r\nx\r\n2 \r\nyz\r\n0\r\n\r\n')), 24);
    assert.equal(spaced.done, true);
  });

  test('malformed chunked framing throws', () => {
    // "1 2" and "1\r2" are no chunk size: a destination must not read one the agent did not.
    for (const bad of ['zz\r\n', '\r\n', '3\r\nabcX', `${'f'.repeat(16)}\r\n`, '1 2\r\nab\r\n', '1\r2\n', '1x\r\n', '1;a\x01\r\n']) {
      assert.throws(() => new BodyScanner({ kind: 'chunked' }).scan(b(bad)), Error, JSON.stringify(bad));
    }
  });
});
