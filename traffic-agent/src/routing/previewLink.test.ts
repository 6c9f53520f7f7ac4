import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderMultimap } from './headerMultimap.js';
import { cameOverHttps, parsePreviewRequest, previewAnswer, previewCookieTokens, previewResponseHeaders, redirectTarget, remainingSeconds } from './previewLink.js';

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
  test('the answer sets the cookie and is not cached; over plain HTTP with no known end, a session cookie without Secure', () => {
    assert.deepEqual(previewResponseHeaders({ token: 'tok', location: '/x' }, { secure: false }), [
      ['Location', '/x'],
      ['Set-Cookie', 'telepath-preview=tok; Path=/; HttpOnly; SameSite=Lax'],
      ['Cache-Control', 'no-store'],
      ['Content-Length', '0'],
    ]);
  });

  test('Secure behind HTTPS, Max-Age from the life the intercept has left', () => {
    const cookie = (c: Parameters<typeof previewResponseHeaders>[1]) => previewResponseHeaders({ token: 'tok', location: '/' }, c)[1]![1];
    assert.equal(cookie({ secure: true }), 'telepath-preview=tok; Path=/; HttpOnly; SameSite=Lax; Secure');
    assert.equal(cookie({ secure: true, maxAgeSeconds: 3599 }), 'telepath-preview=tok; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=3599');
    assert.equal(cookie({ secure: false, maxAgeSeconds: 0 }), 'telepath-preview=tok; Path=/; HttpOnly; SameSite=Lax; Max-Age=0');
  });

  test('HTTPS is TLS to the agent, or what the proxy in front says (its first, client-side, entry)', () => {
    const h = (...raw: string[]) => HeaderMultimap.fromRaw(raw);
    assert.equal(cameOverHttps(h(), true), true);
    assert.equal(cameOverHttps(h(), false), false);
    assert.equal(cameOverHttps(h('X-Forwarded-Proto', 'https'), false), true);
    assert.equal(cameOverHttps(h('x-forwarded-proto', 'HTTPS, http'), false), true);
    assert.equal(cameOverHttps(h('X-Forwarded-Proto', 'http, https'), false), false, 'the browser came in over http');
    assert.equal(cameOverHttps(h('X-Forwarded-Proto', 'http'), false), false);
    assert.equal(cameOverHttps(h('Forwarded', 'for=192.0.2.60;proto=https;by=203.0.113.43'), false), true);
    assert.equal(cameOverHttps(h('Forwarded', 'for="[2001:db8::1]";Proto="https", for=10.0.0.1;proto=http'), false), true);
    assert.equal(cameOverHttps(h('Forwarded', 'for=192.0.2.60;proto=http, for=10.0.0.1;proto=https'), false), false);
    assert.equal(cameOverHttps(h('Forwarded', 'for=192.0.2.60'), false), false);
    assert.equal(cameOverHttps(HeaderMultimap.fromObject({ ':scheme': 'https', ':path': '/' }), false), true);
    assert.equal(cameOverHttps(HeaderMultimap.fromObject({ ':scheme': 'http', ':path': '/' }), false), false);
  });

  test('remainingSeconds rounds down, never below 0, and is unknown without an end', () => {
    assert.equal(remainingSeconds(undefined, 1_000), undefined);
    assert.equal(remainingSeconds(61_999, 1_000), 60);
    assert.equal(remainingSeconds(500, 1_000), 0);
    assert.equal(remainingSeconds(Number.NaN, 1_000), undefined);
  });

  test('previewAnswer: only for a live token; the rule\'s end and the request\'s scheme shape the cookie', () => {
    const rule = { id: 'i1', global: false, headers: [], previewToken: 'tok' };
    const req = (target: string, ...raw: string[]) => ({ method: 'GET', target, headers: HeaderMultimap.fromRaw(raw), encrypted: false });
    assert.equal(previewAnswer([rule], req('/.telepath/preview/other')), undefined);
    assert.equal(previewAnswer([rule], req('/cart')), undefined);
    const plain = new Map(previewAnswer([rule], req('/.telepath/preview/tok?to=/cart'))!);
    assert.equal(plain.get('Location'), '/cart');
    assert.equal(plain.get('Set-Cookie'), 'telepath-preview=tok; Path=/; HttpOnly; SameSite=Lax');
    const ending = new Map(previewAnswer([{ ...rule, expiresAt: 1_000_000 + 90_500 }], req('/.telepath/preview/tok', 'X-Forwarded-Proto', 'https'), 1_000_000)!);
    assert.equal(ending.get('Set-Cookie'), 'telepath-preview=tok; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=90');
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
