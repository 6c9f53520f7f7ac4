/**
 * `npm run bench`: Telepath side by side with what a user would otherwise use, in one run on the
 * local cluster. From the workstation namespace to the HTTP echo sample:
 *   - through Telepath (`telepath connect`, then the Service by name),
 *   - through `kubectl port-forward` to one echo pod,
 *   - directly from the node's namespace to the pod IP (the physical limit of this machine).
 * Also the time of `telepath connect` with the manager already installed, and the daemon's
 * memory. Prints a Markdown table for docs/benchmarks.md. Not a test: it asserts nothing.
 * Then the intercept numbers (interceptBench.ts), the volumes' (volumesBench.ts) and the CLI's
 * start-up (cliStartBench.ts; --only cli needs no cluster), and two developers' personal intercepts
 * on one workload under load (teamBench.ts).
 * `--only scale` (scaleBench.ts: 100, 1000 and 3000 Services with 50 simulated client sessions) is
 * not part of the run without --only: it takes long (creating thousands of objects on this
 * machine's two cores) and leaves the cluster busy deleting them afterwards.
 *   npm run bench [-- --mb 200 --requests 1000 --rounds 3 --only connect|intercept|volumes|cli|team] [--team-rate 400]
 *   npm run bench -- --only scale [--steps 100,1000,3000 --sessions 50 --queries 300 --rounds 3]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cliStartBench } from './cliStartBench.js';
import { interceptBench, type InterceptBenchResult } from './interceptBench.js';
import { checkScaleOptions, CREATE_IN_FLIGHT, SCALE_DEFAULTS, scaleBench, type ScaleBenchResult } from './scaleBench.js';
import { describeGrowth, formatRatio, growth, median } from './scaleStats.js';
import { teamBench, type TeamBenchResult, type TeamPhases } from './teamBench.js';
import { volumesBench } from './volumesBench.js';
import { REST_CPU, WORKLOAD_CPU } from './workloadNode.js';
import { buildBundles, ensureCluster, inNode, kubectlJson, kubectlPortForward, repoRoot, stateDir, ws } from '../cluster/harness.js';

interface Result {
  downloadMBs: number;
  uploadMBs: number;
  p50ms: number;
  p99ms: number;
}

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '200' },
    requests: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '3' },
    only: { type: 'string' },
    steps: { type: 'string', default: SCALE_DEFAULTS.steps.join(',') },
    sessions: { type: 'string', default: String(SCALE_DEFAULTS.sessions) },
    queries: { type: 'string', default: String(SCALE_DEFAULTS.queries) },
    'team-rate': { type: 'string', default: '400' },
  },
});
const mb = values.mb!;
const requests = values.requests!;
const rounds = Number(values.rounds);
const telepath = path.join(repoRoot, 'dist/telepath.js');
const env = { ...process.env, TELEPATH_RUN_DIR: '/run/telepath-bench', TELEPATH_STATE_DIR: path.join(stateDir, 'telepath-bench') };
const benchScript = ['node', '--import', 'tsx', 'test/bench/httpBench.ts'];

function parse(out: { code: number | null; stdout: string; stderr: string }, what: string): Result {
  if (out.code !== 0) throw new Error(`${what} failed: ${out.stderr}`);
  return JSON.parse(out.stdout) as Result;
}

/** The best of several rounds: the machine is shared, and the best round is the least disturbed. */
function best(results: Result[]): Result {
  return {
    downloadMBs: Math.max(...results.map((r) => r.downloadMBs)),
    uploadMBs: Math.max(...results.map((r) => r.uploadMBs)),
    p50ms: Math.min(...results.map((r) => r.p50ms)),
    p99ms: Math.min(...results.map((r) => r.p99ms)),
  };
}

async function main(): Promise<void> {
  const only = values.only;
  if (only === 'cli') {
    buildBundles('telepath');
    return printCliStart(await cliStartBench(20));
  }
  if (only && !['connect', 'intercept', 'volumes', 'team', 'scale'].includes(only)) {
    throw new Error(`--only ${only}: not one of connect, intercept, volumes, cli, team, scale`);
  }
  const scale = { ...SCALE_DEFAULTS, steps: values.steps!.split(',').map(Number), sessions: Number(values.sessions), queries: Number(values.queries), rounds };
  // Before the cluster and the build: a mistyped option fails at once.
  if (only === 'scale') checkScaleOptions(scale);
  ensureCluster();
  buildBundles('telepath', 'traffic-manager', 'traffic-agent');
  if (only === 'scale') return printScale(await scaleBench(scale));
  if (!only || only === 'connect') await connectBench();
  if (!only || only === 'intercept') printIntercept(await interceptBench(Number(requests), rounds));
  if (!only || only === 'volumes') {
    const v = volumesBench(rounds);
    console.log(`\nVolumes: reading a ${v.mb} MB file of the pod's emptyDir, best of ${rounds} rounds\n`);
    console.log('| path | MB/s |');
    console.log('|---|---|');
    console.log(`| through the sshfs mount (TELEPATH_ROOT) | ${v.mountMBs.toFixed(1)} |`);
    console.log(`| kubectl exec, streaming the file to stdout (what kubectl cp does, without tar) | ${v.kubectlMBs.toFixed(1)} |`);
  }
  if (!only || only === 'team') printTeam(await teamBench(Math.max(4000, Number(requests) * 4), rounds, Number(values['team-rate'])));
  if (!only) printCliStart(await cliStartBench(20));
}

function printTeam(t: TeamBenchResult): void {
  console.log(
    `\nTwo developers on one workload: ${t.requests} GETs from the client pod on ${t.concurrency} keep-alive connections, ` +
      `in turn with developer one's header, none, developer two's, none; best of ${rounds} rounds (lowest p99 without a header)`,
  );
  printTeamPhases('As fast as the connections go (each sends its next request when the previous one is answered)', t.closedLoop, t.requestsPerPhase);
  printTeamPhases(`Paced: ${t.rate} requests per second in all, latency from when each request was due`, t.paced, t.requestsPerPhase);
  printTeamPhases(
    `Paced as above, the workload's node apart: the echo and client pods on CPU ${WORKLOAD_CPU}, every other process (control plane, kubelet, containerd, manager, both workstations) on CPU ${REST_CPU}`,
    t.pacedOwnNode,
    t.requestsPerPhase,
  );
}

function printTeamPhases(title: string, r: TeamPhases, requestsPerPhase: number): void {
  console.log(`\n${title}\n`);
  const f = (n: number): string => n.toFixed(2);
  const failed = (res: TeamPhases['noAgent'], ok: RegExp): number =>
    Object.entries(res).reduce((n, [, c]) => n + Object.entries(c.answers).filter(([who]) => !ok.test(who)).reduce((m, [, k]) => m + k, 0), 0);
  console.log('| | without a header (to the pod): p50 / p99 ms | developer one: p50 / p99 ms | developer two: p50 / p99 ms | not answered 200 |');
  console.log('|---|---|---|---|---|');
  const rows = [
    ['no agent (all to the pod)', r.noAgent],
    ['two personal intercepts', r.twoIntercepts],
    ['two personal intercepts, no request with a header', r.twoInterceptsPodOnly],
  ] as const;
  for (const [name, res] of rows) {
    const cell = (c: keyof typeof res): string => (res[c] ? `${f(res[c].p50ms)} / ${f(res[c].p99ms)}` : '–');
    console.log(`| ${name} | ${cell('pod')} | ${cell('one')} | ${cell('two')} | ${failed(res, /^(echo-|laptop-)/)} |`);
  }
  const ratio = (a: number): string => `${(a / r.noAgent.pod!.p99ms).toFixed(2)}x`;
  console.log(`\np99 without a header, with the intercepts / without: ${ratio(r.twoIntercepts.pod!.p99ms)}; with them but no header at all: ${ratio(r.twoInterceptsPodOnly.pod!.p99ms)}`);
  // Where the two cores went in each phase: the roles that used the most, as cores busy on average
  // and as CPU time per request sent.
  const phases = [r.cpu.noAgent, r.cpu.twoIntercepts, r.cpu.twoInterceptsPodOnly];
  const top = [...new Set(phases.flatMap((p) => p.roles.slice(0, 12).map((x) => x.role)))];
  const coresOf = (p: (typeof phases)[number], role: string): number => p.roles.find((x) => x.role === role)?.cores ?? 0;
  top.sort((a, b) => Math.max(...phases.map((p) => coresOf(p, b))) - Math.max(...phases.map((p) => coresOf(p, a))));
  console.log(
    `\nCPU by process role: cores busy on average over all rounds of each row (${phases.map((p) => `${p.seconds.toFixed(0)} s`).join(', ')}) / ` +
      `CPU ms per request (${requestsPerPhase} requests each)\n`,
  );
  console.log(`| role | ${rows.map(([name]) => name).join(' | ')} |`);
  console.log(`|---|${rows.map(() => '---|').join('')}`);
  const line = (name: string, v: (p: (typeof phases)[number]) => number): void =>
    console.log(`| ${name} | ${phases.map((p) => `${v(p).toFixed(2)} / ${((v(p) * p.seconds * 1000) / requestsPerPhase).toFixed(3)}`).join(' | ')} |`);
  line('the machine (all cores, of 2)', (p) => p.cores);
  for (const role of top) line(role, (p) => coresOf(p, role));
  line('interrupts', (p) => p.irqCores);
  line('processes that came and went (mostly the load client)', (p) => p.unattributedCores);
}

function printScale(r: ScaleBenchResult): void {
  const o = r.options;
  const sizes = r.steps.map((s) => s.services);
  const f = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : '–');
  const first = r.steps[0]!.services;
  /** A table with one row per step and a growth column (each step's main figure over the first step's). */
  const table = (title: string, head: string[], cells: (s: ScaleBenchResult['steps'][number]) => string[], grown: string, main: (s: ScaleBenchResult['steps'][number]) => number[]): void => {
    console.log(`\n${title}\n`);
    console.log(`| Services (namespaces) | ${head.join(' | ')} | growth over ${first} Services: ${grown} |`);
    console.log(`|---|${head.map(() => '---|').join('')}---|`);
    const g = main(r.steps[0]!).map((_, k) => growth(sizes, r.steps.map((s) => main(s)[k]!)));
    r.steps.forEach((s, i) => console.log(`| ${s.services} (${s.namespaces}) | ${cells(s).join(' | ')} | ${g.map((x) => formatRatio(x.ratios[i]!)).join(' / ')} |`));
  };
  const lineOf = (what: string, values: number[]): string => `- ${what}: ${describeGrowth(growth(sizes, values))}`;

  console.log(
    `\nScale: ${sizes.join(', ')} Services, ten to a namespace, each with one EndpointSlice and no pod; ` +
      `${o.sessions} simulated client sessions (port-forward, arrival, Session object, cluster-info watch, Remain every 1.5 s) and one connected daemon`,
  );
  const b = r.before;
  console.log(
    `\nThe manager before any Service of the benchmark: with one daemon RSS ${f(b.noSessions.rssMiB, 0)} MiB, idle CPU ${f(b.noSessions.idleCpuPercent, 2)} % of a core; ` +
      `with the ${o.sessions} sessions too (they arrived in ${f(b.sessionsArrivedSeconds)} s) RSS ${f(b.withSessions.rssMiB, 0)} MiB, idle CPU ${f(b.withSessions.idleCpuPercent, 2)} %`,
  );
  table(
    `The manager's memory (VmRSS of its process; peak: VmHWM since it started)`,
    ['RSS MiB', 'peak RSS MiB'],
    (s) => [f(s.manager.rssMiB, 0), f(s.manager.hwmMiB, 0)],
    'RSS',
    (s) => [s.manager.rssMiB],
  );
  table(
    `The manager's CPU: idle (${o.idleSeconds} s with the sessions' heartbeats only), and during the step's connects, DNS queries and lists`,
    ['idle, % of a core', 'during the measurements: CPU s in wall s', 'during the measurements, % of a core'],
    (s) => [f(s.manager.idleCpuPercent, 2), `${f(s.manager.measureCpuSeconds, 2)} in ${f(s.manager.measureSeconds, 0)}`, f((100 * s.manager.measureCpuSeconds) / s.manager.measureSeconds, 2)],
    'idle / during the measurements',
    (s) => [s.manager.idleCpuPercent, s.manager.measureCpuSeconds / s.manager.measureSeconds],
  );
  table(
    `\`telepath connect\` (quit, then connect; wall time of the CLI), ${o.rounds} times`,
    ['median s', 'fastest – slowest s'],
    (s) => [f(median(s.connectSeconds), 2), `${f(Math.min(...s.connectSeconds), 2)} – ${f(Math.max(...s.connectSeconds), 2)}`],
    'median',
    (s) => [median(s.connectSeconds)],
  );
  table(
    `DNS: ${o.queries} A queries for the step's Services (svc-NNNN.tp-scale-XXX.svc.cluster.local, random order) from the workstation's resolver; each name asked, then at once again (the daemon's cache)`,
    ['first p50 / p99 ms', 'repeat p50 / p99 ms', 'not answered'],
    (s) => [`${f(s.dns.firstP50ms, 2)} / ${f(s.dns.firstP99ms, 2)}`, `${f(s.dns.repeatP50ms, 2)} / ${f(s.dns.repeatP99ms, 2)}`, String(s.dns.failed)],
    'first p50 / p99',
    (s) => [s.dns.firstP50ms, s.dns.firstP99ms],
  );
  table(
    `\`telepath list\` (wall time of the CLI), median of ${o.rounds}; it lists one namespace (there is no all-namespaces listing)`,
    ['--namespace tp-scale-000 (10 Services, no workload), ms', '--namespace samples (the sample workloads), ms'],
    (s) => [f(median(s.listScaleMs), 0), f(median(s.listSamplesMs), 0)],
    'tp-scale-000 / samples',
    (s) => [median(s.listScaleMs), median(s.listSamplesMs)],
  );

  const steps = r.steps;
  const last = steps[steps.length - 1]!;
  const perThousand = ((last.manager.rssMiB - steps[0]!.manager.rssMiB) / (last.services - first)) * 1000;
  console.log(`\nHow each grows from ${first} to ${last.services} Services (k: the exponent of Services^k through the first and last step; 0 flat, 1 linear):`);
  console.log(`${lineOf("the manager's memory (RSS)", steps.map((s) => s.manager.rssMiB))}${steps.length > 1 ? `, ${f(perThousand, 1)} MiB per 1000 Services` : ''}`);
  console.log(lineOf("the manager's idle CPU", steps.map((s) => s.manager.idleCpuPercent)));
  console.log(lineOf("the manager's CPU during the measurements", steps.map((s) => s.manager.measureCpuSeconds / s.manager.measureSeconds)));
  console.log(lineOf('`telepath connect`', steps.map((s) => median(s.connectSeconds))));
  console.log(lineOf('DNS, first query p50', steps.map((s) => s.dns.firstP50ms)));
  console.log(lineOf('DNS, first query p99', steps.map((s) => s.dns.firstP99ms)));
  console.log(lineOf('DNS, repeat p50', steps.map((s) => s.dns.repeatP50ms)));
  console.log(lineOf('`telepath list --namespace tp-scale-000`', steps.map((s) => median(s.listScaleMs))));
  console.log(lineOf('`telepath list --namespace samples`', steps.map((s) => median(s.listSamplesMs))));

  const ss = r.sessionsSummary;
  console.log(
    `\nCreating the objects (Services, EndpointSlices, namespaces; ${CREATE_IN_FLIGHT} requests in flight): ${steps.map((s, i) => `${s.services - (steps[i - 1]?.services ?? 0)} Services in ${f(s.createSeconds)} s`).join(', ')}`,
  );
  console.log(
    `Simulated sessions: ${ss ? `${ss.remains} Remains (${ss.remainFailures} failed), ${ss.clusterInfoMessages} ClusterInfo messages, ${ss.lost} sessions lost` : 'no summary (see the messages above)'}; ` +
      `manager restarts: ${last.manager.restarts}${steps.some((s) => s.manager.processChanged) ? ' (its process changed during the run: see the warnings above)' : ''}`,
  );
  const failed = steps.filter((s) => s.dns.failed > 0);
  if (failed.length) console.log(`DNS queries not answered with an A record: ${failed.map((s) => `${s.services} Services: ${s.dns.failed} (${s.dns.examples.join('; ')})`).join(' — ')}`);
  console.log(`DNS server asked (the workstation's /etc/resolv.conf): ${[...new Set(steps.map((s) => s.dns.server))].join(', ')}`);
}

function printCliStart(rows: Awaited<ReturnType<typeof cliStartBench>>): void {
  console.log('\nCLI start-up: each command 20 times in a row, wall time and peak RSS (GNU time)\n');
  console.log('| command | p50 ms | p90 ms | peak RSS MiB (median) |');
  console.log('|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.name} | ${r.p50ms.toFixed(0)} | ${r.p90ms.toFixed(0)} | ${r.rssMiB.toFixed(0)} |`);
}

function printIntercept(r: InterceptBenchResult): void {
  const f = (n: number, d = 2) => n.toFixed(d);
  console.log(`\nIntercept: ${requests} sequential GETs on one keep-alive connection from the client pod to echo.samples:8080; best of ${rounds} rounds\n`);
  console.log('| path | p50 ms | p99 ms |');
  console.log('|---|---|---|');
  console.log(`| to the pod, no agent (baseline) | ${f(r.baseline.p50ms)} | ${f(r.baseline.p99ms)} |`);
  console.log(`| to the pod through the agent, personal intercept active, no header | ${f(r.personalToPod.p50ms)} | ${f(r.personalToPod.p99ms)} |`);
  console.log(`| intercepted: with the header, answered on the workstation | ${f(r.intercepted.p50ms)} | ${f(r.intercepted.p99ms)} |`);
  console.log(`\nadded by the intercept: p50 +${f(r.intercepted.p50ms - r.baseline.p50ms)} ms, p99 +${f(r.intercepted.p99ms - r.baseline.p99ms)} ms; ` +
    `personal routing for everyone else: p50 +${f(r.personalToPod.p50ms - r.baseline.p50ms)} ms`);
  console.log(`telepath intercept, first (rollout injects the agent): ${f(r.firstInterceptS, 1)} s; again (agent present): ${f(r.secondInterceptS, 1)} s`);
}

async function connectBench(): Promise<void> {
  const pods = kubectlJson<{ items: { metadata: { name: string }; status: { podIP: string } }[] }>('-n', 'samples', 'get', 'pods', '-l', 'app=echo').items;
  const pod = pods[0]!;

  // The first connect installs the manager; the timed one finds it installed.
  const first = ws(['node', telepath, 'connect', '--namespace', 'samples'], { env, timeoutMs: 300_000 });
  if (first.code !== 0) throw new Error(`connect failed: ${first.stderr}`);
  ws(['node', telepath, 'quit'], { env });
  const t0 = performance.now();
  const second = ws(['node', telepath, 'connect', '--namespace', 'samples'], { env, timeoutMs: 300_000 });
  const connectMs = performance.now() - t0;
  if (second.code !== 0) throw new Error(`connect failed: ${second.stderr}`);

  const pf = await kubectlPortForward('samples', `pod/${pod.metadata.name}`, 8080);
  const results: Record<string, Result[]> = { telepath: [], portForward: [], direct: [] };
  try {
    for (let i = 0; i < rounds; i++) {
      results.direct!.push(parse(inNode([...benchScript, `http://${pod.status.podIP}:8080`, mb, requests], { timeoutMs: 600_000 }), 'direct'));
      results.portForward!.push(parse(ws([...benchScript, `http://127.0.0.1:${pf.port}`, mb, requests], { timeoutMs: 600_000 }), 'port-forward'));
      // Through the Service name: DNS, ClusterIP and kube-proxy's choice of pod included.
      results.telepath!.push(parse(ws([...benchScript, `http://${pod.status.podIP}:8080`, mb, requests], { env, timeoutMs: 600_000 }), 'telepath'));
    }
  } finally {
    pf.stop();
  }
  const pid = Number(readFileSync('/run/telepath-bench/daemon.pid', 'utf8'));
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  ws(['node', telepath, 'quit'], { env });

  const rows: [string, Result][] = [
    ['Telepath (pod IP through the TUN)', best(results.telepath!)],
    ['kubectl port-forward', best(results.portForward!)],
    ['direct, from the node namespace', best(results.direct!)],
  ];
  const f = (n: number, d = 1) => n.toFixed(d);
  console.log(`\n${mb} MB each way, ${requests} sequential requests on one keep-alive connection; best of ${rounds} rounds\n`);
  console.log('| path | download MB/s | upload MB/s | p50 ms | p99 ms |');
  console.log('|---|---|---|---|---|');
  for (const [name, r] of rows) console.log(`| ${name} | ${f(r.downloadMBs)} | ${f(r.uploadMBs)} | ${f(r.p50ms, 2)} | ${f(r.p99ms, 2)} |`);
  const tp = best(results.telepath!);
  const pfb = best(results.portForward!);
  console.log(`\nTelepath / port-forward: download ${f((100 * tp.downloadMBs) / pfb.downloadMBs, 0)}%, upload ${f((100 * tp.uploadMBs) / pfb.uploadMBs, 0)}%, p50 ${tp.p50ms - pfb.p50ms >= 0 ? '+' : ''}${f(tp.p50ms - pfb.p50ms, 2)} ms`);
  console.log(`telepath connect (manager installed): ${f(connectMs / 1000, 2)} s`);
  console.log(`daemon memory after the run: RSS ${f(Number(rss) / 1024, 0)} MiB, peak ${f(Number(hwm) / 1024, 0)} MiB`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
