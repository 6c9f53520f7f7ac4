/**
 * `npm run bench -- --only team`: two developers on one workload (issue #16). The same load from
 * the client pod — 8 keep-alive connections, each sending in turn the first developer's header,
 * nobody's, the second developer's, nobody's — first with no agent in the workload, then while
 * the two workstations (test/cluster/ws and ws2) hold personal intercepts with those headers.
 * What it reports: p50/p99 of the requests without a header (they reach the pod either way;
 * with the intercepts they pass through the agent), of each developer's, and any that failed; and
 * once more with the intercepts active but no header at all (the agent's routing without the
 * intercepted traffic's share of this machine's two cores). Each of the three twice: as fast as
 * the connections go (every connection sends its next request when the previous one is answered:
 * the machine saturated), and paced at a fixed rate below that (latency from when each request was
 * due, so a request that waited for its connection counts its wait), and paced once more with the
 * workload's and the client's pods on one core and everything else on the other
 * (workloadNode.ts). For each, where the
 * machine's CPU went, by process role (procStats.ts), to tell what the to-pod requests wait
 * behind. Asserts nothing.
 */
import path from 'node:path';
import { runLoad, TWO_DEVELOPERS_MIX, type LoadPlan, type LoadResult } from '../cluster/clientLoad.js';
import { repoRoot, stateDir, ws, ws2, ws2Spawn, wsSpawn } from '../cluster/harness.js';
import { cpuBetween, machineCpu, type CpuShare } from './procStats.js';
import { workloadNode } from './workloadNode.js';

const telepath = path.join(repoRoot, 'dist/telepath.js');
const samples = path.join(repoRoot, '.cluster/build/samples.js');
const env = { ...process.env, TELEPATH_RUN_DIR: '/run/telepath-bench-team', TELEPATH_STATE_DIR: path.join(stateDir, 'telepath-bench-team') };
const PORTS = { one: 18111, two: 18112 };
/** The workload and its caller: on a core of their own in the pacedOwnNode rows. */
const WORKLOAD_PODS = [
  { namespace: 'samples', selector: 'app=echo' },
  { namespace: 'samples', selector: 'app=client' },
];

/** The three loads of one kind (as fast as it goes, or paced), and where the CPU went in each. */
export interface TeamPhases {
  /** Best round of each (lowest p99 of the requests without a header). */
  noAgent: LoadResult;
  twoIntercepts: LoadResult;
  /** The intercepts active, the same number of requests, all without a header: the agent's routing alone. */
  twoInterceptsPodOnly: LoadResult;
  /** Where this machine's CPU went during all rounds of each phase, by process role. */
  cpu: { noAgent: CpuShare; twoIntercepts: CpuShare; twoInterceptsPodOnly: CpuShare };
}

export interface TeamBenchResult {
  requests: number;
  concurrency: number;
  /** Requests per second of the paced load. */
  rate: number;
  /** Requests sent in all rounds of one phase, warm-up included (what its CPU time was spent on). */
  requestsPerPhase: number;
  /** Each connection sends its next request when the previous one is answered: the machine saturated. */
  closedLoop: TeamPhases;
  /** The requests due at `rate`, latency counted from when each was due. */
  paced: TeamPhases;
  /**
   * The same paced load with the workload's and the client's pods on one core and everything
   * else (control plane, kubelet, containerd, manager, workstations) on the other, as on a real
   * cluster where the workload's node runs neither the workstations nor the control plane.
   */
  pacedOwnNode: TeamPhases;
}

function one(args: string[]): void {
  const r = ws(['node', '--', telepath, ...args], { env, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`telepath ${args.join(' ')} (first workstation) failed: ${r.stderr}`);
}

function two(args: string[]): void {
  const r = ws2(['node', '--', telepath, ...args], { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`telepath ${args.join(' ')} (second workstation) failed: ${r.stderr}`);
}

export async function teamBench(requests: number, rounds: number, rate: number): Promise<TeamBenchResult> {
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
  const kinds = ['closedLoop', 'paced', 'pacedOwnNode'] as const;
  type Kind = (typeof kinds)[number];
  const phases = Object.fromEntries(kinds.map((k) => [k, {}])) as Record<Kind, Partial<TeamPhases>>;
  const cpu = Object.fromEntries(kinds.map((k) => [k, {}])) as Record<Kind, Partial<TeamPhases['cpu']>>;
  type Phase = keyof TeamPhases['cpu'];
  const measure = async (phase: Phase, classes: LoadPlan['classes']): Promise<void> => {
    for (const kind of kinds) {
      const p: LoadPlan = { ...plan, classes, ...(kind === 'closedLoop' ? {} : { ratePerSecond: rate }) };
      const node = kind === 'pacedOwnNode' ? workloadNode(WORKLOAD_PODS) : undefined;
      try {
        const all: LoadResult[] = [];
        const before = machineCpu();
        for (let i = 0; i < rounds; i++) all.push(await runLoad(p));
        cpu[kind][phase] = cpuBetween(before, machineCpu());
        phases[kind][phase] = all.reduce((a, b) => (b.pod!.p99ms < a.pod!.p99ms ? b : a));
      } finally {
        node?.release();
      }
    }
  };
  try {
    one(['connect', '--namespace', 'samples']);
    two(['connect', '--namespace', 'samples']);
    ws(['node', '--', telepath, 'uninstall', '--agent', 'echo', '--namespace', 'samples'], { env, timeoutMs: 300_000 });
    await measure('noAgent', TWO_DEVELOPERS_MIX);
    one(['intercept', 'echo', '--port', String(PORTS.one), '--http-header', 'x-dev=one', '--mount=false']);
    two(['intercept', 'echo', '--port', String(PORTS.two), '--http-header', 'x-dev=two', '--mount=false']);
    await measure('twoIntercepts', TWO_DEVELOPERS_MIX);
    await measure('twoInterceptsPodOnly', [{ name: 'pod', headers: {} }]);
    const done = (kind: Kind): TeamPhases => ({ ...(phases[kind] as TeamPhases), cpu: cpu[kind] as TeamPhases['cpu'] });
    return { requests, concurrency: plan.concurrency, rate, requestsPerPhase: rounds * (requests + plan.warmup! * plan.concurrency), closedLoop: done('closedLoop'), paced: done('paced'), pacedOwnNode: done('pacedOwnNode') };
  } finally {
    ws2(['node', '--', telepath, 'quit'], { timeoutMs: 60_000 });
    ws(['node', '--', telepath, 'uninstall', '--agent', 'echo', '--namespace', 'samples'], { env, timeoutMs: 300_000 });
    ws(['node', '--', telepath, 'quit'], { env, timeoutMs: 60_000 });
    for (const s of servers) s.kill('SIGTERM');
  }
}
