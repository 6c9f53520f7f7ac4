/**
 * The volumes on disk, reached so that the pod cannot race a request out of them (issue #15).
 *
 * The pod shares the volumes and may turn any directory in them into a symlink at any moment. A
 * path checked in user space and then handed to the kernel whole would be looked up again, and a
 * directory swapped for a link to "/" in between would lead the call out of the root. Node has no
 * openat(2), so the directory is held open instead, and named by its descriptor:
 *
 * - The walk (sftpPaths.ts) enters each directory by opening the next name in the one before with
 *   O_PATH | O_DIRECTORY | O_NOFOLLOW: it opens only a real directory, never a link, and the
 *   descriptor stays on that directory whatever happens to its path later.
 * - An operation names its target as `/proc/self/fd/<dir>/<name>`. The kernel takes
 *   `/proc/self/fd/<dir>` to the open directory itself, without looking up any path, and looks up
 *   only `name` in it — with the operation's own rule for a last component: lstat, readlink,
 *   unlink, rmdir, mkdir, symlink, rename, link and open with O_NOFOLLOW never follow a link there.
 * - Calls that would follow a link in the last component (chmod, truncate, utimes, opendir) first
 *   pin it with O_PATH | O_NOFOLLOW, refuse a link, and go through `/proc/self/fd/<pinned>`.
 *
 * `name` never holds "/" and is never "..", so nothing climbs out of the held directory. O_PATH
 * needs only search permission on the directories, as a path lookup does, and opens nothing (a
 * FIFO does not block, a device is not opened). This is Linux's /proc; the agent runs on nothing
 * else, and the server refuses to start where it does not work.
 */
import { closeSync, constants, fstat, open, promises as fsp, type Stats } from 'node:fs';
import { promisify } from 'node:util';
import type { Entry, Place, Tree } from './sftpPaths.js';

/** open(2)'s O_PATH, which node:fs does not export: its value on every Linux that Node runs on (not alpha, parisc, sparc). */
export const O_PATH = 0o10000000;
/** Opens a real directory, not a link to one, and only names it. */
export const O_DIR = O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW;

export const openFd = promisify(open) as (path: string, flags: number) => Promise<number>;
export const fstatFd = promisify(fstat) as (fd: number) => Promise<Stats>;

/** `name` in the directory open as `dirFd`; "." for the directory itself. */
export function inDir(dirFd: number, name: string): string {
  return `/proc/self/fd/${dirFd}/${name}`;
}

/** What `fd` is open on, for a call that follows the last component (chmod, opendir): that very file. */
export function fdItself(fd: number): string {
  return `/proc/self/fd/${fd}`;
}

/**
 * Closes a descriptor at once: an O_PATH one has nothing to flush, so this does not wait on the
 * disk. Each descriptor is closed exactly once, after its last use: a number closed early may be
 * handed to another open, and `/proc/self/fd/<n>` would then name something else.
 */
export function closeFd(fd: number): void {
  closeSync(fd);
}

/** The tree that the walk in sftpPaths.ts enters on disk: directories are open descriptors. */
export function diskTree(root: string): Tree<number> {
  const readLinkIfSymlink = async (dir: number, name: string): Promise<string | undefined> => {
    try {
      return await fsp.readlink(inDir(dir, name));
    } catch {
      // EINVAL (not a link), ENOENT: what the operation on the path reports is what matters.
      return undefined;
    }
  };
  return {
    async enterPath(names) {
      // The root is the agent's own directory (no volume user can change its path), already real.
      let dir = await openFd(root, O_PATH | constants.O_DIRECTORY);
      for (const name of names) {
        let next: number;
        try {
          next = await openFd(inDir(dir, name), O_DIR);
        } catch (error) {
          // A link here now was a directory when the walk first came by: the path changed meanwhile.
          closeFd(dir);
          return { error };
        }
        closeFd(dir);
        dir = next;
      }
      return { dir };
    },
    async enter(dir, name): Promise<Entry<number>> {
      try {
        return { dir: await openFd(inDir(dir, name), O_DIR) };
      } catch (error) {
        // O_PATH | O_NOFOLLOW | O_DIRECTORY fails with ENOTDIR on a link as on a file.
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'ENOTDIR' && code !== 'ELOOP') return { error };
        const target = await readLinkIfSymlink(dir, name);
        return target === undefined ? { error } : { link: target };
      }
    },
    readLinkIfSymlink,
    release: closeFd,
  };
}

/** A resolved client path on disk: its directory held open until `release`. */
export class DiskPath {
  constructor(
    /** The real path, for read-only checks and answers; never handed to the kernel. */
    readonly realPath: string,
    private readonly parent: Place<number>,
    /** The last component; undefined for the root. */
    readonly name: string | undefined,
  ) {}

  /** The descriptor of the directory holding the path (the root's own for the root). */
  get dirFd(): number {
    if ('error' in this.parent) throw this.parent.error;
    return this.parent.dir;
  }

  /** The path for a file system call: the last component looked up in the held directory. */
  get path(): string {
    return inDir(this.dirFd, this.name ?? '.');
  }

  release(): void {
    if ('dir' in this.parent) closeFd(this.parent.dir);
  }
}

/**
 * Fails unless files can be reached here as this module does: on Linux, with /proc mounted. The
 * server checks at start, so that it refuses to serve rather than serve without the guard.
 */
export async function checkDiskAccess(root: string): Promise<void> {
  if (process.platform !== 'linux') throw new Error('the SFTP server runs on Linux only: it reaches the volumes through /proc/self/fd');
  const fd = await openFd(root, O_PATH | constants.O_DIRECTORY);
  try {
    const [held, byPath] = await Promise.all([fsp.lstat(inDir(fd, '.')), fsp.stat(root)]);
    if (held.ino !== byPath.ino || held.dev !== byPath.dev) throw new Error('/proc/self/fd does not lead to open directories');
  } finally {
    closeFd(fd);
  }
}
