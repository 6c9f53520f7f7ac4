/**
 * `npm run bench -- --only team`: two developers on one workload (issue #16). The same load from
 * the client pod — 8 keep-alive connections, each sending in turn the first developer's header,
 * nobody's, the second developer's, nobody's — first with no agent in the workload, then while
 * the two workstations (test/cluster/ws and ws2) hold personal intercepts with those headers.
 * What it reports: p50/p99 of the requests without a header (they reach the pod either way;
 * with the intercepts they pass through the agent), of each developer's, and any that failed; and
 * once more with the intercepts active but no header at all (the agent's routing without the
 * intercepted traffic's share of this machine's two cores). For each of the three, where the
 * machine's CPU went, by process role (procStats.ts), to tell what the to-pod requests wait
 * behind. Asserts nothing.
 */
import path from 'node:path';
import { runLoad, TWO_DEVELOPERS_MIX, type LoadPlan, type LoadResult } from '../cluster/clientLoad.js';
import { repoRoot, stateDir, ws, ws2, ws2Spawn, wsSpawn } from '../cluster/harness.js';
import { cpuBetween, machineCpu, type CpuShare } from './procStats.js';

const telepath = path.join(repoRoot, 'dist/telepath.js');
const samples = path.join(repoRoot, '.cluster/build/samples.js');
const env = { ...process.env, TELEPATH_RUN_DIR: '/run/telepath-bench-team', TELEPATH_STATE_DIR: path.join(stateDir, 'telepath-bench-team') };
const PORTS = { one: 18111, two: 18112 };

export interface TeamBenchResult {
  requests: number;
  concurrency: number;
  /** Best round of each (lowest p99 of the requests without a header). */
  noAgent: LoadResult;
  twoIntercepts: LoadResult;
  /** The intercepts active, the same number of requests, all without a header: the agent's routing alone. */
  twoInterceptsPodOnly: LoadResult;
  /** Where this machine's CPU went during all rounds of each phase, by process role. */
  cpu: { noAgent: CpuShare; twoIntercepts: CpuShare; twoInterceptsPodOnly: CpuShare };
}

function one(args: string[]): void {
  const r = ws(['node', '--', telepath, ...args], { env, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`telepath ${args.join(' ')} (first workstation) failed: ${r.stderr}`);
}

function two(args: string[]): void {
  const r = ws2(['node', '--', telepath, ...args], { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`telepath ${args.join(' ')} (second workstation) failed: ${r.stderr}`);
}

export async function teamBench(requests: number, rounds: number): Promise<TeamBenchResult> {
  const plan: LoadPlan = {
    url: 'http://echo.samples:8080/',
    concurrency: 8,
    requests,
    warmup: 20,
    classes: TWO_DEVELOPERS_MIX,
  };
  const servers = [
    wsSpawn(['env', 'POD_NAME=laptop-one', 'node', samples, 'http-echo', '--port', String(PORTS.one)]),
    ws2Spawn(['env', 'POD_NAME=laptop-two', 'node', samples, 'http-echo', '--port', String(PORTS.two)]),
  ];
  await new Promise((r) => setTimeout(r, 1000));
  const cpu: Partial<TeamBenchResult['cpu']> = {};
  const best = async (phase: keyof TeamBenchResult['cpu'], p: LoadPlan = plan): Promise<LoadResult> => {
    const all: LoadResult[] = [];
    const before = machineCpu();
    for (let i = 0; i < rounds; i++) all.push(await runLoad(p));
    cpu[phase] = cpuBetween(before, machineCpu());
    return all.reduce((a, b) => (b.pod!.p99ms < a.pod!.p99ms ? b : a));
  };
  try {
    one(['connect', '--namespace', 'samples']);
    two(['connect', '--namespace', 'samples']);
    ws(['node', '--', telepath, 'uninstall', '--agent', 'echo', '--namespace', 'samples'], { env, timeoutMs: 300_000 });
    const noAgent = await best('noAgent');
    one(['intercept', 'echo', '--port', String(PORTS.one), '--http-header', 'x-dev=one', '--mount=false']);
    two(['intercept', 'echo', '--port', String(PORTS.two), '--http-header', 'x-dev=two', '--mount=false']);
    const twoIntercepts = await best('twoIntercepts');
    const twoInterceptsPodOnly = await best('twoInterceptsPodOnly', { ...plan, classes: [{ name: 'pod', headers: {} }] });
    return { requests, concurrency: plan.concurrency, noAgent, twoIntercepts, twoInterceptsPodOnly, cpu: cpu as TeamBenchResult['cpu'] };
  } finally {
    ws2(['node', '--', telepath, 'quit'], { timeoutMs: 60_000 });
    ws(['node', '--', telepath, 'uninstall', '--agent', 'echo', '--namespace', 'samples'], { env, timeoutMs: 300_000 });
    ws(['node', '--', telepath, 'quit'], { env, timeoutMs: 60_000 });
    for (const s of servers) s.kill('SIGTERM');
  }
}
