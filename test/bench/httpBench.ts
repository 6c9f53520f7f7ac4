/**
 * One side of the connect benchmark, run inside a namespace by test/bench/run.ts: against an
 * HTTP echo sample at BASE, it measures download and upload throughput (GET /bytes/<n>,
 * POST /sink) and the latency of small requests on one keep-alive connection. Prints JSON.
 *   httpBench.ts BASE [MB] [REQUESTS]
 */
import http from 'node:http';
import { writeBytes } from './writeBytes.js';

const [base = 'http://127.0.0.1:8080', mbText = '200', requestsText = '1000'] = process.argv.slice(2);
const bytes = Number(mbText) * 1024 * 1024;
const requests = Number(requestsText);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const url = new URL(base);

function request(method: string, path: string, body?: Buffer, total?: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path, method, agent }, (res) => {
      let n = 0;
      res.on('data', (d: Buffer) => (n += d.length));
      res.on('end', () => resolve(n));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body && total) writeBytes(req, body, total);
    else req.end();
  });
}

async function main(): Promise<void> {
  await request('GET', '/warmup');
  let t = performance.now();
  const got = await request('GET', `/bytes/${bytes}`);
  const downloadMBs = got / 1048576 / ((performance.now() - t) / 1000);
  t = performance.now();
  await request('POST', '/sink', Buffer.alloc(256 * 1024, 0x62), bytes);
  const uploadMBs = bytes / 1048576 / ((performance.now() - t) / 1000);
  const lat: number[] = [];
  for (let i = 0; i < requests; i++) {
    const s = performance.now();
    await request('GET', `/r${i}`);
    lat.push(performance.now() - s);
  }
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!;
  process.stdout.write(JSON.stringify({ downloadMBs, uploadMBs, p50ms: q(0.5), p99ms: q(0.99), requests }) + '\n');
  agent.destroy();
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
