/**
 * One SFTP session (version 3, as OpenSSH and sshfs speak it) over the agent's volume mounts:
 * every request maps to node:fs on a path under the root (see sftpPaths.ts for how client paths,
 * symlinks and read-only volumes are handled, and sftpDisk.ts for how a path reaches the disk
 * through held directories, so that the pod cannot race a request out of the volumes).
 *
 * Requests run in the order they came, except that those that only look run side by side (see
 * sftpRequestOrder.ts); answers may leave in any order, as the protocol allows. Open files and
 * directories live in a handle table of this session and are closed when the channel goes away.
 */
import { constants, promises as fsp } from 'node:fs';
import type { Stats } from 'node:fs';
import type { Attributes, SFTPWrapper } from 'ssh2';
import type { Logger } from '../../../common/src/log/jsonLogger.js';
import { closeFd, diskTree, DiskPath, fdItself, fstatFd, inDir, O_DIR, O_PATH, openFd } from './sftpDisk.js';
import { fsOpenFlags, opensForWriting } from './sftpOpenFlags.js';
import { RequestOrder } from './sftpRequestOrder.js';
import { clientPathOf, touchesReadOnly, walkClientPath } from './sftpPaths.js';
import { attrsFromStats, longname, SftpStatus, statusForError } from './sftpStatus.js';
import type { WriteBacklog } from './writeBacklog.js';

export interface SftpSessionOptions {
  /** Real, absolute path (no symlinks) that the client sees as "/". */
  root: string;
  /** Real paths under `root` that refuse every change. */
  readOnlyPaths: readonly string[];
  logger: Logger;
  /** Counts the WRITE data held until it is on disk (shared by the server's sessions). */
  writeBacklog?: WriteBacklog;
  /** For tests; the clock that `ls -l` dates are relative to. */
  now?: () => number;
  /** For tests; runs after a client path is resolved and before it is used (to race it). */
  afterResolve?: (clientPath: string) => Promise<void>;
}

/** Like OpenSSH's sftp-server (SFTP_MAX_MSG_LENGTH - 1024): clients cope with short reads. */
const MAX_READ_BYTES = 255 * 1024;
/** Entries per READDIR answer: with names and `ls -l` lines, well under a 256 KiB packet. */
const READDIR_BATCH = 100;
/** A client that opens without closing must not exhaust the agent's file descriptors. */
const MAX_HANDLES = 1024;

interface FileHandle {
  kind: 'file';
  fh: fsp.FileHandle;
  /** The file lies in a read-only volume: FSETSTAT is refused like SETSTAT. */
  readOnly: boolean;
}

interface DirHandle {
  kind: 'dir';
  /** The directory, open with O_PATH: its entries are looked at through it. */
  fd: number;
  names: string[];
  /** The attributes of "..", taken at OPENDIR. */
  parentStats: Stats;
  next: number;
}

type Handle = FileHandle | DirHandle;

/** REALPATH and READLINK answer names without attributes; ssh2 sends the fields that are numbers. */
const NO_ATTRS = {} as Attributes;

/** Answers the requests of `sftp` until its channel closes. */
export function serveSftp(sftp: SFTPWrapper, options: SftpSessionOptions): void {
  new SftpSession(sftp, options).start();
}

class SftpSession {
  private readonly handles = new Map<number, Handle>();
  private readonly order = new RequestOrder();
  private nextHandle = 1;
  private closed = false;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(
    private readonly sftp: SFTPWrapper,
    private readonly options: SftpSessionOptions,
  ) {
    this.log = options.logger;
    this.now = options.now ?? Date.now;
  }

  start(): void {
    const s = this.sftp;
    s.on('REALPATH', (id, p) => this.run(id, 'REALPATH', 'shared', () => this.realpath(id, p)));
    s.on('STAT', (id, p) => this.run(id, 'STAT', 'shared', () => this.stat(id, p, true)));
    s.on('LSTAT', (id, p) => this.run(id, 'LSTAT', 'shared', () => this.stat(id, p, false)));
    s.on('FSTAT', (id, h) => this.run(id, 'FSTAT', 'shared', () => this.fstat(id, h)));
    s.on('OPEN', (id, p, flags, attrs) => this.run(id, 'OPEN', 'exclusive', () => this.open(id, p, flags, attrs)));
    s.on('READ', (id, h, offset, len) => this.run(id, 'READ', 'shared', () => this.read(id, h, offset, len)));
    s.on('WRITE', (id, h, offset, data) => {
      const backlog = this.options.writeBacklog;
      backlog?.take(data.length);
      this.run(id, 'WRITE', 'exclusive', () => this.write(id, h, offset, data).finally(() => backlog?.give(data.length)));
    });
    s.on('CLOSE', (id, h) => this.run(id, 'CLOSE', 'exclusive', () => this.closeHandle(id, h)));
    s.on('OPENDIR', (id, p) => this.run(id, 'OPENDIR', 'exclusive', () => this.opendir(id, p)));
    s.on('READDIR', (id, h) => this.run(id, 'READDIR', 'exclusive', () => this.readdir(id, h)));
    s.on('MKDIR', (id, p, attrs) => this.run(id, 'MKDIR', 'exclusive', () => this.mkdir(id, p, attrs)));
    s.on('RMDIR', (id, p) => this.run(id, 'RMDIR', 'exclusive', () => this.change(id, p, (at) => fsp.rmdir(at))));
    s.on('REMOVE', (id, p) => this.run(id, 'REMOVE', 'exclusive', () => this.change(id, p, (at) => fsp.unlink(at))));
    s.on('RENAME', (id, from, to) => this.run(id, 'RENAME', 'exclusive', () => this.rename(id, from, to)));
    s.on('SETSTAT', (id, p, attrs) => this.run(id, 'SETSTAT', 'exclusive', () => this.setstat(id, p, attrs)));
    s.on('FSETSTAT', (id, h, attrs) => this.run(id, 'FSETSTAT', 'exclusive', () => this.fsetstat(id, h, attrs)));
    s.on('READLINK', (id, p) => this.run(id, 'READLINK', 'shared', () => this.readlink(id, p)));
    // ssh2 hands over (link path, target) in this order for every client, OpenSSH's swapped wire
    // order included; its typings name them the other way round.
    s.on('SYMLINK', (id, linkPath, target) => this.run(id, 'SYMLINK', 'exclusive', () => this.symlink(id, linkPath, target)));
    s.on('EXTENDED', (id, name, data) => this.run(id, name, 'exclusive', () => this.extended(id, name, data)));
    s.on('error', (err: Error) => this.log.warn('sftp session error', { error: err.message }));
    s.on('end', () => this.dispose());
    s.on('close', () => this.dispose());
  }

  /**
   * Runs one request in its turn (see RequestOrder: "shared" for those that only look) and
   * answers its failure, whatever it was, with a status.
   */
  private run(id: number, op: string, mode: 'shared' | 'exclusive', fn: () => Promise<void>): void {
    this.order[mode](() =>
      fn().catch((err: unknown) => {
        const failure = statusForError(err);
        if (failure.code === SftpStatus.FAILURE) this.log.debug('sftp request failed', { op, error: failure.message });
        this.reply(() => this.sftp.status(id, failure.code, failure.message));
      }),
    );
  }

  /** Answers unless the channel has gone: a late answer to a dead session is no error. */
  private reply(send: () => void): void {
    if (this.closed) return;
    try {
      send();
    } catch (err) {
      this.log.debug('sftp answer not sent', { error: err instanceof Error ? err.message : String(err) });
    }
  }

  private ok(id: number): void {
    this.reply(() => this.sftp.status(id, SftpStatus.OK));
  }

  private deny(id: number, clientPath: string): void {
    this.reply(() => this.sftp.status(id, SftpStatus.PERMISSION_DENIED, `${clientPath} is on a read-only volume`));
  }

  /**
   * Runs `fn` on what `clientPath` names, the directory holding it open until `fn` has settled:
   * `fn` reaches the disk only through `target.path` (or `dirFd`), never by the real path.
   */
  private async at<T>(clientPath: string, followFinal: boolean, fn: (target: DiskPath) => Promise<T>): Promise<T> {
    const r = await walkClientPath(this.options.root, clientPath, { followFinal }, diskTree(this.options.root));
    const target = new DiskPath(r.realPath, r.parent, r.name);
    try {
      await this.options.afterResolve?.(clientPath);
      return await fn(target);
    } finally {
      target.release();
    }
  }

  private readOnly(realPath: string): boolean {
    return touchesReadOnly(realPath, this.options.readOnlyPaths);
  }

  private async realpath(id: number, clientPath: string): Promise<void> {
    const p = await this.at(clientPath, true, async (t) => clientPathOf(this.options.root, t.realPath));
    this.reply(() => this.sftp.name(id, [{ filename: p, longname: p, attrs: NO_ATTRS }]));
  }

  private async stat(id: number, clientPath: string, follow: boolean): Promise<void> {
    // The resolved path is a link only when LSTAT asked not to follow it: lstat never lets the
    // kernel follow a link of its own accord, out of the volumes.
    const st = await this.at(clientPath, follow, (t) => fsp.lstat(t.path));
    this.reply(() => this.sftp.attrs(id, attrsFromStats(st)));
  }

  private async fstat(id: number, h: Buffer): Promise<void> {
    const st = await this.file(h).fh.stat();
    this.reply(() => this.sftp.attrs(id, attrsFromStats(st)));
  }

  private async open(id: number, clientPath: string, pflags: number, attrs: Partial<Attributes>): Promise<void> {
    await this.at(clientPath, true, async (t) => {
      const readOnly = this.readOnly(t.realPath);
      if (opensForWriting(pflags) && readOnly) return this.deny(id, clientPath);
      this.checkHandleRoom();
      const mode = typeof attrs.mode === 'number' ? attrs.mode & 0o7777 : 0o666;
      // O_NOFOLLOW: the path was resolved to a non-link; should it have become one since, fail
      // instead of following it.
      const fh = await fsp.open(t.path, fsOpenFlags(pflags) | constants.O_NOFOLLOW, mode);
      this.answerHandle(id, { kind: 'file', fh, readOnly }, () => void fh.close());
    });
  }

  private async read(id: number, h: Buffer, offset: number, len: number): Promise<void> {
    const { fh } = this.file(h);
    const buf = Buffer.allocUnsafe(Math.min(len, MAX_READ_BYTES));
    const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
    if (bytesRead === 0 && len > 0) return this.reply(() => this.sftp.status(id, SftpStatus.EOF));
    this.reply(() => this.sftp.data(id, buf.subarray(0, bytesRead)));
  }

  private async write(id: number, h: Buffer, offset: number, data: Buffer): Promise<void> {
    const { fh } = this.file(h);
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await fh.write(data, done, data.length - done, offset + done);
      done += bytesWritten;
    }
    this.ok(id);
  }

  private async closeHandle(id: number, h: Buffer): Promise<void> {
    const handle = this.take(h);
    if (handle.kind === 'file') await handle.fh.close();
    else closeFd(handle.fd);
    this.ok(id);
  }

  private async opendir(id: number, clientPath: string): Promise<void> {
    await this.at(clientPath, true, async (t) => {
      this.checkHandleRoom();
      // The directory itself, not a link put in its place since the walk; listed through the
      // descriptor, so that the listing and every entry's attributes come from this directory.
      const fd = await openFd(t.path, O_DIR);
      let handle: DirHandle;
      try {
        // Listing at once reports a missing or unreadable directory here, where clients expect it.
        const names = ['.', '..', ...(await fsp.readdir(fdItself(fd)))];
        // ".." of the root would be the agent's own "/": show the root itself instead.
        const parentStats = await fsp.lstat(inDir(t.name === undefined ? fd : t.dirFd, '.'));
        handle = { kind: 'dir', fd, names, parentStats, next: 0 };
      } catch (err) {
        closeFd(fd);
        throw err;
      }
      this.answerHandle(id, handle, () => closeFd(fd));
    });
  }

  private async readdir(id: number, h: Buffer): Promise<void> {
    const dir = this.handle(h);
    if (dir.kind !== 'dir') throw Object.assign(new Error('not a directory handle'), { code: 'EBADF' });
    const entries: { filename: string; longname: string; attrs: Attributes }[] = [];
    const now = this.now();
    while (entries.length === 0 && dir.next < dir.names.length) {
      const batch = dir.names.slice(dir.next, dir.next + READDIR_BATCH);
      dir.next += batch.length;
      const stats = await Promise.all(batch.map((name) => this.entryStats(dir, name)));
      batch.forEach((name, i) => {
        const st = stats[i];
        // Gone since the listing: leave it out, as `ls` would not see it either.
        if (st) entries.push({ filename: name, longname: longname(name, st, now), attrs: attrsFromStats(st) });
      });
    }
    if (entries.length === 0) return this.reply(() => this.sftp.status(id, SftpStatus.EOF));
    this.reply(() => this.sftp.name(id, entries));
  }

  private async entryStats(dir: DirHandle, name: string): Promise<Stats | undefined> {
    if (name === '..') return dir.parentStats;
    try {
      // Names from a listing hold no "/" and are neither "." nor "..".
      return await fsp.lstat(inDir(dir.fd, name));
    } catch {
      return undefined;
    }
  }

  private async mkdir(id: number, clientPath: string, attrs: Partial<Attributes>): Promise<void> {
    const mode = typeof attrs.mode === 'number' ? attrs.mode & 0o7777 : 0o777;
    await this.change(id, clientPath, (at) => fsp.mkdir(at, mode));
  }

  /**
   * A change to the entry `clientPath` names (not what a link there points to): `fn` gets its
   * path in the held directory, and each call used (mkdir, rmdir, unlink, symlink) leaves a link
   * in the last component alone.
   */
  private async change(id: number, clientPath: string, fn: (at: string) => Promise<unknown>): Promise<void> {
    await this.at(clientPath, false, async (t) => {
      if (this.readOnly(t.realPath)) return this.deny(id, clientPath);
      await fn(t.path);
      this.ok(id);
    });
  }

  private async rename(id: number, from: string, to: string): Promise<void> {
    await this.at(from, false, (src) =>
      this.at(to, false, async (dst) => {
        if (this.readOnly(src.realPath)) return this.deny(id, from);
        if (this.readOnly(dst.realPath)) return this.deny(id, to);
        // POSIX rename, replacing an existing target, which is what sshfs's callers (editors saving
        // through a temp file) expect: ssh2 cannot announce posix-rename@openssh.com, so sshfs sends
        // the plain RENAME for it. rename(2) follows neither last component.
        await fsp.rename(src.path, dst.path);
        this.ok(id);
      }),
    );
  }

  private async setstat(id: number, clientPath: string, attrs: Partial<Attributes>): Promise<void> {
    await this.at(clientPath, true, async (t) => {
      if (this.readOnly(t.realPath)) return this.deny(id, clientPath);
      if (!changesAttrs(attrs)) return this.ok(id);
      // truncate, chmod and utimes follow a link in the last component, and Linux has no lchmod:
      // the file is pinned first, and a link there now (put since the walk) is refused.
      const fd = await openFd(t.path, O_PATH | constants.O_NOFOLLOW);
      try {
        if ((await fstatFd(fd)).isSymbolicLink()) throw Object.assign(new Error('the path became a symbolic link'), { code: 'ELOOP' });
        const file = fdItself(fd);
        await applyAttrs(attrs, {
          truncate: (size) => fsp.truncate(file, size),
          chmod: (mode) => fsp.chmod(file, mode),
          utimes: (a, m) => fsp.utimes(file, a, m),
        });
      } finally {
        closeFd(fd);
      }
      this.ok(id);
    });
  }

  private async fsetstat(id: number, h: Buffer, attrs: Partial<Attributes>): Promise<void> {
    const { fh, readOnly } = this.file(h);
    if (readOnly) return this.reply(() => this.sftp.status(id, SftpStatus.PERMISSION_DENIED, 'the file is on a read-only volume'));
    await applyAttrs(attrs, {
      truncate: (size) => fh.truncate(size),
      chmod: (mode) => fh.chmod(mode),
      utimes: (a, m) => fh.utimes(a, m),
    });
    this.ok(id);
  }

  private async readlink(id: number, clientPath: string): Promise<void> {
    // The target as stored: "..data/config.txt" stays relative, so sshfs's kernel side resolves
    // it within the mount, as the app's kernel does.
    const target = await this.at(clientPath, false, (t) => fsp.readlink(t.path));
    this.reply(() => this.sftp.name(id, [{ filename: target, longname: target, attrs: NO_ATTRS }]));
  }

  private async symlink(id: number, linkPath: string, target: string): Promise<void> {
    // The target is stored as given; it is only ever followed through walkClientPath, which
    // keeps it under the root.
    await this.change(id, linkPath, (at) => fsp.symlink(target, at));
  }

  /**
   * OpenSSH's extensions whose answer is a status. ssh2 cannot announce them in its VERSION
   * packet, so well-behaved clients never send them; a client that assumes them still works.
   */
  private async extended(id: number, name: string, data: Buffer | undefined): Promise<void> {
    const args = sshStrings(data ?? Buffer.alloc(0));
    if (name === 'posix-rename@openssh.com' && args.length >= 2) return this.rename(id, args[0].toString(), args[1].toString());
    if (name === 'hardlink@openssh.com' && args.length >= 2) {
      const [from, to] = [args[0].toString(), args[1].toString()];
      return this.at(from, false, (src) =>
        this.at(to, false, async (dst) => {
          if (this.readOnly(dst.realPath)) return this.deny(id, to);
          // link(2) on Linux does not follow a link in the source: it links the link.
          await fsp.link(src.path, dst.path);
          this.ok(id);
        }),
      );
    }
    if (name === 'fsync@openssh.com' && args.length >= 1) {
      await this.file(args[0]).fh.sync();
      return this.ok(id);
    }
    this.reply(() => this.sftp.status(id, SftpStatus.OP_UNSUPPORTED, `${name} is not supported`));
  }

  private checkHandleRoom(): void {
    if (this.handles.size >= MAX_HANDLES) throw new Error(`too many open handles (${MAX_HANDLES})`);
  }

  /** Hands `handle` to the client, or releases it when the session ended meanwhile. */
  private answerHandle(id: number, handle: Handle, release: () => void): void {
    if (this.closed) return release();
    const n = this.nextHandle;
    this.nextHandle = n >= 0xffffffff ? 1 : n + 1;
    this.handles.set(n, handle);
    const buf = Buffer.alloc(4);
    buf.writeUInt32BE(n);
    this.reply(() => this.sftp.handle(id, buf));
  }

  private handle(h: Buffer): Handle {
    const handle = h.length === 4 ? this.handles.get(h.readUInt32BE(0)) : undefined;
    if (!handle) throw Object.assign(new Error('invalid handle'), { code: 'EBADF' });
    return handle;
  }

  private file(h: Buffer): FileHandle {
    const handle = this.handle(h);
    if (handle.kind !== 'file') throw Object.assign(new Error('not a file handle'), { code: 'EBADF' });
    return handle;
  }

  private take(h: Buffer): Handle {
    const handle = this.handle(h);
    this.handles.delete(h.readUInt32BE(0));
    return handle;
  }

  private dispose(): void {
    if (this.closed) return;
    this.closed = true;
    const open = [...this.handles.values()];
    this.handles.clear();
    for (const handle of open) {
      // A FileHandle closes once the calls running on it are done; a directory's bare descriptor
      // waits for the requests still running, as a READDIR among them may yet look through it,
      // and a number closed under it could meanwhile be given to another open.
      if (handle.kind === 'file') handle.fh.close().catch(() => undefined);
      else this.order.exclusive(async () => closeFd(handle.fd));
    }
    if (open.length > 0) this.log.debug('sftp session closed with open handles', { handles: open.length });
  }
}

interface AttrTarget {
  truncate(size: number): Promise<void>;
  chmod(mode: number): Promise<void>;
  utimes(atime: number, mtime: number): Promise<void>;
}

/** Whether a SETSTAT carries anything that applyAttrs applies. */
function changesAttrs(attrs: Partial<Attributes>): boolean {
  return typeof attrs.size === 'number' || typeof attrs.mode === 'number' || (typeof attrs.atime === 'number' && typeof attrs.mtime === 'number');
}

/**
 * Applies what a SETSTAT carries, in OpenSSH's order. Owner changes are ignored: the agent runs
 * unprivileged and could not make them, and sshfs asks for them on every `cp -p`.
 */
async function applyAttrs(attrs: Partial<Attributes>, target: AttrTarget): Promise<void> {
  if (typeof attrs.size === 'number') await target.truncate(attrs.size);
  if (typeof attrs.mode === 'number') await target.chmod(attrs.mode & 0o7777);
  if (typeof attrs.atime === 'number' && typeof attrs.mtime === 'number') await target.utimes(attrs.atime, attrs.mtime);
}

/** The SSH "string"s (uint32 length + bytes) of an extended request's data. */
function sshStrings(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let p = 0;
  while (p + 4 <= data.length) {
    const len = data.readUInt32BE(p);
    if (p + 4 + len > data.length) break;
    out.push(data.subarray(p + 4, p + 4 + len));
    p += 4 + len;
  }
  return out;
}
