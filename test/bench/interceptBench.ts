/**
 * The intercept part of `npm run bench`, on the local cluster. From the client pod inside the
 * cluster to the echo sample, small GETs on one keep-alive connection:
 *   - to the pod before any agent exists (the baseline);
 *   - through the agent while a personal intercept is active, without its header (the cost of
 *     personal routing for everyone else);
 *   - with the header, answered by the same echo program on the workstation (the intercept path:
 *     agent, manager, port-forward, daemon);
 * and the time `telepath intercept` takes the first time (with the rollout that injects the
 * agent) and again once the agent is there. Asserts nothing.
 */
import path from 'node:path';
import { repoRoot, stateDir, ws, wsSpawn } from '../cluster/harness.js';

export interface LatencyResult {
  p50ms: number;
  p99ms: number;
}

export interface InterceptBenchResult {
  baseline: LatencyResult;
  personalToPod: LatencyResult;
  intercepted: LatencyResult;
  firstInterceptS: number;
  secondInterceptS: number;
}

const telepath = path.join(repoRoot, 'dist/telepath.js');
const env = { ...process.env, TELEPATH_RUN_DIR: '/run/telepath-bench-intercept', TELEPATH_STATE_DIR: path.join(stateDir, 'telepath-bench-intercept') };
const LOCAL_PORT = 18090;

/** Runs in the client pod: `requests` sequential GETs, then p50/p99 in ms as JSON. */
function latencyScript(requests: number, headers: Record<string, string>): string {
  return `
const http = require('http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const get = () => new Promise((res, rej) => {
  const t = process.hrtime.bigint();
  http.get({ host: 'echo.samples', port: 8080, path: '/', agent, headers: ${JSON.stringify(headers)} }, (r) => {
    r.resume(); r.on('end', () => res(Number(process.hrtime.bigint() - t) / 1e6));
  }).on('error', rej);
});
(async () => {
  for (let i = 0; i < 50; i++) await get();
  const t = [];
  for (let i = 0; i < ${requests}; i++) t.push(await get());
  t.sort((a, b) => a - b);
  console.log(JSON.stringify({ p50ms: t[Math.floor(t.length * 0.5)], p99ms: t[Math.floor(t.length * 0.99)] }));
  agent.destroy();
})();`;
}

function latency(requests: number, headers: Record<string, string> = {}): LatencyResult {
  const r = ws(['kubectl', 'exec', '-n', 'samples', 'client', '--', 'node', '-e', latencyScript(requests, headers)], { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`latency run failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as LatencyResult;
}

function tp(args: string[]): void {
  const r = ws(['node', '--', telepath, ...args], { env, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`telepath ${args.join(' ')} failed: ${r.stderr}`);
}

function timed(args: string[]): number {
  const t0 = performance.now();
  tp(args);
  return (performance.now() - t0) / 1000;
}

export async function interceptBench(requests: number, rounds: number): Promise<InterceptBenchResult> {
  const server = wsSpawn(['env', 'POD_NAME=workstation', 'node', path.join(repoRoot, '.cluster/build/samples.js'), 'http-echo', '--port', String(LOCAL_PORT)]);
  await new Promise((r) => setTimeout(r, 1000));
  try {
    tp(['connect', '--namespace', 'samples']);
    ws(['node', '--', telepath, 'uninstall', '--agent', 'echo', '--namespace', 'samples'], { env, timeoutMs: 300_000 });
    const best = (f: () => LatencyResult): LatencyResult => {
      const all = Array.from({ length: rounds }, f);
      return { p50ms: Math.min(...all.map((a) => a.p50ms)), p99ms: Math.min(...all.map((a) => a.p99ms)) };
    };
    const baseline = best(() => latency(requests));
    const intercept = ['intercept', 'echo', '--port', String(LOCAL_PORT), '--http-header', 'x-bench=1'];
    const firstInterceptS = timed(intercept);
    const personalToPod = best(() => latency(requests));
    const intercepted = best(() => latency(requests, { 'x-bench': '1' }));
    tp(['leave', 'echo']);
    const secondInterceptS = timed(intercept);
    tp(['leave', 'echo']);
    return { baseline, personalToPod, intercepted, firstInterceptS, secondInterceptS };
  } finally {
    ws(['node', '--', telepath, 'uninstall', '--agent', 'echo', '--namespace', 'samples'], { env, timeoutMs: 300_000 });
    ws(['node', '--', telepath, 'quit'], { env });
    server.kill('SIGTERM');
  }
}
