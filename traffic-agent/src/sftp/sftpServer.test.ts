/**
 * The SFTP server over a temp tree shaped like the agent's mounts (testing/volumeTree.ts), driven
 * by ssh2's own client: what a user of the mounted volumes would see and change.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../../../common/src/log/jsonLogger.js';
import { type SftpServer, startSftpServer } from './sftpServer.js';
import { SftpStatus } from './sftpStatus.js';
import { generateEd25519KeyPair } from '../../../common/src/sshKeys.js';
import { AuthorizedKeys } from './authorizedKeys.js';
import { APP_YAML, CONFIG_TXT, descriptorsUnder, makeVolumeTree, NESTED_TXT, sftpCode, SftpTestClient, sha256, type VolumeTree } from './testing/volumeTree.js';

describe('sftp server without authorized keys (lets any login in: only tests, which reach it directly, start it so)', () => {
  let tree: VolumeTree;
  let server: SftpServer;
  let c: SftpTestClient;

  before(async () => {
    tree = await makeVolumeTree();
    server = await startSftpServer({ root: tree.root, port: 0, readOnlyPaths: tree.readOnlyPaths, logger: silentLogger });
    c = await SftpTestClient.connect(server.port);
  });
  after(async () => {
    c.close();
    await server.close();
    await tree.remove();
  });

  test('listens on loopback and reports its host key', () => {
    assert.ok(server.port > 0);
    assert.match(server.hostKeyFingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
    assert.match(server.hostPublicKey, /^ssh-ed25519 AAAA[A-Za-z0-9+/=]+$/);
  });

  test('a ConfigMap key reads through config.txt -> ..data/config.txt -> ..2026…/config.txt', async () => {
    assert.equal((await c.readFile('/etc/config/config.txt')).toString(), CONFIG_TXT);
    assert.equal((await c.readFile('/etc/config/sub/nested.txt')).toString(), NESTED_TXT);
    assert.equal((await c.readFile('etc/config/app.yaml')).toString(), APP_YAML, 'relative to "/"');
  });

  test('readdir shows the names the kernel shows, ..data and the timestamped directory included', async () => {
    const names = (await c.readdir('/etc/config')).map((e) => e.filename).sort();
    assert.deepEqual(names, ['..2026_01_02_03_04_05.123456789', '..data', 'app.yaml', 'config.txt', 'sub']);
    const entries = await c.readdir('/etc/config');
    const data = entries.find((e) => e.filename === '..data');
    assert.ok(data?.attrs.isSymbolicLink(), 'entries carry lstat attributes');
    assert.match(data?.longname ?? '', /^lrwxrwxrwx +\d+ +\d+ +\d+ +\d+ \w{3} [ \d]\d [ \d]\d:\d\d ..data$/);
    assert.deepEqual((await c.readdir('/')).map((e) => e.filename).sort(), ['data', 'etc', 'var']);
  });

  test('readdir of a large directory arrives complete over several batches', async () => {
    const dir = path.join(tree.root, 'var/cache/many');
    await fsp.mkdir(dir);
    const want = Array.from({ length: 345 }, (_, i) => `file-${String(i).padStart(3, '0')}`);
    await Promise.all(want.map((n) => fsp.writeFile(path.join(dir, n), n)));
    assert.deepEqual((await c.readdir('/var/cache/many')).map((e) => e.filename).sort(), want);
  });

  test('readlink gives the target as stored; stat follows links, lstat does not', async () => {
    assert.equal(await c.readlink('/etc/config/config.txt'), '..data/config.txt');
    assert.equal(await c.readlink('/etc/config/..data'), '..2026_01_02_03_04_05.123456789');
    const st = await c.stat('/etc/config/config.txt');
    assert.ok(st.isFile());
    assert.equal(st.size, Buffer.byteLength(CONFIG_TXT));
    assert.equal(st.mode & 0o777, 0o644);
    assert.ok((await c.lstat('/etc/config/config.txt')).isSymbolicLink());
    assert.equal(await c.realpath('/etc/config/config.txt'), '/etc/config/..2026_01_02_03_04_05.123456789/config.txt');
    assert.equal(await c.realpath('.'), '/');
  });

  test('stat of a directory and a file: type, size, mode', async () => {
    const file = path.join(tree.root, 'var/cache/modes.bin');
    await fsp.writeFile(file, Buffer.alloc(1234));
    await fsp.chmod(file, 0o600);
    const f = await c.stat('/var/cache/modes.bin');
    assert.ok(f.isFile() && !f.isDirectory());
    assert.equal(f.size, 1234);
    assert.equal(f.mode & 0o7777, 0o600);
    const d = await c.stat('/var/cache');
    assert.ok(d.isDirectory() && !d.isFile());
    assert.equal(d.mode & 0o7777, (await fsp.stat(path.join(tree.root, 'var/cache'))).mode & 0o7777);
    await assert.rejects(c.stat('/var/cache/missing'), (e: unknown) => sftpCode(e) === SftpStatus.NO_SUCH_FILE);
  });

  test('in a writable volume, writes, mkdir, rename, chmod, utimes and remove change the disk', async () => {
    const disk = (p: string): string => path.join(tree.root, p);
    await c.writeFile('/var/cache/new.txt', 'written from the workstation\n');
    assert.equal(await fsp.readFile(disk('var/cache/new.txt'), 'utf8'), 'written from the workstation\n');
    await c.mkdir('/var/cache/dir');
    assert.ok((await fsp.stat(disk('var/cache/dir'))).isDirectory());
    // Renaming onto an existing file replaces it, as editors saving through a temp file expect.
    await c.rename('/var/cache/new.txt', '/var/cache/existing.txt');
    assert.equal(await fsp.readFile(disk('var/cache/existing.txt'), 'utf8'), 'written from the workstation\n');
    await assert.rejects(fsp.stat(disk('var/cache/new.txt')));
    await c.rename('/var/cache/existing.txt', '/var/cache/dir/moved.txt');
    await c.chmod('/var/cache/dir/moved.txt', 0o640);
    assert.equal((await fsp.stat(disk('var/cache/dir/moved.txt'))).mode & 0o777, 0o640);
    await c.utimes('/var/cache/dir/moved.txt', 1_600_000_000, 1_600_000_001);
    assert.equal((await fsp.stat(disk('var/cache/dir/moved.txt'))).mtimeMs, 1_600_000_001_000);
    const h = await c.open('/var/cache/dir/moved.txt', 'r+');
    await c.ftruncate(h, 7);
    await c.closeHandle(h);
    assert.equal(await fsp.readFile(disk('var/cache/dir/moved.txt'), 'utf8'), 'written');
    await c.unlink('/var/cache/dir/moved.txt');
    await c.rmdir('/var/cache/dir');
    await assert.rejects(fsp.stat(disk('var/cache/dir')));
  });

  test('a request sent right after a create, without waiting for it, sees the new file (as sshfs expects)', async () => {
    // The OPEN goes through a chain of links, so it takes longer than the LSTAT sent after it:
    // run side by side, the LSTAT would find nothing.
    const dir = path.join(tree.root, 'var/cache/race');
    await fsp.mkdir(dir);
    await fsp.symlink('race', path.join(tree.root, 'var/cache/chain-30'));
    for (let i = 29; i >= 0; i--) await fsp.symlink(`chain-${i + 1}`, path.join(tree.root, `var/cache/chain-${i}`));
    for (let i = 0; i < 5; i++) {
      const opened = c.open(`/var/cache/chain-0/new-${i}.txt`, 'wx');
      const seen = c.lstat(`/var/cache/race/new-${i}.txt`);
      await c.closeHandle(await opened);
      assert.ok((await seen).isFile());
    }
  });

  test('appending and exclusive create', async () => {
    await c.writeFile('/data/log.txt', 'one\n');
    const h = await c.open('/data/log.txt', 'a');
    await new Promise<void>((resolve, reject) => c.sftp.write(h, Buffer.from('two\n'), 0, 4, 0, (err) => (err ? reject(err) : resolve())));
    await c.closeHandle(h);
    assert.equal(await fsp.readFile(path.join(tree.root, 'data/log.txt'), 'utf8'), 'one\ntwo\n');
    await assert.rejects(c.open('/data/log.txt', 'wx'), (e: unknown) => sftpCode(e) === SftpStatus.FAILURE);
  });

  test('symlinks made by the client work, and an absolute target stays inside the volumes', async () => {
    await c.symlink('/etc/config/config.txt', '/data/to-config');
    assert.equal(await fsp.readlink(path.join(tree.root, 'data/to-config')), '/etc/config/config.txt');
    assert.equal((await c.readFile('/data/to-config')).toString(), CONFIG_TXT);
    assert.equal((await c.readFile('/data/absolute')).toString(), APP_YAML, 'a link the pod wrote for the app’s view');
    await c.symlink('/etc/passwd', '/data/passwd');
    await assert.rejects(c.readFile('/data/passwd'), (e: unknown) => sftpCode(e) === SftpStatus.NO_SUCH_FILE, 'root + /etc/passwd does not exist');
  });

  test('in a read-only volume every change is refused and nothing changes', async () => {
    const before = await snapshot(path.join(tree.root, 'etc/config'));
    const denied = (e: unknown): boolean => sftpCode(e) === SftpStatus.PERMISSION_DENIED;
    await assert.rejects(c.writeFile('/etc/config/config.txt', 'changed'), denied, 'write through the key link');
    await assert.rejects(c.writeFile('/etc/config/new.txt', 'new'), denied, 'create');
    await assert.rejects(c.open('/etc/config/app.yaml', 'r+'), denied, 'open for writing');
    await assert.rejects(c.mkdir('/etc/config/dir'), denied, 'mkdir');
    await assert.rejects(c.unlink('/etc/config/config.txt'), denied, 'remove');
    await assert.rejects(c.rmdir('/etc/config/..2026_01_02_03_04_05.123456789/sub'), denied, 'rmdir');
    await assert.rejects(c.rename('/etc/config/app.yaml', '/etc/config/app2.yaml'), denied, 'rename inside');
    await assert.rejects(c.rename('/etc/config/app.yaml', '/var/cache/app.yaml'), denied, 'rename out');
    await assert.rejects(c.rename('/var/cache/existing.txt', '/etc/config/x'), denied, 'rename in');
    await assert.rejects(c.rename('/etc', '/etc2'), denied, 'rename what holds it');
    await assert.rejects(c.chmod('/etc/config/config.txt', 0o777), denied, 'chmod');
    await assert.rejects(c.symlink('x', '/etc/config/link'), denied, 'symlink');
    await assert.rejects(c.symlink('/etc/config/config.txt', '/data/ro-link').then(() => c.writeFile('/data/ro-link', 'x')), denied, 'write through a link from a writable volume');
    const h = await c.open('/etc/config/config.txt', 'r');
    await assert.rejects(c.ftruncate(h, 0), denied, 'ftruncate');
    await c.closeHandle(h);
    assert.deepEqual(await snapshot(path.join(tree.root, 'etc/config')), before);
    assert.equal((await c.readFile('/etc/config/config.txt')).toString(), CONFIG_TXT, 'reading still works');
  });

  test('paths that climb out of the volumes are refused', async () => {
    for (const p of ['../../etc/passwd', '/../outside-secret.txt', '/var/cache/../../../outside-secret.txt', '/data/climb']) {
      await assert.rejects(c.readFile(p), (e: unknown) => sftpCode(e) === SftpStatus.PERMISSION_DENIED, p);
    }
    await assert.rejects(c.readdir('/..'), (e: unknown) => sftpCode(e) === SftpStatus.PERMISSION_DENIED);
    await assert.rejects(c.writeFile('/../escaped.txt', 'x'), (e: unknown) => sftpCode(e) === SftpStatus.PERMISSION_DENIED);
    await assert.rejects(fsp.stat(path.join(tree.base, 'escaped.txt')));
    // The link itself may be looked at; it is following it that would leave the root.
    assert.equal(await c.readlink('/data/climb'), '../../outside-secret.txt');
  });

  test('a 5 MB file reads back, and a 3 MB upload lands on disk, with the same sha256', async () => {
    const data = randomBytes(5 * 1024 * 1024);
    await fsp.writeFile(path.join(tree.root, 'data/big.bin'), data);
    assert.equal(sha256(await c.readFile('/data/big.bin')), sha256(data));
    const upload = randomBytes(3 * 1024 * 1024 + 17);
    await c.writeFile('/data/up.bin', upload);
    assert.equal(sha256(await fsp.readFile(path.join(tree.root, 'data/up.bin'))), sha256(upload));
  });

  test('a change made in the pod shows at the next read', async () => {
    await fsp.writeFile(path.join(tree.root, 'var/cache/pod.txt'), 'v1');
    assert.equal((await c.readFile('/var/cache/pod.txt')).toString(), 'v1');
    await fsp.writeFile(path.join(tree.root, 'var/cache/pod.txt'), 'version 2');
    assert.equal((await c.readFile('/var/cache/pod.txt')).toString(), 'version 2');
  });

  test('posix-rename@openssh.com, which ssh2 cannot announce, works when a client sends it anyway', async () => {
    // The client only sends what the server announced; pretend it did.
    (c.sftp as unknown as { _extensions: Record<string, string> })._extensions['posix-rename@openssh.com'] = '1';
    await c.writeFile('/data/a.txt', 'a');
    await c.writeFile('/data/b.txt', 'b');
    await new Promise<void>((resolve, reject) => c.sftp.ext_openssh_rename('/data/a.txt', '/data/b.txt', (err) => (err ? reject(err) : resolve())));
    assert.equal(await fsp.readFile(path.join(tree.root, 'data/b.txt'), 'utf8'), 'a');
  });

  test('a session that ends with open handles does not take the server down, and its descriptors are closed', async () => {
    const other = await SftpTestClient.connect(server.port);
    await other.open('/etc/config/config.txt', 'r');
    await other.open('/etc/config/app.yaml', 'r');
    await new Promise<Buffer>((resolve, reject) => other.sftp.opendir('/etc/config', (err, h) => (err ? reject(err) : resolve(h))));
    assert.equal(descriptorsUnder(tree.base).length, 3, 'two files and a directory held');
    other.close();
    assert.equal((await c.readFile('/etc/config/config.txt')).toString(), CONFIG_TXT);
    for (let i = 0; descriptorsUnder(tree.base).length > 0; i++) {
      assert.ok(i < 50, `still open after the session ended: ${descriptorsUnder(tree.base).join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
});

describe('sftp server with an authorized key', () => {
  let tree: VolumeTree;
  let server: SftpServer;
  const allowed = generateEd25519KeyPair();
  const stranger = generateEd25519KeyPair();

  before(async () => {
    tree = await makeVolumeTree();
    server = await startSftpServer({ root: tree.root, port: 0, readOnlyPaths: tree.readOnlyPaths, logger: silentLogger, authorizedKey: allowed.public });
  });
  after(async () => {
    await server.close();
    await tree.remove();
  });

  test('lets that key in', async () => {
    const c = await SftpTestClient.connect(server.port, { privateKey: allowed.private });
    assert.equal((await c.readFile('/etc/config/config.txt')).toString(), CONFIG_TXT);
    c.close();
  });

  test('turns away another key and no key', async () => {
    await assert.rejects(SftpTestClient.connect(server.port, { privateKey: stranger.private }), /authentication methods failed/);
    await assert.rejects(SftpTestClient.connect(server.port), /authentication methods failed/);
  });

  test('refuses a private key as authorizedKey', async () => {
    await assert.rejects(
      startSftpServer({ root: tree.root, port: 0, readOnlyPaths: [], logger: silentLogger, authorizedKey: allowed.private }),
      /must be a public key/,
    );
  });
});

describe('sftp server with the keys the manager hands over', () => {
  let tree: VolumeTree;
  let server: SftpServer;
  const keys = new AuthorizedKeys();
  const alice = generateEd25519KeyPair();
  const bob = generateEd25519KeyPair();

  before(async () => {
    tree = await makeVolumeTree();
    server = await startSftpServer({ root: tree.root, port: 0, readOnlyPaths: tree.readOnlyPaths, logger: silentLogger, authorizedKeys: keys });
  });
  after(async () => {
    await server.close();
    await tree.remove();
  });

  test('an empty set lets nobody in, "none" and keyboard-interactive included', async () => {
    keys.replace([]);
    await assert.rejects(SftpTestClient.connect(server.port, { privateKey: alice.private }), /authentication methods failed/);
    await assert.rejects(SftpTestClient.connect(server.port), /authentication methods failed/);
  });

  test('a key handed over lets in; when it is withdrawn its open login ends at once, and the other key stays in', async () => {
    const bad: string[] = [];
    keys.replace([alice.public, bob.public, 'ssh-ed25519 nonsense'], (line) => bad.push(line));
    assert.deepEqual(bad, ['ssh-ed25519 nonsense']);
    const a = await SftpTestClient.connect(server.port, { privateKey: alice.private });
    const b = await SftpTestClient.connect(server.port, { privateKey: bob.private });
    assert.equal((await a.readFile('/etc/config/config.txt')).toString(), CONFIG_TXT);
    keys.replace([bob.public]);
    await assert.rejects(a.readFile('/etc/config/config.txt'));
    assert.equal((await b.readFile('/etc/config/config.txt')).toString(), CONFIG_TXT);
    await assert.rejects(SftpTestClient.connect(server.port, { privateKey: alice.private }), /authentication methods failed/);
    a.close();
    b.close();
  });
});

/** Every entry under `dir` with its type, mode and content or link target. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string): Promise<void> => {
    for (const name of await fsp.readdir(d)) {
      const p = path.join(d, name);
      const st = await fsp.lstat(p);
      const rel = path.relative(dir, p);
      if (st.isSymbolicLink()) out[rel] = `link ${await fsp.readlink(p)}`;
      else if (st.isDirectory()) {
        out[rel] = `dir ${st.mode.toString(8)}`;
        await walk(p);
      } else out[rel] = `file ${st.mode.toString(8)} ${await fsp.readFile(p, 'utf8')}`;
    }
  };
  await walk(dir);
  return out;
}
