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
 * Only the resolution is here; reading links is injected, so this stays testable without a disk.
 */
import path from 'node:path';

/** Reads symlinks on the real file system. */
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

/**
 * The real path under `root` that `clientPath` names. Relative client paths start at "/" (the
 * server's "home"). Every component before the result's last one is a real directory, not a link,
 * as of the moment it was checked; the last one is a link only when `followFinal` is false.
 * Components that do not exist are kept as they are, so a path to be created resolves too.
 */
export async function resolveClientPath(root: string, clientPath: string, options: ResolveOptions, links: LinkReader): Promise<string> {
  // "dir/link/" and "dir/link/." name the link's target, as for the kernel.
  const followFinal = options.followFinal || /\/\.?$/.test(clientPath);
  const done: string[] = [];
  let todo = components(clientPath);
  let hops = 0;
  while (todo.length > 0) {
    const name = todo[0];
    todo = todo.slice(1);
    if (name === '..') {
      if (done.length === 0) throw new SftpPathError(`${clientPath} leads out of the volumes`, 'EACCES');
      done.pop();
      continue;
    }
    done.push(name);
    if (todo.length === 0 && !followFinal) break;
    const target = await links.readLinkIfSymlink(realPathOf(root, done));
    if (target === undefined) continue;
    if (++hops > MAX_SYMLINK_HOPS) throw new SftpPathError(`${clientPath}: too many levels of symbolic links`, 'ELOOP');
    done.pop();
    if (target.startsWith('/')) done.length = 0;
    todo = [...components(target), ...todo];
  }
  return realPathOf(root, done);
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
