/**
 * `npm run bench -- --only scale`: Telepath with many Services and many developers (issue: "3000
 * Services in 300 namespaces and 50 client sessions"). The cluster grows in steps (100, 1000 and
 * 3000 Services by default), ten Services to a namespace, each with one EndpointSlice of made-up
 * ready addresses and no pod (scaleObjects.ts, created by scaleCreate.ts). Throughout, COUNT
 * simulated client sessions hold the manager (scaleSessions.ts says what one does and does not
 * do), and one real daemon is connected in the workstation namespace. At each step:
 *   - the manager's memory: VmRSS and VmHWM (peak) of its process, read on the host;
 *   - the manager's CPU: utime + stime of that process over an idle window (nothing but the
 *     sessions' heartbeats and the cluster's own churn), and over the step's measurements below;
 *   - `telepath connect` (quit, then connect; the CLI's wall time), ROUNDS times;
 *   - DNS: A queries for QUERIES names of the step's Services, random order, from the
 *     workstation's resolver (scaleDns.ts): first query and the immediate repeat;
 *   - `telepath list --namespace tp-scale-000` (ten Services, no workload) and `--namespace
 *     samples` (the sample workloads), ROUNDS times each.
 * The namespaces go at the end (`kubectl delete ns -l telepath-bench=scale`), also when the run
 * fails. Progress, and each step's figures as soon as it is measured, on stderr. Asserts nothing.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { BUNDLE_DIR, DEFAULT_NAMESPACE, LOADER_KEY, selectorLabels } from '../../common/src/install/managerManifests.js';
import { DEFAULT_MAX_TTL_SECONDS } from '../../daemon/src/network/dns/dnsCache.js';
import { clusterDir, kubectlJson, pidsWhere, repoRoot, stateDir, ws, wsSpawn } from '../cluster/harness.js';
import { processSample, type ProcessSample } from './procStats.js';
import type { DnsPlan, DnsProbeResult } from './scaleDns.js';
import { MAX_SERVICES, namespaceCount, namespaceName, SCALE_LABEL, serviceFqdn } from './scaleObjects.js';
import { median, quantile } from './scaleStats.js';

export interface ScaleBenchOptions {
  /** Service counts, increasing. */
  steps: number[];
  sessions: number;
  /** DNS names asked per step (each twice: first and repeat). */
  queries: number;
  /** connect and list, each this many times per step (the median is reported). */
  rounds: number;
  /** The manager's idle CPU is measured over this window. */
  idleSeconds: number;
}

export const SCALE_DEFAULTS: ScaleBenchOptions = { steps: [100, 1000, 3000], sessions: 50, queries: 300, rounds: 3, idleSeconds: 10 };

export interface ManagerIdle {
  rssMiB: number;
  hwmMiB: number;
  /** CPU over the idle window, in % of one core. */
  idleCpuPercent: number;
}

export interface ScaleStep {
  services: number;
  namespaces: number;
  createSeconds: number;
  manager: ManagerIdle & {
    /** CPU seconds the manager spent during the step's measurements (connects, DNS, lists), and their wall time. */
    measureCpuSeconds: number;
    measureSeconds: number;
    /** Restarts of the manager's container so far (kubectl), and whether its process changed since the last step. */
    restarts: number;
    processChanged: boolean;
  };
  connectSeconds: number[];
  dns: { server: string; firstP50ms: number; firstP99ms: number; repeatP50ms: number; repeatP99ms: number; answered: number; failed: number; examples: string[] };
  listScaleMs: number[];
  listSamplesMs: number[];
  /** Simulated sessions lost since the start. */
  sessionsLost: number;
}

export interface ScaleBenchResult {
  options: ScaleBenchOptions;
  /** The manager with one daemon and no simulated session, then with them, before any scale object exists. */
  before: { noSessions: ManagerIdle; withSessions: ManagerIdle; sessionsArrivedSeconds: number };
  steps: ScaleStep[];
  sessionsSummary?: { remains: number; remainFailures: number; clusterInfoMessages: number; lost: number };
}

const telepath = path.join(repoRoot, 'dist/telepath.js');
const env = { ...process.env, TELEPATH_RUN_DIR: '/run/telepath-bench-scale', TELEPATH_STATE_DIR: path.join(stateDir, 'telepath-bench-scale') };
const MANAGER_NS = DEFAULT_NAMESPACE;
const CONNECT_NS = 'samples';
/** Seconds the cluster DNS remembers an answer (`cache 5` in test/cluster/manifests/coredns.yaml). */
const CLUSTER_DNS_CACHE_SECONDS = 5;
/** After a step's objects are made: time for the cluster (kube-proxy, CoreDNS, the controllers) to take them in. */
const SETTLE_MS = 5_000;
const LIST_NAMESPACE = namespaceName(0);
/** Create requests scaleCreate.ts keeps in flight. */
export const CREATE_IN_FLIGHT = 16;
const started = performance.now();

function progress(line: string): void {
  process.stderr.write(`[scale ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function tp(args: string[], timeoutMs = 300_000): void {
  const r = ws(['node', '--', telepath, ...args], { env, timeoutMs });
  if (r.code !== 0) throw new Error(`telepath ${args.join(' ')} failed (exit ${r.code}): ${r.stderr || r.stdout}`);
}

function timedSeconds(args: string[]): number {
  const t0 = performance.now();
  tp(args);
  return (performance.now() - t0) / 1000;
}

/** Runs a program in the workstation namespace with its stderr shown as it comes; resolves with its stdout. */
function wsStreaming(args: string[], what: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(clusterDir, 'ws'), args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`${what} did not finish in ${timeoutMs / 1000} s`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${what} failed (exit ${code}); its messages are above${out ? `; stdout: ${out}` : ''}`));
    });
  });
}

// ---------------------------------------------------------------- the manager's process

/** The manager's process on this machine: node running the loader of the manager's bundle, in namespace telepath. */
function managerPid(): number {
  const loader = `${BUNDLE_DIR}/${LOADER_KEY}`;
  const found = pidsWhere((p) => {
    const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
    return argv.includes(loader) && readFileSync(`/proc/${p}/environ`, 'utf8').split('\0').includes(`TELEPATH_NAMESPACE=${MANAGER_NS}`);
  });
  if (found.length !== 1) {
    throw new Error(
      `expected one traffic-manager process (argv with ${loader}, TELEPATH_NAMESPACE=${MANAGER_NS}) on this machine, found ${found.length}` +
        `${found.length ? ` (pids ${found.join(', ')})` : ''}; see "test/cluster/ws kubectl -n ${MANAGER_NS} get pods"`,
    );
  }
  return found[0]!;
}

/** Waits until exactly one manager process runs: after an upgrade the old pod takes a while to end. */
async function oneManager(): Promise<void> {
  for (let waited = 0; ; waited++) {
    try {
      managerPid();
      return;
    } catch (err) {
      if (waited >= 120) throw err;
      if (waited % 10 === 0) progress(`waiting for one manager process: ${(err as Error).message}`);
      await sleep(1000);
    }
  }
}

function managerRestarts(): number {
  const selector = Object.entries(selectorLabels())
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const pods = kubectlJson<{ items: { status?: { containerStatuses?: { restartCount: number }[] } }[] }>('-n', MANAGER_NS, 'get', 'pods', '-l', selector).items;
  return pods.reduce((n, p) => n + (p.status?.containerStatuses ?? []).reduce((m, c) => m + c.restartCount, 0), 0);
}

/** CPU seconds between two samples of one process; NaN (and a warning) when the process changed between them. */
function cpuBetween(a: ProcessSample, b: ProcessSample, what: string): number {
  if (a.pid !== b.pid) {
    progress(`warning: the manager's process changed during ${what} (pid ${a.pid} -> ${b.pid}): no CPU figure`);
    return NaN;
  }
  return b.cpuSeconds - a.cpuSeconds;
}

async function managerIdle(seconds: number): Promise<ManagerIdle> {
  const a = processSample(managerPid());
  await sleep(seconds * 1000);
  const b = processSample(managerPid());
  const cpu = cpuBetween(a, b, 'the idle window');
  return { rssMiB: b.rssKb / 1024, hwmMiB: b.hwmKb / 1024, idleCpuPercent: (100 * cpu) / ((b.at - a.at) / 1000) };
}

// ---------------------------------------------------------------- the simulated sessions

interface SessionHolder {
  arrivedSeconds: number;
  lost(): number;
  stop(): Promise<ScaleBenchResult['sessionsSummary']>;
}

async function startSessions(count: number): Promise<SessionHolder> {
  const child = wsSpawn(['node', '--import', 'tsx', path.join(repoRoot, 'test/bench/scaleSessions.ts'), String(count), MANAGER_NS]);
  child.stderr!.on('data', (d: Buffer) => process.stderr.write(d));
  let lost = 0;
  let summary: ScaleBenchResult['sessionsSummary'];
  let onReady: (seconds: number) => void = () => undefined;
  let onFailed: (why: string) => void = () => undefined;
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    let m: { event?: string; seconds?: number; error?: string; index?: number } & NonNullable<ScaleBenchResult['sessionsSummary']>;
    try {
      m = JSON.parse(line);
    } catch {
      progress(`sessions: ${line}`);
      return;
    }
    if (m.event === 'ready') onReady(m.seconds ?? NaN);
    else if (m.event === 'failed') onFailed(m.error ?? 'no reason given');
    else if (m.event === 'lost') {
      lost++;
      progress(`warning: simulated session ${m.index} broke: ${m.error}`);
    } else if (m.event === 'summary') summary = { remains: m.remains, remainFailures: m.remainFailures, clusterInfoMessages: m.clusterInfoMessages, lost: m.lost };
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const timeoutMs = 60_000 + 2_000 * count;
  const arrivedSeconds = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the ${count} simulated sessions did not arrive within ${timeoutMs / 1000} s`)), timeoutMs);
    onReady = (s) => {
      clearTimeout(timer);
      resolve(s);
    };
    onFailed = (why) => {
      clearTimeout(timer);
      reject(new Error(`the simulated sessions could not arrive: ${why}`));
    };
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the simulated sessions' process (scaleSessions.ts) exited ${code} before they all arrived; its messages are above`));
    });
  }).catch(async (err: unknown) => {
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    throw err;
  });
  return {
    arrivedSeconds,
    lost: () => lost,
    stop: async () => {
      child.kill('SIGTERM');
      const code = await Promise.race([exited, sleep(30_000).then(() => 'timeout' as const)]);
      if (code === 'timeout') {
        progress('warning: the simulated sessions did not depart within 30 s; killing them');
        child.kill('SIGKILL');
      }
      return summary;
    },
  };
}

// ---------------------------------------------------------------- the objects

/** Removes an earlier run's namespaces and waits until they are gone (new objects cannot go into a terminating namespace). */
function removeLeftovers(): void {
  const label = `${SCALE_LABEL.key}=${SCALE_LABEL.value}`;
  const left = ws(['kubectl', 'get', 'ns', '-l', label, '-o', 'name']);
  if (left.code !== 0) throw new Error(`kubectl get ns -l ${label} failed: ${left.stderr}`);
  const count = left.stdout.split('\n').filter(Boolean).length;
  if (count === 0) return;
  progress(`deleting ${count} namespaces an earlier run left (${label}), and waiting until they are gone`);
  const r = ws(['kubectl', 'delete', 'ns', '-l', label, '--wait=true', '--timeout=900s'], { timeoutMs: 960_000 });
  if (r.code !== 0) throw new Error(`deleting the namespaces of an earlier run failed: ${r.stderr}`);
}

function deleteObjects(): void {
  progress(`deleting the namespaces (kubectl delete ns -l ${SCALE_LABEL.key}=${SCALE_LABEL.value} --wait=false)`);
  const r = ws(['kubectl', 'delete', 'ns', '-l', `${SCALE_LABEL.key}=${SCALE_LABEL.value}`, '--wait=false'], { timeoutMs: 120_000 });
  if (r.code !== 0) progress(`warning: deleting the namespaces failed: ${r.stderr}`);
}

async function createObjects(from: number, to: number): Promise<number> {
  progress(`creating Services ${from}…${to - 1}, their EndpointSlices and namespaces up to ${namespaceName(namespaceCount(to) - 1)}`);
  const out = await wsStreaming(['node', '--import', 'tsx', path.join(repoRoot, 'test/bench/scaleCreate.ts'), String(from), String(to), String(CREATE_IN_FLIGHT)], 'scaleCreate.ts', 60 * 60_000);
  return (JSON.parse(out.trim().split('\n').pop()!) as { seconds: number }).seconds;
}

// ---------------------------------------------------------------- DNS

function shuffled<T>(xs: T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * `queries` names of Services 0 … count-1 in random order: distinct when there are enough, else
 * every Service in each batch, as many batches as it takes.
 */
function dnsBatches(count: number, queries: number): string[][] {
  const all = Array.from({ length: count }, (_, n) => serviceFqdn(n));
  const batches: string[][] = [];
  for (let left = queries; left > 0; left -= count) batches.push(shuffled(all).slice(0, Math.min(left, count)));
  return batches;
}

async function dnsLatency(count: number, queries: number): Promise<ScaleStep['dns']> {
  const plan: DnsPlan = {
    warmup: ['kubernetes.default.svc.cluster.local'],
    batches: dnsBatches(count, queries),
    // Long enough that neither the daemon nor the cluster DNS still holds a name of the batch before.
    pauseMs: (Math.max(DEFAULT_MAX_TTL_SECONDS, CLUSTER_DNS_CACHE_SECONDS) + 1) * 1000,
    timeoutMs: 2000,
  };
  const out = await wsStreaming(['node', '--import', 'tsx', path.join(repoRoot, 'test/bench/scaleDns.ts'), JSON.stringify(plan)], 'scaleDns.ts', 30 * 60_000);
  const r = JSON.parse(out.trim().split('\n').pop()!) as DnsProbeResult;
  if (r.firstMs.length === 0) throw new Error(`no DNS query through ${r.server} (the first nameserver of the workstation's /etc/resolv.conf) was answered: ${r.failures.examples.join('; ')}`);
  return {
    server: r.server,
    firstP50ms: quantile(r.firstMs, 0.5),
    firstP99ms: quantile(r.firstMs, 0.99),
    repeatP50ms: quantile(r.repeatMs, 0.5),
    repeatP99ms: quantile(r.repeatMs, 0.99),
    answered: r.firstMs.length + r.repeatMs.length,
    failed: r.failures.count,
    examples: r.failures.examples,
  };
}

// ---------------------------------------------------------------- a step

async function measureStep(services: number, createSeconds: number, o: ScaleBenchOptions, sessions: SessionHolder, lastPid: number | undefined): Promise<ScaleStep> {
  progress(`${services} Services: letting the cluster settle ${SETTLE_MS / 1000} s, then the manager idle for ${o.idleSeconds} s`);
  await sleep(SETTLE_MS);
  await oneManager();
  const idle = await managerIdle(o.idleSeconds);
  const before = processSample(managerPid());

  const connectSeconds: number[] = [];
  for (let i = 0; i < o.rounds; i++) {
    ws(['node', '--', telepath, 'quit'], { env, timeoutMs: 60_000 });
    connectSeconds.push(timedSeconds(['connect', '--namespace', CONNECT_NS]));
  }
  progress(`${services} Services: connect ${connectSeconds.map((s) => s.toFixed(2)).join(', ')} s; DNS, ${o.queries} names`);
  const dns = await dnsLatency(services, o.queries);
  progress(`${services} Services: DNS first p50/p99 ${dns.firstP50ms.toFixed(2)}/${dns.firstP99ms.toFixed(2)} ms, repeat ${dns.repeatP50ms.toFixed(2)}/${dns.repeatP99ms.toFixed(2)} ms, ${dns.failed} failed; telepath list`);
  const listScaleMs: number[] = [];
  const listSamplesMs: number[] = [];
  for (let i = 0; i < o.rounds; i++) {
    listScaleMs.push(timedSeconds(['list', '--namespace', LIST_NAMESPACE]) * 1000);
    listSamplesMs.push(timedSeconds(['list', '--namespace', CONNECT_NS]) * 1000);
  }

  const after = processSample(managerPid());
  const step: ScaleStep = {
    services,
    namespaces: namespaceCount(services),
    createSeconds,
    manager: {
      ...idle,
      rssMiB: after.rssKb / 1024,
      hwmMiB: after.hwmKb / 1024,
      measureCpuSeconds: cpuBetween(before, after, 'the measurements'),
      measureSeconds: (after.at - before.at) / 1000,
      restarts: managerRestarts(),
      processChanged: lastPid !== undefined && lastPid !== after.pid,
    },
    connectSeconds,
    dns,
    listScaleMs,
    listSamplesMs,
    sessionsLost: sessions.lost(),
  };
  progress(
    `${services} Services measured: manager RSS ${step.manager.rssMiB.toFixed(0)} MiB (peak ${step.manager.hwmMiB.toFixed(0)}), ` +
      `idle CPU ${step.manager.idleCpuPercent.toFixed(1)} %, ${step.manager.measureCpuSeconds.toFixed(2)} CPU s in ${step.manager.measureSeconds.toFixed(0)} s of measurements; ` +
      `connect median ${median(connectSeconds).toFixed(2)} s; list ${median(listScaleMs).toFixed(0)} / ${median(listSamplesMs).toFixed(0)} ms; ` +
      `restarts ${step.manager.restarts}; sessions lost ${step.sessionsLost}`,
  );
  return step;
}

export function checkScaleOptions(o: ScaleBenchOptions): void {
  const s = o.steps;
  if (s.length === 0 || s.some((n, i) => !Number.isInteger(n) || n < 1 || n > MAX_SERVICES || (i > 0 && n <= s[i - 1]!))) {
    throw new Error(`--steps must be increasing Service counts from 1 to ${MAX_SERVICES}, e.g. 100,1000,3000; got ${s.join(',')}`);
  }
  for (const [name, v] of [['--sessions', o.sessions], ['--queries', o.queries], ['--rounds', o.rounds]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a whole number of at least 1; got ${v}`);
  }
}

export async function scaleBench(o: ScaleBenchOptions): Promise<ScaleBenchResult> {
  checkScaleOptions(o);
  progress(`steps ${o.steps.join(', ')} Services; ${o.sessions} simulated sessions; ${o.queries} DNS names and ${o.rounds} connects and lists per step`);
  removeLeftovers();
  let sessions: SessionHolder | undefined;
  const unknown: ManagerIdle = { rssMiB: NaN, hwmMiB: NaN, idleCpuPercent: NaN };
  const result: ScaleBenchResult = { options: o, before: { noSessions: unknown, withSessions: unknown, sessionsArrivedSeconds: NaN }, steps: [] };
  // Interrupted (Ctrl-C reaches the whole process group: the sessions depart by themselves), the
  // finally below does not run: clean up here.
  const interrupted = (signal: NodeJS.Signals): void => {
    progress(`${signal}: cleaning up`);
    ws(['node', '--', telepath, 'quit'], { env, timeoutMs: 60_000 });
    deleteObjects();
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    progress(`telepath connect --namespace ${CONNECT_NS} (installs or upgrades the manager when needed)`);
    tp(['connect', '--namespace', CONNECT_NS]);
    await sleep(SETTLE_MS);
    await oneManager();
    progress(`the manager with one daemon, ${o.idleSeconds} s idle`);
    result.before.noSessions = await managerIdle(o.idleSeconds);
    progress(`opening ${o.sessions} simulated sessions`);
    sessions = await startSessions(o.sessions);
    result.before.sessionsArrivedSeconds = sessions.arrivedSeconds;
    progress(`${o.sessions} sessions arrived in ${sessions.arrivedSeconds.toFixed(1)} s; the manager with them, ${o.idleSeconds} s idle`);
    result.before.withSessions = await managerIdle(o.idleSeconds);
    let created = 0;
    let lastPid: number | undefined = managerPid();
    for (const services of o.steps) {
      const createSeconds = await createObjects(created, services);
      created = services;
      result.steps.push(await measureStep(services, createSeconds, o, sessions, lastPid));
      lastPid = managerPid();
    }
    return result;
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    if (sessions) result.sessionsSummary = await sessions.stop();
    ws(['node', '--', telepath, 'quit'], { env, timeoutMs: 60_000 });
    deleteObjects();
  }
}
