import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderMultimap } from './headerMultimap.js';
import { cameOverHttps, parsePreviewRequest, previewAnswer, previewCookieRemoval, previewCookieTokens, previewResponseHeaders, redirectTarget } from './previewLink.js';

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
  test('the answer sets the cookie and is not cached; over plain HTTP, a session cookie without Secure', () => {
    assert.deepEqual(previewResponseHeaders({ token: 'tok', location: '/x' }, false), [
      ['Location', '/x'],
      ['Set-Cookie', 'telepath-preview=tok; Path=/; HttpOnly; SameSite=Lax'],
      ['Cache-Control', 'no-store'],
      ['Content-Length', '0'],
    ]);
  });

  test('Secure behind HTTPS, and still a session cookie', () => {
    assert.equal(previewResponseHeaders({ token: 'tok', location: '/' }, true)[1]![1], 'telepath-preview=tok; Path=/; HttpOnly; SameSite=Lax; Secure');
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

  test('previewAnswer: only for a live token; the request\'s scheme shapes the cookie', () => {
    const rule = { id: 'i1', global: false, headers: [], previewToken: 'tok' };
    const req = (target: string, ...raw: string[]) => ({ method: 'GET', target, headers: HeaderMultimap.fromRaw(raw), encrypted: false });
    assert.equal(previewAnswer([rule], req('/.telepath/preview/other')), undefined);
    assert.equal(previewAnswer([rule], req('/cart')), undefined);
    const plain = new Map(previewAnswer([rule], req('/.telepath/preview/tok?to=/cart'))!);
    assert.equal(plain.get('Location'), '/cart');
    assert.equal(plain.get('Set-Cookie'), 'telepath-preview=tok; Path=/; HttpOnly; SameSite=Lax');
    const secure = new Map(previewAnswer([rule], req('/.telepath/preview/tok', 'X-Forwarded-Proto', 'https'))!);
    assert.equal(secure.get('Set-Cookie'), 'telepath-preview=tok; Path=/; HttpOnly; SameSite=Lax; Secure');
  });

  test('previewCookieRemoval: the cookie of an intercept that is gone is removed with the attributes it was set with', () => {
    const live = { id: 'i1', global: false, headers: [], previewToken: 'live' };
    const ended = new Set(['old']);
    const req = (encrypted: boolean, ...raw: string[]) => ({ headers: HeaderMultimap.fromRaw(raw), encrypted });
    const plain = 'telepath-preview=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0';
    const secure = 'telepath-preview=; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=0';
    assert.equal(previewCookieRemoval([live], ended, req(false, 'Cookie', 'a=1; telepath-preview=old')), plain);
    assert.equal(previewCookieRemoval([], ended, req(true, 'Cookie', 'telepath-preview="old"')), secure);
    assert.equal(previewCookieRemoval([], ended, req(false, 'X-Forwarded-Proto', 'https', 'Cookie', 'telepath-preview=old')), secure);
    const h2 = HeaderMultimap.fromObject({ ':scheme': 'https', cookie: 'telepath-preview=old' });
    assert.equal(previewCookieRemoval([], ended, { headers: h2, encrypted: false }), secure);
  });

  test('previewCookieRemoval: nothing without a preview cookie, for a live one, or for a token the port never had', () => {
    const live = { id: 'i1', global: false, headers: [], previewToken: 'live' };
    const ended = new Set(['old']);
    const req = (...raw: string[]) => ({ headers: HeaderMultimap.fromRaw(raw), encrypted: false });
    assert.equal(previewCookieRemoval([live], ended, req()), undefined);
    assert.equal(previewCookieRemoval([live], ended, req('Cookie', 'old=1; other=telepath-preview')), undefined, 'other cookies are not the agent\'s');
    assert.equal(previewCookieRemoval([live], ended, req('Cookie', 'telepath-preview=live')), undefined);
    const both = req('Cookie', 'telepath-preview=old', 'Cookie', 'telepath-preview=live');
    assert.equal(previewCookieRemoval([live], ended, both), undefined, 'a live one would go with it');
    const elsewhere = req('Cookie', 'telepath-preview=elsewhere');
    assert.equal(previewCookieRemoval([live], ended, elsewhere), undefined, 'maybe another workload\'s, behind the same host');
    assert.equal(previewCookieRemoval([live], new Set(), req('Cookie', 'telepath-preview=old')), undefined);
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
