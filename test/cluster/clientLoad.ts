/**
 * Load from inside the cluster: a Node script for the client pod (samples/client) that sends GETs
 * to a Service from `concurrency` workers, each on its own keep-alive connection, cycling through
 * request classes (a class is a set of headers, e.g. one developer's). It reports, per class, who
 * answered (the echo sample's `pod`, or "status N", or "error …") and the latencies. Used by the
 * two-workstation test (who answered) and the team benchmark (p50/p99), so both send the same load.
 */
import { type RunResult, wsSpawn } from './harness.js';

export interface LoadClass {
  name: string;
  headers: Record<string, string>;
}

export interface LoadPlan {
  url: string;
  concurrency: number;
  /** Requests in all; each worker takes the next class in turn. */
  requests: number;
  classes: readonly LoadClass[];
  /** Per request; longer counts as "error no answer". */
  timeoutMs?: number;
  /** Requests sent (and not counted) before the measured ones, per worker. */
  warmup?: number;
}

export interface ClassResult {
  /** Answer → how many. */
  answers: Record<string, number>;
  p50ms: number;
  p99ms: number;
  count: number;
}

export type LoadResult = Record<string, ClassResult>;

/**
 * Two developers on one workload: in turn the first one's header (x-dev: one), nobody's, the
 * second one's (x-dev: two), nobody's; classes "one", "pod", "two".
 */
export const TWO_DEVELOPERS_MIX: readonly LoadClass[] = [
  { name: 'one', headers: { 'x-dev': 'one' } },
  { name: 'pod', headers: {} },
  { name: 'two', headers: { 'x-dev': 'two' } },
  { name: 'pod', headers: {} },
];

/** The script; prints one JSON line of LoadResult. */
export function loadScript(plan: LoadPlan): string {
  return `
const http = require('http');
const plan = ${JSON.stringify({ ...plan, timeoutMs: plan.timeoutMs ?? 10_000, warmup: plan.warmup ?? 0 })};
const url = new URL(plan.url);
const seen = {};
for (const c of plan.classes) seen[c.name] = { answers: {}, ms: [] };
let next = 0;
const get = (agent, c) => new Promise((resolve) => {
  const t0 = process.hrtime.bigint();
  const done = (what) => resolve({ what, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
  const req = http.get({ host: url.hostname, port: url.port, path: url.pathname, agent, headers: c.headers, timeout: plan.timeoutMs }, (r) => {
    let b = '';
    r.on('data', (d) => (b += d));
    r.on('end', () => {
      if (r.statusCode !== 200) return done('status ' + r.statusCode);
      try { done(JSON.parse(b).pod); } catch { done('bad body'); }
    });
    r.on('error', (e) => done('error ' + e.message));
  });
  req.on('timeout', () => req.destroy(new Error('no answer')));
  req.on('error', (e) => done('error ' + e.message));
});
const worker = async (w) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  for (let i = 0; i < plan.warmup; i++) await get(agent, plan.classes[(w + i) % plan.classes.length]);
  while (next < plan.requests) {
    const c = plan.classes[next++ % plan.classes.length];
    const r = await get(agent, c);
    seen[c.name].answers[r.what] = (seen[c.name].answers[r.what] || 0) + 1;
    seen[c.name].ms.push(r.ms);
  }
  agent.destroy();
};
Promise.all(Array.from({ length: plan.concurrency }, (_, w) => worker(w))).then(() => {
  const out = {};
  for (const [name, s] of Object.entries(seen)) {
    const t = s.ms.sort((a, b) => a - b);
    const at = (q) => (t.length ? t[Math.min(t.length - 1, Math.floor(t.length * q))] : 0);
    out[name] = { answers: s.answers, p50ms: at(0.5), p99ms: at(0.99), count: t.length };
  }
  console.log(JSON.stringify(out));
});`;
}

/** Runs a Node script in the client pod in the background (kubectl exec as the admin); resolves when it ends. */
export function inClientPod(script: string): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = wsSpawn(['kubectl', 'exec', '-n', 'samples', 'client', '--', 'node', '-e', script]);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** Runs the load in the client pod; rejects when the script fails. */
export async function runLoad(plan: LoadPlan): Promise<LoadResult> {
  const r = await inClientPod(loadScript(plan));
  if (r.code !== 0) throw new Error(`the load in the client pod failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as LoadResult;
}
