/**
 * HTTP/1.1 through a PortRouter whose router forwards raw bytes: what the raw forwarding itself
 * must get right (pipelining across destinations, framing of odd responses, limits), with raw
 * sockets on the client side and, where the response bytes matter, a raw "app".
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { InterceptRule } from './portRouter.js';
import { FakeHttp1Server, rawConnect, readAll, readUntil, type RouterUnderTest, startRouter } from './testing/routerHarness.js';

const ALICE: InterceptRule = { id: 'alice', global: false, headers: [{ name: 'X-Telepath-Intercept', value: 'alice' }] };

/** A TCP "app" that answers the first request head it gets with `answer` and then, if `close`, closes. */
async function rawApp(answer: string, close: boolean): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let text = '';
    s.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      if (!text.includes('\r\n\r\n')) return;
      text = '';
      if (close) s.end(answer);
      else s.write(answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('HTTP/1.1 raw forwarding', () => {
  let app: FakeHttp1Server;
  let alice: FakeHttp1Server;
  let r: RouterUnderTest;

  before(async () => {
    [app, alice] = await Promise.all([FakeHttp1Server.start('app'), FakeHttp1Server.start('alice')]);
    r = await startRouter({ appPort: app.port, clients: { alice: alice.port }, rules: [ALICE] });
  });
  after(async () => {
    await r.close();
    await Promise.all([app.close(), alice.close()]);
  });

  test('pipelined requests in one packet for different destinations are answered in request order', async () => {
    const s = await rawConnect(r.port);
    const req = (path: string, who?: string): string => `GET ${path} HTTP/1.1\r\nHost: x\r\n${who ? `X-Telepath-Intercept: ${who}\r\n` : ''}\r\n`;
    const body = 'POST /p4 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX-Telepath-Intercept: alice\r\n\r\n3\r\nabc\r\n0\r\n\r\n';
    const answer = readAll(s);
    s.end(req('/p1', 'alice') + req('/p2') + req('/p3', 'alice') + body + req('/p5'));
    const text = (await answer).toString();
    const order = [...text.matchAll(/"server":"(\w+)","method":"\w+","url":"(\/p\d)"/g)].map((m) => `${m[1]}${m[2]}`);
    assert.deepEqual(order, ['alice/p1', 'app/p2', 'alice/p3', 'alice/p4', 'app/p5']);
    assert.equal(alice.requests.find((q) => q.url === '/p4')?.bodyBytes, 3);
  });

  test('a malformed head is answered 400 and the connection closes; an oversized one 431', async () => {
    const s = await rawConnect(r.port);
    const answer = readAll(s);
    s.write('GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n  b\r\n\r\n');
    assert.match((await answer).toString(), /^HTTP\/1\.1 400 Bad Request\r\n/);
    const big = await rawConnect(r.port);
    const bigAnswer = readAll(big);
    big.on('error', () => undefined);
    big.write(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70 * 1024)}`);
    assert.match((await bigAnswer).toString(), /^HTTP\/1\.1 431 /);
  });

  test('a keep-alive answer from the destination reaches the client without its Keep-Alive line', async () => {
    const s = await rawConnect(r.port);
    s.write('GET /k HTTP/1.1\r\nHost: x\r\n\r\n');
    const text = await readUntil(s, (t) => t.includes('"rawTrailers"'));
    s.destroy();
    assert.doesNotMatch(text, /\r\nKeep-Alive:/i);
  });
});

describe('HTTP/1.1 raw forwarding: responses framed in other ways', () => {
  test('an answer without length runs until the close, and the client connection closes after it', async () => {
    const app = await rawApp('HTTP/1.1 200 OK\r\nX-Server: raw\r\n\r\nall of it, until the end', true);
    const r = await startRouter({ appPort: app.port, clients: {}, rules: [ALICE] });
    try {
      const s = await rawConnect(r.port);
      const answer = readAll(s);
      s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal((await answer).toString(), 'HTTP/1.1 200 OK\r\nX-Server: raw\r\n\r\nall of it, until the end');
    } finally {
      await r.close();
      await app.close();
    }
  });

  test('1xx answers (103) are relayed before the final one, chunked bodies with trailers byte for byte', async () => {
    const response = 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n';
    const app = await rawApp(response, false);
    const r = await startRouter({ appPort: app.port, clients: {}, rules: [ALICE] });
    try {
      const s = await rawConnect(r.port);
      s.write('GET /one HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal(await readUntil(s, (t) => t.length >= response.length), response);
      s.write('GET /two HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal(await readUntil(s, (t) => t.length >= response.length), response, 'the connection serves the next request');
      s.destroy();
    } finally {
      await r.close();
      await app.close();
    }
  });

  test('a body request whose tunnel fails gets the 503, and the connection closes (its body is not read as a request)', async () => {
    const app = await FakeHttp1Server.start('app');
    const r = await startRouter({ appPort: app.port, clients: {}, rules: [ALICE] });
    try {
      const s = await rawConnect(r.port);
      const answer = readAll(s);
      s.on('error', () => undefined);
      s.write('POST /x HTTP/1.1\r\nHost: x\r\nX-Telepath-Intercept: alice\r\nContent-Length: 10\r\n\r\nGET / HTT');
      const text = (await answer).toString();
      assert.match(text, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
      assert.match(text, /\r\nConnection: close\r\n/);
      assert.equal(app.requests.length, 0);
    } finally {
      await r.close();
      await app.close();
    }
  });

  test('Expect: 100-continue answered at once with a final response: relayed, and the connection closes instead of waiting for the body', async () => {
    const app = await rawApp('HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n', false);
    const r = await startRouter({ appPort: app.port, clients: {}, rules: [ALICE] });
    try {
      const s = await rawConnect(r.port);
      const answer = readAll(s);
      s.write('PUT /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n');
      assert.equal((await answer).toString(), 'HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n');
    } finally {
      await r.close();
      await app.close();
    }
  });
});
