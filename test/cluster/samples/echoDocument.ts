import type { IncomingHttpHeaders } from 'node:http';
import type { IncomingHttpHeaders as IncomingHttp2Headers } from 'node:http2';
import type { Identity } from './identity.js';

export type EchoProtocol = 'http/1.1' | 'h2';

/** The JSON body that http-echo and the h2c side of grpc-echo answer with. */
export interface EchoDocument extends Identity {
  protocol: EchoProtocol;
  method: string;
  path: string;
  headers: Record<string, string>;
}

export function echoDocument(
  identity: Identity,
  protocol: EchoProtocol,
  method: string,
  path: string,
  headers: IncomingHttpHeaders | IncomingHttp2Headers,
): EchoDocument {
  return { ...identity, protocol, method, path, headers: plainHeaders(headers) };
}

/** The document as sent on the wire: one JSON line. */
export function echoBody(doc: EchoDocument): string {
  return JSON.stringify(doc) + '\n';
}

/** Lowercased regular headers; HTTP/2 pseudo-headers are left out (method and path say it). */
export function plainHeaders(headers: IncomingHttpHeaders | IncomingHttp2Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(':') || value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}
