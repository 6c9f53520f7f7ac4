/**
 * The intercepted container's volumes on the workstation: the agent serves them over SFTP on the
 * pod's 127.0.0.1, the daemon port-forwards to that port (the user's credentials again) and mounts
 * it with sshfs (FUSE) under a local directory, which `-- command`, env files and debug sessions
 * get as TELEPATH_ROOT.
 *
 * Every mount is journaled before it is made; a daemon that starts finds the journal of one that
 * died (kill -9) and unmounts what it left, so no stale FUSE mount outlives its daemon for long.
 * Without sshfs or /dev/fuse the intercept still works; the user is told what to install.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { PortForwardListener } from '../kube/portForward.js';
import { generateEd25519KeyPair } from '../../../../common/src/sshKeys.js';
import { sshfsArgs } from './sshfsArgs.js';
import { mountAt, READ_AHEAD_KB, setReadAhead } from '../../network/readAhead.js';
import { within } from '../within.js';
import type { Logger } from '../../../../common/src/log/fileLogger.js';

export interface MountRequest {
  /** The intercept's name: one mount per intercept. */
  name: string;
  namespace: string;
  pod: string;
  sftpPort: number;
  /**
   * Where the agent serves the volumes now, asked again for every connection sshfs makes: an
   * agent that restarted listens on another port (or the pod was replaced), and sshfs's
   * reconnect would otherwise reach nothing.
   */
  locate?: (previous: { pod: string; sftpPort: number }) => Promise<{ pod: string; sftpPort: number }>;
  /** Where to mount; default a directory of its own under the temp directory. */
  mountPoint?: string;
  /**
   * Hands the mount's public key to the agents, through the manager (which checks the user's
   * volumes right): the agent lets in no other key.
   */
  authorize(publicKey: string): Promise<void>;
}

interface ActiveMount {
  mountPoint: string;
  created: boolean;
  sshfs: ChildProcess;
  forward: PortForwardListener;
  /** The private directory holding the mount's private key. */
  keyDir: string;
}

interface Journal {
  mounts: { name: string; mountPoint: string; created: boolean; keyDir?: string }[];
}

/** Each mount's private key lives in a 0700 directory of this name under the temp directory. */
const KEY_DIR_PREFIX = 'telepath-key-';

/** The journal of mounts inside the daemon's journal directory. */
export function mountJournal(journalDir: string): string {
  return path.join(journalDir, 'mounts.json');
}

/** What the user must install, or undefined when sshfs can mount here. */
export function mountUnavailable(env: NodeJS.ProcessEnv = process.env, fuseDevice = '/dev/fuse'): string | undefined {
  const found = spawnSync('/bin/sh', ['-c', 'command -v sshfs'], { encoding: 'utf8', env });
  if (found.status !== 0) return 'sshfs is not installed (Debian/Ubuntu: apt-get install sshfs; Fedora: dnf install fuse-sshfs; macOS: macFUSE and sshfs)';
  if (!fs.existsSync(fuseDevice)) return '/dev/fuse is missing: load the fuse module (modprobe fuse) or give the container --device /dev/fuse';
  return undefined;
}

export class VolumeMounts {
  private readonly active = new Map<string, ActiveMount>();

  constructor(
    private readonly kc: KubeConfig,
    private readonly journalFile: string,
    private readonly log: Logger,
    /** Asks the network role (root) to raise a mount's read-ahead, for a daemon that is not root. */
    private readonly readAheadByRole?: (mountPoint: string) => Promise<void>,
  ) {}

  /** Unmounts what a daemon that died left behind (its journal says what). */
  static recover(journalFile: string, log: Logger): void {
    const journal = readJournal(journalFile);
    for (const m of journal.mounts) {
      if (isMounted(m.mountPoint)) {
        unmount(m.mountPoint, log);
        log.warn(`removed the stale mount ${m.mountPoint} of intercept ${m.name} (its daemon did not stop cleanly)`);
      }
      if (m.created) removeEmptyDir(m.mountPoint);
      if (m.keyDir && path.basename(m.keyDir).startsWith(KEY_DIR_PREFIX)) fs.rmSync(m.keyDir, { recursive: true, force: true });
    }
    if (journal.mounts.length) fs.rmSync(journalFile, { force: true });
  }

  /** Mounts the pod's volumes; resolves with the mount point once sshfs serves it. */
  async mount(req: MountRequest): Promise<string> {
    if (this.active.has(req.name)) throw new Error(`intercept ${req.name} already has a mount`);
    const mountPoint = path.resolve(req.mountPoint ?? path.join(os.tmpdir(), 'telepath', req.name));
    const created = !fs.existsSync(mountPoint);
    fs.mkdirSync(mountPoint, { recursive: true, mode: 0o700 });
    if (isMounted(mountPoint)) throw new Error(`${mountPoint} is already a mount point; choose another --mount directory`);
    if (fs.readdirSync(mountPoint).length > 0) throw new Error(`${mountPoint} is not empty; choose an empty --mount directory`);

    let last = { pod: req.pod, sftpPort: req.sftpPort };
    const target = async (): Promise<{ namespace: string; pod: string; port: number }> => {
      const now = req.locate ? await req.locate(last).catch(() => last) : last;
      if (now.pod !== last.pod || now.sftpPort !== last.sftpPort) {
        this.log.info(`the volumes of ${req.name} are now served by ${req.namespace}/${now.pod} on port ${now.sftpPort} (before: ${last.pod}, ${last.sftpPort}); sshfs reconnects there`);
        last = now;
      }
      return { namespace: req.namespace, pod: now.pod, port: now.sftpPort };
    };
    const forward = new PortForwardListener(
      this.kc,
      target,
      (err) => this.log.warn(`port-forward to the agent's volumes: ${err.message}`),
    );
    // A key pair of this mount's own: the forward's local port is open to every local user, the
    // agent lets in only this key, and only this user can read it (a 0700 directory, a 0600 file).
    const keyDir = fs.mkdtempSync(path.join(os.tmpdir(), KEY_DIR_PREFIX));
    const identityFile = path.join(keyDir, 'id_ed25519');
    const pair = generateEd25519KeyPair();
    fs.writeFileSync(identityFile, pair.private, { mode: 0o600 });
    try {
      await req.authorize(pair.public);
    } catch (e) {
      fs.rmSync(keyDir, { recursive: true, force: true });
      throw e;
    }
    const localPort = await forward.listen(0, '127.0.0.1');
    this.writeJournal({ add: { name: req.name, mountPoint, created, keyDir } });
    const sshfs = spawn('sshfs', ['-f', ...sshfsArgs({ port: localPort, mountPoint, identityFile })], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    sshfs.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    try {
      await waitMounted(mountPoint, sshfs, 15_000);
    } catch (e) {
      sshfs.kill('SIGTERM');
      await forward.close();
      fs.rmSync(keyDir, { recursive: true, force: true });
      this.writeJournal({ remove: req.name });
      if (created) removeEmptyDir(mountPoint);
      throw new Error(`sshfs could not mount the volumes: ${(e as Error).message}${stderr ? `: ${stderr.trim()}` : ''}`);
    }
    await raiseReadAhead(mountPoint, this.readAheadByRole, this.log);
    sshfs.once('exit', (code) => {
      if (this.active.get(req.name)?.sshfs === sshfs) this.log.warn(`sshfs for ${mountPoint} exited (${code}); the volumes are gone until the next intercept`);
    });
    this.active.set(req.name, { mountPoint, created, sshfs, forward, keyDir });
    this.log.info(`volumes of ${req.namespace}/${req.pod} mounted at ${mountPoint}`);
    return mountPoint;
  }

  /** Raises the read-ahead of every mount: for a network role that came after they were made. */
  async raiseReadAhead(): Promise<void> {
    for (const m of [...this.active.values()]) await raiseReadAhead(m.mountPoint, this.readAheadByRole, this.log);
  }

  async unmount(name: string): Promise<void> {
    const m = this.active.get(name);
    if (!m) return;
    this.active.delete(name);
    unmount(m.mountPoint, this.log);
    m.sshfs.kill('SIGTERM');
    await m.forward.close();
    fs.rmSync(m.keyDir, { recursive: true, force: true });
    if (m.created) removeEmptyDir(m.mountPoint);
    this.writeJournal({ remove: name });
  }

  async unmountAll(): Promise<void> {
    for (const name of [...this.active.keys()]) await this.unmount(name);
  }

  private writeJournal(change: { add?: Journal['mounts'][number]; remove?: string }): void {
    const journal = readJournal(this.journalFile);
    journal.mounts = journal.mounts.filter((m) => m.name !== (change.add?.name ?? change.remove));
    if (change.add) journal.mounts.push(change.add);
    fs.mkdirSync(path.dirname(this.journalFile), { recursive: true });
    const tmp = `${this.journalFile}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(journal));
    fs.renameSync(tmp, this.journalFile);
  }
}

/** Removes a directory this daemon made, only when it is empty again (never the volumes' files). */
function removeEmptyDir(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch {
    // Still mounted or not empty: leave it.
  }
}

function readJournal(file: string): Journal {
  try {
    const j = JSON.parse(fs.readFileSync(file, 'utf8')) as Journal;
    return Array.isArray(j.mounts) ? j : { mounts: [] };
  } catch {
    return { mounts: [] };
  }
}

/** True when `dir` is a mount point, as /proc/self/mountinfo lists them. */
export function isMounted(dir: string): boolean {
  return mountAt(dir) !== undefined;
}

/** 1 MiB of read-ahead for the new mount: by this daemon when it is root, else by its network role if one serves it. */
async function raiseReadAhead(dir: string, delegate: ((mountPoint: string) => Promise<void>) | undefined, log: Logger): Promise<void> {
  const mount = mountAt(dir);
  if (!mount) return;
  try {
    // The mount is listed before sshfs has answered FUSE's INIT, and with that answer the kernel
    // lowers the read-ahead to what sshfs asked for (the 128 KiB the kernel offered): a value
    // written before it is lost. A request to the mount waits for INIT, so stat its root first.
    await within(fs.promises.stat(dir), 10_000, `${dir} did not answer a stat within 10 s`);
    if (process.getuid?.() === 0 || !delegate) {
      setReadAhead(mount);
      log.debug(`read-ahead of ${dir} set to ${READ_AHEAD_KB} KiB`);
    } else {
      await delegate(dir);
      log.debug(`read-ahead of ${dir} set to ${READ_AHEAD_KB} KiB by the network role`);
    }
  } catch (e) {
    log.debug(`read-ahead of ${dir} left at the kernel's default: ${(e as Error).message}`);
  }
}

function unmount(dir: string, log: Logger): void {
  for (const cmd of [['fusermount3', '-u', '-z', dir], ['fusermount', '-u', '-z', dir], ['umount', '-l', dir]]) {
    const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8' });
    if (r.status === 0 && !isMounted(dir)) return;
  }
  if (isMounted(dir)) log.warn(`could not unmount ${dir}; unmount it with "fusermount3 -u ${dir}"`);
}

function waitMounted(dir: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const onExit = (code: number | null): void => {
      clearInterval(timer);
      reject(new Error(`sshfs exited with ${code}`));
    };
    child.once('exit', onExit);
    const timer = setInterval(() => {
      if (isMounted(dir)) {
        clearInterval(timer);
        child.off('exit', onExit);
        resolve();
      } else if (Date.now() > deadline) {
        clearInterval(timer);
        child.off('exit', onExit);
        reject(new Error(`no mount after ${timeoutMs / 1000} s`));
      }
    }, 100);
  });
}
