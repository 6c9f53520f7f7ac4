/**
 * HTTP/2 with prior knowledge (h2c, which gRPC uses), routed per stream: an Http2Server that never
 * listens takes the downstream connection; each stream is matched against the rules of that moment
 * (`:path` and gRPC metadata are headers like any other) and forwarded over one HTTP/2 session per
 * downstream connection and destination, opened lazily on a dialed stream.
 *
 * Forwarded both ways: headers (minus connection-specific ones), bodies through pipe (HTTP/2 flow
 * control holds the sender), trailers (gRPC's status travels in them, hence waitForTrailers) and
 * RST_STREAM codes. The agent adds only the set-cookie that removes a preview cookie whose intercept
 * is gone (previewCookieRemoval).
 */
import http2 from 'node:http2';
import type net from 'node:net';
import { forwardableH2Headers } from './h2Headers.js';
import { HeaderMultimap } from './headerMultimap.js';
import { matchRule } from './matchRule.js';
import { previewAnswer, previewCookieRemoval } from './previewLink.js';
import { requestPath } from './requestPath.js';
import {
  asError,
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

const { NGHTTP2_NO_ERROR, NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR } = http2.constants;

interface Upstream {
  readonly destination: Destination;
  readonly session: Promise<http2.ClientHttp2Session>;
  /** Set once connected, to tell a session that is going away from a live one. */
  connected?: http2.ClientHttp2Session;
}

interface Http2Connection {
  readonly session: http2.ServerHttp2Session;
  readonly source: SourceAddress;
  readonly upstreams: Map<string, Upstream>;
}

export class Http2Router {
  private readonly server: http2.Http2Server;
  private readonly connections = new Map<http2.ServerHttp2Session, Http2Connection>();

  constructor(private readonly ctx: RouterContext) {
    // Never listens: it only serves the connections it is handed.
    this.server = http2.createServer();
    this.server.on('session', (session: http2.ServerHttp2Session) => this.onSession(session));
    this.server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => this.onStream(stream, headers));
  }

  /**
   * Takes a connection whose preface was sniffed and put back; Node's session reads what is
   * already buffered before it reads the socket.
   */
  accept(socket: net.Socket): void {
    this.ctx.stats.http2Connections++;
    this.server.emit('connection', socket);
  }

  /** Sessions towards intercepts that are gone stop taking streams and close when theirs are done. */
  retire(liveInterceptIds: ReadonlySet<string>): void {
    for (const conn of this.connections.values()) {
      for (const [key, upstream] of conn.upstreams) {
        if (upstream.destination.kind === 'client' && !liveInterceptIds.has(upstream.destination.interceptId)) {
          conn.upstreams.delete(key);
          upstream.session.then((s) => s.close(), () => undefined);
        }
      }
    }
  }

  /** The router is closing: GOAWAY to every client; open streams may finish. */
  shutdown(): void {
    for (const conn of this.connections.values()) conn.session.close();
  }

  private onSession(session: http2.ServerHttp2Session): void {
    const conn: Http2Connection = { session, source: sourceOf(session.socket), upstreams: new Map() };
    this.connections.set(session, conn);
    session.on('error', (e: Error) => this.ctx.logger.debug('HTTP/2 client session failed', { error: e.message }));
    session.once('close', () => {
      this.connections.delete(session);
      for (const upstream of conn.upstreams.values()) upstream.session.then((s) => s.destroy(), () => undefined);
      conn.upstreams.clear();
    });
    if (this.ctx.closing()) session.close();
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', (e: Error) => this.ctx.logger.debug('HTTP/2 client stream failed', { error: e.message }));
    const conn = this.connections.get(stream.session as http2.ServerHttp2Session);
    if (!conn) {
      stream.close(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    const method = headers[':method'] ?? 'GET';
    const target = headers[':path'] ?? '/';
    const rules = this.ctx.rules();
    const multimap = HeaderMultimap.fromObject(headers);
    const encrypted = isEncrypted(stream.session?.socket);
    const preview = previewAnswer(rules, { method, target, headers: multimap, encrypted });
    if (preview) {
      this.ctx.stats.previewRedirects++;
      const out: http2.OutgoingHttpHeaders = { ':status': 302 };
      for (const [name, value] of preview) out[name.toLowerCase()] = value;
      stream.respond(out, { endStream: true });
      stream.resume();
      return;
    }
    const destination = destinationFor(matchRule(rules, { method, path: requestPath(target), headers: multimap }));
    countRequest(this.ctx.stats, destination);
    const cookieRemoval = previewCookieRemoval(rules, this.ctx.endedPreviewTokens(), { headers: multimap, encrypted });
    this.forward(conn, stream, headers, destination, cookieRemoval).catch((e: unknown) => this.badGateway(stream, destination, asError(e)));
  }

  /** `cookieRemoval`: a set-cookie that the response gets besides the destination's headers. */
  private async forward(
    conn: Http2Connection,
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    destination: Destination,
    cookieRemoval: string | undefined,
  ): Promise<void> {
    const session = await this.upstreamFor(conn, destination);
    if (stream.destroyed || stream.closed) return;
    const endStream = stream.endAfterHeaders;
    const upstream = session.request(forwardableH2Headers(headers), { endStream, waitForTrailers: !endStream });

    let requestTrailers: http2.OutgoingHttpHeaders = {};
    stream.on('trailers', (t: http2.IncomingHttpHeaders) => {
      requestTrailers = forwardableH2Headers(t);
    });
    // Trailers are known by then: their HEADERS frame ends the request body.
    upstream.on(
      'wantTrailers',
      this.guarded(stream, upstream, () => upstream.sendTrailers(requestTrailers)),
    );
    if (!endStream) stream.pipe(upstream);

    let responseTrailers: http2.OutgoingHttpHeaders = {};
    let upstreamError: NodeJS.ErrnoException | undefined;
    upstream.on('error', (e: NodeJS.ErrnoException) => {
      upstreamError = e;
      this.ctx.logger.debug('HTTP/2 upstream stream failed', { to: describeDestination(destination), error: e.message });
    });
    // Informational (1xx) headers.
    upstream.on(
      'headers',
      this.guarded(stream, upstream, (h: http2.IncomingHttpHeaders) => {
        if (!stream.headersSent && !stream.closed) stream.additionalHeaders(forwardableH2Headers(h));
      }),
    );
    upstream.on(
      'response',
      this.guarded(stream, upstream, (h: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader) => {
        if (stream.destroyed || stream.closed) return;
        const out = forwardableH2Headers(h);
        if (cookieRemoval !== undefined) out['set-cookie'] = [...headerValues(out['set-cookie']), cookieRemoval];
        // A response without a body, e.g. gRPC's trailers-only answer: its status is in these headers.
        if (upstream.endAfterHeaders) {
          stream.respond(out, { endStream: true });
        } else {
          stream.respond(out, { waitForTrailers: true });
          upstream.pipe(stream);
        }
        if (cookieRemoval !== undefined) this.ctx.stats.previewCookiesRemoved++;
      }),
    );
    upstream.on('trailers', (t: http2.IncomingHttpHeaders) => {
      responseTrailers = forwardableH2Headers(t);
    });
    stream.on(
      'wantTrailers',
      this.guarded(stream, upstream, () => stream.sendTrailers(responseTrailers)),
    );

    upstream.once('close', () => {
      if (stream.destroyed || stream.closed) return;
      const code = upstream.rstCode ?? NGHTTP2_NO_ERROR;
      // The destination's connection failed (not a reset of this stream): the client gets a 502.
      if (!stream.headersSent && upstreamError && upstreamError.code !== 'ERR_HTTP2_STREAM_ERROR') {
        this.badGateway(stream, destination, upstreamError);
      } else if (code !== NGHTTP2_NO_ERROR) {
        stream.close(code);
      } else if (!stream.headersSent) {
        this.badGateway(stream, destination, new Error('stream closed without a response'));
      }
    });
    stream.once('close', () => {
      if (upstream.closed || upstream.destroyed) return;
      const code = stream.rstCode;
      upstream.close(code !== undefined && code !== NGHTTP2_NO_ERROR ? code : NGHTTP2_CANCEL);
    });
  }

  /**
   * Node throws synchronously on headers it will not send (and on streams closed in between);
   * inside an event handler that would take the agent down, so the exchange is reset instead.
   */
  private guarded<A extends unknown[]>(stream: http2.ServerHttp2Stream, upstream: http2.ClientHttp2Stream, fn: (...args: A) => void): (...args: A) => void {
    return (...args: A) => {
      try {
        fn(...args);
      } catch (e) {
        this.ctx.logger.warn('HTTP/2 exchange failed', { error: asError(e).message });
        if (!upstream.closed) upstream.close(NGHTTP2_INTERNAL_ERROR);
        if (!stream.closed) stream.close(NGHTTP2_INTERNAL_ERROR);
      }
    };
  }

  private badGateway(stream: http2.ServerHttp2Stream, destination: Destination, error: Error): void {
    this.ctx.logger.warn('destination unreachable', { to: describeDestination(destination), error: error.message });
    if (stream.destroyed || stream.closed) return;
    if (stream.headersSent) {
      stream.close(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    this.ctx.stats.badGateway++;
    const answer = unreachableAnswer(destination, error);
    stream.respond({ ':status': answer.status, ...answer.headers });
    stream.end(answer.body);
    // The request body has nowhere to go.
    stream.resume();
  }

  /** This connection's session to `destination`; a new one when none is usable. */
  private upstreamFor(conn: Http2Connection, destination: Destination): Promise<http2.ClientHttp2Session> {
    const key = destinationKey(destination);
    const existing = conn.upstreams.get(key);
    if (existing && !(existing.connected && (existing.connected.closed || existing.connected.destroyed))) return existing.session;
    const session = this.ctx.dial(destination, conn.source).then((socket) => {
      const s = http2.connect('http://localhost', { createConnection: () => socket });
      upstream.connected = s;
      s.on('error', (e: Error) => this.ctx.logger.debug('HTTP/2 upstream session failed', { to: describeDestination(destination), error: e.message }));
      s.once('close', () => {
        if (conn.upstreams.get(key) === upstream) conn.upstreams.delete(key);
      });
      // The downstream connection went away while this one was being dialed.
      if (!this.connections.has(conn.session)) s.destroy();
      return s;
    });
    const upstream: Upstream = { destination, session };
    // A failed dial is not kept: the next stream tries again.
    session.catch(() => {
      if (conn.upstreams.get(key) === upstream) conn.upstreams.delete(key);
    });
    conn.upstreams.set(key, upstream);
    return session;
  }
}

function headerValues(value: http2.OutgoingHttpHeaders[string]): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value.map(String) : [String(value)];
}
