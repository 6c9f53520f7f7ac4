/**
 * What /proc says about a process: CPU time and memory, read from the host for a process of any
 * namespace (a pod's container process too). The parsers are pure; `processSample` reads.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

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
