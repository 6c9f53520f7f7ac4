/**
 * What the HTTP/1 and HTTP/2 routers share with the PortRouter that owns them: the rules of the
 * moment, the dialers, the counters and the logger.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from '../../../common/src/log/jsonLogger.js';
import type { InterceptRule } from './matchRule.js';

export type Destination = { kind: 'app' } | { kind: 'client'; interceptId: string };

export const APP: Destination = { kind: 'app' };

export interface SourceAddress {
  address: string;
  port: number;
}

export interface PortRouterStats {
  /** Connections accepted, and those still open. */
  connections: number;
  activeConnections: number;
  /** Connections served per request, by protocol. */
  http1Connections: number;
  http2Connections: number;
  /** Connections piped whole (no rules, not HTTP, upgraded) to the app or to a client. */
  pipedToApp: number;
  pipedToClient: number;
  /** HTTP requests / HTTP/2 streams routed (upgrade requests included). */
  requestsToApp: number;
  requestsToClient: number;
  /** Preview links answered by the agent. */
  previewRedirects: number;
  /** Responses on which the agent removed the preview cookie of an intercept that is gone. */
  previewCookiesRemoved: number;
  /** 502 answers because a destination could not be reached. */
  badGateway: number;
}

export interface RouterContext {
  readonly logger: Logger;
  readonly stats: PortRouterStats;
  rules(): readonly InterceptRule[];
  /** Preview tokens of this port's intercepts that are gone (see previewCookieRemoval). */
  endedPreviewTokens(): ReadonlySet<string>;
  /** True once the PortRouter is closing: finish what is in flight, start nothing new. */
  closing(): boolean;
  /** A new connection to `destination`; rejects (or the stream errors) when it cannot be reached. */
  dial(destination: Destination, source: SourceAddress): Promise<Duplex>;
}

/** Key of a destination in per-connection maps. */
export function destinationKey(d: Destination): string {
  return d.kind === 'app' ? 'app' : `client:${d.interceptId}`;
}

/**
 * The answer to a request whose destination could not be reached: 502 when the app could not be,
 * 503 (with Retry-After) when an intercept's workstation could not be — it is away (a closed lid, a
 * lost network) and its intercept comes back by itself, or the pod takes its requests once the
 * manager drops it. Either way at once, with the reason, never a hang.
 */
export function unreachableAnswer(d: Destination, error: Error): { status: 502 | 503; headers: Record<string, string>; body: string } {
  const body = `telepath: ${describeDestination(d)} could not be reached: ${error.message}\n`;
  const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(body)) };
  if (d.kind === 'app') return { status: 502, headers, body };
  return { status: 503, headers: { ...headers, 'retry-after': '5' }, body };
}

/** How a destination is named in logs and in 502 answers. */
export function describeDestination(d: Destination): string {
  return d.kind === 'app' ? 'the app' : `the workstation of intercept ${d.interceptId}`;
}

export function destinationFor(interceptId: string | undefined): Destination {
  return interceptId === undefined ? APP : { kind: 'client', interceptId };
}

export function countRequest(stats: PortRouterStats, d: Destination): void {
  if (d.kind === 'app') stats.requestsToApp++;
  else stats.requestsToClient++;
}

export function sourceOf(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): SourceAddress {
  return { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
}

/** Is the connection to the agent TLS (a TLSSocket)? The agent itself listens in clear today. */
export function isEncrypted(socket: object | undefined): boolean {
  return !!socket && 'encrypted' in socket && socket.encrypted === true;
}

/** What a rejected promise or a throw carried, as an Error (for logs and the 502/503 text). */
export function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
