/**
 * HTTP/1.x, routed per request but forwarded as raw bytes. Of each request only the head is parsed
 * (http1Wire), enough to match the rules; its head and body bytes then go to the chosen
 * destination unchanged, and the destination's response bytes come back unchanged, parsed only for
 * their framing, so that the next request on the same downstream connection can go elsewhere. One
 * keep-alive connection may therefore carry requests for the app and for several workstations, and
 * a rule change applies from the next request on.
 *
 * Requests on a connection are served one at a time: the next one (pipelined or not) is read only
 * once the current response is complete, so responses come back in request order without any
 * buffering beyond one socket read. Each downstream connection keeps at most one idle upstream
 * connection per destination for reuse.
 *
 * The agent writes bytes of its own only in these cases: its own answers (a preview link's 302, a
 * 400/431 for a request it cannot parse, a 502/503 when a destination cannot be reached), the
 * Set-Cookie that removes a preview cookie whose intercept is gone (added after the destination's
 * own header lines), and `Connection: close` on responses relayed while the router is closing.
 * Connection fields pass through in both directions as the two ends sent them; a response's
 * Keep-Alive line is left out (it describes the agent's connection to the destination).
 */
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { BodyScanner, parseRequestHead, parseResponseHead, type RequestHead, responseFraming, rewriteResponseHead, withoutRanges } from './http1Wire.js';
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
import { spliceStreams } from './spliceStreams.js';

const EMPTY = Buffer.alloc(0);

/** One connection to a destination, owned by one downstream connection. */
interface Upstream {
  readonly stream: Duplex;
  readonly destination: Destination;
  readonly key: string;
  /** Must not carry another request: its route was removed, or it said or did something final. */
  retired: boolean;
  /** Its readable side ended (the destination closed it): never reused. */
  ended: boolean;
  /** It carried an earlier request: a failure before any answer may be a stale keep-alive connection. */
  reused: boolean;
  /** The last error it reported, for the 502/503 text. */
  error: Error | undefined;
  /** Handed to a pipe (101): this class's listeners ignore it from then on. */
  detached: boolean;
}

/** One request and its response on a downstream connection. */
interface Exchange {
  readonly head: RequestHead;
  readonly destination: Destination;
  /** A Set-Cookie line value added to the response head (previewCookieRemoval). */
  readonly cookieRemoval: string | undefined;
  readonly body: BodyScanner;
  /** The request head (and any body bytes with it) left `pending`: it went out, or was answered. */
  consumed: boolean;
  /** The request head's bytes, kept for a retry of a request without a body. */
  headBytes: Buffer | undefined;
  up: Upstream | undefined;
  retried: boolean;
  requestDone: boolean;
  responseDone: boolean;
  /** Bytes of the response head(s) not yet complete. */
  responseHead: Buffer;
  /** Set once the final response head is relayed. */
  responseBody: BodyScanner | undefined;
  /** Any response byte (1xx included) arrived from upstream / was written downstream. */
  gotResponseBytes: boolean;
  sentResponseBytes: boolean;
  /** The downstream connection closes after this exchange. */
  closeAfter: boolean;
  /** The upstream's write buffer is full: downstream reading waits for its drain. */
  upBlocked: boolean;
}

export class Http1SpliceRouter {
  private readonly sessions = new Set<Http1Session>();

  constructor(private readonly ctx: RouterContext) {}

  /** Takes a connection whose first bytes were sniffed as HTTP/1 and put back. */
  accept(socket: net.Socket): void {
    this.ctx.stats.http1Connections++;
    const session = new Http1Session(this.ctx, socket);
    this.sessions.add(session);
    socket.once('close', () => this.sessions.delete(session));
    session.start();
  }

  /** Upstream connections towards intercepts that are gone close now, or once their response is done. */
  retire(liveInterceptIds: ReadonlySet<string>): void {
    for (const s of this.sessions) s.retire(liveInterceptIds);
  }

  /** The router is closing: idle connections go now, busy ones after their response. */
  shutdown(): void {
    for (const s of this.sessions) s.shutdown();
  }
}

/** The routing state of one downstream connection. */
class Http1Session {
  private readonly source: SourceAddress;
  private readonly encrypted: boolean;
  /** Downstream bytes received but not yet forwarded (the next request, or the current one while it dials). */
  private pending: Buffer = EMPTY;
  private downEnded = false;
  private reading = false;
  /** Taken over by an upgrade: now a plain pipe, none of this class's business. */
  private piped = false;
  private ex: Exchange | undefined;
  /** Idle upstream connections, at most one per destination. */
  private readonly idle = new Map<string, Upstream>();
  private readonly onData = (chunk: Buffer): void => this.onDownData(chunk);
  private readonly onEnd = (): void => this.onDownEnd();
  private readonly onDrain = (): void => {
    this.ex?.up?.stream.resume();
  };

  constructor(
    private readonly ctx: RouterContext,
    private readonly socket: net.Socket,
  ) {
    this.source = sourceOf(socket);
    this.encrypted = isEncrypted(socket);
  }

  start(): void {
    const socket = this.socket;
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('drain', this.onDrain);
    socket.once('close', () => {
      const up = this.ex?.up;
      this.ex = undefined;
      up?.stream.destroy();
      for (const up of this.idle.values()) up.stream.destroy();
      this.idle.clear();
    });
    // The sniffed bytes were put back into the stream's buffer: flowing again delivers them first.
    this.setReading(true);
  }

  retire(live: ReadonlySet<string>): void {
    const dead = (d: Destination): boolean => d.kind === 'client' && !live.has(d.interceptId);
    for (const [key, up] of this.idle) {
      if (!dead(up.destination)) continue;
      this.idle.delete(key);
      up.stream.destroy();
    }
    if (this.ex?.up && dead(this.ex.up.destination)) this.ex.up.retired = true;
  }

  shutdown(): void {
    if (this.piped) return;
    // A connection between requests is idle; one with a request in flight closes after its response.
    if (!this.ex) this.socket.destroy();
  }

  // ---- downstream ----

  private onDownData(chunk: Buffer): void {
    const ex = this.ex;
    if (ex?.up && !ex.requestDone) {
      this.forwardBody(ex, chunk);
    } else {
      this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
      if (!ex) this.next();
    }
    this.updateReading();
  }

  private onDownEnd(): void {
    this.downEnded = true;
    const ex = this.ex;
    if (!ex) {
      this.next();
      return;
    }
    // The client stopped in the middle of a request body: that request can never be completed.
    if (ex.up && !ex.requestDone) this.socket.destroy();
  }

  /** Reads downstream only while there is somewhere for the bytes to go. */
  private updateReading(): void {
    const ex = this.ex;
    this.setReading(!this.piped && (ex === undefined || (ex.up !== undefined && !ex.requestDone && !ex.upBlocked)));
  }

  private setReading(on: boolean): void {
    if (on === this.reading || this.socket.destroyed) return;
    this.reading = on;
    if (on) this.socket.resume();
    else this.socket.pause();
  }

  /** Starts the next request in `pending`, if it is complete; ends the connection once nothing more can come. */
  private next(): void {
    if (this.ex || this.piped || this.socket.destroyed) return;
    if (this.pending.length === 0) {
      if (this.downEnded) this.endDownstream();
      return;
    }
    const parsed = parseRequestHead(this.pending);
    if (parsed.kind === 'incomplete') {
      if (this.downEnded) this.socket.destroy();
      return;
    }
    if (parsed.kind === 'invalid') {
      this.ctx.logger.debug('bad HTTP/1 input from client', { error: parsed.reason });
      this.setReading(false);
      const status = parsed.status === 431 ? '431 Request Header Fields Too Large' : '400 Bad Request';
      this.closeWhenSent();
      this.socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    this.route(parsed.head);
  }

  private route(head: RequestHead): void {
    const rules = this.ctx.rules();
    const { method, target, headers } = head;
    if (head.upgrade) {
      this.upgrade(head);
      return;
    }
    const ex: Exchange = {
      head,
      destination: destinationFor(matchRule(rules, { method, path: requestPath(target), headers })),
      cookieRemoval: previewCookieRemoval(rules, this.ctx.endedPreviewTokens(), { headers, encrypted: this.encrypted }),
      body: new BodyScanner(head.framing),
      consumed: false,
      headBytes: undefined,
      up: undefined,
      retried: false,
      requestDone: false,
      responseDone: false,
      responseHead: EMPTY,
      responseBody: undefined,
      gotResponseBytes: false,
      sentResponseBytes: false,
      closeAfter: !head.keepAlive,
      upBlocked: false,
    };
    this.ex = ex;
    const preview = previewAnswer(rules, { method, target, headers, encrypted: this.encrypted });
    if (preview) {
      this.ctx.stats.previewRedirects++;
      this.consumeHead(ex);
      this.answer(ex, 302, preview, '');
      return;
    }
    countRequest(this.ctx.stats, ex.destination);
    const key = destinationKey(ex.destination);
    const pooled = this.idle.get(key);
    if (pooled) {
      this.idle.delete(key);
      this.connected(ex, pooled);
      return;
    }
    this.setReading(false);
    this.dial(ex);
  }

  private dial(ex: Exchange): void {
    this.ctx
      .dial(ex.destination, this.source)
      .then(
        (stream) => {
          if (this.socket.destroyed || this.ex !== ex) {
            stream.destroy();
            return;
          }
          this.connected(ex, this.upstream(stream, ex.destination));
        },
        (e: unknown) => {
          if (this.ex === ex) this.unreachable(ex, asError(e));
        },
      )
      .catch((e: unknown) => {
        this.ctx.logger.error('routing an HTTP/1 request failed', { error: asError(e).message });
        this.socket.destroy();
      });
  }

  /** The request goes out on `up`: its head (from `pending`, or kept for a retry), then its body. */
  private connected(ex: Exchange, up: Upstream): void {
    ex.up = up;
    ex.upBlocked = false;
    up.stream.resume();
    if (ex.consumed) {
      // A retry: only requests without a body are sent again.
      if (ex.headBytes) this.writeUp(ex, ex.headBytes);
    } else {
      ex.consumed = true;
      const all = this.pending;
      const headLength = ex.head.length;
      let bodyBytes: number;
      try {
        bodyBytes = ex.body.scan(all, headLength);
      } catch (e) {
        this.badRequestBody(e);
        return;
      }
      if (ex.head.framing.kind === 'none') ex.headBytes = all.subarray(0, headLength);
      this.pending = all.subarray(headLength + bodyBytes);
      this.writeUp(ex, all.subarray(0, headLength + bodyBytes));
    }
    if (ex.body.done) ex.requestDone = true;
    else if (this.downEnded) {
      this.socket.destroy();
      return;
    }
    this.updateReading();
  }

  /** For the agent's own answers: the head (and any body bytes already here) leave `pending`. */
  private consumeHead(ex: Exchange): void {
    if (ex.consumed) return;
    ex.consumed = true;
    const all = this.pending;
    let bodyBytes = 0;
    try {
      bodyBytes = ex.body.scan(all, ex.head.length);
    } catch {
      // Malformed body framing: the answer closes the connection (requestDone stays false).
    }
    this.pending = all.subarray(ex.head.length + bodyBytes);
    if (ex.body.done) ex.requestDone = true;
  }

  private badRequestBody(e: unknown): void {
    this.ctx.logger.debug('bad HTTP/1 request body from client', { error: asError(e).message });
    this.socket.destroy();
  }

  private forwardBody(ex: Exchange, chunk: Buffer): void {
    let n: number;
    try {
      n = ex.body.scan(chunk);
    } catch (e) {
      this.badRequestBody(e);
      return;
    }
    if (n > 0) this.writeUp(ex, n === chunk.length ? chunk : chunk.subarray(0, n));
    if (n < chunk.length) this.pending = chunk.subarray(n);
    if (ex.body.done) {
      ex.requestDone = true;
      this.finishIfDone(ex);
    }
  }

  private writeUp(ex: Exchange, bytes: Buffer): void {
    if (!ex.up || bytes.length === 0) return;
    if (!ex.up.stream.write(bytes)) ex.upBlocked = true;
  }

  // ---- upstream ----

  private upstream(stream: Duplex, destination: Destination): Upstream {
    const up: Upstream = { stream, destination, key: destinationKey(destination), retired: false, ended: false, reused: false, error: undefined, detached: false };
    if (stream instanceof net.Socket) {
      stream.setNoDelay(true);
      stream.setKeepAlive(true, 60_000);
    }
    stream.on('data', (chunk: Buffer) => {
      if (!up.detached) this.onUpData(up, chunk);
    });
    stream.on('drain', () => {
      if (up.detached || this.ex?.up !== up) return;
      this.ex.upBlocked = false;
      this.updateReading();
    });
    stream.on('end', () => {
      if (up.detached) return;
      // A tunnel stream stays half-open when the destination ends its side (a dev server closing
      // an idle keep-alive connection), where a socket would close: end ours too, so that it
      // closes, and never take it for another request.
      up.ended = true;
      stream.end();
      this.upstreamGone(up);
    });
    stream.on('error', (e: Error) => {
      up.error = e;
      this.ctx.logger.debug('upstream connection failed', { to: describeDestination(destination), error: e.message });
    });
    stream.on('close', () => {
      if (!up.detached) this.upstreamGone(up);
    });
    return up;
  }

  private onUpData(up: Upstream, chunk: Buffer): void {
    const ex = this.ex;
    if (ex?.up !== up || ex.responseDone) {
      // Bytes from an idle connection answer nothing: it cannot be trusted with a request.
      this.dropIdle(up);
      return;
    }
    ex.gotResponseBytes = true;
    if (ex.responseBody) {
      this.relayBody(ex, up, chunk, 0);
      return;
    }
    let buf = ex.responseHead.length === 0 ? chunk : Buffer.concat([ex.responseHead, chunk]);
    for (;;) {
      const parsed = parseResponseHead(buf);
      if (parsed.kind === 'incomplete') {
        ex.responseHead = buf;
        return;
      }
      if (parsed.kind === 'invalid') {
        up.retired = true;
        this.upstreamFailed(ex, new Error(`invalid response: ${parsed.reason}`));
        return;
      }
      const head = parsed.head;
      const headBytes = buf.subarray(0, head.length);
      if (head.status === 101) {
        // Switching protocols on a request that did not ask for it: the connection is theirs now.
        this.writeDown(ex, buf);
        up.detached = true;
        this.spliceWith(up.stream, ex.destination);
        return;
      }
      if (head.status >= 100 && head.status < 200) {
        // 100 Continue, 103 Early Hints…: relayed as they are, before the final response.
        this.writeDown(ex, headBytes);
        buf = buf.subarray(head.length);
        if (buf.length === 0) {
          ex.responseHead = EMPTY;
          return;
        }
        continue;
      }
      ex.responseHead = EMPTY;
      const body = new BodyScanner(responseFraming(ex.head.method, head));
      ex.responseBody = body;
      if (!head.keepAlive || body.untilClose) {
        ex.closeAfter = true;
        up.retired = true;
      }
      const closing = this.ctx.closing();
      if (closing) ex.closeAfter = true;
      if (ex.cookieRemoval !== undefined || closing) {
        const extra = ex.cookieRemoval !== undefined ? [`Set-Cookie: ${ex.cookieRemoval}`] : [];
        if (ex.cookieRemoval !== undefined) this.ctx.stats.previewCookiesRemoved++;
        this.writeDown(ex, rewriteResponseHead(headBytes, extra, closing));
        this.relayBody(ex, up, buf, head.length);
      } else if (head.keepAliveLines.length) {
        // The destination's idle timeout is not the client's: the agent keeps its side open.
        this.writeDown(ex, withoutRanges(headBytes, head.keepAliveLines));
        this.relayBody(ex, up, buf, head.length);
      } else {
        this.relayBody(ex, up, buf, 0, head.length);
      }
      return;
    }
  }

  /**
   * Relays response body bytes of `chunk` from `start` (and `prefix` bytes before it, the head,
   * when the head went unchanged), up to the end of the body.
   */
  private relayBody(ex: Exchange, up: Upstream, chunk: Buffer, start: number, prefix = 0): void {
    const body = ex.responseBody!;
    let n: number;
    try {
      n = body.scan(chunk, start + prefix);
    } catch (e) {
      this.ctx.logger.debug('bad HTTP/1 response body', { to: describeDestination(ex.destination), error: asError(e).message });
      this.socket.destroy();
      return;
    }
    const end = start + prefix + n;
    if (end > start) this.writeDown(ex, start === 0 && end === chunk.length ? chunk : chunk.subarray(start, end));
    // Anything after the end of the response answers no request: that connection is not reused.
    if (end < chunk.length) up.retired = true;
    if (body.done) this.responseComplete(ex);
  }

  private writeDown(ex: Exchange, bytes: Buffer): void {
    ex.sentResponseBytes = true;
    if (!this.socket.write(bytes)) ex.up?.stream.pause();
  }

  /** The upstream ended or closed: the end of a close-delimited response, a failure, or an idle connection gone. */
  private upstreamGone(up: Upstream): void {
    const ex = this.ex;
    if (ex?.up !== up || this.socket.destroyed) {
      this.dropIdle(up);
      return;
    }
    if (ex.responseDone) return;
    if (ex.responseBody?.untilClose) {
      this.responseComplete(ex);
      return;
    }
    this.upstreamFailed(ex, up.error ?? new Error('the connection closed before the response was complete'));
  }

  private dropIdle(up: Upstream): void {
    if (this.idle.get(up.key) === up) this.idle.delete(up.key);
    up.stream.destroy();
  }

  private upstreamFailed(ex: Exchange, error: Error): void {
    const up = ex.up!;
    ex.up = undefined;
    up.stream.destroy();
    if (ex.sentResponseBytes) {
      // Cut mid-response: the client must see a broken response, not a short one.
      this.socket.destroy();
      return;
    }
    // A pooled connection the destination had just closed: a request without a body can be sent
    // again on a fresh one, as browsers do.
    if (up.reused && !ex.retried && !ex.gotResponseBytes && ex.head.framing.kind === 'none' && ex.headBytes) {
      ex.retried = true;
      ex.responseHead = EMPTY;
      this.setReading(false);
      this.dial(ex);
      return;
    }
    this.unreachable(ex, error);
  }

  private responseComplete(ex: Exchange): void {
    ex.responseDone = true;
    if (!ex.requestDone) {
      // Answered before the client finished its request body (an error, or Expect: 100-continue
      // declined): the rest of that body would be read as the next request, so the connection closes.
      ex.requestDone = true;
      ex.closeAfter = true;
      if (ex.up) ex.up.retired = true;
    }
    this.finishIfDone(ex);
  }

  /** Once the request is sent and its response relayed: the upstream back to the pool, the next request. */
  private finishIfDone(ex: Exchange): void {
    if (!ex.requestDone || !ex.responseDone || this.ex !== ex) return;
    this.ex = undefined;
    const up = ex.up;
    if (up) {
      const reusable = !up.retired && !up.ended && !ex.closeAfter && !up.stream.destroyed && !this.ctx.closing();
      if (reusable) {
        up.reused = true;
        up.stream.resume();
        this.idle.get(up.key)?.stream.destroy();
        this.idle.set(up.key, up);
      } else up.stream.destroy();
    }
    if (ex.closeAfter || this.ctx.closing()) {
      this.endDownstream();
      return;
    }
    this.next();
    this.updateReading();
  }

  // ---- the agent's own answers ----

  /** A request whose destination could not be reached: 502 / 503 with the reason. */
  private unreachable(ex: Exchange, error: Error): void {
    this.ctx.logger.warn('destination unreachable', { to: describeDestination(ex.destination), error: error.message });
    this.ctx.stats.badGateway++;
    this.consumeHead(ex);
    const answer = unreachableAnswer(ex.destination, error);
    this.answer(ex, answer.status, Object.entries(answer.headers), answer.body);
  }

  /** An answer written by the agent; the request's remaining body, if any, closes the connection. */
  private answer(ex: Exchange, status: number, headers: readonly [string, string][], body: string): void {
    if (!ex.requestDone || this.ctx.closing()) ex.closeAfter = true;
    ex.sentResponseBytes = true;
    this.socket.write(ownAnswer(status, headers, ex.head.method === 'HEAD' ? '' : body, ex.closeAfter));
    this.responseComplete(ex);
  }

  // ---- upgrades ----

  /**
   * An upgrade (WebSocket, h2c, …) or CONNECT: routed like a request, then the connection is piped
   * whole to that destination, which answers the upgrade (or declines it) itself. After an h2c
   * upgrade the connection belongs to that destination: its later HTTP/2 streams are not routed
   * one by one.
   */
  private upgrade(head: RequestHead): void {
    this.setReading(false);
    this.detachDownstream();
    for (const up of this.idle.values()) up.stream.destroy();
    this.idle.clear();
    const { method, target, headers } = head;
    const destination = destinationFor(matchRule(this.ctx.rules(), { method, path: requestPath(target), headers }));
    countRequest(this.ctx.stats, destination);
    this.ctx
      .dial(destination, this.source)
      .then(
        (stream) => {
          if (this.socket.destroyed) {
            stream.destroy();
            return;
          }
          this.spliceWith(stream, destination);
        },
        (e: unknown) => this.rawBadGateway(destination, asError(e)),
      )
      .catch((e: unknown) => {
        this.ctx.logger.error('routing an upgrade failed', { error: asError(e).message });
        this.socket.destroy();
      });
  }

  /** The downstream connection and `stream` joined both ways, for good. */
  private spliceWith(stream: Duplex, destination: Destination): void {
    this.ex = undefined;
    this.detachDownstream();
    if (this.pending.length) {
      stream.write(this.pending);
      this.pending = EMPTY;
    }
    spliceStreams(this.socket, stream, (e) => {
      if (e) this.ctx.logger.debug('upgraded connection failed', { to: describeDestination(destination), error: e.message });
    });
  }

  private rawBadGateway(destination: Destination, error: Error): void {
    this.ctx.logger.warn('destination unreachable', { to: describeDestination(destination), error: error.message });
    if (!this.socket.writable) {
      this.socket.destroy();
      return;
    }
    this.ctx.stats.badGateway++;
    const answer = unreachableAnswer(destination, error);
    this.closeWhenSent();
    this.socket.end(ownAnswer(answer.status, Object.entries(answer.headers), answer.body, true));
  }

  /** Taken over by a pipe: the session's own listeners let go of the downstream connection. */
  private detachDownstream(): void {
    this.piped = true;
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('drain', this.onDrain);
  }

  /** Ends the downstream connection once what was written has gone. */
  private endDownstream(): void {
    this.setReading(false);
    this.closeWhenSent();
    this.socket.end();
  }

  /** `Connection: close` means both ways: a client that keeps its side open must not hold the socket. */
  private closeWhenSent(): void {
    this.socket.once('finish', () => this.socket.destroy());
  }
}

/** An answer the agent writes itself: status line, `headers`, `Connection: close` if `close`, `body`. */
function ownAnswer(status: number, headers: readonly (readonly [string, string])[], body: string, close: boolean): string {
  const lines = headers.map(([n, v]) => `${n}: ${v}\r\n`).join('');
  return `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n${lines}${close ? 'Connection: close\r\n' : ''}\r\n${body}`;
}
