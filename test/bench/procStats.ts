/**
 * What /proc says about a process: CPU time and memory, read from the host for a process of any
 * namespace (a pod's container process too). The parsers are pure; `processSample` reads.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** User + system time of all the process's threads, in clock ticks (fields 14 and 15 of /proc/PID/stat). */
export function cpuTicksOf(stat: string): number {
  // The command name (field 2) is in parentheses and may hold spaces and parentheses itself.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`not a /proc/PID/stat line: ${stat.slice(0, 200)}`);
  return utime + stime;
}

/** A "Name:   123 kB" field of /proc/PID/status, in KiB. */
export function statusKb(status: string, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
  if (!m) throw new Error(`/proc/PID/status has no ${field}`);
  return Number(m[1]);
}

let clockTicks: number | undefined;

/** Clock ticks per second (getconf CLK_TCK; 100 on Linux unless it says otherwise). */
export function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number(r.stdout?.trim());
    clockTicks = r.status === 0 && n > 0 ? n : 100;
  }
  return clockTicks;
}

export interface ProcessSample {
  pid: number;
  /** performance.now() when read. */
  at: number;
  cpuSeconds: number;
  rssKb: number;
  /** The peak RSS since the process started. */
  hwmKb: number;
}

/** CPU and memory of `pid` now; throws when it is gone. */
export function processSample(pid: number): ProcessSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { pid, at: performance.now(), cpuSeconds: cpuTicksOf(stat) / ticksPerSecond(), rssKb: statusKb(status, 'VmRSS'), hwmKb: statusKb(status, 'VmHWM') };
}

/**
 * A name for what a process is, from its command line, so that CPU can be summed by role: the
 * program's base name, or for an interpreter (node) the script's base name and its first argument
 * (`samples.js http-echo`, `telepath.js daemon`); `pod ` in front when its cgroup is a pod's.
 * Kernel threads (no command line) are all "kernel threads".
 */
export function roleOf(argv: readonly string[], comm: string, cgroup: string): string {
  if (argv.length === 0 || argv[0] === '') return 'kernel threads';
  const base = (s: string): string => s.slice(s.lastIndexOf('/') + 1);
  let name = base(argv[0]!);
  if (name === 'node' || name === 'nodejs' || comm === 'node') {
    const script = argv.findIndex((a, i) => i > 0 && /\.(c|m)?(j|t)s$/.test(a) && argv[i - 1] !== '--import' && argv[i - 1] !== '--require');
    if (script > 0) {
      const next = argv[script + 1];
      name = base(argv[script]!) + (next !== undefined && !next.startsWith('-') ? ` ${next}` : '');
    } else if (argv.includes('-e')) name = 'node -e';
  }
  return /kubepods/.test(cgroup) ? `pod ${name}` : name;
}

export interface MachineCpu {
  /** performance.now() when read. */
  at: number;
  /** Busy time of all cores (everything but idle and iowait in /proc/stat), in seconds. */
  busySeconds: number;
  /** Of it, the time in interrupts and soft interrupts (network receive work not charged to a process). */
  irqSeconds: number;
  /** pid → role and CPU seconds so far. */
  processes: Map<number, { role: string; seconds: number }>;
}

/** The first "cpu" line of /proc/stat: busy, and of it interrupts, in ticks. */
export function cpuLineTicks(procStat: string): { busy: number; irq: number } {
  const m = /^cpu\s+(.*)$/m.exec(procStat);
  if (!m) throw new Error('/proc/stat has no cpu line');
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = m[1]!.trim().split(/\s+/).map(Number);
  return { busy: user + nice + system + irq + softirq + steal, irq: irq + softirq };
}

/** Every process's CPU time and role now, and the machine's busy time. */
export function machineCpu(): MachineCpu {
  const tps = ticksPerSecond();
  const processes = new Map<number, { role: string; seconds: number }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (argv.at(-1) === '') argv.pop();
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const cgroup = readFileSync(`/proc/${d}/cgroup`, 'utf8');
      processes.set(Number(d), { role: roleOf(argv, comm, cgroup), seconds: cpuTicksOf(stat) / tps });
    } catch {
      // gone while we read it
    }
  }
  const t = cpuLineTicks(readFileSync('/proc/stat', 'utf8'));
  return { at: performance.now(), busySeconds: t.busy / tps, irqSeconds: t.irq / tps, processes };
}

export interface CpuShare {
  seconds: number;
  /** Cores busy on average: seconds / wall seconds. */
  cores: number;
  /** Roles, most CPU first; processes that started and ended in between are in `unattributed`. */
  roles: { role: string; seconds: number; cores: number }[];
  irqCores: number;
  unattributedCores: number;
}

/** CPU used between two readings, by role (a process that started in between counts from zero). */
export function cpuBetween(a: MachineCpu, b: MachineCpu): CpuShare {
  const wall = (b.at - a.at) / 1000;
  const byRole = new Map<string, number>();
  let attributed = 0;
  for (const [pid, p] of b.processes) {
    const before = a.processes.get(pid);
    const used = p.seconds - (before && before.role === p.role ? before.seconds : 0);
    if (used <= 0) continue;
    byRole.set(p.role, (byRole.get(p.role) ?? 0) + used);
    attributed += used;
  }
  const busy = b.busySeconds - a.busySeconds;
  const irq = b.irqSeconds - a.irqSeconds;
  const roles = [...byRole].map(([role, seconds]) => ({ role, seconds, cores: seconds / wall })).sort((x, y) => y.seconds - x.seconds);
  return { seconds: wall, cores: busy / wall, roles, irqCores: irq / wall, unattributedCores: Math.max(0, busy - irq - attributed) / wall };
}
