/**
 * HTTP/1.x, routed per request: Node's http.Server parses the downstream connection (handed to it
 * with emit('connection')), each request is matched against the rules of that moment and forwarded
 * with http.request through the connection's own keep-alive pool for the chosen destination. So one
 * keep-alive connection may carry requests for the app and for several workstations, and a rule
 * change applies from the next request on.
 *
 * Requests reach their destination as they came: method, target, header names, case, order and
 * body framing (see upstreamRequest). Responses come back with status, reason, headers (minus
 * connection-scoped ones), body, trailers and 1xx; the agent adds only the Set-Cookie that removes
 * a preview cookie whose intercept is gone (previewCookieRemoval).
 */
import http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { HeaderMultimap } from './headerMultimap.js';
import { flatHeaders, groupedHeaders, headerPairs, withoutHopByHop, type HeaderPair } from './http1Headers.js';
import { matchRule } from './matchRule.js';
import { previewAnswer, previewCookieRemoval } from './previewLink.js';
import { requestPath } from './requestPath.js';
import {
  countRequest,
  describeDestination,
  type Destination,
  destinationFor,
  destinationKey,
  isEncrypted,
  type RouterContext,
  type SourceAddress,
  sourceOf,
  unreachableAnswer,
} from './routerContext.js';
import { spliceStreams } from './spliceStreams.js';
import { UpstreamAgent } from './upstreamAgent.js';

interface Http1Connection {
  readonly socket: net.Socket;
  readonly source: SourceAddress;
  /** Keep-alive pools by destination key. */
  readonly pools: Map<string, { destination: Destination; agent: UpstreamAgent }>;
  /** Requests whose response is not done yet. */
  inflight: number;
  /** Taken over by an upgrade: now a plain pipe. */
  upgraded: boolean;
}

export class Http1Router {
  private readonly server: http.Server;
  private readonly connections = new Map<net.Socket, Http1Connection>();

  constructor(private readonly ctx: RouterContext) {
    // The server never listens: it only parses the connections it is handed.
    this.server = http.createServer({ requestTimeout: 0 });
    // Idle keep-alive connections stay open as long as the client wants, as they would with a
    // plain TCP pipe to the app; Node's 5 s default races clients that reuse idle connections.
    this.server.keepAliveTimeout = 0;
    // A client may half-close right after its request (as over a plain pipe) and still read the
    // answer; by default Node aborts the request on the FIN.
    (this.server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => this.onRequest(req, res);
    this.server.on('request', onRequest);
    // Expect: 100-continue goes to the destination, whose 100 is relayed (see relayInformational).
    this.server.on('checkContinue', onRequest);
    this.server.on('checkExpectation', onRequest);
    const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => this.onUpgrade(req, socket, head);
    this.server.on('upgrade', onUpgrade);
    this.server.on('connect', onUpgrade);
    this.server.on('clientError', (err: Error, socket: Duplex) => this.onClientError(err, socket));
  }

  /** Takes a connection whose first bytes were sniffed as HTTP/1 and put back. */
  accept(socket: net.Socket): void {
    this.ctx.stats.http1Connections++;
    const conn: Http1Connection = { socket, source: sourceOf(socket), pools: new Map(), inflight: 0, upgraded: false };
    this.connections.set(socket, conn);
    socket.once('close', () => {
      this.connections.delete(socket);
      for (const { agent } of conn.pools.values()) agent.destroy();
      conn.pools.clear();
    });
    this.server.emit('connection', socket);
    // The parser reads the socket's handle directly; the sniffed bytes sit in the stream's buffer
    // and reach it through 'data' only once the stream flows again.
    socket.resume();
  }

  /** Upstream pools towards intercepts that are gone close once their in-flight request is done. */
  retire(liveInterceptIds: ReadonlySet<string>): void {
    for (const conn of this.connections.values()) {
      for (const [key, pool] of conn.pools) {
        if (pool.destination.kind === 'client' && !liveInterceptIds.has(pool.destination.interceptId)) {
          pool.agent.retire();
          conn.pools.delete(key);
        }
      }
    }
  }

  /** The router is closing: idle connections go now, busy ones after their response. */
  shutdown(): void {
    for (const conn of this.connections.values()) if (!conn.upgraded && conn.inflight === 0) conn.socket.destroy();
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const conn = this.connections.get(req.socket as net.Socket);
    if (!conn) {
      res.destroy();
      return;
    }
    const method = req.method ?? 'GET';
    const target = req.url ?? '/';
    const rules = this.ctx.rules();
    const headers = HeaderMultimap.fromRaw(req.rawHeaders);
    const encrypted = isEncrypted(conn.socket);
    const preview = previewAnswer(rules, { method, target, headers, encrypted });
    if (preview) {
      this.ctx.stats.previewRedirects++;
      res.writeHead(302, flatHeaders(preview));
      res.end();
      return;
    }
    const destination = destinationFor(matchRule(rules, { method, path: requestPath(target), headers }));
    countRequest(this.ctx.stats, destination);
    const cookieRemoval = previewCookieRemoval(rules, this.ctx.endedPreviewTokens(), { headers, encrypted });
    if (this.ctx.closing()) res.shouldKeepAlive = false;
    conn.inflight++;
    res.once('close', () => {
      conn.inflight--;
      if (this.ctx.closing() && conn.inflight === 0 && !conn.upgraded) conn.socket.end();
    });
    this.forward(conn, req, res, destination, cookieRemoval, false);
  }

  /** `cookieRemoval`: a Set-Cookie that the response gets besides the destination's headers. */
  private forward(
    conn: Http1Connection,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    destination: Destination,
    cookieRemoval: string | undefined,
    isRetry: boolean,
  ): void {
    const agent = this.poolFor(conn, destination);
    let upReq: http.ClientRequest;
    try {
      upReq = upstreamRequest(req, { agent });
    } catch (e) {
      this.badGateway(res, destination, asError(e));
      return;
    }
    let responded = false;
    upReq.on('information', (info: http.InformationEvent) => relayInformational(res, info));
    upReq.on('response', (upRes: http.IncomingMessage) => {
      responded = true;
      this.relayResponse(upRes, res, destination, cookieRemoval);
    });
    upReq.on('error', (e: NodeJS.ErrnoException) => {
      req.unpipe(upReq);
      if (responded) {
        res.destroy();
        return;
      }
      // A pooled connection the destination had just closed: a request without a body can be
      // sent again on a fresh one, as browsers do.
      if (!isRetry && upReq.reusedSocket && !hasBody(req) && (e.code === 'ECONNRESET' || e.code === 'EPIPE') && !res.headersSent) {
        this.forward(conn, req, res, destination, cookieRemoval, true);
        return;
      }
      this.badGateway(res, destination, e);
    });
    res.once('close', () => {
      // The client went away (or the response broke): nothing more to fetch.
      if (!res.writableFinished) upReq.destroy();
    });
    if (!hasBody(req)) {
      upReq.end();
      return;
    }
    req.pipe(upReq, { end: false });
    req.once('end', () => {
      if (req.rawTrailers.length) upReq.addTrailers(headerPairs(req.rawTrailers));
      upReq.end();
    });
  }

  private relayResponse(upRes: http.IncomingMessage, res: http.ServerResponse, destination: Destination, cookieRemoval: string | undefined): void {
    upRes.on('error', (e) => this.ctx.logger.debug('response from upstream failed', { to: describeDestination(destination), error: e.message }));
    if (res.destroyed) {
      upRes.destroy();
      return;
    }
    // The destination's Date, or none: not the agent's.
    res.sendDate = false;
    if (this.ctx.closing()) res.shouldKeepAlive = false;
    const pairs = withoutHopByHop(headerPairs(upRes.rawHeaders));
    // After the destination's own lines; writeHead takes the list as it is, so every Set-Cookie,
    // the destination's and this one, stays a line of its own.
    if (cookieRemoval !== undefined) pairs.push(['Set-Cookie', cookieRemoval]);
    try {
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, flatHeaders(pairs));
    } catch (e) {
      upRes.destroy();
      this.badGateway(res, destination, asError(e));
      return;
    }
    if (cookieRemoval !== undefined) this.ctx.stats.previewCookiesRemoved++;
    upRes.pipe(res, { end: false });
    upRes.once('end', () => {
      if (upRes.rawTrailers.length) res.addTrailers(headerPairs(upRes.rawTrailers));
      res.end();
    });
    upRes.once('close', () => {
      // Cut mid-body: the client must see a broken response, not a short one.
      if (!upRes.complete) res.destroy();
    });
  }

  private badGateway(res: http.ServerResponse, destination: Destination, error: Error): void {
    this.ctx.logger.warn('destination unreachable', { to: describeDestination(destination), error: error.message });
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    this.ctx.stats.badGateway++;
    const answer = unreachableAnswer(destination, error);
    res.writeHead(answer.status, answer.headers);
    res.end(answer.body);
  }

  /**
   * An upgrade (WebSocket, h2c, …) or CONNECT: routed like a request, then the connection is piped
   * whole to that destination if it agrees (101). A declined upgrade's answer is relayed and the
   * connection closed, since Node has already let go of it; the client reconnects and is routed per
   * request again. After an h2c upgrade the connection belongs to that destination: its later
   * HTTP/2 streams are not routed one by one.
   */
  private onUpgrade(req: http.IncomingMessage, downstream: Duplex, head: Buffer): void {
    const socket = downstream as net.Socket;
    const conn = this.connections.get(socket);
    if (conn) {
      conn.upgraded = true;
      for (const { agent } of conn.pools.values()) agent.destroy();
      conn.pools.clear();
    }
    const method = req.method ?? 'GET';
    const target = req.url ?? '/';
    const destination = destinationFor(
      matchRule(this.ctx.rules(), { method, path: requestPath(target), headers: HeaderMultimap.fromRaw(req.rawHeaders) }),
    );
    countRequest(this.ctx.stats, destination);
    this.ctx
      .dial(destination, conn?.source ?? sourceOf(socket))
      .then(
        (upstream) => {
          if (socket.destroyed) {
            upstream.destroy();
            return;
          }
          // Bytes of a body or of CONNECT's tunnel follow the head unframed: pass everything raw.
          if (method === 'CONNECT' || hasBody(req)) {
            upstream.write(requestHead(req));
            if (head.length) upstream.write(head);
            this.splice(socket, upstream, destination);
            return;
          }
          this.upgradeVia(req, socket, head, upstream, destination);
        },
        (e: unknown) => this.rawBadGateway(socket, destination, asError(e)),
      )
      .catch((e: unknown) => {
        this.ctx.logger.error('routing an upgrade failed', { error: asError(e).message });
        socket.destroy();
      });
  }

  private upgradeVia(req: http.IncomingMessage, socket: net.Socket, head: Buffer, upstream: Duplex, destination: Destination): void {
    let upReq: http.ClientRequest;
    try {
      upReq = upstreamRequest(req, { createConnection: () => upstream });
    } catch (e) {
      upstream.destroy();
      this.rawBadGateway(socket, destination, asError(e));
      return;
    }
    upReq.on('upgrade', (upRes: http.IncomingMessage, upSocket: Duplex, upHead: Buffer) => {
      socket.write(responseHead(upRes, headerPairs(upRes.rawHeaders)));
      if (upHead.length) socket.write(upHead);
      if (head.length) upSocket.write(head);
      this.splice(socket, upSocket, destination);
    });
    upReq.on('response', (upRes: http.IncomingMessage) => {
      const pairs = withoutHopByHop(headerPairs(upRes.rawHeaders)).filter(([n]) => n.toLowerCase() !== 'transfer-encoding');
      // Close-delimited: the body is relayed decoded, and the connection ends with it.
      closeWhenSent(socket);
      socket.write(responseHead(upRes, [...pairs, ['Connection', 'close']]));
      upRes.pipe(socket);
      upRes.on('error', () => socket.destroy());
      // Without an agent nobody takes the connection back: it is done with this answer.
      upRes.once('close', () => upstream.destroy());
    });
    upReq.on('error', (e: Error) => this.rawBadGateway(socket, destination, e));
    upReq.end();
  }

  private splice(socket: net.Socket, upstream: Duplex, destination: Destination): void {
    spliceStreams(socket, upstream, (e) => {
      if (e) this.ctx.logger.debug('upgraded connection failed', { to: describeDestination(destination), error: e.message });
    });
  }

  private rawBadGateway(socket: net.Socket, destination: Destination, error: Error): void {
    this.ctx.logger.warn('destination unreachable', { to: describeDestination(destination), error: error.message });
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    this.ctx.stats.badGateway++;
    const answer = unreachableAnswer(destination, error);
    const head = Object.entries(answer.headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    closeWhenSent(socket);
    socket.end(`HTTP/1.1 ${answer.status} ${http.STATUS_CODES[answer.status]}\r\n${head}connection: close\r\n\r\n${answer.body}`);
  }

  private onClientError(err: Error, socket: Duplex): void {
    const code = (err as NodeJS.ErrnoException).code;
    this.ctx.logger.debug('bad HTTP/1 input from client', { error: err.message, code });
    const conn = this.connections.get(socket as net.Socket);
    if (code === 'ECONNRESET' || !socket.writable || (conn && conn.inflight > 0)) {
      socket.destroy();
      return;
    }
    const status = code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    closeWhenSent(socket);
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  }

  private poolFor(conn: Http1Connection, destination: Destination): UpstreamAgent {
    const key = destinationKey(destination);
    let pool = conn.pools.get(key);
    if (!pool) {
      pool = { destination, agent: new UpstreamAgent(() => this.ctx.dial(destination, conn.source)) };
      conn.pools.set(key, pool);
    }
    return pool.agent;
  }
}

/**
 * The request for the next hop, byte for byte as it came: header names keep their case and order
 * (a repeated name goes out as consecutive lines), and Node adds nothing of its own.
 */
function upstreamRequest(req: http.IncomingMessage, options: http.RequestOptions): http.ClientRequest {
  const upReq = http.request({ ...options, method: req.method, path: req.url, setHost: false });
  const present = new Set<string>();
  for (const { name, values } of groupedHeaders(headerPairs(req.rawHeaders))) {
    upReq.setHeader(name, values.length === 1 ? values[0]! : values);
    present.add(name.toLowerCase());
  }
  // Removing what the client did not send stops Node from adding Connection and body framing
  // (keep-alive still works: HTTP/1.1 is persistent by default).
  for (const name of ['connection', 'content-length', 'transfer-encoding']) if (!present.has(name)) upReq.removeHeader(name);
  // The client waits for 100 Continue before its body: the head must go out on its own.
  if (present.has('expect')) upReq.flushHeaders();
  return upReq;
}

function hasBody(req: http.IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function relayInformational(res: http.ServerResponse, info: http.InformationEvent): void {
  if (res.headersSent || res.destroyed) return;
  if (info.statusCode === 100) res.writeContinue();
  else if (info.statusCode === 102) res.writeProcessing();
  else if (info.statusCode === 103 && info.headers.link !== undefined) {
    const hints: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(info.headers)) if (v !== undefined) hints[k] = v;
    res.writeEarlyHints(hints);
  }
}

function requestHead(req: http.IncomingMessage): string {
  const lines = headerPairs(req.rawHeaders).map(([n, v]) => `${n}: ${v}\r\n`);
  return `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n${lines.join('')}\r\n`;
}

function responseHead(res: http.IncomingMessage, pairs: readonly HeaderPair[]): string {
  const lines = pairs.map(([n, v]) => `${n}: ${v}\r\n`);
  return `HTTP/${res.httpVersion} ${res.statusCode} ${res.statusMessage}\r\n${lines.join('')}\r\n`;
}

/** `Connection: close` means both ways: a client that keeps its side open must not hold the socket. */
function closeWhenSent(socket: Duplex): void {
  socket.once('finish', () => socket.destroy());
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
