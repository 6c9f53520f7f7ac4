/**
 * HTTP/1.1 through a PortRouter on a real port: a fake app and fake workstations that answer with
 * their identity, and Node's HTTP client or a raw socket on the other side.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { ENDED_PREVIEW_TOKENS_KEPT, type InterceptRule } from './portRouter.js';
import {
  APP_SET_COOKIES,
  eventually,
  FakeHttp1Server,
  http1,
  pattern,
  plainDuplex,
  rawConnect,
  readAll,
  readUntil,
  type RouterUnderTest,
  seenBy,
  sha256,
  startRouter,
} from './testing/routerHarness.js';

const ALICE: InterceptRule = { id: 'alice', global: false, headers: [{ name: 'X-Telepath-Intercept', value: 'alice' }] };
const BOB_API: InterceptRule = { id: 'bob', global: false, headers: [], pathPrefix: '/api/' };

/** The values of a response's Set-Cookie lines, one per line, in order. */
function setCookieLines(rawHeaders: readonly string[]): string[] {
  const lines: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === 'set-cookie') lines.push(rawHeaders[i + 1]!);
  return lines;
}

describe('HTTP/1.1 routing', () => {
  let app: FakeHttp1Server;
  let alice: FakeHttp1Server;
  let bob: FakeHttp1Server;
  let r: RouterUnderTest;

  before(async () => {
    [app, alice, bob] = await Promise.all([FakeHttp1Server.start('app'), FakeHttp1Server.start('alice'), FakeHttp1Server.start('bob')]);
    r = await startRouter({ appPort: app.port, clients: { alice: alice.port, bob: bob.port } });
  });
  after(async () => {
    await r.close();
    await Promise.all([app.close(), alice.close(), bob.close()]);
  });
  beforeEach(() => r.router.setRules([ALICE, BOB_API]));

  test('a request with the intercept header goes to the workstation, others to the app', async () => {
    const withHeader = await http1(r.port, { path: '/hello', headers: { 'x-telepath-intercept': 'alice' } });
    assert.equal(seenBy(withHeader).server, 'alice');
    const wrongValue = await http1(r.port, { path: '/hello', headers: { 'x-telepath-intercept': 'Alice' } });
    assert.equal(seenBy(wrongValue).server, 'app');
    const without = await http1(r.port, { path: '/hello' });
    assert.equal(seenBy(without).server, 'app');
    assert.equal(r.clientDials.at(-1)?.interceptId, 'alice');
    assert.equal(r.clientDials.at(-1)?.source.address, '127.0.0.1');
  });

  test('a path-prefix rule takes /api/… but not /apix or the query', async () => {
    assert.equal(seenBy(await http1(r.port, { path: '/api/orders?x=1' })).server, 'bob');
    assert.equal(seenBy(await http1(r.port, { path: '/apix' })).server, 'app');
    assert.equal(seenBy(await http1(r.port, { path: '/shop?next=/api/' })).server, 'app');
  });

  test('a request line that arrives in pieces is still recognised and routed', async () => {
    const before = r.router.stats.http1Connections;
    const s = await rawConnect(r.port);
    s.write('GE');
    await new Promise((resolve) => setTimeout(resolve, 50));
    s.write('T /pieces HTTP/1.1\r\nHost: x\r\nX-Telepath-Intercept: alice\r\n\r\n');
    const text = await readUntil(s, (t) => t.includes('"rawTrailers"'));
    s.destroy();
    assert.match(text, /"server":"alice"/);
    assert.equal(r.router.stats.http1Connections - before, 1);
  });

  test('a client that half-closes right after its request still gets the answer', async () => {
    const s = await rawConnect(r.port);
    const answer = readAll(s);
    s.end('GET /fin HTTP/1.1\r\nHost: x\r\nX-Telepath-Intercept: alice\r\n\r\n');
    const text = (await answer).toString();
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(text, /"server":"alice"/);
  });

  test('the app sees the request exactly as the client sent it: method, target, header case and order, nothing added', async () => {
    const s = await rawConnect(r.port);
    const head =
      'PATCH /items/7?q=a%20b HTTP/1.1\r\nHost: shop.example\r\nX-Lower-then-UPPER: 1\r\nx-dup: a\r\nx-dup: b\r\naccept: */*\r\nContent-Length: 5\r\n\r\nhello';
    s.write(head);
    const text = await readUntil(s, (t) => t.includes('"rawTrailers"'));
    s.destroy();
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    const seen = app.requests.at(-1)!;
    assert.equal(seen.method, 'PATCH');
    assert.equal(seen.url, '/items/7?q=a%20b');
    assert.deepEqual(seen.rawHeaders, ['Host', 'shop.example', 'X-Lower-then-UPPER', '1', 'x-dup', 'a', 'x-dup', 'b', 'accept', '*/*', 'Content-Length', '5']);
    assert.equal(seen.bodySha256, sha256(Buffer.from('hello')));
  });

  test('one keep-alive connection carries requests for both destinations, each pool reused', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const before = { conns: r.router.stats.connections, app: app.connections, alice: alice.connections };
    const servers: string[] = [];
    const ports = new Set<number>();
    for (let i = 0; i < 4; i++) {
      const a = await http1(r.port, { path: `/r${i}`, agent, headers: i % 2 === 0 ? { 'x-telepath-intercept': 'alice' } : {} });
      servers.push(seenBy(a).server);
      ports.add(a.localPort);
    }
    agent.destroy();
    assert.deepEqual(servers, ['alice', 'app', 'alice', 'app']);
    assert.equal(ports.size, 1, 'all four on one client connection');
    assert.equal(r.router.stats.connections - before.conns, 1);
    assert.equal(app.connections - before.app, 1, 'one upstream connection to the app, reused');
    assert.equal(alice.connections - before.alice, 1, 'one tunnel connection to alice, reused');
  });

  test('a chunked 5 MB upload reaches the workstation intact, request trailers included', async () => {
    const body = pattern(5 * 1024 * 1024);
    const pieces: Buffer[] = [];
    for (let off = 0; off < body.length; off += 256 * 1024) pieces.push(body.subarray(off, off + 256 * 1024));
    const a = await http1(r.port, {
      path: '/upload',
      method: 'POST',
      headers: { 'x-telepath-intercept': 'alice', 'Transfer-Encoding': 'chunked', Trailer: 'X-Sum' },
      body: pieces,
      trailers: [['X-Sum', 'abc']],
    });
    const seen = seenBy(a);
    assert.equal(seen.server, 'alice');
    assert.equal(seen.bodyBytes, body.length);
    assert.equal(seen.bodySha256, sha256(body));
    assert.deepEqual(seen.rawTrailers, ['X-Sum', 'abc']);
  });

  test('a 5 MB download comes back intact from both destinations', async () => {
    const n = 5 * 1024 * 1024;
    const fromApp = await http1(r.port, { path: `/download?bytes=${n}` });
    assert.equal(fromApp.headers['x-server'], 'app');
    assert.equal(sha256(fromApp.body), sha256(pattern(n)));
    const fromAlice = await http1(r.port, { path: `/download?bytes=${n}`, headers: { 'x-telepath-intercept': 'alice' } });
    assert.equal(fromAlice.headers['x-server'], 'alice');
    assert.equal(fromAlice.body.length, n);
    const head = await http1(r.port, { path: '/download?bytes=100', method: 'HEAD' });
    assert.equal(head.headers['content-length'], '100');
    assert.equal(head.body.length, 0);
  });

  test('response trailers and status come back', async () => {
    const a = await http1(r.port, { path: '/trailers', headers: { 'x-telepath-intercept': 'alice' } });
    assert.equal(a.status, 200);
    assert.equal(a.body.toString(), 'part one;part two');
    assert.deepEqual(a.rawTrailers, ['X-Checksum', 'sum-from-alice']);
  });

  test('Expect: 100-continue: the 100 comes through and the body follows', async () => {
    const a = await http1(r.port, {
      path: '/continue',
      method: 'PUT',
      headers: { Expect: '100-continue', 'Content-Length': '4', 'x-telepath-intercept': 'alice' },
      body: 'data',
      expectContinue: true,
    });
    const seen = seenBy(a);
    assert.equal(seen.server, 'alice');
    assert.equal(seen.bodySha256, sha256(Buffer.from('data')));
  });

  test('a WebSocket-style upgrade is routed by its headers, then piped both ways', async () => {
    const s = await rawConnect(r.port);
    s.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: x-echo\r\nX-Telepath-Intercept: alice\r\n\r\n');
    const head = await readUntil(s, (t) => t.includes('\r\n\r\n'));
    assert.match(head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.match(head, /X-Server: alice/);
    s.write('ping');
    await readUntil(s, (t) => t.includes('alice:ping'));
    const rest = readAll(s);
    s.end();
    assert.equal((await rest).toString(), 'alice:bye', 'half-close forwarded and answered');
    assert.equal(alice.requests.at(-1)?.url, '/ws');
  });

  test('an h2c upgrade the destination declines is answered, and the connection closes', async () => {
    const s = await rawConnect(r.port);
    s.write('GET /h2 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n');
    const text = (await readAll(s)).toString();
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(text, /declined by app$/);
  });

  test('preview link: the agent answers 302 with the cookie; the cookie then routes to that intercept', async () => {
    r.router.setRules([{ ...ALICE, previewToken: 'tok-123' }]);
    const redirect = await http1(r.port, { path: '/.telepath/preview/tok-123?to=/cart' });
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.location, '/cart');
    assert.deepEqual(redirect.headers['set-cookie'], ['telepath-preview=tok-123; Path=/; HttpOnly; SameSite=Lax']);
    const offsite = await http1(r.port, { path: '/.telepath/preview/tok-123?to=//evil.example' });
    assert.equal(offsite.headers.location, '/');
    const withCookie = await http1(r.port, { path: '/cart', headers: { Cookie: 'theme=dark; telepath-preview=tok-123' } });
    assert.equal(seenBy(withCookie).server, 'alice');
    const otherCookie = await http1(r.port, { path: '/cart', headers: { Cookie: 'telepath-preview=someone-else' } });
    assert.equal(seenBy(otherCookie).server, 'app');
    assert.ok(r.router.stats.previewRedirects >= 2);
  });

  test('preview link behind an HTTPS proxy: the cookie is Secure, and a session cookie (an intercept has no set end)', async () => {
    r.router.setRules([{ ...ALICE, previewToken: 'tok-123' }]);
    const redirect = await http1(r.port, { path: '/.telepath/preview/tok-123', headers: { 'X-Forwarded-Proto': 'https' } });
    assert.equal(redirect.status, 302);
    assert.deepEqual(redirect.headers['set-cookie'], ['telepath-preview=tok-123; Path=/; HttpOnly; SameSite=Lax; Secure']);
  });

  test('a preview link with an unknown token is an ordinary request for the app', async () => {
    r.router.setRules([{ ...ALICE, previewToken: 'tok-123' }]);
    const a = await http1(r.port, { path: '/.telepath/preview/not-a-token' });
    assert.equal(a.status, 200);
    assert.equal(seenBy(a).server, 'app');
    assert.equal(seenBy(a).url, '/.telepath/preview/not-a-token');
  });

  test('the cookie of an intercept that is gone: the request goes to the app, the answer removes the cookie after the app\'s own', async () => {
    r.router.setRules([{ ...ALICE, previewToken: 'gone-1' }, BOB_API]);
    r.router.setRules([BOB_API]);
    const before = r.router.stats.previewCookiesRemoved;
    const a = await http1(r.port, { path: '/set-cookies', headers: { Cookie: 'theme=dark; telepath-preview=gone-1' } });
    assert.equal(a.status, 200);
    const seen = seenBy(a);
    assert.equal(seen.server, 'app');
    assert.equal(seen.rawHeaders[seen.rawHeaders.indexOf('Cookie') + 1], 'theme=dark; telepath-preview=gone-1', 'the request as it came');
    assert.deepEqual(setCookieLines(a.rawHeaders), [...APP_SET_COOKIES, 'telepath-preview=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0'], 'one line each');
    assert.equal(a.headers['x-server'], 'app');
    assert.equal(a.headers['content-type'], 'application/json');
    assert.equal(r.router.stats.previewCookiesRemoved - before, 1);
    const secure = await http1(r.port, { path: '/x', headers: { Cookie: 'telepath-preview=gone-1', 'X-Forwarded-Proto': 'https' } });
    assert.deepEqual(secure.headers['set-cookie'], ['telepath-preview=; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=0'], 'Secure as it was set');
  });

  test('no Set-Cookie from the agent without a preview cookie of an intercept that is gone', async () => {
    r.router.setRules([{ ...ALICE, previewToken: 'gone-2' }, BOB_API]);
    r.router.setRules([{ ...ALICE, previewToken: 'live-2' }, BOB_API]);
    const before = r.router.stats.previewCookiesRemoved;
    const none = await http1(r.port, { path: '/x' });
    assert.equal(none.headers['set-cookie'], undefined);
    const others = await http1(r.port, { path: '/set-cookies', headers: { Cookie: 'theme=dark; gone-2=1' } });
    assert.deepEqual(setCookieLines(others.rawHeaders), APP_SET_COOKIES, 'the app\'s own, untouched');
    const live = await http1(r.port, { path: '/x', headers: { Cookie: 'telepath-preview=live-2' } });
    assert.equal(seenBy(live).server, 'alice');
    assert.equal(live.headers['set-cookie'], undefined);
    const unknown = await http1(r.port, { path: '/x', headers: { Cookie: 'telepath-preview=another-workloads' } });
    assert.equal(seenBy(unknown).server, 'app');
    assert.equal(unknown.headers['set-cookie'], undefined, 'a token this port never had may be live behind the same host');
    assert.equal(r.router.stats.previewCookiesRemoved, before);
  });

  test('an intercept that comes back with its token keeps its cookie', async () => {
    r.router.setRules([{ ...ALICE, previewToken: 'back-3' }]);
    r.router.setRules([BOB_API]);
    r.router.setRules([{ ...ALICE, previewToken: 'back-3' }, BOB_API]);
    const a = await http1(r.port, { path: '/x', headers: { Cookie: 'telepath-preview=back-3' } });
    assert.equal(seenBy(a).server, 'alice');
    assert.equal(a.headers['set-cookie'], undefined);
  });

  test('no intercepts left: a connection routed per request still removes the cookie; a new one is a plain pipe and does not', async () => {
    r.router.setRules([{ ...ALICE, previewToken: 'last-4' }]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const first = await http1(r.port, { path: '/one', agent, headers: { Cookie: 'telepath-preview=last-4' } });
    assert.equal(seenBy(first).server, 'alice');
    r.router.setRules([]);
    const second = await http1(r.port, { path: '/two', agent, headers: { Cookie: 'telepath-preview=last-4' } });
    agent.destroy();
    assert.equal(second.localPort, first.localPort, 'same client connection');
    assert.equal(seenBy(second).server, 'app');
    assert.deepEqual(second.headers['set-cookie'], ['telepath-preview=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0']);
    const piped = await http1(r.port, { path: '/three', headers: { Cookie: 'telepath-preview=last-4' } });
    assert.equal(seenBy(piped).server, 'app');
    assert.equal(piped.headers['set-cookie'], undefined);
  });

  test('a port remembers the tokens of its last ENDED_PREVIEW_TOKENS_KEPT ended intercepts', async () => {
    for (let i = 0; i <= ENDED_PREVIEW_TOKENS_KEPT; i++) {
      r.router.setRules([{ ...ALICE, previewToken: `many-${i}` }, BOB_API]);
      r.router.setRules([BOB_API]);
    }
    const forgotten = await http1(r.port, { path: '/x', headers: { Cookie: 'telepath-preview=many-0' } });
    assert.equal(forgotten.headers['set-cookie'], undefined);
    const oldestKept = await http1(r.port, { path: '/x', headers: { Cookie: 'telepath-preview=many-1' } });
    assert.equal(oldestKept.headers['set-cookie']?.length, 1);
  });

  test('a failing tunnel gives a 503 naming the workstation (with Retry-After), and the connection serves the next request', async () => {
    r.router.setRules([{ id: 'carol', global: false, headers: [{ name: 'x-who', value: 'carol' }] }]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const failed = await http1(r.port, { path: '/x', agent, headers: { 'x-who': 'carol' } });
    assert.equal(failed.status, 503);
    assert.equal(failed.headers['retry-after'], '5');
    assert.match(failed.body.toString(), /workstation of intercept carol/);
    const next = await http1(r.port, { path: '/y', agent });
    agent.destroy();
    assert.equal(seenBy(next).server, 'app');
    assert.equal(next.localPort, failed.localPort, 'same client connection');
  });

  test("after a workstation's 503, the next request on that connection reaches another developer's workstation", async () => {
    // carol's workstation is away: her tunnel fails after a while, as the relay's accept timeout does.
    const alice = await FakeHttp1Server.start('alice');
    const away = { id: 'carol', global: false, headers: [{ name: 'x-who', value: 'carol' }] };
    const router = await startRouter({
      appPort: app.port,
      clients: { alice: alice.port },
      rules: [away, ALICE],
      options: {
        dialClient: async (interceptId) => {
          if (interceptId !== 'alice') {
            await new Promise((res) => setTimeout(res, 300));
            throw new Error('the workstation could not take the connection: the workstation did not answer in time');
          }
          return plainDuplex(net.connect({ host: '127.0.0.1', port: alice.port, allowHalfOpen: true }));
        },
      },
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const failed = await http1(router.port, { path: '/x', agent, headers: { 'x-who': 'carol' } });
      assert.equal(failed.status, 503);
      const next = await http1(router.port, { path: '/y', agent, headers: { 'x-telepath-intercept': 'alice' } });
      assert.equal(next.localPort, failed.localPort, 'same client connection');
      assert.equal(seenBy(next).server, 'alice');
      const third = await http1(router.port, { path: '/z', agent, headers: { 'x-who': 'carol' } });
      assert.equal(third.status, 503);
    } finally {
      agent.destroy();
      await router.close();
      await alice.close();
    }
  });

  test("a workstation that closed an idle keep-alive connection: the next request on the client's connection gets a new tunnel, not the dead one", async () => {
    // A local dev server closes idle connections after a while (Node: 5 s). Its FIN comes through
    // the tunnel as the end of the stream's readable side; that stream must never carry another request.
    const laptop = await FakeHttp1Server.start('laptop', 100);
    const router = await startRouter({ appPort: app.port, clients: { alice: laptop.port }, rules: [ALICE] });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await http1(router.port, { path: '/a', agent, headers: { 'x-telepath-intercept': 'alice' } });
      await eventually(() => laptop.openConnections === 0);
      const second = await http1(router.port, { path: '/b', agent, headers: { 'x-telepath-intercept': 'alice' }, timeoutMs: 2000 });
      assert.equal(second.localPort, first.localPort, 'same client connection');
      assert.equal(seenBy(second).server, 'laptop');
      assert.equal(laptop.connections, 2, 'a new connection to the workstation');
    } finally {
      agent.destroy();
      await router.close();
      await laptop.close();
    }
  });

  test('removing a rule mid-connection sends the next request on it to the app and closes the tunnel connection', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const first = await http1(r.port, { path: '/one', agent, headers: { 'x-telepath-intercept': 'alice' } });
    assert.equal(seenBy(first).server, 'alice');
    const aliceOpen = alice.openConnections;
    r.router.setRules([]);
    const second = await http1(r.port, { path: '/two', agent, headers: { 'x-telepath-intercept': 'alice' } });
    agent.destroy();
    assert.equal(seenBy(second).server, 'app');
    assert.equal(second.localPort, first.localPort, 'same client connection');
    await eventually(() => alice.openConnections === aliceOpen - 1);
  });
});

describe('HTTP/1.1 when the app is down', () => {
  test('502 naming the app', async () => {
    const alice = await FakeHttp1Server.start('alice');
    const r = await startRouter({ appPort: 1, clients: { alice: alice.port }, rules: [ALICE] });
    try {
      const a = await http1(r.port, { path: '/' });
      assert.equal(a.status, 502);
      assert.match(a.body.toString(), /the app could not be reached/);
      assert.equal(r.router.stats.badGateway, 1);
    } finally {
      await r.close();
      await alice.close();
    }
  });
});
