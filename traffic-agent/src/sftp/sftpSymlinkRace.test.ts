/**
 * Issue #15: a symlink race stays inside the volume. The pod shares the volumes with the agent, so
 * it can turn a directory on a client's path into a link at any moment — here `/data/swap` turns
 * into a link to a directory outside the root that holds a secret, while the client reads, writes,
 * lists and renames through it. Real files, the real server, ssh2's client; no fs mocks.
 *
 * The race: a second thread swaps the directory and the link as fast as it can while requests run.
 * The deterministic tests: the server's afterResolve seam makes the swap at the worst moment for
 * every operation, after the path was resolved and before the file system call.
 */
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import type { FileEntry } from 'ssh2';
import { silentLogger } from '../../../common/src/log/jsonLogger.js';
import { type SftpServer, startSftpServer } from './sftpServer.js';
import { descriptorsUnder, makeVolumeTree, OUTSIDE_SECRET, SftpTestClient, type VolumeTree } from './testing/volumeTree.js';

const INSIDE_TXT = 'inside\n';
const notLinux = process.platform === 'linux' ? false : 'the server needs Linux (/proc/self/fd)';

/**
 * `root/data/swap` (a real directory) and, outside the root, `base/outside` with the same names:
 * whatever an operation reaches there is an escape. `root/data/swap-link` is the link the swapper
 * puts in the directory's place, an absolute real path as the pod would write it.
 */
async function makeSwapDirs(tree: VolumeTree): Promise<{ inside: string; outside: string; link: string; parked: string }> {
  const inside = path.join(tree.root, 'data/swap');
  const outside = path.join(tree.base, 'outside');
  for (const [dir, text, target, hop] of [
    [inside, INSIDE_TXT, 'inside-target', 'dir'],
    [outside, OUTSIDE_SECRET, 'outside-target', 'link'],
  ] as const) {
    await fsp.mkdir(path.join(dir, 'sub'), { recursive: true });
    await fsp.mkdir(path.join(dir, 'emptydir'));
    await fsp.writeFile(path.join(dir, 'file.txt'), text, { mode: 0o644 });
    await fsp.writeFile(path.join(dir, 'sub/file.txt'), text, { mode: 0o644 });
    await fsp.writeFile(path.join(dir, 'victim.txt'), text);
    await fsp.symlink(target, path.join(dir, 'link'));
    if (hop === 'dir') await fsp.mkdir(path.join(dir, 'hop'));
    else await fsp.symlink('leaked-outside', path.join(dir, 'hop'));
  }
  await fsp.writeFile(path.join(outside, 'only-outside.txt'), OUTSIDE_SECRET);
  await fsp.writeFile(path.join(outside, 'sub/only-outside.txt'), OUTSIDE_SECRET);
  const link = path.join(tree.root, 'data/swap-link');
  await fsp.symlink(outside, link);
  return { inside, outside, link, parked: path.join(tree.root, 'data/swap-parked') };
}

/** Every entry under `dir`: type, mode, mtime, and content or link target. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string): Promise<void> => {
    for (const name of (await fsp.readdir(d)).sort()) {
      const p = path.join(d, name);
      const st = await fsp.lstat(p);
      const rel = path.relative(dir, p);
      if (st.isSymbolicLink()) out[rel] = `link ${await fsp.readlink(p)}`;
      else if (st.isDirectory()) {
        out[rel] = `dir ${st.mode.toString(8)} ${st.mtimeMs}`;
        await walk(p);
      } else out[rel] = `file ${st.mode.toString(8)} ${st.mtimeMs} ${await fsp.readFile(p, 'utf8')}`;
    }
  };
  await walk(dir);
  return out;
}

/** What `base` holds besides the root: the outside directory and the secret next to the root. */
async function outsideState(tree: VolumeTree): Promise<Record<string, string>> {
  const all = await snapshot(tree.base);
  return Object.fromEntries(Object.entries(all).filter(([rel]) => rel !== 'mounts' && !rel.startsWith('mounts/')));
}

/**
 * A thread that swaps `inside` and `link` (two renames each way, so `inside`'s name is briefly
 * missing) until stopped; resolves with the number of swaps.
 */
function startSwapper(p: { inside: string; link: string; parked: string }): { stop(): Promise<number> } {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(
    `
    const { renameSync } = require('node:fs');
    const { workerData, parentPort } = require('node:worker_threads');
    const { flag, inside, link, parked } = workerData;
    let swaps = 0;
    while (Atomics.load(flag, 0) === 0) {
      renameSync(inside, parked);
      renameSync(link, inside);
      swaps++;
      renameSync(inside, link);
      renameSync(parked, inside);
    }
    parentPort.postMessage(swaps);
    `,
    { eval: true, workerData: { flag, ...p } },
  );
  const done = new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    stop: async () => {
      Atomics.store(flag, 0, 1);
      return done;
    },
  };
}

/** Runs `op`: its value in a box, or undefined when the server answered with a failure. */
async function attempt<T>(op: Promise<T>): Promise<{ value: T } | undefined> {
  try {
    return { value: await op };
  } catch {
    return undefined;
  }
}

describe('a symlink race stays inside the volume', { skip: notLinux }, () => {
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

  test('a directory swapped with a link to outside, over and over, while a client reads, writes, lists and renames through it', async (t) => {
    const dirs = await makeSwapDirs(tree);
    const outsideBefore = await outsideState(tree);
    const secretSize = Buffer.byteLength(OUTSIDE_SECRET);
    const seen: string[] = [];
    const ok = { reads: 0, changes: 0 };
    const swapper = startSwapper(dirs);
    const until = Date.now() + 3_000;
    const lane = async (ops: () => Promise<void>): Promise<void> => {
      while (Date.now() < until) await ops();
    };
    try {
      await Promise.all([
        lane(async () => {
          const [text, sub, st, target, real, names, subNames] = await Promise.all([
            attempt(c.readFile('/data/swap/file.txt')),
            attempt(c.readFile('/data/swap/sub/file.txt')),
            attempt(c.stat('/data/swap/sub/file.txt')),
            attempt(c.readlink('/data/swap/link')),
            attempt(c.realpath('/data/swap/hop/x')),
            attempt(c.readdir('/data/swap')),
            attempt(c.readdir('/data/swap/sub')),
          ]);
          for (const data of [text, sub]) if (data) seen.push(`read ${data.value.toString()}`);
          if (st) seen.push(`stat size ${st.value.size}`);
          if (target) seen.push(`readlink ${target.value}`);
          if (real) seen.push(`realpath ${real.value}`);
          for (const e of [...(names?.value ?? []), ...(subNames?.value ?? [])]) seen.push(`readdir ${e.filename} size ${e.attrs.size}`);
          ok.reads += [text, sub, st, target, real, names, subNames].filter((r) => r !== undefined).length;
        }),
        lane(async () => {
          const done = await Promise.all([
            attempt(c.writeFile('/data/swap/written.txt', 'written\n')),
            attempt(c.chmod('/data/swap/sub/file.txt', 0o600)),
            attempt(c.utimes('/data/swap/sub/file.txt', 1_000_000, 1_000_000)),
            attempt(c.open('/data/swap/file.txt', 'r+').then((h) => c.ftruncate(h, Buffer.byteLength(INSIDE_TXT)).then(() => c.closeHandle(h)))),
          ]);
          ok.changes += done.filter((r) => r !== undefined).length;
        }),
        lane(async () => {
          const done = [
            await attempt(c.mkdir('/data/swap/made')),
            await attempt(c.rmdir('/data/swap/made')),
            await attempt(c.rmdir('/data/swap/emptydir')),
            await attempt(c.mkdir('/data/swap/emptydir')),
            await attempt(c.rename('/data/swap/victim.txt', '/data/swap/renamed.txt')),
            await attempt(c.rename('/data/swap/renamed.txt', '/data/swap/victim.txt')),
            await attempt(c.unlink('/data/swap/victim.txt')),
            await attempt(c.writeFile('/data/swap/victim.txt', INSIDE_TXT)),
            await attempt(c.symlink('made-by-client', '/data/swap/client-link')),
            await attempt(c.unlink('/data/swap/client-link')),
          ];
          ok.changes += done.filter((r) => r !== undefined).length;
        }),
      ]);
    } finally {
      const swaps = await swapper.stop();
      t.diagnostic(`${swaps} swaps; ${ok.reads} reads and ${ok.changes} changes answered, the rest failed`);
      assert.ok(swaps > 100, `the swapper swapped ${swaps} times`);
    }
    // Enough got through the inside directory for the race to have been run at all.
    assert.ok(ok.reads > 20 && ok.changes > 20, `successful reads ${ok.reads}, changes ${ok.changes}`);
    const outsideOnly = [OUTSIDE_SECRET, 'outside-target', 'leaked-outside', 'only-outside', `size ${secretSize}`];
    const leaks = new Set(seen.filter((s) => outsideOnly.some((o) => s.includes(o))));
    assert.deepEqual([...leaks], [], 'nothing from outside the root reached the client');
    assert.deepEqual(await outsideState(tree), outsideBefore, 'nothing outside the root changed');
    assert.deepEqual(descriptorsUnder(tree.base), [], 'no descriptor into the tree is left open');
  });
});

describe('a directory swapped for a link between resolving a path and using it', { skip: notLinux }, () => {
  let tree: VolumeTree;
  let server: SftpServer;
  let c: SftpTestClient;
  let dirs: Awaited<ReturnType<typeof makeSwapDirs>>;
  let outsideBefore: Record<string, string>;
  /** What the server's afterResolve seam does next, once, for the client path it names. */
  let armed: { clientPath: string; act: () => Promise<void> } | undefined;
  let swapped = false;

  const swapIn = async (): Promise<void> => {
    await fsp.rename(dirs.inside, dirs.parked);
    await fsp.rename(dirs.link, dirs.inside);
    swapped = true;
  };
  const swapBack = async (): Promise<void> => {
    if (!swapped) return;
    await fsp.rename(dirs.inside, dirs.link);
    await fsp.rename(dirs.parked, dirs.inside);
    swapped = false;
  };
  /** Runs `op` with `/data/swap` turned into a link to outside right after `clientPath` resolved. */
  const raced = async <T>(clientPath: string, op: () => Promise<T>): Promise<T> => {
    armed = { clientPath, act: swapIn };
    try {
      const result = await op();
      assert.equal(swapped, true, `${clientPath} was resolved, and the swap made`);
      return result;
    } finally {
      armed = undefined;
      await swapBack();
    }
  };
  const inside = (name: string): string => path.join(dirs.inside, name);
  const exists = (p: string): Promise<boolean> =>
    fsp.lstat(p).then(
      () => true,
      () => false,
    );

  before(async () => {
    tree = await makeVolumeTree();
    dirs = await makeSwapDirs(tree);
    outsideBefore = await outsideState(tree);
    server = await startSftpServer({
      root: tree.root,
      port: 0,
      readOnlyPaths: tree.readOnlyPaths,
      logger: silentLogger,
      afterResolve: async (clientPath) => {
        const now = armed;
        if (now?.clientPath !== clientPath) return;
        armed = undefined;
        await now.act();
      },
    });
    c = await SftpTestClient.connect(server.port);
  });
  afterEach(async () => {
    assert.deepEqual(await outsideState(tree), outsideBefore, 'nothing outside the root changed');
    assert.deepEqual(descriptorsUnder(tree.base), [], 'no descriptor into the tree is left open');
  });
  after(async () => {
    c.close();
    await server.close();
    await tree.remove();
  });

  test('STAT and LSTAT give the attributes of the file inside', async () => {
    assert.equal((await raced('/data/swap/file.txt', () => c.stat('/data/swap/file.txt'))).size, Buffer.byteLength(INSIDE_TXT));
    assert.equal((await raced('/data/swap/sub/file.txt', () => c.lstat('/data/swap/sub/file.txt'))).size, Buffer.byteLength(INSIDE_TXT));
  });

  test('OPEN for reading reads the file inside', async () => {
    assert.equal((await raced('/data/swap/file.txt', () => c.readFile('/data/swap/file.txt'))).toString(), INSIDE_TXT);
  });

  test('OPEN with create makes the file inside', async () => {
    await raced('/data/swap/created.txt', () => c.writeFile('/data/swap/created.txt', 'created\n'));
    assert.equal(await fsp.readFile(inside('created.txt'), 'utf8'), 'created\n');
  });

  test('OPENDIR and READDIR list the directory inside, with its attributes', async () => {
    const entries = await raced('/data/swap/sub', () => c.readdir('/data/swap/sub'));
    assert.deepEqual(entries.map((e) => e.filename).sort(), ['file.txt']);
    assert.equal(entries[0].attrs.size, Buffer.byteLength(INSIDE_TXT));
  });

  test('READDIR after a swap that came after OPENDIR: the entries and their attributes of the directory opened', async () => {
    const h = await new Promise<Buffer>((resolve, reject) => c.sftp.opendir('/data/swap/sub', (err, handle) => (err ? reject(err) : resolve(handle))));
    await swapIn();
    try {
      const entries = await new Promise<FileEntry[]>((resolve, reject) => c.sftp.readdir(h, (err, list) => (err ? reject(err) : resolve(list))));
      assert.deepEqual(
        entries.filter((e) => e.filename === 'file.txt' || e.filename === 'only-outside.txt').map((e) => [e.filename, e.attrs.size]),
        [['file.txt', Buffer.byteLength(INSIDE_TXT)]],
      );
    } finally {
      await c.closeHandle(h);
      await swapBack();
    }
  });

  test('MKDIR makes the directory inside', async () => {
    await raced('/data/swap/made', () => c.mkdir('/data/swap/made'));
    assert.ok((await fsp.stat(inside('made'))).isDirectory());
  });

  test('RMDIR removes the directory inside', async () => {
    await raced('/data/swap/emptydir', () => c.rmdir('/data/swap/emptydir'));
    assert.equal(await exists(inside('emptydir')), false);
    await fsp.mkdir(inside('emptydir'));
  });

  test('REMOVE removes the file inside', async () => {
    await raced('/data/swap/victim.txt', () => c.unlink('/data/swap/victim.txt'));
    assert.equal(await exists(inside('victim.txt')), false);
    await fsp.writeFile(inside('victim.txt'), INSIDE_TXT);
  });

  test('RENAME moves the file inside, the swap made after both ends resolved', async () => {
    await raced('/data/swap/renamed.txt', () => c.rename('/data/swap/victim.txt', '/data/swap/renamed.txt'));
    assert.equal(await fsp.readFile(inside('renamed.txt'), 'utf8'), INSIDE_TXT);
    await raced('/data/moved-out.txt', () => c.rename('/data/swap/renamed.txt', '/data/moved-out.txt'));
    assert.equal(await fsp.readFile(path.join(tree.root, 'data/moved-out.txt'), 'utf8'), INSIDE_TXT);
    await fsp.rename(path.join(tree.root, 'data/moved-out.txt'), inside('victim.txt'));
  });

  test('SETSTAT (size, mode, times) changes the file inside', async () => {
    const attrs = { size: 3, mode: 0o600, atime: 1_000_000, mtime: 1_000_000 };
    const setstat = (): Promise<void> => new Promise((resolve, reject) => c.sftp.setstat('/data/swap/sub/file.txt', attrs, (err) => (err ? reject(err) : resolve())));
    await raced('/data/swap/sub/file.txt', setstat);
    const st = await fsp.stat(inside('sub/file.txt'));
    assert.deepEqual([st.size, st.mode & 0o777, st.mtimeMs], [3, 0o600, 1_000_000_000]);
  });

  test('READLINK reads the link inside', async () => {
    assert.equal(await raced('/data/swap/link', () => c.readlink('/data/swap/link')), 'inside-target');
  });

  test('SYMLINK makes the link inside', async () => {
    await raced('/data/swap/client-link', () => c.symlink('made-by-client', '/data/swap/client-link'));
    assert.equal(await fsp.readlink(inside('client-link')), 'made-by-client');
  });

  test('hardlink@openssh.com links the file inside', async () => {
    // The client only sends what the server announced; pretend it did.
    (c.sftp as unknown as { _extensions: Record<string, string> })._extensions['hardlink@openssh.com'] = '1';
    const link = (): Promise<void> => new Promise((resolve, reject) => c.sftp.ext_openssh_hardlink('/data/swap/file.txt', '/data/swap/hard.txt', (err) => (err ? reject(err) : resolve())));
    await raced('/data/swap/hard.txt', link);
    assert.equal((await fsp.stat(inside('hard.txt'))).ino, (await fsp.stat(inside('file.txt'))).ino);
  });

  test('the last component turned into a link to outside: no operation follows it', async () => {
    const file = inside('last.txt');
    const toLink = async (): Promise<void> => {
      await fsp.rm(file);
      await fsp.symlink(path.join(dirs.outside, 'file.txt'), file);
    };
    const ops: [string, () => Promise<unknown>][] = [
      ['read', () => c.readFile('/data/swap/last.txt')],
      ['write', () => c.writeFile('/data/swap/last.txt', 'overwritten')],
      ['chmod', () => c.chmod('/data/swap/last.txt', 0o666)],
      ['utimes', () => c.utimes('/data/swap/last.txt', 1, 1)],
    ];
    for (const [what, op] of ops) {
      await fsp.rm(file, { force: true });
      await fsp.writeFile(file, INSIDE_TXT);
      armed = { clientPath: '/data/swap/last.txt', act: toLink };
      assert.equal(await attempt(op()), undefined, `${what} is refused`);
      assert.equal(armed, undefined, `${what}: the link was made`);
    }
    // A directory to be listed turned into a link.
    await assert.rejects(raced('/data/swap', () => c.readdir('/data/swap')));
    // STAT names the link then, not what it leads to.
    armed = { clientPath: '/data/swap/last.txt', act: toLink };
    await fsp.rm(file, { force: true });
    await fsp.writeFile(file, INSIDE_TXT);
    assert.ok((await c.stat('/data/swap/last.txt')).isSymbolicLink());
    await fsp.rm(file);
  });
});
