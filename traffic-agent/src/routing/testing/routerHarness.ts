/**
 * Test doubles for the router: fake "app" and "workstation" servers on 127.0.0.1 that answer with
 * their identity and record what they saw, a PortRouter listening on a real port, and small
 * HTTP/1 and HTTP/2 clients.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { silentLogger } from '../../../../common/src/log/jsonLogger.js';
import { type InterceptRule, PortRouter, type PortRouterOptions, type SourceAddress } from '../portRouter.js';

export interface SeenRequest {
  method: string;
  url: string;
  rawHeaders: string[];
  bodyBytes: number;
  bodySha256: string;
  rawTrailers: string[];
}

/** N bytes of a repeating pattern, and its digest. */
export function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 8)) & 0xff;
  return b;
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** The cookies the fake servers set on `/set-cookies`. */
export const APP_SET_COOKIES: readonly string[] = ['session=abc; Path=/; HttpOnly', 'theme=dark'];

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

/**
 * An HTTP/1 server named `identity`. Default answer: JSON of what it saw. `/download?bytes=N`: N
 * pattern bytes. `/trailers`: chunked with a trailer. `/set-cookies`: the default answer with two
 * Set-Cookie lines of its own (APP_SET_COOKIES). Upgrade `x-echo`: 101, then echoes each chunk
 * prefixed with its identity. Upgrade `h2c`: declined with a plain 200.
 */
export class FakeHttp1Server {
  readonly requests: SeenRequest[] = [];
  connections = 0;
  openConnections = 0;
  port = 0;
  private readonly server: http.Server;

  private constructor(readonly identity: string) {
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.server.on('connection', (s: net.Socket) => {
      this.connections++;
      this.openConnections++;
      s.on('close', () => this.openConnections--);
    });
    this.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => this.onUpgrade(req, socket, head));
  }

  /** `keepAliveTimeoutMs`: how long it keeps an idle connection (Node's default is 5 s). */
  static async start(identity: string, keepAliveTimeoutMs?: number): Promise<FakeHttp1Server> {
    const f = new FakeHttp1Server(identity);
    if (keepAliveTimeoutMs !== undefined) f.server.keepAliveTimeout = keepAliveTimeoutMs;
    f.port = await listen(f.server);
    return f;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      hash.update(c);
    });
    req.on('end', () => {
      const seen: SeenRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        rawHeaders: req.rawHeaders,
        bodyBytes: bytes,
        bodySha256: hash.digest('hex'),
        rawTrailers: req.rawTrailers,
      };
      this.requests.push(seen);
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/download') {
        const body = pattern(Number(url.searchParams.get('bytes')));
        res.writeHead(200, { 'X-Server': this.identity, 'Content-Length': body.length });
        res.end(body);
      } else if (url.pathname === '/trailers') {
        res.writeHead(200, { 'X-Server': this.identity, Trailer: 'X-Checksum', 'Transfer-Encoding': 'chunked' });
        res.write('part one;');
        res.addTrailers({ 'X-Checksum': `sum-from-${this.identity}` });
        res.end('part two');
      } else {
        const body = JSON.stringify({ server: this.identity, ...seen });
        const cookies = url.pathname === '/set-cookies' ? APP_SET_COOKIES.flatMap((c) => ['Set-Cookie', c]) : [];
        res.writeHead(200, ['Content-Type', 'application/json', 'X-Server', this.identity, ...cookies]);
        res.end(body);
      }
    });
  }

  private onUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    this.requests.push({ method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders, bodyBytes: 0, bodySha256: '', rawTrailers: [] });
    if (req.headers.upgrade === 'h2c') {
      const body = `declined by ${this.identity}`;
      socket.end(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nX-Server: ${this.identity}\r\n\r\n${body}`);
      return;
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${req.headers.upgrade ?? ''}\r\nX-Server: ${this.identity}\r\n\r\n`);
    const echo = (d: Buffer): void => void socket.write(`${this.identity}:${d.toString()}`);
    if (head.length) echo(head);
    socket.on('data', echo);
    socket.on('end', () => socket.end(`${this.identity}:bye`));
    socket.on('error', () => undefined);
  }
}

/**
 * An HTTP/2 (h2c) server named `identity`. Default answer: JSON of what it saw. `/grpc`: a
 * gRPC-shaped answer with grpc-status trailers. `/download?bytes=N`: N pattern bytes. `/reset`:
 * RST_STREAM ENHANCE_YOUR_CALM. `/trailers-only`: headers with grpc-status and END_STREAM. `/hang`:
 * never answered. `/set-cookies`: the default answer with the set-cookie fields APP_SET_COOKIES.
 */
export class FakeHttp2Server {
  sessions = 0;
  port = 0;
  readonly paths: string[] = [];
  /** RST_STREAM codes of streams on `/hang`, which are never answered. */
  readonly hangResets: number[] = [];
  private readonly server: http2.Http2Server;
  private readonly open = new Set<http2.ServerHttp2Session>();

  private constructor(readonly identity: string) {
    this.server = http2.createServer();
    this.server.on('session', (s: http2.ServerHttp2Session) => {
      this.sessions++;
      this.open.add(s);
      s.on('close', () => this.open.delete(s));
      s.on('error', () => undefined);
    });
    this.server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => this.onStream(stream, headers));
  }

  get openSessions(): number {
    return this.open.size;
  }

  static async start(identity: string): Promise<FakeHttp2Server> {
    const f = new FakeHttp2Server(identity);
    f.port = await listen(f.server);
    return f;
  }

  async close(): Promise<void> {
    for (const s of this.open) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => undefined);
    const path = headers[':path'] ?? '/';
    this.paths.push(path);
    const url = new URL(path, 'http://x');
    if (url.pathname === '/reset') {
      stream.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      return;
    }
    if (url.pathname === '/hang') {
      stream.on('close', () => this.hangResets.push(stream.rstCode ?? -1));
      stream.resume();
      return;
    }
    if (url.pathname === '/trailers-only') {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'x-server': this.identity }, { endStream: true });
      return;
    }
    const hash = createHash('sha256');
    let bytes = 0;
    let trailers: http2.IncomingHttpHeaders = {};
    stream.on('data', (c: Buffer) => {
      bytes += c.length;
      hash.update(c);
    });
    stream.on('trailers', (t: http2.IncomingHttpHeaders) => {
      trailers = t;
    });
    stream.on('end', () => {
      if (stream.closed) return;
      if (url.pathname === '/grpc') {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'x-server': this.identity }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': `ok from ${this.identity}` }));
        stream.end(Buffer.from([0, 0, 0, 0, 2, 8, 1]));
      } else if (url.pathname === '/download') {
        stream.respond({ ':status': 200, 'x-server': this.identity });
        stream.end(pattern(Number(url.searchParams.get('bytes'))));
      } else {
        const seen: Record<string, unknown> = { ...headers };
        const cookies = url.pathname === '/set-cookies' ? { 'set-cookie': [...APP_SET_COOKIES] } : {};
        stream.respond({ ':status': 200, 'content-type': 'application/json', 'x-server': this.identity, ...cookies });
        stream.end(JSON.stringify({ server: this.identity, headers: seen, bodyBytes: bytes, bodySha256: hash.digest('hex'), trailers }));
      }
    });
  }
}

/**
 * A TCP server named `identity` that, per connection, sends `greeting` (if any) at once, collects
 * what the client sends until its FIN, then answers `<identity> got <bytes as text>` and ends.
 */
export class FakeTcpServer {
  connections = 0;
  port = 0;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  private constructor(readonly identity: string, greeting: string | undefined) {
    this.server = net.createServer({ allowHalfOpen: true }, (s) => {
      this.connections++;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
      if (greeting) s.write(greeting);
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('end', () => s.end(Buffer.concat([Buffer.from(`${identity} got `), ...chunks])));
    });
  }

  static async start(identity: string, greeting?: string): Promise<FakeTcpServer> {
    const f = new FakeTcpServer(identity, greeting);
    f.port = await listen(f.server);
    return f;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * A plain Duplex over a socket, without any net.Socket methods: what a tunnel stream from the
 * manager looks like to the router.
 */
export function plainDuplex(socket: net.Socket): Duplex {
  const d = new Duplex({
    allowHalfOpen: true,
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      socket.write(chunk, (e) => callback(e ?? null));
    },
    final(callback) {
      socket.end();
      callback();
    },
    destroy(error, callback) {
      socket.destroy();
      callback(error);
    },
  });
  socket.on('data', (c: Buffer) => {
    if (!d.push(c)) socket.pause();
  });
  socket.on('end', () => d.push(null));
  socket.on('error', (e) => d.destroy(e));
  socket.on('close', () => {
    if (!d.destroyed && !(d.readableEnded && d.writableFinished)) d.destroy();
  });
  return d;
}

export interface RouterUnderTest {
  router: PortRouter;
  port: number;
  /** Every dialClient call, in order. */
  clientDials: { interceptId: string; source: SourceAddress }[];
  close(): Promise<void>;
}

export interface RouterSetup {
  appPort: number;
  /** Intercept id → port of that workstation's fake server; an id not here makes dialClient reject. */
  clients: Record<string, number>;
  rules?: InterceptRule[];
  options?: Partial<PortRouterOptions>;
}

/** A PortRouter on a real 127.0.0.1 port, dialing the fake servers. */
export async function startRouter(setup: RouterSetup): Promise<RouterUnderTest> {
  const clientDials: { interceptId: string; source: SourceAddress }[] = [];
  const router = new PortRouter({
    dialApp: () => net.connect({ host: '127.0.0.1', port: setup.appPort, allowHalfOpen: true }),
    dialClient: async (interceptId, meta) => {
      clientDials.push({ interceptId, source: meta.source });
      const port = setup.clients[interceptId];
      if (port === undefined) throw new Error(`no tunnel to ${interceptId}`);
      return plainDuplex(net.connect({ host: '127.0.0.1', port, allowHalfOpen: true }));
    },
    logger: silentLogger,
    sniffTimeouts: { firstBytesMs: 150, requestLineMs: 1000 },
    closeGraceMs: 500,
    ...setup.options,
  });
  if (setup.rules) router.setRules(setup.rules);
  const server = net.createServer({ allowHalfOpen: true }, (s) => router.handle(s));
  const port = await listen(server);
  return {
    router,
    port,
    clientDials,
    close: async () => {
      server.close();
      await router.close();
    },
  };
}

export interface Http1Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  rawTrailers: string[];
  /** The local port of the client connection that carried it. */
  localPort: number;
}

export interface Http1Call {
  path: string;
  method?: string;
  headers?: http.OutgoingHttpHeaders | string[];
  body?: Buffer | string | Buffer[];
  agent?: http.Agent;
  trailers?: [string, string][];
  /** Send the body only after 100 Continue. */
  expectContinue?: boolean;
  /** No answer within this long fails the call (default 10 s). */
  timeoutMs?: number;
}

/** One request with Node's HTTP client; the body is written in the given pieces. */
export function http1(port: number, call: Http1Call): Promise<Http1Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: call.path, method: call.method ?? 'GET', headers: call.headers, agent: call.agent ?? false });
    req.on('error', reject);
    req.setTimeout(call.timeoutMs ?? 10_000, () => req.destroy(new Error('request timed out')));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: Buffer.concat(chunks),
          rawTrailers: res.rawTrailers,
          localPort: req.socket?.localPort ?? 0,
        }),
      );
    });
    const send = (): void => {
      const parts = call.body === undefined ? [] : Array.isArray(call.body) ? call.body : [call.body];
      for (const p of parts) req.write(p);
      if (call.trailers) req.addTrailers(call.trailers);
      req.end();
    };
    if (call.expectContinue) req.on('continue', send);
    else send();
  });
}

/** Body of a JSON answer from a fake HTTP/1 server. */
export function seenBy(answer: Http1Answer): SeenRequest & { server: string } {
  return JSON.parse(answer.body.toString()) as SeenRequest & { server: string };
}

export interface Http2Answer {
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders | undefined;
  rstCode: number | undefined;
}

/** One stream on `session`; resolves when it closes, whatever the outcome. */
export function h2call(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer): Promise<Http2Answer> {
  return new Promise((resolve) => {
    const stream = session.request(headers, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    stream.on('response', (h) => {
      responseHeaders = h;
    });
    stream.on('trailers', (t) => {
      trailers = t;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => undefined);
    stream.on('close', () => resolve({ headers: responseHeaders, body: Buffer.concat(chunks), trailers, rstCode: stream.rstCode }));
    if (body !== undefined) stream.end(body);
  });
}

/** Connects a raw socket and resolves once connected. */
export async function rawConnect(port: number): Promise<net.Socket> {
  const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  await once(s, 'connect');
  return s;
}

/** Everything the socket sends until it ends (or closes). */
export function readAll(socket: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

/** Reads from the socket until `predicate` holds for what has arrived. */
export function readUntil(socket: net.Socket, predicate: (text: string) => boolean, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out; got ${JSON.stringify(text)}`));
    }, timeoutMs);
    const onData = (c: Buffer): void => {
      text += c.toString('latin1');
      if (predicate(text)) {
        cleanup();
        resolve(text);
      }
    };
    const onEnd = (): void => {
      cleanup();
      reject(new Error(`ended; got ${JSON.stringify(text)}`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
  });
}

/** Waits until `predicate` holds, polling. */
export async function eventually(predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
