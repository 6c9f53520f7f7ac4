/**
 * The tunnel pipeline without the cluster. As root:
 *   node --import tsx test/bench/pipeline.ts [--mb 200] [--rounds 2] [--mtu 65000] [--only up|down]
 *     [--prof DIR] [--threads] [--pin] [--window BYTES] [--node-flags "--trace-gc ..."]
 * Two throwaway network namespaces (deleted at the end):
 *   tp-pipe-d-<pid>  "the workstation": the real Vif (TUN device, userspace stack, gRPC client) and
 *                    a kernel TCP client, so the kernel's own TCP is the stack's peer;
 *   tp-pipe-m-<pid>  "the cluster": the real traffic-manager (test harness) and a TCP sink/source
 *                    on 10.200.0.1, the address the client connects to through the TUN.
 * Daemon and manager talk gRPC over a unix socket (shared file system), with the daemon's channel
 * options; the port-forward through the API server is not part of this path. Each process is
 * separate, so CPU time per MB is per side (user + system time of the process: the kernel's work
 * for a TUN write or a socket write counts to the process that made the call, e.g. the local
 * sender's TCP output runs inside the daemon's TUN write of the ACK that opened its window).
 * Every round reports per process the major and minor GCs: a process that falls into back-to-back
 * major GCs pays about twice the CPU per MB, and which one does varies from run to run, so compare
 * medians of several runs. Options:
 *   --prof DIR      CPU profiles of daemon and manager for each measured transfer
 *   --threads       CPU per thread (main thread vs V8's and libuv's helper threads)
 *   --pin           the daemon alone on CPU 1, everything else on CPU 0
 *   --window BYTES  HTTP/2 stream windows of daemon and manager other than their 8 MiB
 *   --node-flags    extra node flags for daemon and manager (they always get the production
 *                   --initial-old-space-size=64 unless these set another)
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';

const REPO = path.resolve(__dirname, '..', '..');
const ROLES = path.join(__dirname, 'pipelineRoles.ts');
const NS_D = `tp-pipe-d-${process.pid}`;
const NS_M = `tp-pipe-m-${process.pid}`;
const DEST = '10.200.0.1';
const DEST_PORT = 9000;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const MB = Number(arg('mb') ?? 200);
const ROUNDS = Number(arg('rounds') ?? 2);
const MTU = Number(arg('mtu') ?? 65000);
const ONLY = arg('only');
const PROF = arg('prof');
const THREADS = process.argv.includes('--threads');
const PIN = process.argv.includes('--pin');
const WINDOW = Number(arg('window') ?? 0);
/** Stderr of daemon and manager is shown, so e.g. "--trace-gc" output appears. Both run with the
 * flag they have in production (daemon/src/user/cli/cli.ts, common/src/install/managerManifests.ts) unless the
 * extra flags set it: without it, a process falls into back-to-back major GCs for a whole run
 * about every other run, which doubles its CPU per MB. */
const EXTRA_FLAGS = (arg('node-flags') ?? '').split(' ').filter(Boolean);
const NODE_FLAGS = EXTRA_FLAGS.some((f) => f.startsWith('--initial-old-space-size')) ? EXTRA_FLAGS : ['--initial-old-space-size=64', ...EXTRA_FLAGS];

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

function deleteNamespaces(): void {
  for (const ns of [NS_D, NS_M]) spawnSync('ip', ['netns', 'del', ns]);
}

interface Cpu {
  userUs: number;
  systemUs: number;
  minorGcs: number;
  majorGcs: number;
  gcPauseMs: number;
  newSpaceMb: number;
  oldSpaceMb: number;
}

/** One role process in a namespace, driven by JSON lines. */
class Role {
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  readonly ready: Promise<Record<string, unknown>>;
  readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    ns: string,
    args: string[],
    nodeFlags: string[] = [],
  ) {
    const node = [process.execPath, ...nodeFlags, '--import', 'tsx', ROLES, ...args];
    // --pin: the daemon alone on CPU 1, the rest on CPU 0, so its CPU time per MB is measured
    // without the others competing for its core (throughput is then bounded by CPU 0).
    const pin = PIN ? ['taskset', '-c', name === 'daemon' ? '1' : '0'] : [];
    this.proc = spawn('ip', ['netns', 'exec', ns, ...pin, ...node], { cwd: REPO });
    this.proc.stderr.on('data', (d: Buffer) => process.stderr.write(`[${name}] ${d.toString()}`));
    this.exited = new Promise((resolve) => this.proc.once('exit', () => resolve()));
    let onReady: (v: Record<string, unknown>) => void = () => {};
    this.ready = new Promise((resolve, reject) => {
      onReady = resolve;
      this.proc.once('exit', (code) => reject(new Error(`${name} exited (${code}) before it was ready`)));
    });
    createInterface({ input: this.proc.stdout }).on('line', (line) => {
      let m: Record<string, unknown>;
      try {
        m = JSON.parse(line) as Record<string, unknown>;
      } catch {
        process.stderr.write(`[${name}] ${line}\n`);
        return;
      }
      if (m.event === 'ready') return onReady(m);
      const w = this.waiting.get(m.id as number);
      if (!w) return;
      this.waiting.delete(m.id as number);
      if (m.ok) w.resolve(m.result);
      else w.reject(new Error(`${name}: ${String(m.error)}`));
    });
  }

  call<T>(op: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.proc.stdin.write(JSON.stringify({ id, op, ...params }) + '\n');
    });
  }

  async cpu(): Promise<Cpu> {
    return this.call<Cpu>('cpu');
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    this.proc.stdin.write(JSON.stringify({ id: 0, op: 'exit' }) + '\n');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

interface DaemonStats {
  messagesOut: number;
  bytesOut: number;
  messagesIn: number;
  bytesIn: number;
  packetsIn: number;
  packetsOut: number;
  dropped: number;
  dropReasons: Record<string, number>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: it creates network namespaces and a TUN device');
  deleteNamespaces();
  ip('netns', 'add', NS_D);
  ip('netns', 'add', NS_M);
  ip('-n', NS_D, 'link', 'set', 'lo', 'up');
  ip('-n', NS_M, 'link', 'set', 'lo', 'up');
  ip('-n', NS_M, 'addr', 'add', `${DEST}/32`, 'dev', 'lo');

  const roles: Role[] = [];
  try {
    const manager = new Role('manager', NS_M, ['manager', String(WINDOW)], NODE_FLAGS);
    roles.push(manager);
    const sink = new Role('sink', NS_M, ['sink', DEST, String(DEST_PORT)]);
    roles.push(sink);
    const m = await manager.ready;
    await sink.ready;
    const daemon = new Role('daemon', NS_D, ['daemon', String(m.address), String(m.sessionId), String(MTU), '10.200.0.0/24', '10.201.0.1/32', String(WINDOW)], NODE_FLAGS);
    roles.push(daemon);
    const client = new Role('client', NS_D, ['client']);
    roles.push(client);
    const d = await daemon.ready;
    await client.ready;
    process.stdout.write(`TUN ${String(d.tun)} MTU ${String(d.mtu)}; ${MB} MB per transfer, ${ROUNDS} round(s)\n`);

    const bytes = MB * 1_000_000;
    // Warm up the JIT and the connections' buffers.
    await client.call('transfer', { host: DEST, port: DEST_PORT, mode: 'U', bytes: 100_000_000 });
    await client.call('transfer', { host: DEST, port: DEST_PORT, mode: 'D', bytes: 100_000_000 });

    const dirs = ONLY === 'up' ? ['U'] : ONLY === 'down' ? ['D'] : ['U', 'D'];
    const results: Record<string, { mbps: number[]; cpu: number[][] }> = {};
    for (let r = 0; r < ROUNDS; r++) {
      for (const mode of dirs) {
        const before = await Promise.all(roles.map((x) => x.cpu()));
        const threads0 = THREADS ? await Promise.all([daemon, manager].map((x) => x.call<Record<string, number>>('threads'))) : [];
        const s0 = await daemon.call<DaemonStats>('stats');
        if (PROF) await Promise.all([daemon.call('profStart'), manager.call('profStart')]);
        const res = await client.call<{ ms: number }>('transfer', { host: DEST, port: DEST_PORT, mode, bytes });
        if (PROF) {
          mkdirSync(PROF, { recursive: true });
          const file = (role: string) => path.resolve(PROF, `${role}-${mode === 'U' ? 'up' : 'down'}-${r + 1}.cpuprofile`);
          await Promise.all([daemon.call('profStop', { file: file('daemon') }), manager.call('profStop', { file: file('manager') })]);
        }
        const after = await Promise.all(roles.map((x) => x.cpu()));
        if (THREADS) {
          const threads1 = await Promise.all([daemon, manager].map((x) => x.call<Record<string, number>>('threads')));
          ['daemon', 'manager'].forEach((name, i) => {
            const t = Object.entries(threads1[i]!)
              .map(([k, v]) => [k, (v - (threads0[i]![k] ?? 0)) / (bytes / 1e6)] as const)
              .filter(([, v]) => v > 0)
              .map(([k, v]) => `${k} ${v.toFixed(2)}`);
            process.stdout.write(`  ${name} threads, CPU ms/MB: ${t.join(', ')}\n`);
          });
        }
        const s1 = await daemon.call<DaemonStats>('stats');
        const mb = bytes / 1e6;
        const cpu = roles.map((_, i) => ({
          user: (after[i]!.userUs - before[i]!.userUs) / 1000 / mb,
          sys: (after[i]!.systemUs - before[i]!.systemUs) / 1000 / mb,
        }));
        const perMb = roles.map((x, i) => `${x.name} ${(cpu[i]!.user + cpu[i]!.sys).toFixed(2)} (${cpu[i]!.user.toFixed(2)}u+${cpu[i]!.sys.toFixed(2)}s)`).join(', ');
        const mbps = mb / (res.ms / 1000);
        const acc = (results[mode] ??= { mbps: [], cpu: roles.map(() => []) });
        acc.mbps.push(mbps);
        cpu.forEach((c, i) => acc.cpu[i]!.push(c.user + c.sys));
        const msgs = mode === 'U' ? s1.messagesOut - s0.messagesOut : s1.messagesIn - s0.messagesIn;
        const msgBytes = mode === 'U' ? s1.bytesOut - s0.bytesOut : s1.bytesIn - s0.bytesIn;
        const gc = [daemon, manager]
          .map((x) => {
            const i = roles.indexOf(x);
            const a = after[i]!;
            const b = before[i]!;
            return (
              `${x.name} ${a.majorGcs - b.majorGcs} major + ${a.minorGcs - b.minorGcs} minor, ${(a.gcPauseMs - b.gcPauseMs).toFixed(0)} ms paused, ` +
              `new space ${a.newSpaceMb.toFixed(0)} MB, old ${a.oldSpaceMb.toFixed(0)} MB`
            );
          })
          .join('; ');
        const line =
          `${mode === 'U' ? 'upload  ' : 'download'} ${mbps.toFixed(1).padStart(7)} MB/s  ` +
          `CPU ms/MB: ${perMb}  | ` +
          `Data msgs ${msgs} (avg ${(msgBytes / Math.max(1, msgs) / 1024).toFixed(1)} KiB), ` +
          `TUN in ${s1.packetsIn - s0.packetsIn}, out ${s1.packetsOut - s0.packetsOut}, dropped ${s1.dropped - s0.dropped} | GCs: ${gc}`;
        process.stdout.write(line + '\n');
      }
    }
    const final = await daemon.call<DaemonStats>('stats');
    process.stdout.write(`daemon stack drops over the whole run: ${JSON.stringify(final.dropReasons)}\n`);
    // Medians: the machine is shared, so single rounds vary.
    for (const mode of dirs) {
      const acc = results[mode]!;
      const cpu = roles.map((x, i) => `${x.name} ${median(acc.cpu[i]!).toFixed(2)}`).join(', ');
      process.stdout.write(
        `median ${mode === 'U' ? 'upload  ' : 'download'} ${median(acc.mbps).toFixed(1).padStart(7)} MB/s (best ${Math.max(...acc.mbps).toFixed(1)})  CPU ms/MB: ${cpu}\n`,
      );
    }
  } finally {
    await Promise.all(roles.map((r) => r.stop().catch(() => undefined)));
    deleteNamespaces();
  }
}

process.on('SIGINT', () => {
  deleteNamespaces();
  process.exit(130);
});

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`pipeline: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    deleteNamespaces();
    process.exit(1);
  },
);
