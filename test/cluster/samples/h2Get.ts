import * as http2 from 'node:http2';
import type { KeyValue } from './keyValue.js';

export interface H2GetOptions {
  url: string;
  headers: readonly KeyValue[];
  signal: AbortSignal;
}

/** One GET over HTTP/2 cleartext with prior knowledge; returns the body. */
export function h2Get(options: H2GetOptions): Promise<string> {
  const url = new URL(options.url);
  if (url.protocol !== 'http:') return Promise.reject(new Error(`only http:// URLs are supported, got ${options.url}`));
  const headers: http2.OutgoingHttpHeaders = { ':method': 'GET', ':path': url.pathname + url.search };
  for (const [k, v] of options.headers) headers[k.toLowerCase()] = v;

  const session = http2.connect(url.origin);
  const onAbort = (): void => {
    session.destroy(new Error('aborted'));
  };
  options.signal.addEventListener('abort', onAbort, { once: true });
  return new Promise<string>((resolve, reject) => {
    const fail = (err: Error): void => reject(new Error(`GET ${url.href} (h2c): ${err.message}`));
    session.on('error', fail);
    const req = session.request(headers);
    let status = 0;
    const chunks: Buffer[] = [];
    req.on('response', (h) => {
      status = Number(h[':status']);
    });
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('error', fail);
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (status < 200 || status > 299) fail(new Error(`HTTP ${status}: ${body.trim()}`));
      else resolve(body);
    });
    req.end();
  }).finally(() => {
    options.signal.removeEventListener('abort', onAbort);
    session.close();
  });
}
