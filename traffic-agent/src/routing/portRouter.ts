/**
 * The traffic-agent's router for one intercepted port: every connection that cluster clients send
 * to the Service port arrives here and goes to the app container or to a developer's workstation.
 *
 * - No rules: a plain TCP pipe to the app, decided at once (nothing is parsed).
 * - Rules: the first bytes tell HTTP/1, HTTP/2 (prior knowledge) or something else. HTTP is routed
 *   per request (Http1SpliceRouter, raw bytes) or per stream (Http2Router); anything else goes whole to the global
 *   intercept if there is one, else to the app.
 *
 * The decision for a connection that is piped whole (no rules, not HTTP, upgraded) is final: a
 * later setRules neither moves it nor cuts it, even when its intercept is removed; it ends when its
 * two sides end. Requests on HTTP connections follow the rules of the moment they arrive.
 */
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../../common/src/log/jsonLogger.js';
import { Http1SpliceRouter } from './http1Splice.js';
import { Http2Router } from './http2Router.js';
import { globalInterceptId, type InterceptRule } from './matchRule.js';
import {
  APP,
  describeDestination,
  type Destination,
  destinationFor,
  type PortRouterStats,
  type RouterContext,
  type SourceAddress,
  sourceOf,
} from './routerContext.js';
import { DEFAULT_SNIFF_TIMEOUTS, sniffConnection, type SniffTimeouts } from './sniffConnection.js';
import { spliceStreams } from './spliceStreams.js';

export type { InterceptRule } from './matchRule.js';
export type { PortRouterStats, SourceAddress } from './routerContext.js';

export interface PortRouterOptions {
  /** A new connection to the app container (127.0.0.1:<appPort>); allowHalfOpen is set on it. */
  dialApp(): net.Socket | Promise<Duplex>;
  /** A byte stream to the local process of the workstation holding `interceptId`. */
  dialClient(interceptId: string, meta: { source: SourceAddress }): Promise<Duplex>;
  logger: Logger;
  /** How long to wait for the first bytes and for a request line; see DEFAULT_SNIFF_TIMEOUTS. */
  sniffTimeouts?: Partial<SniffTimeouts>;
  /** How long close() lets in-flight work finish before it destroys what is left. */
  closeGraceMs?: number;
}

export const DEFAULT_CLOSE_GRACE_MS = 10_000;

/** How many preview tokens of ended intercepts a port remembers; the oldest are forgotten first. */
export const ENDED_PREVIEW_TOKENS_KEPT = 1000;

export class PortRouter {
  readonly stats: PortRouterStats = {
    connections: 0,
    activeConnections: 0,
    http1Connections: 0,
    http2Connections: 0,
    pipedToApp: 0,
    pipedToClient: 0,
    requestsToApp: 0,
    requestsToClient: 0,
    previewRedirects: 0,
    previewCookiesRemoved: 0,
    badGateway: 0,
  };
  private rules: readonly InterceptRule[] = [];
  /** Preview tokens of this port's intercepts that are gone, oldest first; one whose rule comes back leaves. */
  private readonly endedPreviewTokens = new Set<string>();
  private readonly sockets = new Set<net.Socket>();
  private closing = false;
  private readonly whenEmpty: (() => void)[] = [];
  private readonly logger: Logger;
  private readonly sniffTimeouts: SniffTimeouts;
  private readonly http1: Http1SpliceRouter;
  private readonly http2: Http2Router;

  constructor(private readonly options: PortRouterOptions) {
    this.logger = options.logger;
    this.sniffTimeouts = { ...DEFAULT_SNIFF_TIMEOUTS, ...options.sniffTimeouts };
    const ctx: RouterContext = {
      logger: this.logger,
      stats: this.stats,
      rules: () => this.rules,
      endedPreviewTokens: () => this.endedPreviewTokens,
      closing: () => this.closing,
      dial: (destination, source) => this.dial(destination, source),
    };
    this.http1 = new Http1SpliceRouter(ctx);
    this.http2 = new Http2Router(ctx);
  }

  /**
   * Replaces the rules. New connections and new requests on open HTTP connections use them at
   * once; requests in flight finish where they started; upstream connections to intercepts no
   * longer present close once their in-flight requests are done. The preview tokens of rules that
   * go are remembered, so that their cookies can be removed from browsers that still send them.
   */
  setRules(rules: readonly InterceptRule[]): void {
    const previous = this.rules;
    this.rules = rules.map((r) => ({ ...r, headers: r.headers.map((h) => ({ ...h })) }));
    this.rememberEndedPreviewTokens(previous);
    const live = new Set(this.rules.map((r) => r.id));
    this.http1.retire(live);
    this.http2.retire(live);
  }

  /**
   * An accepted connection on the agent port. The listener should be created with
   * `allowHalfOpen: true`, so that a client's FIN is forwarded rather than answered with one.
   */
  handle(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.stats.connections++;
    this.stats.activeConnections++;
    this.sockets.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.stats.activeConnections--;
      if (this.sockets.size === 0) for (const resolve of this.whenEmpty.splice(0)) resolve();
    });
    socket.on('error', (e: Error) => this.logger.debug('downstream connection failed', { error: e.message }));
    socket.allowHalfOpen = true;
    socket.setNoDelay(true);
    if (this.rules.length === 0) {
      this.pipe(socket, APP);
      return;
    }
    sniffConnection(socket, this.sniffTimeouts)
      .then(
        (verdict) => {
          if (socket.destroyed) return;
          if (verdict === 'http1') this.http1.accept(socket);
          else if (verdict === 'h2') this.http2.accept(socket);
          else this.pipe(socket, destinationFor(globalInterceptId(this.rules)));
        },
        (e: unknown) => {
          this.logger.debug('connection ended before it was routed', { error: errorText(e) });
          socket.destroy();
        },
      )
      .catch((e: unknown) => {
        this.logger.error('routing a connection failed', { error: errorText(e) });
        socket.destroy();
      });
  }

  /**
   * Stops taking connections. HTTP clients are told to go (Connection: close, GOAWAY) and their
   * in-flight requests may finish; after closeGraceMs everything still open is destroyed.
   */
  async close(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      this.http1.shutdown();
      this.http2.shutdown();
    }
    if (this.sockets.size === 0) return;
    const grace = setTimeout(() => {
      for (const socket of this.sockets) socket.destroy();
    }, this.options.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS);
    try {
      await new Promise<void>((resolve) => this.whenEmpty.push(resolve));
    } finally {
      clearTimeout(grace);
    }
  }

  private rememberEndedPreviewTokens(previous: readonly InterceptRule[]): void {
    const live = new Set(this.rules.map((r) => r.previewToken));
    for (const token of live) if (token !== undefined) this.endedPreviewTokens.delete(token);
    for (const { previewToken } of previous) {
      if (previewToken !== undefined && !live.has(previewToken)) this.endedPreviewTokens.add(previewToken);
    }
    for (const token of this.endedPreviewTokens) {
      if (this.endedPreviewTokens.size <= ENDED_PREVIEW_TOKENS_KEPT) break;
      this.endedPreviewTokens.delete(token);
    }
  }

  /** The whole connection to one destination, starting with any sniffed bytes put back. */
  private pipe(socket: net.Socket, destination: Destination): void {
    if (destination.kind === 'app') this.stats.pipedToApp++;
    else this.stats.pipedToClient++;
    this.dial(destination, sourceOf(socket))
      .then(
        (upstream) => {
          if (socket.destroyed) {
            upstream.destroy();
            return;
          }
          spliceStreams(socket, upstream, (e) => {
            if (e) this.logger.debug('piped connection failed', { to: describeDestination(destination), error: e.message });
          });
        },
        (e: unknown) => {
          this.logger.warn('destination unreachable', { to: describeDestination(destination), error: errorText(e) });
          // A reset tells the client what a refused connection would have.
          if (!socket.destroyed) socket.resetAndDestroy();
        },
      )
      .catch((e: unknown) => {
        this.logger.error('piping a connection failed', { error: errorText(e) });
        socket.destroy();
      });
  }

  private dial(destination: Destination, source: SourceAddress): Promise<Duplex> {
    const prepare = (stream: Duplex): Duplex => {
      stream.allowHalfOpen = true;
      // Until a pipe or an HTTP client listens, an early failure must not crash the agent.
      stream.on('error', (e: Error) => this.logger.debug('upstream connection failed', { to: describeDestination(destination), error: e.message }));
      return stream;
    };
    try {
      if (destination.kind === 'client') return this.options.dialClient(destination.interceptId, { source }).then(prepare);
      const dialed = this.options.dialApp();
      return dialed instanceof Promise ? dialed.then(prepare) : Promise.resolve(prepare(dialed));
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
