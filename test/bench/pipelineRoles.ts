/**
 * The processes of the pipeline benchmark (test/bench/pipeline.ts), one role each, run inside a
 * network namespace by it: `pipelineRoles.ts <role> [args]`. Each takes one JSON command per stdin
 * line and answers one JSON line on stdout, like daemon/src/network/tun/tunTestChild.ts:
 *   manager [WINDOW]           the real ManagerServerHost (test harness) on a unix socket
 *   sink HOST PORT             a TCP server the manager dials: swallows uploads, serves downloads
 *   daemon ADDRESS SESSION MTU ROUTE CIDR [WINDOW]
 *                              the real Vif: TUN device, userspace stack, one gRPC stream per flow
 *   client                     a kernel TCP client that uploads / downloads through the TUN
 * Every role answers `cpu` with its process.cpuUsage(), `profStart`/`profStop` with a CPU profile
 * (written to `file`), and `exit` by exiting.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import net from 'node:net';
import { constants as perfConstants, PerformanceObserver } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import v8 from 'node:v8';
import { credentials, type ClientDuplexStream } from '@grpc/grpc-js';
import type { TunnelMessage } from '../../protocol/src/gen/telepath/tunnel/v1/tunnel.js';
import { ManagerClient } from '../../protocol/src/manager/managerService.js';
import { createLogger } from '../../common/src/log/fileLogger.js';
import type { NetStack } from '../../daemon/src/network/net/stack.js';
import { Vif } from '../../daemon/src/network/vif/vif.js';
import { writeBytes } from './writeBytes.js';

type Handler = (cmd: Record<string, unknown>) => Promise<unknown> | unknown;

function out(message: object): void {
  process.stdout.write(JSON.stringify(message) + '\n');
}

function serve(handlers: Record<string, Handler>): void {
  const all: Record<string, Handler> = {
    cpu: () => {
      const u = process.cpuUsage();
      const spaces = v8.getHeapSpaceStatistics();
      const mb = (name: string) => (spaces.find((x) => x.space_name === name)?.space_size ?? 0) / 1048576;
      return { userUs: u.user, systemUs: u.system, ...gcStats, newSpaceMb: mb('new_space'), oldSpaceMb: mb('old_space') };
    },
    exit: () => setImmediate(() => process.exit(0)),
    threads: () => threadTimes(),
    profStart: () => profiler('Profiler.enable').then(() => profiler('Profiler.start')),
    profStop: async (cmd) => {
      const { profile } = (await profiler('Profiler.stop')) as { profile: object };
      writeFileSync(String(cmd.file), JSON.stringify(profile));
    },
    ...handlers,
  };
  createInterface({ input: process.stdin }).on('line', (line) => {
    const cmd = JSON.parse(line) as Record<string, unknown> & { id: number; op: string };
    Promise.resolve()
      .then(() => {
        const h = all[cmd.op];
        if (!h) throw new Error(`unknown op ${cmd.op}`);
        return h(cmd);
      })
      .then(
        (result) => out({ id: cmd.id, ok: true, result: result ?? null }),
        (err: unknown) => out({ id: cmd.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
      );
  });
  // The driver went away: do not outlive it (a role's own exit handler cleans up first).
  process.stdin.on('end', () => void Promise.resolve(all.exit!({ id: 0, op: 'exit' })).catch(() => process.exit(0)));
}

/** CPU ms per thread name (main, V8 workers, libuv pool) from /proc: what process.cpuUsage sums. */
function threadTimes(): Record<string, number> {
  const tick = 10; // USER_HZ = 100 on Linux
  const times: Record<string, number> = {};
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const key = tid === String(process.pid) ? 'main' : name;
      times[key] = (times[key] ?? 0) + (Number(f[11]) + Number(f[12])) * tick;
    } catch {
      // the thread ended
    }
  }
  return times;
}

/** Garbage collections so far (main-thread pauses; concurrent marking shows only in CPU time). */
const gcStats = { minorGcs: 0, majorGcs: 0, gcPauseMs: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = (e as { detail?: { kind?: number } }).detail?.kind;
    if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) gcStats.majorGcs++;
    else gcStats.minorGcs++;
    gcStats.gcPauseMs += e.duration;
  }
}).observe({ entryTypes: ['gc'] });

let session: Session | undefined;

/** A CPU profile of just the measured transfer (--cpu-prof would include start-up). */
function profiler(method: string): Promise<unknown> {
  if (!session) {
    session = new Session();
    session.connect();
  }
  const s = session;
  return new Promise((resolve, reject) => s.post(method, (err, result) => (err ? reject(err) : resolve(result))));
}

// ---------------------------------------------------------------- manager

async function managerRole(window: number): Promise<void> {
  const { startTestManager } = await import('../../traffic-manager/src/testing/managerHarness.js');
  if (window > 0) {
    // An experiment: the manager's HTTP/2 stream window other than its 8 MiB (set before binding).
    const { ManagerServerHost, setInitialWindow } = await import('../../traffic-manager/src/managerServer.js');
    const listen = ManagerServerHost.prototype.listen;
    ManagerServerHost.prototype.listen = function (this: InstanceType<typeof ManagerServerHost>, listener, address) {
      const servers = (this as unknown as { servers: Record<typeof listener, Parameters<typeof setInitialWindow>[0]> }).servers;
      setInitialWindow(servers[listener], window);
      return listen.call(this, listener, address);
    };
  }
  const m = await startTestManager();
  const sessionId = await m.arrive('bench');
  // Closing removes the manager's socket directory (otherwise left in /tmp by every run).
  serve({ exit: () => m.close().finally(() => setImmediate(() => process.exit(0))) });
  out({ event: 'ready', address: m.address, sessionId });
}

// ---------------------------------------------------------------- sink / source

const CHUNK = Buffer.alloc(256 * 1024, 0x62);

/** Protocol: the client sends 'U' or 'D' and a 64-bit length. U: that many bytes follow, and the
 * sink answers one byte once it has them all. D: the sink sends that many bytes and ends. */
function sinkRole(host: string, port: number): void {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.setNoDelay(true);
    let header = Buffer.alloc(0);
    let left = -1;
    socket.on('data', (d: Buffer) => {
      if (left < 0) {
        header = Buffer.concat([header, d]);
        if (header.length < 9) return;
        const mode = String.fromCharCode(header[0]!);
        const n = Number(header.readBigUInt64BE(1));
        const rest = header.length - 9;
        if (mode === 'D') {
          left = 0;
          writeBytes(socket, CHUNK, n);
          return;
        }
        left = n - rest;
      } else {
        left -= d.length;
      }
      if (left === 0) socket.end(Buffer.from('k'));
    });
    socket.on('error', () => socket.destroy());
  });
  server.listen(port, host, () => {
    serve({});
    out({ event: 'ready' });
  });
}

// ---------------------------------------------------------------- daemon

interface TunnelCounters {
  messagesOut: number;
  bytesOut: number;
  messagesIn: number;
  bytesIn: number;
}

/** The daemon's ManagerClient, with the channel options of daemon/src/user/session/managerConnection.ts,
 * and its Tunnel calls counted. */
function countingClient(address: string, counters: TunnelCounters, window: number): ManagerClient {
  const client = new ManagerClient(address, credentials.createInsecure(), {
    'grpc-node.flow_control_window': window > 0 ? window : 8 * 1024 * 1024,
    'grpc-node.max_session_memory': 64,
  });
  const tunnel = client.tunnel.bind(client);
  const counted = (...args: Parameters<typeof tunnel>): ClientDuplexStream<TunnelMessage, TunnelMessage> => {
    const call = tunnel(...args);
    const write = call.write.bind(call) as (m: TunnelMessage, ...rest: unknown[]) => boolean;
    call.write = ((m: TunnelMessage, ...rest: unknown[]) => {
      if (m.message?.$case === 'data') {
        counters.messagesOut++;
        counters.bytesOut += m.message.value.byteLength;
      }
      return write(m, ...rest);
    }) as typeof call.write;
    call.on('data', (m: TunnelMessage) => {
      if (m.message?.$case === 'data') {
        counters.messagesIn++;
        counters.bytesIn += m.message.value.byteLength;
      }
    });
    return call;
  };
  client.tunnel = counted as typeof client.tunnel;
  return client;
}

async function daemonRole(address: string, sessionId: string, mtu: number, route: string, localCidr: string, window: number): Promise<void> {
  const counters: TunnelCounters = { messagesOut: 0, bytesOut: 0, messagesIn: 0, bytesIn: 0 };
  const client = countingClient(address, counters, window);
  const log = createLogger({ level: 'warn', write: (l) => process.stderr.write(l) }, 'bench');
  const vif = await Vif.start({ client, sessionId: () => sessionId, log, name: 'tpbench%d', mtu });
  await vif.tun.addAddress(localCidr);
  await vif.setRoutes([route]);
  const stack = (vif as unknown as { stack: NetStack }).stack;
  serve({
    stats: () => ({
      ...counters,
      packetsIn: stack.stats.packetsIn,
      packetsOut: stack.stats.packetsOut,
      dropped: stack.stats.dropped,
      dropReasons: Object.fromEntries(stack.stats.dropReasons),
    }),
  });
  out({ event: 'ready', tun: vif.tun.name, mtu: vif.tun.mtu });
}

// ---------------------------------------------------------------- client

function clientTransfer(host: string, port: number, mode: 'U' | 'D', bytes: number): Promise<{ ms: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, allowHalfOpen: true });
    socket.setNoDelay(true);
    let t0 = 0;
    let got = 0;
    socket.on('error', reject);
    socket.on('connect', () => {
      t0 = performance.now();
      const header = Buffer.alloc(9);
      header[0] = mode.charCodeAt(0);
      header.writeBigUInt64BE(BigInt(bytes), 1);
      socket.write(header);
      if (mode === 'U') writeBytes(socket, CHUNK, bytes);
    });
    socket.on('data', (d: Buffer) => (got += d.length));
    socket.on('end', () => {
      const ms = performance.now() - t0;
      socket.end();
      if (mode === 'D' && got !== bytes) reject(new Error(`downloaded ${got} of ${bytes} bytes`));
      else if (mode === 'U' && got !== 1) reject(new Error('no acknowledgement from the sink'));
      else resolve({ ms, bytes });
    });
  });
}

function clientRole(): void {
  serve({
    transfer: (cmd) => clientTransfer(String(cmd.host), Number(cmd.port), cmd.mode === 'D' ? 'D' : 'U', Number(cmd.bytes)),
  });
  out({ event: 'ready' });
}

// ---------------------------------------------------------------- main

const [role, ...args] = process.argv.slice(2);
switch (role) {
  case 'manager':
    void managerRole(Number(args[0] ?? 0));
    break;
  case 'sink':
    sinkRole(args[0]!, Number(args[1]));
    break;
  case 'daemon':
    void daemonRole(args[0]!, args[1]!, Number(args[2]), args[3]!, args[4]!, Number(args[5] ?? 0));
    break;
  case 'client':
    clientRole();
    break;
  default:
    process.stderr.write(`unknown role ${role}\n`);
    process.exit(2);
}
