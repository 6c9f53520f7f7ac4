/**
 * Where a path named by an SFTP client lives on the agent's disk, and whether a change there is
 * allowed.
 *
 * The client sees the app container's file system: "/etc/sample/config.txt" is the app's path, and
 * the webhook mounted that volume into the agent at `root` + the same path. The server acts like a
 * chroot at `root`: every symlink on the way is followed here, in user space, instead of by the
 * kernel, so that neither a link target like `/etc/passwd` nor `../../../..` can lead out of the
 * volumes. Absolute targets are taken relative to `root`: links inside the app's volumes are
 * written for the app's view of the file system, which is exactly what `root` mirrors.
 *
 * The walk enters one directory at a time through a `Tree` and never lets the kernel follow a link
 * or "..": on disk (sftpDisk.ts) each directory is entered through the open descriptor of the one
 * before, so the pod cannot swap a directory on the way for a link between two steps, nor after
 * the last one (issue #15). Only the walk is here; the tree is injected, so this stays testable
 * without a disk.
 */
import path from 'node:path';

/** A directory the walk stands in, or the error that entering it gave (ENOENT, ENOTDIR, EACCES, …). */
export type Place<D> = { dir: D } | { error: unknown };

/** What a name in a directory turned out to be: a directory (entered), a symlink, or the error. */
export type Entry<D> = { dir: D } | { link: string } | { error: unknown };

/**
 * The file system as the walk sees it. `D` is an entered directory: an open descriptor on disk, a
 * path in the tests. Every `D` handed out is released exactly once, by the walk or its caller.
 */
export interface Tree<D> {
  /** The directory `names` lead to from the root, each entered as a directory and none followed as a link ([] is the root). */
  enterPath(names: readonly string[]): Promise<Place<D>>;
  /** `name` in `dir`: a directory, entered; a symlink, with its target; or why neither. */
  enter(dir: D, name: string): Promise<Entry<D>>;
  /** The target of `name` in `dir` when it is a symlink; undefined when it is anything else or missing. */
  readLinkIfSymlink(dir: D, name: string): Promise<string | undefined>;
  release(dir: D): void;
}

/** Reads symlinks by real path: the tree of resolveClientPath. */
export interface LinkReader {
  /** The target of `realPath` when it is a symlink; undefined when it is anything else or missing. */
  readLinkIfSymlink(realPath: string): Promise<string | undefined>;
}

/** A path that cannot be served; `code` is the errno it stands for, so it maps like one. */
export class SftpPathError extends Error {
  constructor(
    message: string,
    readonly code: 'EACCES' | 'ELOOP',
  ) {
    super(message);
    this.name = 'SftpPathError';
  }
}

/** Linux's limit (MAXSYMLINKS), so a link loop fails as it would for the app. */
const MAX_SYMLINK_HOPS = 40;

export interface ResolveOptions {
  /**
   * Follow a symlink in the last component (STAT, OPEN, …) or name the link itself (LSTAT,
   * READLINK, REMOVE, RENAME, …). Links before the last component are always followed.
   */
  followFinal: boolean;
}

/** Where a client path leads: a name in a directory that the walk holds entered. */
export interface Resolved<D> {
  /** The real path under the root, for read-only checks and REALPATH answers. */
  realPath: string;
  /**
   * The directory holding `name`, entered (the caller releases it), or the error that stood in the
   * way, which an operation on the path fails with.
   */
  parent: Place<D>;
  /** The last component; undefined when the path is the root, and `parent` the root itself. */
  name: string | undefined;
}

/**
 * Resolves `clientPath` by walking `tree`. Relative client paths start at "/" (the server's
 * "home"). Every component before the last is entered as a directory, never followed as a link by
 * the kernel; the last is a link only when `followFinal` is false. A component that cannot be
 * entered (missing, a file, not searchable) stays in the path, and the operation fails with what
 * entering it gave; a last component need not exist, so a path to be created resolves too.
 *
 * ".." drops the last name and enters the names left again from the root, instead of asking the
 * kernel for the parent: a directory moved since it was entered has another parent, which could
 * lie above the root.
 */
export async function walkClientPath<D>(root: string, clientPath: string, options: ResolveOptions, tree: Tree<D>): Promise<Resolved<D>> {
  // "dir/link/" and "dir/link/." name the link's target, as for the kernel.
  const followFinal = options.followFinal || /\/\.?$/.test(clientPath);
  const release = (place: Place<D> | Entry<D>): void => {
    if ('dir' in place) tree.release(place.dir);
  };
  const done: string[] = [];
  let todo = components(clientPath);
  let hops = 0;
  // Always the place that `done` names.
  let here: Place<D> = await tree.enterPath([]);
  const enterAgain = async (): Promise<void> => {
    release(here);
    here = { error: undefined };
    here = await tree.enterPath(done);
  };
  try {
    let name: string | undefined;
    while (todo.length > 0) {
      const next = todo[0];
      todo = todo.slice(1);
      if (next === '..') {
        if (done.length === 0) throw new SftpPathError(`${clientPath} leads out of the volumes`, 'EACCES');
        done.pop();
        await enterAgain();
        continue;
      }
      const last = todo.length === 0;
      if (last && !followFinal) {
        name = next;
        break;
      }
      // Under a directory that could not be entered nothing is looked at: the path fails there.
      let entry: Entry<D> = here;
      if ('dir' in here) {
        if (last) {
          const target = await tree.readLinkIfSymlink(here.dir, next);
          if (target !== undefined) entry = { link: target };
        } else entry = await tree.enter(here.dir, next);
      }
      if ('link' in entry) {
        if (++hops > MAX_SYMLINK_HOPS) throw new SftpPathError(`${clientPath}: too many levels of symbolic links`, 'ELOOP');
        if (entry.link.startsWith('/')) {
          done.length = 0;
          await enterAgain();
        }
        todo = [...components(entry.link), ...todo];
        continue;
      }
      if (last) {
        name = next;
        break;
      }
      done.push(next);
      if (entry !== here) {
        release(here);
        here = entry;
      }
    }
    if (name === undefined && done.length > 0) {
      // Ended in a directory itself ("/var/cache/..", a link to "/var"): named from its parent too.
      name = done.pop() as string;
      await enterAgain();
    }
    if (name !== undefined) done.push(name);
    return { realPath: realPathOf(root, done), parent: here, name };
  } catch (err) {
    release(here);
    throw err;
  }
}

/**
 * The real path under `root` that `clientPath` names: the walk over links read by real path, for
 * reasoning and testing the rules without a disk. The server walks the disk (sftpDisk.ts).
 */
export async function resolveClientPath(root: string, clientPath: string, options: ResolveOptions, links: LinkReader): Promise<string> {
  const tree: Tree<string> = {
    enterPath: (names) => Promise.resolve({ dir: realPathOf(root, names) }),
    enter: async (dir, name) => {
      const p = path.join(dir, name);
      const target = await links.readLinkIfSymlink(p);
      return target === undefined ? { dir: p } : { link: target };
    },
    readLinkIfSymlink: (dir, name) => links.readLinkIfSymlink(path.join(dir, name)),
    release: () => undefined,
  };
  return (await walkClientPath(root, clientPath, options, tree)).realPath;
}

/** The client's view of a real path under `root` ("/" for root itself). */
export function clientPathOf(root: string, realPath: string): string {
  const rel = path.relative(root, realPath);
  if (rel === '') return '/';
  if (rel === '..' || rel.startsWith('../') || path.isAbsolute(rel)) throw new SftpPathError(`${realPath} is outside ${root}`, 'EACCES');
  return `/${rel.split(path.sep).join('/')}`;
}

/**
 * Whether changing `realPath` (writing, creating, removing, renaming, chmod) would change a
 * read-only volume: the path is one of `readOnlyPaths`, lies inside one, or holds one (renaming or
 * removing a directory would take the mount with it).
 */
export function touchesReadOnly(realPath: string, readOnlyPaths: readonly string[]): boolean {
  return readOnlyPaths.some((ro) => isWithin(realPath, ro) || isWithin(ro, realPath));
}

/** Whether `p` is `dir` or lies inside it; both absolute and normalized. */
export function isWithin(p: string, dir: string): boolean {
  if (p === dir) return true;
  return p.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

/** The names in a path, without the empty and "." ones. */
function components(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

function realPathOf(root: string, names: readonly string[]): string {
  // Names never hold "/" nor are "." or "..", so joining cannot climb above root.
  return names.length === 0 ? root : path.join(root, ...names);
}
