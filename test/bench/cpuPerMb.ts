/**
 * CPU time per MB of every process on the path of one bulk transfer, through Telepath and through
 * `kubectl port-forward` to the same echo pod, in one run: user + system time from
 * /proc/<pid>/stat before and after each transfer (the kernel's work counts to the process that
 * made the call). On this two-core machine throughput is bounded by the CPU the whole path needs
 * per byte, so this says where to cut. As root, with the local cluster up:
 *   node --import tsx test/bench/cpuPerMb.ts [--mb 400] [--rounds 2] [--via kubectl,telepath,forward]
 *     [--only down|up] [--prof DIR] [--no-build]
 * `forward` is the daemon's port-forward alone (portForwardBench.ts's listener process, SPDY: no
 * TUN, no gRPC). `relay` is `kubectl port-forward` to a plain Node TCP relay in the client pod that
 * pipes each connection to the echo pod: the cost of one in-cluster Node hop with no gRPC and no
 * TUN, the floor of any design that dials from a pod (as the traffic-manager does). --prof DIR starts the daemon and that listener with --cpu-prof (a profile is
 * written when each exits).
 * `cpuPerMb.ts client URL down|up MB` is the transfer client, run in the workstation namespace.
 */
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { buildBundles, kubectlJson, kubectlPortForward, repoRoot, stateDir, ws, wsSpawn } from '../cluster/harness.js';
import { writeBytes } from './writeBytes.js';

const CLK_TCK = 100;

/** User + system CPU ms of a process (all its threads), or 0 when it is gone. */
function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** read + write system calls of a process so far (/proc/<pid>/io: syscr + syscw). */
function syscalls(pid: number): number {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    return Number(/syscr: (\d+)/.exec(io)![1]) + Number(/syscw: (\d+)/.exec(io)![1]);
  } catch {
    return 0;
  }
}

/** Pids whose command line matches. */
function pids(match: (cmdline: string, comm: string) => boolean): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmdline = readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const comm = readFileSync(`/proc/${d}/comm`, 'utf8').trim();
      if (match(cmdline, comm)) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

async function client(url: string, direction: string, mb: number): Promise<void> {
  const bytes = mb * 1024 * 1024;
  const u = new URL(url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const req = (method: string, p: string, body?: Buffer): Promise<void> =>
    new Promise((resolve, reject) => {
      const r = http.request({ host: u.hostname, port: u.port, path: p, method, agent }, (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve());
        res.on('error', reject);
      });
      r.on('error', reject);
      if (!body) return void r.end();
      writeBytes(r, body, bytes);
    });
  await req('GET', '/warmup');
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  if (direction === 'down') await req('GET', `/bytes/${bytes}`);
  else await req('POST', '/sink', Buffer.alloc(256 * 1024, 0x62));
  const s = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  process.stdout.write(JSON.stringify({ mbs: mb / s, cpuMs: (c.user + c.system) / 1000 }) + '\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      mb: { type: 'string', default: '400' },
      rounds: { type: 'string', default: '2' },
      prof: { type: 'string' },
      via: { type: 'string', default: 'kubectl,telepath' },
      only: { type: 'string' },
      'no-build': { type: 'boolean', default: false },
    },
  });
  const via = values.via!.split(',');
  const mb = Number(values.mb);
  if (!values['no-build']) buildBundles('telepath', 'traffic-manager', 'traffic-agent');
  const telepath = path.join(repoRoot, 'dist/telepath.js');
  const env = { ...process.env, TELEPATH_RUN_DIR: '/run/telepath-bench', TELEPATH_STATE_DIR: path.join(stateDir, 'telepath-bench') };
  const node = values.prof ? ['node', '--cpu-prof', `--cpu-prof-dir=${values.prof}`] : ['node'];
  const pod = kubectlJson<{ items: { metadata: { name: string }; status: { podIP: string } }[] }>('-n', 'samples', 'get', 'pods', '-l', 'app=echo')
    .items[0]!;
  const urls: [string, string][] = [];
  const groups: Record<string, number[]> = {};
  const stops: (() => void)[] = [];
  if (via.includes('kubectl')) {
    const pf = await kubectlPortForward('samples', `pod/${pod.metadata.name}`, 8080);
    stops.push(pf.stop);
    urls.push(['kubectl', `http://127.0.0.1:${pf.port}`]);
    groups.kubectl = pids((c) => c.startsWith('kubectl port-forward') && c.includes(pod.metadata.name));
  }
  if (via.includes('relay')) {
    // Ends when kubectl exec's stdin closes (the exec is killed), so nothing stays in the pod.
    const relay = [
      "const net = require('node:net'); // telepath-bench-relay",
      'net.createServer((c) => {',
      `  const u = net.connect(8080, '${pod.status.podIP}');`,
      "  c.pipe(u).on('error', () => c.destroy()); u.pipe(c).on('error', () => u.destroy());",
      "  c.on('error', () => u.destroy()); u.on('error', () => c.destroy());",
      "}).listen(9000, () => console.log('relay listening'));",
      "process.stdin.on('end', () => process.exit(0)).resume();",
    ].join('\n');
    const exec = spawn(path.join(repoRoot, 'test/cluster/ws'), ['kubectl', 'exec', '-i', '-n', 'samples', 'client', '--', 'node', '-e', relay], { stdio: ['pipe', 'pipe', 'inherit'] });
    stops.push(() => void exec.kill('SIGTERM'));
    let out = '';
    exec.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    while (!out.includes('relay listening')) await once(exec.stdout!, 'data');
    const pf = await kubectlPortForward('samples', 'pod/client', 9000);
    stops.push(pf.stop);
    urls.push(['relay', `http://127.0.0.1:${pf.port}`]);
    groups.relay = [...pids((c) => c.startsWith('kubectl port-forward') && c.includes('pod/client')), ...pids((c) => c.includes('telepath-bench-relay'))];
  }
  if (via.includes('forward')) {
    const child = wsSpawn([...node, '--import', 'tsx', path.join(import.meta.dirname, 'portForwardBench.ts'), 'listen', pod.metadata.name, 'spdy']);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    while (!/listening (\d+)/.test(out)) await once(child.stdout!, 'data');
    stops.push(() => void child.kill('SIGTERM'));
    urls.push(['forward', `http://127.0.0.1:${/listening (\d+)/.exec(out)![1]}`]);
    groups.forward = [child.pid!];
  }
  if (via.includes('telepath')) {
    const connected = ws([...node, telepath, 'connect', '--namespace', 'samples'], { env, timeoutMs: 300_000 });
    if (connected.code !== 0) throw new Error(`connect failed: ${connected.stderr}`);
    stops.push(() => ws(['node', telepath, 'quit'], { env }));
    urls.push(['telepath', `http://${pod.status.podIP}:8080`]);
    groups.daemon = [Number(readFileSync('/run/telepath-bench/daemon.pid', 'utf8'))];
    groups.manager = pids((c) => c.includes('/telepath/traffic-manager.js'));
  }
  const forwarders = ['kubectl', 'forward', 'relay', 'daemon', 'manager'];
  Object.assign(groups, {
    'kube-apiserver': pids((_, comm) => comm === 'kube-apiserver'),
    kubelet: pids((_, comm) => comm === 'kubelet'),
    containerd: pids((_, comm) => comm === 'containerd'),
    'echo pods': pids((c) => c.includes('samples.js http-echo') || c.includes('samples.js multi')),
  });
  const rows: string[] = [];
  try {
    for (let round = 0; round < Number(values.rounds); round++) {
      for (const [route, url] of urls) {
        for (const direction of values.only ? [values.only] : ['down', 'up']) {
          const sum = (f: (pid: number) => number) => Object.fromEntries(Object.entries(groups).map(([k, ps]) => [k, ps.reduce((a, p) => a + f(p), 0)]));
          const before = sum(cpuMs);
          const callsBefore = sum(syscalls);
          const r = ws(['node', '--import', 'tsx', import.meta.filename, 'client', url, direction, String(mb)], { env, timeoutMs: 600_000 });
          if (r.code !== 0) throw new Error(`client failed: ${r.stderr}`);
          const { mbs, cpuMs: clientMs } = JSON.parse(r.stdout) as { mbs: number; cpuMs: number };
          const mine = route === 'telepath' ? ['daemon', 'manager'] : [route];
          const per = Object.entries(groups)
            .filter(([k]) => !forwarders.includes(k) || mine.includes(k))
            .map(([k]) => [k, (sum(cpuMs)[k]! - before[k]!) / mb, (sum(syscalls)[k]! - callsBefore[k]!) / mb] as const);
          per.push(['client', clientMs / mb, NaN]);
          const total = per.reduce((a, [, v]) => a + v, 0);
          rows.push(`| ${route} | ${direction} | ${mbs.toFixed(1)} | ${total.toFixed(1)} | ${per.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')} | ${per.filter(([, , n]) => n > 0).map(([k, , n]) => `${k} ${n.toFixed(0)}`).join(', ')} |`);
          console.error(rows.at(-1));
        }
      }
    }
  } finally {
    for (const stop of stops) stop();
  }
  console.log(`\n${mb} MB per transfer; CPU ms per MB (user + system) of each process; read/write system calls per MB\n`);
  console.log('| via | direction | MB/s | CPU ms/MB total | CPU ms/MB per process | syscalls/MB |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
}

if (process.argv[2] === 'client') void client(process.argv[3]!, process.argv[4]!, Number(process.argv[5]));
else
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
