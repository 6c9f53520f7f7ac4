import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePreviewRequest, previewCookieTokens, previewResponseHeaders, redirectTarget } from './previewLink.js';

describe('parsePreviewRequest', () => {
  test('GET and HEAD of /.telepath/preview/<token>', () => {
    assert.deepEqual(parsePreviewRequest('GET', '/.telepath/preview/abc-123'), { token: 'abc-123', location: '/' });
    assert.deepEqual(parsePreviewRequest('HEAD', '/.telepath/preview/abc'), { token: 'abc', location: '/' });
    assert.equal(parsePreviewRequest('POST', '/.telepath/preview/abc'), undefined);
  });

  test('not a preview link', () => {
    assert.equal(parsePreviewRequest('GET', '/.telepath/preview/'), undefined);
    assert.equal(parsePreviewRequest('GET', '/.telepath/preview/a/b'), undefined);
    assert.equal(parsePreviewRequest('GET', '/.telepath/previews/abc'), undefined);
    assert.equal(parsePreviewRequest('GET', '/x/.telepath/preview/abc'), undefined);
    assert.equal(parsePreviewRequest('GET', '/.telepath/preview/a%3Bb'), undefined, 'no characters that need escaping in a cookie');
  });

  test('?to= is honoured only for a path on the same site', () => {
    assert.equal(parsePreviewRequest('GET', '/.telepath/preview/t?to=/cart')?.location, '/cart');
    assert.equal(parsePreviewRequest('GET', '/.telepath/preview/t?to=%2Fcart%3Fitem%3D1')?.location, '/cart?item=1');
    assert.equal(parsePreviewRequest('GET', '/.telepath/preview/t?to=//evil.example')?.location, '/');
    assert.equal(parsePreviewRequest('GET', '/.telepath/preview/t?to=/%5Cevil.example')?.location, '/');
    assert.equal(parsePreviewRequest('GET', '/.telepath/preview/t?to=https://evil.example/')?.location, '/');
    assert.equal(parsePreviewRequest('GET', '/.telepath/preview/t?to=/a%0d%0aSet-Cookie:x')?.location, '/');
    assert.equal(parsePreviewRequest('GET', '/.telepath/preview/t?other=1')?.location, '/');
  });
});

describe('preview answer and cookie', () => {
  test('the answer sets the cookie and is not cached', () => {
    assert.deepEqual(previewResponseHeaders({ token: 'tok', location: '/x' }), [
      ['Location', '/x'],
      ['Set-Cookie', 'telepath-preview=tok; Path=/; HttpOnly; SameSite=Lax'],
      ['Cache-Control', 'no-store'],
      ['Content-Length', '0'],
    ]);
  });

  test('tokens are found in any Cookie header, quoted or not', () => {
    assert.deepEqual([...previewCookieTokens(['a=1; telepath-preview=t1', 'telepath-preview="t2"; b=2'])], ['t1', 't2']);
    assert.deepEqual([...previewCookieTokens(['telepath-previewx=t', 'x=telepath-preview=t', 'telepath-preview='])], []);
    assert.deepEqual([...previewCookieTokens([])], []);
  });

  test('redirectTarget', () => {
    assert.equal(redirectTarget(undefined), '/');
    assert.equal(redirectTarget('/ok'), '/ok');
    assert.equal(redirectTarget('relative'), '/');
    assert.equal(redirectTarget('/a b'), '/');
  });
});
