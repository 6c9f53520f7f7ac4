/**
 * The SFTP server mounted with the real sshfs (FUSE), with the options the daemon uses
 * (sshfsArgs.ts): what a developer sees under TELEPATH_ROOT. Skipped where sshfs or /dev/fuse is
 * missing.
 *
 * The server runs in this process, so the mount is used only through async fs calls, one at a
 * time: a sync call would block the event loop that has to answer it, and enough parallel ones
 * would take every libuv thread the server's own file access needs.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../../common/src/log/jsonLogger.js';
import { type SftpServer, startSftpServer } from '../../traffic-agent/src/sftp/sftpServer.js';
import { sshfsArgs } from '../../daemon/src/user/intercept/sshfsArgs.js';
import { generateEd25519KeyPair } from '../../common/src/sshKeys.js';
import { APP_YAML, CONFIG_TXT, makeVolumeTree, OUTSIDE_SECRET, type VolumeTree } from '../../traffic-agent/src/sftp/testing/volumeTree.js';

const run = promisify(execFile);

function onPath(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir, cmd);
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

const fusermount = onPath('fusermount3') ?? onPath('fusermount');
const missing = !onPath('sshfs')
  ? 'sshfs is not installed (apt-get install sshfs)'
  : !existsSync('/dev/fuse')
    ? 'there is no /dev/fuse'
    : !fusermount
      ? 'there is no fusermount3 or fusermount'
      : undefined;

async function mount(port: number, mountPoint: string, identityFile?: string): Promise<void> {
  await fsp.mkdir(mountPoint, { recursive: true });
  // sshfs returns once the mount is up and keeps serving it in the background.
  await run('sshfs', sshfsArgs({ port, mountPoint, identityFile }), { timeout: 20_000 });
}

async function unmount(mountPoint: string): Promise<void> {
  if (!fusermount) return;
  await run(fusermount, ['-u', mountPoint], { timeout: 10_000 }).catch(() => run(fusermount, ['-u', '-z', mountPoint]).catch(() => undefined));
}

async function isMounted(mountPoint: string): Promise<boolean> {
  return (await fsp.readFile('/proc/self/mountinfo', 'utf8')).split('\n').some((l) => l.split(' ')[4] === mountPoint);
}

const errCode = (code: string) => (e: unknown): boolean => typeof e === 'object' && e !== null && 'code' in e && e.code === code;

describe('sshfs mount of the volumes, with a key', { skip: missing }, () => {
  let tree: VolumeTree;
  let server: SftpServer;
  let mnt: string;
  const disk = (p: string): string => path.join(tree.root, p);
  const local = (p: string): string => path.join(mnt, p);

  before(async () => {
    tree = await makeVolumeTree();
    const key = generateEd25519KeyPair();
    const keyFile = path.join(tree.base, 'id_ed25519');
    // OpenSSH refuses a private key that others could read.
    await fsp.writeFile(keyFile, key.private, { mode: 0o600 });
    server = await startSftpServer({ root: tree.root, port: 0, readOnlyPaths: tree.readOnlyPaths, logger: silentLogger, authorizedKey: key.public });
    mnt = path.join(tree.base, 'mnt');
    await mount(server.port, mnt, keyFile);
  });
  after(async () => {
    if (mnt) await unmount(mnt);
    await server?.close();
    await tree?.remove();
  });

  test('a ConfigMap key reads through its ..data links; the listing shows what the kernel shows', async () => {
    assert.equal(await fsp.readFile(local('etc/config/config.txt'), 'utf8'), CONFIG_TXT);
    assert.equal(await fsp.readFile(local('etc/config/sub/nested.txt'), 'utf8'), 'nested key\n');
    assert.deepEqual((await fsp.readdir(local('etc/config'))).sort(), ['..2026_01_02_03_04_05.123456789', '..data', 'app.yaml', 'config.txt', 'sub']);
    // follow_symlinks: the keys look like the files they lead to.
    const st = await fsp.lstat(local('etc/config/config.txt'));
    assert.ok(st.isFile());
    assert.equal(st.size, Buffer.byteLength(CONFIG_TXT));
  });

  test('links resolve inside the volumes: an absolute one from their root, one that climbs out not at all', async () => {
    assert.equal(await fsp.readFile(local('data/absolute'), 'utf8'), APP_YAML);
    await assert.rejects(fsp.readFile(local('data/climb'), 'utf8'), errCode('EACCES'));
    assert.equal(await fsp.readFile(path.join(tree.base, 'outside-secret.txt'), 'utf8'), OUTSIDE_SECRET, 'the file it aims at is there');
  });

  test('writes, mkdir, rename and remove in a writable volume reach the disk', async () => {
    await fsp.writeFile(local('var/cache/from-workstation.txt'), 'hello from the workstation\n');
    assert.equal(await fsp.readFile(disk('var/cache/from-workstation.txt'), 'utf8'), 'hello from the workstation\n');
    await fsp.mkdir(local('var/cache/dir'));
    await fsp.rename(local('var/cache/from-workstation.txt'), local('var/cache/dir/moved.txt'));
    assert.equal(await fsp.readFile(disk('var/cache/dir/moved.txt'), 'utf8'), 'hello from the workstation\n');
    // An editor's save: write a temp file, rename it over the original.
    await fsp.writeFile(local('var/cache/dir/.moved.txt.swp'), 'saved\n');
    await fsp.rename(local('var/cache/dir/.moved.txt.swp'), local('var/cache/dir/moved.txt'));
    assert.equal(await fsp.readFile(disk('var/cache/dir/moved.txt'), 'utf8'), 'saved\n');
    await fsp.rm(local('var/cache/dir'), { recursive: true });
    assert.equal(existsSync(disk('var/cache/dir')), false);
  });

  test('a 5 MB file reads back byte for byte both ways, in 64 KiB requests and coalesced answers', async () => {
    const bytes = randomBytes(5 * 1024 * 1024 + 123);
    await fsp.writeFile(disk('var/cache/big.bin'), bytes);
    assert.ok((await fsp.readFile(local('var/cache/big.bin'))).equals(bytes));
    const back = randomBytes(3 * 1024 * 1024 + 7);
    await fsp.writeFile(local('var/cache/big.bin'), back);
    assert.ok((await fsp.readFile(disk('var/cache/big.bin'))).equals(back));
    await fsp.rm(disk('var/cache/big.bin'));
  });

  test('a 48 MB copy into the mount holds at most about the backlog limit in the server', async () => {
    // Its own server with a 1 MiB limit, so that the copy outruns the server's serialized writes.
    const small = await startSftpServer({ root: tree.root, port: 0, readOnlyPaths: tree.readOnlyPaths, logger: silentLogger, writeBacklog: { high: 1 << 20, low: 256 << 10 } });
    const mnt2 = path.join(tree.base, 'mnt-backlog');
    try {
      await mount(small.port, mnt2);
      const bytes = randomBytes(48 << 20);
      await fsp.writeFile(path.join(mnt2, 'var/cache/copy.bin'), bytes);
      assert.ok((await fsp.readFile(disk('var/cache/copy.bin'))).equals(bytes));
      assert.ok(small.writeBacklogPeak > 0);
      // What ssh2 had parsed from one socket read when reading stopped may come on top.
      assert.ok(small.writeBacklogPeak <= 2 << 20, `held at most ${small.writeBacklogPeak} bytes`);
    } finally {
      await unmount(mnt2);
      await small.close();
      await fsp.rm(disk('var/cache/copy.bin'), { force: true });
    }
  });

  test('a read-only volume refuses writes with EACCES and stays as it was', async () => {
    await assert.rejects(fsp.writeFile(local('etc/config/new.txt'), 'x'), errCode('EACCES'));
    await assert.rejects(fsp.appendFile(local('etc/config/config.txt'), 'x'), errCode('EACCES'));
    await assert.rejects(fsp.mkdir(local('etc/config/dir')), errCode('EACCES'));
    await assert.rejects(fsp.unlink(local('etc/config/app.yaml')), errCode('EACCES'));
    assert.equal(existsSync(disk('etc/config/new.txt')), false);
    assert.equal(await fsp.readFile(disk('etc/config/config.txt'), 'utf8'), CONFIG_TXT);
    assert.equal(await fsp.readFile(disk('etc/config/app.yaml'), 'utf8'), APP_YAML);
  });

  test('changes made in the pod show on the workstation: contents at once, new names within about 2 s', async () => {
    assert.equal((await fsp.readdir(local('var/cache'))).includes('from-pod.txt'), false);
    await fsp.writeFile(disk('var/cache/existing.txt'), 'changed in the pod, and longer\n');
    assert.equal(await fsp.readFile(local('var/cache/existing.txt'), 'utf8'), 'changed in the pod, and longer\n');
    await fsp.writeFile(disk('var/cache/from-pod.txt'), 'new\n');
    const t0 = Date.now();
    while (!(await fsp.readdir(local('var/cache'))).includes('from-pod.txt')) {
      assert.ok(Date.now() - t0 < 4_000, 'the new file did not show within 4 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  test('unmounting ends the mount', async () => {
    await unmount(mnt);
    assert.equal(await isMounted(mnt), false);
  });
});

describe('sshfs mount of the volumes, without a key (the port-forward is the authentication)', { skip: missing }, () => {
  test('OpenSSH gets in with its "none" attempt and reads a key', async () => {
    const tree = await makeVolumeTree();
    const server = await startSftpServer({ root: tree.root, port: 0, readOnlyPaths: tree.readOnlyPaths, logger: silentLogger });
    const mnt = path.join(tree.base, 'mnt');
    try {
      await mount(server.port, mnt);
      assert.equal(await fsp.readFile(path.join(mnt, 'etc/config/config.txt'), 'utf8'), CONFIG_TXT);
    } finally {
      await unmount(mnt);
      await server.close();
      await tree.remove();
    }
  });
});
