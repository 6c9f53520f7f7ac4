/**
 * TUN micro benchmark (not a test). As root:
 *   node --import tsx daemon/src/network/tun/bench.ts [--seconds 3] [--drain 20000] [--rounds 5]
 * In a network namespace of its own (tp-tunbench-<pid>, deleted at the end) it measures, with
 * 1500-byte IPv4/UDP packets:
 *   read, live   a kernel UDP sender (another node process) → device → JS, packets/s;
 *   read, drain  the kernel queue is filled while reading is paused, then drained: the read path
 *                alone, without the sender competing for the CPU;
 *   write        prebuilt packets → device → a kernel UDP socket, with writeBatch and write.
 * "packed" is how LinuxTun delivers (one Buffer per batch, sliced in JS); "raw" the same batch left
 * unsliced (the cost of slicing); "separate" has the addon make one Buffer per packet.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';
import { LinuxTun } from './tun.linux.js';
import { loadTunAddon, type NativeTun } from './tunAddon.js';
import { udpPacket } from './tunTestPackets.js';

const LOCAL = '10.99.0.1';
const PEER = '10.99.0.2';
const DEV = 'tpbench0';
const PAYLOAD = 1500 - 28;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const argText = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

function out(message: object): void {
  process.stdout.write(JSON.stringify(message) + '\n');
}

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

// ---------------------------------------------------------------- roles (inside the namespace)

interface Counted {
  packets: number;
  batches: number;
  seconds: number;
  /** CPU time of the measuring process: packets/cpuSeconds is steadier than wall-clock rates
   * when other work shares the machine. */
  cpuSeconds?: number;
}

type Reader = { pause(): void; resume(): void; close(): void };

/** Opens the device and counts packets delivered the `mode` way: `packed` through LinuxTun (one
 * Buffer per batch, sliced into per-packet Buffers in JS), `raw` the same batch not sliced, or
 * `separate` (the addon makes a Buffer per packet). */
function openReader(mode: string, onBatch: (count: number) => void): Promise<Reader> {
  if (mode === 'packed') {
    const tun = LinuxTun.open({ name: DEV, mtu: 1500 });
    tun.onPackets((packets) => onBatch(packets.length));
    return tun.addAddress(`${LOCAL}/24`).then(() => tun);
  }
  const addon = loadTunAddon();
  const native: NativeTun = new addon.Tun(DEV);
  addon.setUp(DEV);
  native.start(
    (err, _batch, count) => {
      if (err) throw err;
      onBatch(count ?? 0);
    },
    new Uint32Array(256),
    mode === 'separate',
  );
  ip('addr', 'add', `${LOCAL}/24`, 'dev', DEV);
  return Promise.resolve(native);
}

async function readerRole(): Promise<void> {
  const mode = argText('mode') ?? 'packed';
  const drain = arg('drain', 0);
  let packets = 0;
  let batches = 0;
  let onCount: () => void = () => {};
  const reader = await openReader(mode, (n) => {
    packets += n;
    batches++;
    onCount();
  });
  const lines = createInterface({ input: process.stdin });
  if (drain > 0) {
    ip('link', 'set', 'dev', DEV, 'txqueuelen', String(drain + 1000));
    reader.pause();
    out({ ready: true });
    for await (const line of lines) {
      if (line !== 'go') break;
      packets = 0;
      batches = 0;
      const t0 = process.hrtime.bigint();
      const cpu0 = process.cpuUsage();
      const done = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 5000);
        onCount = () => {
          if (packets >= drain) {
            clearTimeout(timer);
            resolve();
          }
        };
      });
      reader.resume();
      await done;
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu = process.cpuUsage(cpu0);
      reader.pause();
      out({ packets, batches, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
    }
  } else {
    const seconds = arg('seconds', 3);
    out({ ready: true });
    // Count over `seconds` once the sender is going (not from the router solicitation that
    // the kernel sends when the link comes up).
    await new Promise<void>((resolve) => {
      onCount = () => {
        if (packets < 1000) return;
        onCount = () => {};
        const start = packets;
        const t0 = process.hrtime.bigint();
        const b0 = batches;
        setTimeout(() => {
          const s = Number(process.hrtime.bigint() - t0) / 1e9;
          out({ packets: packets - start, batches: batches - b0, seconds: s });
          resolve();
        }, seconds * 1000);
      };
    });
  }
  reader.close();
  lines.close();
}

async function senderRole(): Promise<void> {
  const seconds = arg('seconds', 0);
  const count = arg('count', 0);
  const s = createSocket('udp4');
  const buf = Buffer.alloc(PAYLOAD, 0x61);
  let sent = 0;
  let errors = 0;
  const t0 = process.hrtime.bigint();
  const deadline = Date.now() + seconds * 1000;
  await new Promise<void>((resolve) => {
    let inflight = 0;
    const pump = (): void => {
      while (inflight < 64 && (count ? sent + inflight < count : Date.now() < deadline)) {
        inflight++;
        s.send(buf, 9, PEER, (err) => {
          inflight--;
          if (err) errors++;
          else sent++;
          pump();
        });
      }
      if (inflight === 0) resolve();
    };
    pump();
  });
  s.close();
  out({ sent, errors, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
}

async function sinkRole(): Promise<void> {
  const s = createSocket({ type: 'udp4', recvBufferSize: 8 << 20 });
  let received = 0;
  s.on('message', () => received++);
  await new Promise<void>((resolve) => s.bind(5001, LOCAL, resolve));
  out({ ready: true });
  for await (const line of createInterface({ input: process.stdin })) if (line === 'stop') break;
  s.close();
  out({ received });
}

async function writerRole(): Promise<void> {
  const seconds = arg('seconds', 3);
  const tun = LinuxTun.open({ name: DEV, mtu: 1500 });
  await tun.addAddress(`${LOCAL}/24`);
  out({ ready: true });
  for await (const line of createInterface({ input: process.stdin })) if (line === 'go') break;
  const packets = Array.from({ length: 256 }, (_, i) =>
    udpPacket({ src: PEER, dst: LOCAL, srcPort: 10000 + i, dstPort: 5001 }, Buffer.alloc(PAYLOAD, i)),
  );
  const measure = (write: () => void, perCall: number): Counted => {
    const t0 = process.hrtime.bigint();
    const cpu0 = process.cpuUsage();
    const end = t0 + BigInt(seconds * 1e9);
    let n = 0;
    for (;;) {
      write();
      n += perCall;
      if ((n & 4095) === 0 && process.hrtime.bigint() >= end) break;
    }
    const cpu = process.cpuUsage(cpu0);
    return { packets: n, batches: n / perCall, seconds: Number(process.hrtime.bigint() - t0) / 1e9, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
  };
  const batch = measure(() => tun.writeBatch(packets), 256);
  let i = 0;
  const single = measure(() => tun.write(packets[i++ & 255]), 1);
  tun.close();
  out({ batch, single });
}

// ---------------------------------------------------------------- orchestration (host side)

const NS = `tp-tunbench-${process.pid}`;

class Child {
  readonly proc: ChildProcessWithoutNullStreams;
  private readonly queue: object[] = [];
  private wake: (() => void) | undefined;

  constructor(role: string, args: string[]) {
    this.proc = spawn('ip', ['netns', 'exec', NS, process.execPath, '--import', 'tsx', __filename, role, ...args]);
    this.proc.stderr.pipe(process.stderr);
    createInterface({ input: this.proc.stdout }).on('line', (l) => {
      this.queue.push(JSON.parse(l) as object);
      this.wake?.();
    });
  }

  async next<T>(): Promise<T> {
    while (this.queue.length === 0) await new Promise<void>((r) => (this.wake = r));
    return this.queue.shift() as T;
  }

  send(line: string): void {
    this.proc.stdin.write(line + '\n');
  }

  async exit(): Promise<void> {
    this.proc.stdin.end();
    if (this.proc.exitCode === null) await new Promise((r) => this.proc.once('exit', r));
  }
}


const fmt = (pps: number): string => `${Math.round(pps / 1000)}k pkt/s (${((pps * 1500) / 1e6).toFixed(0)} MB/s)`;

async function main(): Promise<void> {
  const seconds = arg('seconds', 3);
  const drain = arg('drain', 20000);
  const rounds = arg('rounds', 5);
  ip('netns', 'add', NS);
  const cleanup = (): void => void spawnSync('ip', ['netns', 'del', NS]);
  process.once('exit', cleanup);
  process.once('SIGINT', () => process.exit(130));
  ip('-n', NS, 'link', 'set', 'lo', 'up');
  try {
    for (const mode of ['packed', 'separate']) {
      const reader = new Child('reader', ['--mode', mode, '--seconds', String(seconds)]);
      await reader.next();
      const sender = new Child('sender', ['--seconds', String(seconds + 1)]);
      const r = await reader.next<Counted>();
      const s = await sender.next<{ sent: number; seconds: number }>();
      await Promise.all([reader.exit(), sender.exit()]);
      const pps = r.packets / r.seconds;
      out({
        test: `read live (${mode})`,
        result: fmt(pps),
        perBatch: +(r.packets / r.batches).toFixed(1),
        senderPps: Math.round(s.sent / s.seconds),
      });
    }
    for (const mode of ['packed', 'raw', 'separate']) {
      const reader = new Child('reader', ['--mode', mode, '--drain', String(drain)]);
      await reader.next();
      const results: Counted[] = [];
      for (let i = 0; i < rounds; i++) {
        const sender = new Child('sender', ['--count', String(drain)]);
        await sender.next();
        await sender.exit();
        reader.send('go');
        results.push(await reader.next<Counted>());
      }
      await reader.exit();
      const pps = results.map((r) => r.packets / r.seconds).sort((a, b) => a - b);
      const perCpu = results.map((r) => r.packets / (r.cpuSeconds ?? NaN)).sort((a, b) => a - b);
      out({
        test: `read drain (${mode}), ${drain} queued`,
        result: `median ${fmt(pps[pps.length >> 1])}, best ${fmt(pps[pps.length - 1])}`,
        perCpuSecond: `median ${fmt(perCpu[perCpu.length >> 1])}`,
        delivered: results.map((r) => r.packets),
        perBatch: +(results[0].packets / results[0].batches).toFixed(1),
      });
    }
    const writer = new Child('writer', ['--seconds', String(seconds)]);
    await writer.next();
    const sink = new Child('sink', []);
    await sink.next();
    writer.send('go');
    const w = await writer.next<{ batch: Counted; single: Counted }>();
    sink.send('stop');
    const k = await sink.next<{ received: number }>();
    await Promise.all([writer.exit(), sink.exit()]);
    for (const [name, c] of [['writeBatch of 256', w.batch], ['write', w.single]] as const) {
      out({ test: `write (${name})`, result: fmt(c.packets / c.seconds), perCpuSecond: fmt(c.packets / (c.cpuSeconds ?? NaN)) });
    }
    out({
      test: 'write, received by the kernel socket',
      result: `${k.received} of ${w.batch.packets + w.single.packets} (the rest overflowed its receive buffer)`,
    });
  } finally {
    cleanup();
  }
}

const roles: Record<string, () => Promise<void>> = {
  reader: readerRole,
  sender: senderRole,
  sink: sinkRole,
  writer: writerRole,
};
const role = roles[process.argv[2] ?? ''];
(role ?? main)().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
