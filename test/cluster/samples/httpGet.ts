import * as http from 'node:http';
import type { KeyValue } from './keyValue.js';

export interface HttpGetOptions {
  url: string;
  headers: readonly KeyValue[];
  count: number;
  signal: AbortSignal;
}

/** Sends `count` GETs one after another over one keep-alive connection; returns each body. */
export async function httpGet(options: HttpGetOptions): Promise<string[]> {
  const url = new URL(options.url);
  if (url.protocol !== 'http:') throw new Error(`only http:// URLs are supported, got ${options.url}`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const headers: Record<string, string> = {};
  for (const [k, v] of options.headers) headers[k.toLowerCase()] = v;
  try {
    const bodies: string[] = [];
    for (let i = 0; i < options.count; i++) bodies.push(await getOnce(url, headers, agent, options.signal));
    return bodies;
  } finally {
    agent.destroy();
  }
}

function getOnce(url: URL, headers: Record<string, string>, agent: http.Agent, signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers, signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) reject(new Error(`GET ${url.href}: HTTP ${status}: ${body.trim()}`));
        else resolve(body);
      });
    });
    req.on('error', (err) => reject(new Error(`GET ${url.href}: ${err.message}`)));
  });
}
