/**
 * Which HTTP/2 header fields travel from one hop to the next. HTTP/2 forbids connection-specific
 * fields (RFC 9113 §8.2.2) and Node rejects them, so they are dropped; everything else, pseudo-headers
 * included, goes on unchanged.
 */
import http2 from 'node:http2';

const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/** Node's incoming headers; `:status` is a number. */
type InHeaders = Readonly<Record<string, string | number | readonly string[] | undefined>>;

/** Request headers, response headers or trailers for the next hop. */
export function forwardableH2Headers(headers: InHeaders): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || CONNECTION_SPECIFIC.has(name)) continue;
    // `te` is allowed only as "trailers", which gRPC sends and some servers require.
    if (name === 'te' && (typeof value !== 'string' || value.trim().toLowerCase() !== 'trailers')) continue;
    out[name] = typeof value === 'string' || typeof value === 'number' ? value : [...value];
  }
  // Keep fields the sender marked never-indexed (e.g. authorization) out of HPACK tables here too.
  const sensitive = (headers as { [http2.sensitiveHeaders]?: unknown })[http2.sensitiveHeaders];
  if (Array.isArray(sensitive)) {
    const kept = sensitive.filter((n): n is string => typeof n === 'string' && n in out);
    if (kept.length) (out as { [http2.sensitiveHeaders]?: string[] })[http2.sensitiveHeaders] = kept;
  }
  return out;
}
