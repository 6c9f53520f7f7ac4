/**
 * A temp directory laid out like the agent's mount root for an app with three volumes:
 *
 *   /etc/config   a ConfigMap, read-only, in the kubelet's layout: the keys are symlinks through
 *                 "..data", itself a symlink to a timestamped directory that the kubelet swaps
 *                 on every update
 *   /var/cache    an emptyDir, writable
 *   /data         a PVC, writable, holding a link that tries to climb out of the volumes
 *
 * plus a file next to the root that no path served from it may reach. Also an ssh2 SFTP client
 * with promise methods, and a look at the descriptors left open, for the tests.
 */
import { createHash } from 'node:crypto';
import { promises as fsp, readdirSync, readlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, type FileEntryWithStats, type OpenMode, type SFTPWrapper, type Stats } from 'ssh2';

export const CONFIG_TXT = 'greeting=hello from the configmap\n';
export const APP_YAML = 'port: 8080\nlevel: debug\n';
export const NESTED_TXT = 'nested key\n';
export const OUTSIDE_SECRET = 'the agent’s own file, never to be served\n';
const CONFIG_VERSION_DIR = '..2026_01_02_03_04_05.123456789';

export interface VolumeTree {
  /** The temp directory holding root and the outside file. */
  base: string;
  /** The mount root the server serves. */
  root: string;
  /** Real paths of the read-only volumes. */
  readOnlyPaths: string[];
  remove(): Promise<void>;
}

export async function makeVolumeTree(): Promise<VolumeTree> {
  const base = await fsp.realpath(await fsp.mkdtemp(path.join(os.tmpdir(), 'telepath-sftp-')));
  const root = path.join(base, 'mounts');
  const config = path.join(root, 'etc/config');
  const versioned = path.join(config, CONFIG_VERSION_DIR);
  await fsp.mkdir(path.join(versioned, 'sub'), { recursive: true });
  await fsp.writeFile(path.join(versioned, 'config.txt'), CONFIG_TXT, { mode: 0o644 });
  await fsp.writeFile(path.join(versioned, 'app.yaml'), APP_YAML, { mode: 0o644 });
  await fsp.writeFile(path.join(versioned, 'sub/nested.txt'), NESTED_TXT, { mode: 0o644 });
  await fsp.symlink(CONFIG_VERSION_DIR, path.join(config, '..data'));
  await fsp.symlink('..data/config.txt', path.join(config, 'config.txt'));
  await fsp.symlink('..data/app.yaml', path.join(config, 'app.yaml'));
  await fsp.symlink('..data/sub', path.join(config, 'sub'));

  await fsp.mkdir(path.join(root, 'var/cache'), { recursive: true });
  await fsp.writeFile(path.join(root, 'var/cache/existing.txt'), 'cached\n');

  await fsp.mkdir(path.join(root, 'data'), { recursive: true });
  await fsp.writeFile(path.join(base, 'outside-secret.txt'), OUTSIDE_SECRET);
  await fsp.symlink('../../outside-secret.txt', path.join(root, 'data/climb'));
  // Written for the app's view: "/etc/config/app.yaml" is root + that here.
  await fsp.symlink('/etc/config/app.yaml', path.join(root, 'data/absolute'));

  return { base, root, readOnlyPaths: [config], remove: () => fsp.rm(base, { recursive: true, force: true }) };
}

/** This process's descriptors on `dir` or files under it (the server runs in the test's process). */
export function descriptorsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target === dir || target.startsWith(`${dir}/`)) out.push(`${fd} -> ${target}`);
    } catch {
      // Closed since the listing.
    }
  }
  return out;
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The status code an SFTP request failed with (ssh2 puts it on the error's `code`). */
export function sftpCode(err: unknown): unknown {
  return typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
}

/** An ssh2 SFTP client whose calls return promises. */
export class SftpTestClient {
  private constructor(
    private readonly conn: Client,
    readonly sftp: SFTPWrapper,
  ) {}

  static async connect(port: number, auth: { privateKey?: string } = {}): Promise<SftpTestClient> {
    const conn = new Client();
    await new Promise<void>((resolve, reject) => {
      conn.once('ready', () => {
        // Requests leave at once, as sshfs's do, rather than after the previous answer's ACK.
        conn.setNoDelay(true);
        resolve();
      });
      conn.once('error', reject);
      conn.connect({ host: '127.0.0.1', port, username: 'dev', ...auth, readyTimeout: 10_000 });
    });
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) => conn.sftp((err, s) => (err ? reject(err) : resolve(s))));
    return new SftpTestClient(conn, sftp);
  }

  close(): void {
    this.conn.end();
  }

  readFile(p: string): Promise<Buffer> {
    return new Promise((resolve, reject) => this.sftp.readFile(p, (err, data) => (err ? reject(err) : resolve(data))));
  }

  writeFile(p: string, data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.sftp.writeFile(p, data, (err) => (err ? reject(err) : resolve())));
  }

  readdir(p: string): Promise<FileEntryWithStats[]> {
    return new Promise((resolve, reject) => this.sftp.readdir(p, (err, list) => (err ? reject(err) : resolve(list))));
  }

  stat(p: string): Promise<Stats> {
    return new Promise((resolve, reject) => this.sftp.stat(p, (err, st) => (err ? reject(err) : resolve(st))));
  }

  lstat(p: string): Promise<Stats> {
    return new Promise((resolve, reject) => this.sftp.lstat(p, (err, st) => (err ? reject(err) : resolve(st))));
  }

  readlink(p: string): Promise<string> {
    return new Promise((resolve, reject) => this.sftp.readlink(p, (err, target) => (err ? reject(err) : resolve(target))));
  }

  realpath(p: string): Promise<string> {
    return new Promise((resolve, reject) => this.sftp.realpath(p, (err, target) => (err ? reject(err) : resolve(target))));
  }

  mkdir(p: string): Promise<void> {
    return new Promise((resolve, reject) => this.sftp.mkdir(p, (err) => (err ? reject(err) : resolve())));
  }

  rmdir(p: string): Promise<void> {
    return new Promise((resolve, reject) => this.sftp.rmdir(p, (err) => (err ? reject(err) : resolve())));
  }

  unlink(p: string): Promise<void> {
    return new Promise((resolve, reject) => this.sftp.unlink(p, (err) => (err ? reject(err) : resolve())));
  }

  rename(from: string, to: string): Promise<void> {
    return new Promise((resolve, reject) => this.sftp.rename(from, to, (err) => (err ? reject(err) : resolve())));
  }

  symlink(target: string, linkPath: string): Promise<void> {
    return new Promise((resolve, reject) => this.sftp.symlink(target, linkPath, (err) => (err ? reject(err) : resolve())));
  }

  chmod(p: string, mode: number): Promise<void> {
    return new Promise((resolve, reject) => this.sftp.chmod(p, mode, (err) => (err ? reject(err) : resolve())));
  }

  utimes(p: string, atime: number, mtime: number): Promise<void> {
    return new Promise((resolve, reject) => this.sftp.utimes(p, atime, mtime, (err) => (err ? reject(err) : resolve())));
  }

  /** Opens with an fopen-style mode ("r", "w", "a", "wx", …) and gives the handle back. */
  open(p: string, mode: OpenMode): Promise<Buffer> {
    return new Promise((resolve, reject) => this.sftp.open(p, mode, (err, h) => (err ? reject(err) : resolve(h))));
  }

  closeHandle(h: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.sftp.close(h, (err) => (err ? reject(err) : resolve())));
  }

  ftruncate(h: Buffer, size: number): Promise<void> {
    return new Promise((resolve, reject) => this.sftp.fsetstat(h, { size }, (err) => (err ? reject(err) : resolve())));
  }
}
