/**
 * The read-ahead of a volume mount. A program reading a file through sshfs waits, round trip
 * after round trip through the port-forward, for what the kernel reads ahead of it, and the
 * kernel's read-ahead for a FUSE mount is 128 KiB: reading a file then ran at about 50 MB/s, and
 * at 1 MiB at about 80 (docs/benchmarks.md). The setting is the mount's own (its sysfs entry
 * goes with it) and only root may change it: a root daemon sets it itself; a daemon running as
 * the user asks its network role, which sets it only for a FUSE mount that user made.
 */
import fs from 'node:fs';
import path from 'node:path';

export const READ_AHEAD_KB = 1024;

export interface MountinfoEntry {
  /** major:minor, e.g. "0:53": also the name of the mount's entry in /sys/class/bdi. */
  device: string;
  mountPoint: string;
  /** e.g. "fuse.sshfs". */
  fsType: string;
  /** The file system's own options, e.g. "rw,user_id=1000,group_id=1000" for FUSE. */
  superOptions: string;
}

/** The mounts /proc/PID/mountinfo lists (proc(5)), mount points unescaped. */
export function parseMountinfo(text: string): MountinfoEntry[] {
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return text
    .split('\n')
    .map((line) => line.split(' '))
    .filter((f) => f.length > 4)
    .map((f) => {
      // Optional fields (shared:N, master:N, …) end with a lone "-"; then type, source, options.
      const dash = f.indexOf('-', 6);
      return {
        device: f[2]!,
        mountPoint: unescape(f[4]!),
        fsType: dash > 0 ? (f[dash + 1] ?? '') : '',
        superOptions: dash > 0 ? (f[dash + 3] ?? '') : '',
      };
    });
}

/** The mount at `dir` (not one below or above it; the last one when mounts are stacked), or undefined. */
export function mountAt(dir: string): MountinfoEntry | undefined {
  try {
    const wanted = path.resolve(dir);
    return parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).filter((m) => m.mountPoint === wanted).pop();
  } catch {
    return undefined;
  }
}

/**
 * Why the network role, serving the user `uid`, must not touch the mount at `dir`; undefined when
 * it may: a FUSE mount that this user made (its `user_id` option, which the kernel sets from the
 * process that mounted it).
 */
export function readAheadRefusal(entry: MountinfoEntry | undefined, dir: string, uid: number): string | undefined {
  if (!path.isAbsolute(dir)) return `${dir} is not an absolute path`;
  if (!entry) return `${dir} is not a mount point`;
  if (entry.fsType !== 'fuse' && !entry.fsType.startsWith('fuse.')) return `${dir} is a ${entry.fsType} mount, not FUSE`;
  if (!entry.superOptions.split(',').includes(`user_id=${uid}`)) return `${dir} was not mounted by uid ${uid}`;
  return undefined;
}

/** Sets the read-ahead of the mount `entry` to READ_AHEAD_KB; returns the sysfs file written. Throws why not. */
export function setReadAhead(entry: MountinfoEntry, sysfs = '/sys/class/bdi'): string {
  const file = path.join(sysfs, entry.device, 'read_ahead_kb');
  fs.writeFileSync(file, `${READ_AHEAD_KB}\n`);
  return file;
}
