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
  /**
   * Paced load: the measured requests are due at this rate (all workers together), each at its
   * own time, and a request's latency counts from when it was due — a late start (its worker
   * still busy) is part of it. The workers are split between the classes (worker w sends only
   * class w mod classes.length; concurrency should be a multiple of it), as different callers
   * would be, so one class's slow answers do not hold up another's. Without it each worker sends
   * its next request, of the next class in turn, when the previous one is answered (as fast as
   * the system goes).
   */
  ratePerSecond?: number;
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
const plan = ${JSON.stringify({ ...plan, timeoutMs: plan.timeoutMs ?? 10_000, warmup: plan.warmup ?? 0, ratePerSecond: plan.ratePerSecond ?? 0 })};
const url = new URL(plan.url);
const seen = {};
for (const c of plan.classes) seen[c.name] = { answers: {}, ms: [] };
let next = 0;
const nextOf = plan.classes.map(() => 0);
const get = (agent, c, due) => new Promise((resolve) => {
  const t0 = due ?? process.hrtime.bigint();
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
const agents = Array.from({ length: plan.concurrency }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
let start = 0n;
const worker = async (w) => {
  const agent = agents[w];
  const n = plan.classes.length;
  const own = w % n;
  for (;;) {
    // Paced: this worker's class only, its requests k = own, own + n, own + 2n, … in turn with the
    // class's other workers; else the next request of any class.
    const k = plan.ratePerSecond > 0 ? own + n * nextOf[own]++ : next++;
    if (k >= plan.requests) break;
    const c = plan.classes[k % n];
    let due;
    if (plan.ratePerSecond > 0) {
      due = start + BigInt(Math.round((k * 1e9) / plan.ratePerSecond));
      // Timers may fire up to a millisecond early: wait again until it is due.
      for (let wait; (wait = Number(due - process.hrtime.bigint()) / 1e6) > 0; ) await new Promise((r) => setTimeout(r, Math.ceil(wait)));
    }
    const r = await get(agent, c, due);
    seen[c.name].answers[r.what] = (seen[c.name].answers[r.what] || 0) + 1;
    seen[c.name].ms.push(r.ms);
  }
  agent.destroy();
};
const warm = (w) => (async () => {
  for (let i = 0; i < plan.warmup; i++) await get(agents[w], plan.classes[(w + i) % plan.classes.length]);
})();
Promise.all(agents.map((_, w) => warm(w)))
  .then(() => {
    start = process.hrtime.bigint();
    return Promise.all(agents.map((_, w) => worker(w)));
  })
  .then(() => {
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
