import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderMultimap } from './headerMultimap.js';
import { globalInterceptId, type InterceptRule, matchRule } from './matchRule.js';
import { requestPath } from './requestPath.js';

function request(path: string, raw: string[] = [], method = 'GET'): { method: string; path: string; headers: HeaderMultimap } {
  return { method, path: requestPath(path), headers: HeaderMultimap.fromRaw(raw) };
}

const alice: InterceptRule = { id: 'alice', global: false, headers: [{ name: 'X-Telepath-Intercept', value: 'alice' }] };
const bobApi: InterceptRule = { id: 'bob', global: false, headers: [{ name: 'x-team', value: 'b' }], pathPrefix: '/api/' };
const everyone: InterceptRule = { id: 'all', global: true, headers: [] };

describe('matchRule', () => {
  test('no rules: the app', () => {
    assert.equal(matchRule([], request('/')), undefined);
  });

  test('header names are case-insensitive, values exact', () => {
    assert.equal(matchRule([alice], request('/', ['x-telepath-intercept', 'alice'])), 'alice');
    assert.equal(matchRule([alice], request('/', ['X-TELEPATH-INTERCEPT', 'alice'])), 'alice');
    assert.equal(matchRule([alice], request('/', ['x-telepath-intercept', 'Alice'])), undefined);
    assert.equal(matchRule([alice], request('/', ['x-telepath-intercept', 'alice '])), undefined);
    assert.equal(matchRule([alice], request('/')), undefined);
  });

  test('a repeated header matches when any of its values is equal', () => {
    assert.equal(matchRule([alice], request('/', ['x-telepath-intercept', 'carol', 'X-Telepath-Intercept', 'alice'])), 'alice');
  });

  test('all headers and the path prefix must hold together', () => {
    const two: InterceptRule = { id: 'two', global: false, headers: [{ name: 'a', value: '1' }, { name: 'b', value: '2' }] };
    assert.equal(matchRule([two], request('/', ['a', '1', 'b', '2'])), 'two');
    assert.equal(matchRule([two], request('/', ['a', '1'])), undefined);
    assert.equal(matchRule([bobApi], request('/api/x?y', ['x-team', 'b'])), 'bob');
    assert.equal(matchRule([bobApi], request('/web/x', ['x-team', 'b'])), undefined);
    assert.equal(matchRule([bobApi], request('/api/x')), undefined);
  });

  test('the path prefix is matched against the path without its query', () => {
    const api: InterceptRule = { id: 'api', global: false, headers: [], pathPrefix: '/api' };
    assert.equal(matchRule([api], request('/api?x=1')), 'api');
    assert.equal(matchRule([api], request('/x?next=/api')), undefined);
    assert.equal(matchRule([api], request('http://shop.example/api/v1')), 'api');
  });

  test('a global rule takes everything; personal rules that match come first', () => {
    assert.equal(matchRule([everyone], request('/anything')), 'all');
    assert.equal(matchRule([everyone, alice], request('/', ['x-telepath-intercept', 'alice'])), 'alice');
    assert.equal(matchRule([everyone, alice], request('/')), 'all');
  });

  test('the first matching personal rule wins', () => {
    const alice2: InterceptRule = { ...alice, id: 'alice-2' };
    assert.equal(matchRule([alice, alice2], request('/', ['x-telepath-intercept', 'alice'])), 'alice');
  });

  test('a personal rule without conditions matches only through its preview cookie', () => {
    const bare: InterceptRule = { id: 'bare', global: false, headers: [], previewToken: 't1' };
    assert.equal(matchRule([bare], request('/')), undefined);
    assert.equal(matchRule([bare], request('/', ['Cookie', 'telepath-preview=t1'])), 'bare');
  });

  test('the preview cookie is an alternative to the header conditions', () => {
    const withToken: InterceptRule = { ...alice, previewToken: 'tok' };
    assert.equal(matchRule([withToken], request('/', ['Cookie', 'a=b; telepath-preview=tok; c=d'])), 'alice');
    assert.equal(matchRule([withToken], request('/', ['Cookie', 'a=b', 'cookie', 'telepath-preview=tok'])), 'alice');
    assert.equal(matchRule([withToken], request('/', ['Cookie', 'telepath-preview=other'])), undefined);
    assert.equal(matchRule([withToken], request('/', ['Cookie', 'xtelepath-preview=tok'])), undefined);
    assert.equal(matchRule([alice], request('/', ['Cookie', 'telepath-preview=tok'])), undefined, 'no token, no cookie match');
  });

  test('HTTP/2 headers (pseudo-headers, joined cookies) work the same way', () => {
    const h = HeaderMultimap.fromObject({ ':path': '/api/x', 'x-team': 'b', cookie: 'a=1; telepath-preview=tok', 'x-multi': ['1', '2'] });
    assert.equal(matchRule([bobApi], { method: 'POST', path: '/api/x', headers: h }), 'bob');
    assert.equal(matchRule([{ ...alice, previewToken: 'tok' }], { method: 'GET', path: '/', headers: h }), 'alice');
    assert.deepEqual(h.get('X-Multi'), ['1', '2']);
  });

  test('globalInterceptId: the first global rule', () => {
    assert.equal(globalInterceptId([alice]), undefined);
    assert.equal(globalInterceptId([alice, everyone, { ...everyone, id: 'x' }]), 'all');
  });
});

describe('requestPath', () => {
  test('drops query and fragment, takes the path of an absolute target', () => {
    assert.equal(requestPath('/a/b?c=d#e'), '/a/b');
    assert.equal(requestPath('/a#frag'), '/a');
    assert.equal(requestPath('http://host:8080/p/q?x'), '/p/q');
    assert.equal(requestPath('http://host'), '/');
    assert.equal(requestPath('*'), '*');
  });
});
