/**
 * Whole-connection routing through a PortRouter on a real port: the plain pipe without rules,
 * connections that are not HTTP, server-speaks-first protocols, and close().
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import type { InterceptRule } from './portRouter.js';
import { FakeHttp1Server, FakeHttp2Server, FakeTcpServer, h2call, rawConnect, readAll, type RouterUnderTest, startRouter } from './testing/routerHarness.js';

const PERSONAL: InterceptRule = { id: 'alice', global: false, headers: [{ name: 'x-telepath-intercept', value: 'alice' }] };
const GLOBAL: InterceptRule = { id: 'alice', global: true, headers: [] };

describe('whole connections', () => {
  let app: FakeTcpServer;
  let alice: FakeTcpServer;
  let r: RouterUnderTest;

  before(async () => {
    [app, alice] = await Promise.all([FakeTcpServer.start('app'), FakeTcpServer.start('alice')]);
    r = await startRouter({ appPort: app.port, clients: { alice: alice.port } });
  });
  after(async () => {
    await r.close();
    await Promise.all([app.close(), alice.close()]);
  });

  test('no rules: a plain pipe to the app; the client FIN reaches it and its answer comes back', async () => {
    r.router.setRules([]);
    const s = await rawConnect(r.port);
    const answer = readAll(s);
    s.write('GET / HTTP/1.1\r\n');
    s.end('\x00\x01 raw bytes');
    assert.equal((await answer).toString('latin1'), 'app got GET / HTTP/1.1\r\n\x00\x01 raw bytes');
    assert.equal(r.router.stats.http1Connections, 0, 'nothing parsed');
    assert.ok(r.router.stats.pipedToApp >= 1);
  });

  test('no rules: the client can still read after it half-closed', async () => {
    r.router.setRules([]);
    const s = await rawConnect(r.port);
    s.end('first');
    // The app answers only after the FIN; the socket must still be readable on our side.
    assert.equal((await readAll(s)).toString(), 'app got first');
  });

  test('rules, bytes that are not HTTP, no global intercept: the app gets them unchanged', async () => {
    r.router.setRules([PERSONAL]);
    const s = await rawConnect(r.port);
    const answer = readAll(s);
    s.end(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff]));
    assert.deepEqual([...(await answer)], [...Buffer.from('app got '), 0x16, 0x03, 0x01, 0x00, 0xff]);
  });

  test('rules with a global intercept: bytes that are not HTTP go whole to the workstation', async () => {
    r.router.setRules([GLOBAL]);
    const before = r.router.stats.pipedToClient;
    const s = await rawConnect(r.port);
    const answer = readAll(s);
    s.write('SSH-2.0-OpenSSH\r\n');
    s.end('more');
    assert.equal((await answer).toString(), 'alice got SSH-2.0-OpenSSH\r\nmore');
    assert.equal(r.router.stats.pipedToClient - before, 1);
  });
});

describe('server-speaks-first and failures', () => {
  test('a client that says nothing is routed after the sniff timeout and hears the app greet', async () => {
    const app = await FakeTcpServer.start('app', '220 app ready\r\n');
    const r = await startRouter({ appPort: app.port, clients: {}, rules: [PERSONAL], options: { sniffTimeouts: { firstBytesMs: 100 } } });
    try {
      const s = await rawConnect(r.port);
      const started = Date.now();
      const [greeting] = (await once(s, 'data')) as [Buffer];
      assert.equal(greeting.toString(), '220 app ready\r\n');
      assert.ok(Date.now() - started >= 80, 'waited for the sniff timeout');
      s.destroy();
    } finally {
      await r.close();
      await app.close();
    }
  });

  test('a global intercept whose tunnel fails resets a connection that is not HTTP', async () => {
    const app = await FakeTcpServer.start('app');
    const r = await startRouter({ appPort: app.port, clients: {}, rules: [{ id: 'gone', global: true, headers: [] }] });
    try {
      const s = await rawConnect(r.port);
      s.write('\x00binary');
      const [error] = (await once(s, 'error')) as [NodeJS.ErrnoException];
      assert.equal(error.code, 'ECONNRESET');
      assert.equal(app.connections, 0);
    } finally {
      await r.close();
      await app.close();
    }
  });
});

describe('close', () => {
  test('an idle keep-alive connection is closed at once; a piped one after the grace period', async () => {
    const app = await FakeHttp1Server.start('app');
    const r = await startRouter({ appPort: app.port, clients: {}, rules: [PERSONAL], options: { closeGraceMs: 200 } });
    const httpConn = await rawConnect(r.port);
    const httpClosed = once(httpConn, 'end');
    httpConn.write('GET /x HTTP/1.1\r\nHost: a\r\n\r\n');
    await once(httpConn, 'data');
    r.router.setRules([]);
    const piped = await rawConnect(r.port);
    piped.on('error', () => undefined);
    const pipedClosed = once(piped, 'end');
    await new Promise((resolve) => setTimeout(resolve, 20));
    const started = Date.now();
    const httpEndedAt = httpClosed.then(() => Date.now());
    const pipedEndedAt = pipedClosed.then(() => Date.now());
    await r.close();
    assert.ok((await httpEndedAt) - started < 150, 'the idle HTTP connection did not wait');
    assert.ok((await pipedEndedAt) - started >= 150, 'the pipe had its grace period');
    assert.equal(r.router.stats.activeConnections, 0);
    const late = await rawConnect(r.port).catch((e: Error) => e);
    assert.ok(late instanceof Error, 'the listener is gone');
    await app.close();
  });

  test('a request in flight when close() starts still gets its answer, with Connection: close', async () => {
    const app = await FakeHttp1Server.start('app');
    const r = await startRouter({ appPort: app.port, clients: {}, rules: [PERSONAL], options: { closeGraceMs: 2000 } });
    const s = await rawConnect(r.port);
    const answer = readAll(s);
    s.write('POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closing = r.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    s.write('cd');
    const text = (await answer).toString();
    await closing;
    await app.close();
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(text, /\r\nConnection: close\r\n/);
    assert.match(text, /"server":"app"/);
    assert.equal(app.requests.at(-1)?.bodyBytes, 4);
  });

  test('an HTTP/2 client gets GOAWAY and its idle connection ends before the grace period', async () => {
    const app = await FakeHttp2Server.start('app');
    const r = await startRouter({ appPort: app.port, clients: {}, rules: [PERSONAL], options: { closeGraceMs: 2000 } });
    const session = http2.connect(`http://127.0.0.1:${r.port}`);
    session.on('error', () => undefined);
    const first = await h2call(session, { ':path': '/a' });
    assert.equal(first.headers['x-server'], 'app');
    const goaway = once(session, 'goaway');
    const started = Date.now();
    await r.close();
    await goaway;
    assert.ok(Date.now() - started < 1000, 'did not wait for the grace period');
    session.destroy();
    await app.close();
  });
});
