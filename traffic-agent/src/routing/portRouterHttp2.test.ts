/**
 * HTTP/2 with prior knowledge (h2c, as gRPC uses it) through a PortRouter on a real port, with
 * Node's http2 client and fake h2c servers that answer with their identity.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { InterceptRule } from './portRouter.js';
import { APP_SET_COOKIES, eventually, FakeHttp2Server, h2call, pattern, type RouterUnderTest, sha256, startRouter } from './testing/routerHarness.js';

const ALICE: InterceptRule = { id: 'alice', global: false, headers: [{ name: 'x-telepath-intercept', value: 'alice' }] };
const BOB_SERVICE: InterceptRule = { id: 'bob', global: false, headers: [], pathPrefix: '/shop.Cart/' };

function serverOf(body: Buffer): string {
  return (JSON.parse(body.toString()) as { server: string }).server;
}

describe('HTTP/2 routing', () => {
  let app: FakeHttp2Server;
  let alice: FakeHttp2Server;
  let bob: FakeHttp2Server;
  let r: RouterUnderTest;
  let session: http2.ClientHttp2Session;

  before(async () => {
    [app, alice, bob] = await Promise.all([FakeHttp2Server.start('app'), FakeHttp2Server.start('alice'), FakeHttp2Server.start('bob')]);
    r = await startRouter({ appPort: app.port, clients: { alice: alice.port, bob: bob.port } });
  });
  after(async () => {
    await r.close();
    await Promise.all([app.close(), alice.close(), bob.close()]);
  });
  beforeEach(() => {
    r.router.setRules([ALICE, BOB_SERVICE]);
    session?.destroy();
    session = http2.connect(`http://127.0.0.1:${r.port}`);
    session.on('error', () => undefined);
  });

  test('streams are routed by header and by :path, and the app gets the rest', async () => {
    const toAlice = await h2call(session, { ':path': '/hello', 'x-telepath-intercept': 'alice' });
    assert.equal(toAlice.headers[':status'], 200);
    assert.equal(serverOf(toAlice.body), 'alice');
    const toBob = await h2call(session, { ':path': '/shop.Cart/Add', ':method': 'POST' }, Buffer.from('x'));
    assert.equal(serverOf(toBob.body), 'bob');
    const toApp = await h2call(session, { ':path': '/hello', 'x-telepath-intercept': 'someone' });
    assert.equal(serverOf(toApp.body), 'app');
    assert.equal(r.router.stats.http2Connections, 1);
  });

  test('request headers reach the destination; connection-specific ones do not exist in h2', async () => {
    const a = await h2call(session, { ':path': '/h', 'x-telepath-intercept': 'alice', 'x-custom': 'v1', te: 'trailers' });
    const seen = (JSON.parse(a.body.toString()) as { headers: Record<string, string> }).headers;
    assert.equal(seen['x-custom'], 'v1');
    assert.equal(seen.te, 'trailers');
    assert.equal(seen[':path'], '/h');
    assert.equal(seen[':authority'], `127.0.0.1:${r.port}`);
  });

  test('two concurrent streams on one connection go to different destinations', async () => {
    const before = r.router.stats.connections;
    const [a, b] = await Promise.all([
      h2call(session, { ':path': '/c1', 'x-telepath-intercept': 'alice' }, pattern(200_000)),
      h2call(session, { ':path': '/c2' }, pattern(200_000)),
    ]);
    assert.equal(serverOf(a.body), 'alice');
    assert.equal(serverOf(b.body), 'app');
    assert.equal(r.router.stats.connections - before, 1);
  });

  test('gRPC-shaped answers keep their trailers (grpc-status), and trailers-only answers their status', async () => {
    const call = await h2call(session, { ':path': '/grpc', ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers', 'x-telepath-intercept': 'alice' }, Buffer.from([0, 0, 0, 0, 0]));
    assert.equal(call.headers['content-type'], 'application/grpc');
    assert.equal(call.headers['x-server'], 'alice');
    assert.equal(call.trailers?.['grpc-status'], '0');
    assert.equal(call.trailers?.['grpc-message'], 'ok from alice');
    assert.deepEqual([...call.body], [0, 0, 0, 0, 2, 8, 1]);
    const only = await h2call(session, { ':path': '/trailers-only', 'x-telepath-intercept': 'alice' });
    assert.equal(only.headers['grpc-status'], '5');
    assert.equal(only.headers['x-server'], 'alice');
  });

  test('5 MB each way', async () => {
    const body = pattern(5 * 1024 * 1024);
    const up = await h2call(session, { ':path': '/upload', ':method': 'POST', 'x-telepath-intercept': 'alice' }, body);
    const seen = JSON.parse(up.body.toString()) as { server: string; bodyBytes: number; bodySha256: string };
    assert.equal(seen.server, 'alice');
    assert.equal(seen.bodyBytes, body.length);
    assert.equal(seen.bodySha256, sha256(body));
    const down = await h2call(session, { ':path': `/download?bytes=${body.length}` });
    assert.equal(down.headers['x-server'], 'app');
    assert.equal(sha256(down.body), sha256(body));
  });

  test('a stream reset by the destination is reset with the same code', async () => {
    const a = await h2call(session, { ':path': '/reset', 'x-telepath-intercept': 'alice' });
    assert.equal(a.rstCode, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
  });

  test('request trailers reach the destination', async () => {
    const answer = await new Promise<Buffer>((resolve, reject) => {
      const stream = session.request({ ':path': '/t', ':method': 'POST', 'x-telepath-intercept': 'alice' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'abc' }));
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => resolve(Buffer.concat(chunks)));
      stream.on('error', reject);
      stream.end('body');
    });
    const seen = JSON.parse(answer.toString()) as { server: string; trailers: Record<string, string>; bodyBytes: number };
    assert.equal(seen.server, 'alice');
    assert.equal(seen.bodyBytes, 4);
    assert.equal(seen.trailers['x-checksum'], 'abc');
  });

  test('a stream the client cancels is cancelled at the destination', async () => {
    const stream = session.request({ ':path': '/hang', ':method': 'POST', 'x-telepath-intercept': 'alice' });
    stream.on('error', () => undefined);
    stream.write('partial');
    await eventually(() => alice.paths.includes('/hang'));
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await eventually(() => alice.hangResets.length === 1);
    assert.equal(alice.hangResets[0], http2.constants.NGHTTP2_CANCEL);
  });

  test('a failing tunnel answers that stream 503 (with Retry-After); the connection serves the next one', async () => {
    r.router.setRules([{ id: 'carol', global: false, headers: [{ name: 'x-who', value: 'carol' }] }]);
    const failed = await h2call(session, { ':path': '/x', 'x-who': 'carol' });
    assert.equal(failed.headers[':status'], 503);
    assert.equal(failed.headers['retry-after'], '5');
    assert.match(failed.body.toString(), /workstation of intercept carol/);
    const next = await h2call(session, { ':path': '/y' });
    assert.equal(serverOf(next.body), 'app');
  });

  test('preview cookie routes a stream; the preview path is answered by the agent', async () => {
    r.router.setRules([{ ...ALICE, previewToken: 'tok' }]);
    const redirect = await h2call(session, { ':path': '/.telepath/preview/tok' });
    assert.equal(redirect.headers[':status'], 302);
    assert.equal(redirect.headers.location, '/');
    assert.equal(String(redirect.headers['set-cookie']), 'telepath-preview=tok; Path=/; HttpOnly; SameSite=Lax', 'h2c, no proxy: not Secure; a session cookie');
    const proxied = await h2call(session, { ':path': '/.telepath/preview/tok', forwarded: 'for=192.0.2.60;proto=https' });
    assert.match(String(proxied.headers['set-cookie']), /; Secure$/);
    const withCookie = await h2call(session, { ':path': '/p', cookie: 'a=b; telepath-preview=tok' });
    assert.equal(serverOf(withCookie.body), 'alice');
  });

  test('the cookie of an intercept that is gone: the stream goes to the app, the answer removes the cookie after the app\'s own', async () => {
    r.router.setRules([{ ...ALICE, previewToken: 'gone-1' }, BOB_SERVICE]);
    r.router.setRules([BOB_SERVICE]);
    const before = r.router.stats.previewCookiesRemoved;
    const a = await h2call(session, { ':path': '/set-cookies', cookie: 'theme=dark; telepath-preview=gone-1' });
    assert.equal(a.headers[':status'], 200);
    assert.equal(serverOf(a.body), 'app');
    assert.equal(a.headers['x-server'], 'app');
    assert.deepEqual(a.headers['set-cookie'], [...APP_SET_COOKIES, 'telepath-preview=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0']);
    assert.equal(r.router.stats.previewCookiesRemoved - before, 1);
    const secure = await h2call(session, { ':path': '/x', cookie: 'telepath-preview=gone-1', 'x-forwarded-proto': 'https' });
    assert.deepEqual(secure.headers['set-cookie'], ['telepath-preview=; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=0'], 'Secure as it was set');
    const trailersOnly = await h2call(session, { ':path': '/trailers-only', cookie: 'telepath-preview=gone-1' });
    assert.equal(trailersOnly.headers['grpc-status'], '5');
    assert.deepEqual(trailersOnly.headers['set-cookie'], ['telepath-preview=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0'], 'an answer without a body too');
  });

  test('no set-cookie from the agent without a preview cookie of an intercept that is gone', async () => {
    r.router.setRules([{ ...ALICE, previewToken: 'gone-2' }, BOB_SERVICE]);
    r.router.setRules([{ ...ALICE, previewToken: 'live-2' }, BOB_SERVICE]);
    const before = r.router.stats.previewCookiesRemoved;
    const none = await h2call(session, { ':path': '/x' });
    assert.equal(none.headers['set-cookie'], undefined);
    const others = await h2call(session, { ':path': '/set-cookies', cookie: 'theme=dark; gone-2=1' });
    assert.deepEqual(others.headers['set-cookie'], APP_SET_COOKIES, 'the app\'s own, untouched');
    const live = await h2call(session, { ':path': '/x', cookie: 'telepath-preview=live-2' });
    assert.equal(serverOf(live.body), 'alice');
    assert.equal(live.headers['set-cookie'], undefined);
    const unknown = await h2call(session, { ':path': '/x', cookie: 'telepath-preview=another-workloads' });
    assert.equal(serverOf(unknown.body), 'app');
    assert.equal(unknown.headers['set-cookie'], undefined, 'a token this port never had may be live behind the same host');
    assert.equal(r.router.stats.previewCookiesRemoved, before);
  });

  test('removing a rule: later streams go to the app and the session to the workstation closes', async () => {
    const first = await h2call(session, { ':path': '/1', 'x-telepath-intercept': 'alice' });
    assert.equal(serverOf(first.body), 'alice');
    const aliceSessions = alice.sessions;
    r.router.setRules([]);
    const second = await h2call(session, { ':path': '/2', 'x-telepath-intercept': 'alice' });
    assert.equal(serverOf(second.body), 'app');
    assert.equal(alice.sessions, aliceSessions, 'no new session to alice');
    await eventually(() => alice.openSessions === 0);
  });
});

describe('HTTP/2 when the app is down', () => {
  test('the stream is answered 502 naming the app', async () => {
    const r = await startRouter({ appPort: 1, clients: {}, rules: [ALICE] });
    const session = http2.connect(`http://127.0.0.1:${r.port}`);
    session.on('error', () => undefined);
    try {
      const a = await h2call(session, { ':path': '/' });
      assert.equal(a.headers[':status'], 502);
      assert.match(a.body.toString(), /the app could not be reached/);
    } finally {
      session.destroy();
      await r.close();
    }
  });
});
