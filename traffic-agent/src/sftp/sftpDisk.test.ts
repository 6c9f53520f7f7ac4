/**
 * The walk of sftpPaths.ts on disk (sftpDisk.ts): real files, real descriptors. The races here
 * happen inside the walk itself, between two of its steps, which the server tests cannot time.
 */
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { checkDiskAccess, DiskPath, diskTree } from './sftpDisk.js';
import { SftpPathError, type Tree, walkClientPath } from './sftpPaths.js';
import { CONFIG_TXT, descriptorsUnder, makeVolumeTree, OUTSIDE_SECRET, type VolumeTree } from './testing/volumeTree.js';

const notLinux = process.platform === 'linux' ? false : 'needs Linux (/proc/self/fd)';

/** diskTree, with `afterEnter` run once, right after the walk has entered `name`. */
function treeWithStep(root: string, name: string, afterEnter: () => Promise<void>): Tree<number> {
  const tree = diskTree(root);
  let pending: (() => Promise<void>) | undefined = afterEnter;
  return {
    ...tree,
    async enter(dir, n) {
      const entry = await tree.enter(dir, n);
      if (n === name && pending) {
        const act = pending;
        pending = undefined;
        await act();
      }
      return entry;
    },
  };
}

describe('the walk on disk', { skip: notLinux }, () => {
  let tree: VolumeTree;
  const resolve = async (clientPath: string, followFinal: boolean, t?: Tree<number>): Promise<DiskPath> => {
    const r = await walkClientPath(tree.root, clientPath, { followFinal }, t ?? diskTree(tree.root));
    return new DiskPath(r.realPath, r.parent, r.name);
  };
  /** lstat of what `clientPath` names, its directory released after. */
  const lstatAt = async (clientPath: string, followFinal: boolean, t?: Tree<number>): Promise<{ realPath: string; size: number }> => {
    const d = await resolve(clientPath, followFinal, t);
    try {
      return { realPath: d.realPath, size: (await fsp.lstat(d.path)).size };
    } finally {
      d.release();
    }
  };

  before(async () => {
    tree = await makeVolumeTree();
    await fsp.mkdir(path.join(tree.root, 'data/swap/hop'), { recursive: true });
    await fsp.writeFile(path.join(tree.root, 'data/swap/file.txt'), 'inside\n');
    await fsp.mkdir(path.join(tree.base, 'outside'));
    await fsp.writeFile(path.join(tree.base, 'outside/file.txt'), OUTSIDE_SECRET);
    await fsp.symlink('leaked-outside', path.join(tree.base, 'outside/hop'));
    await fsp.mkdir(path.join(tree.root, 'data/a/b'), { recursive: true });
    await fsp.writeFile(path.join(tree.base, 'x'), OUTSIDE_SECRET);
  });
  afterEach(() => {
    assert.deepEqual(descriptorsUnder(tree.base), [], 'every descriptor is closed');
  });
  after(async () => {
    await tree.remove();
  });

  test('is at start where the server serves', async () => {
    await checkDiskAccess(tree.root);
  });

  test('follows the ConfigMap links to the file and names the root as "." of itself', async () => {
    const key = await lstatAt('/etc/config/config.txt', true);
    assert.equal(key.realPath, path.join(tree.root, 'etc/config/..2026_01_02_03_04_05.123456789/config.txt'));
    assert.equal(key.size, Buffer.byteLength(CONFIG_TXT));
    const root = await resolve('/var/..', true);
    assert.equal(root.name, undefined);
    assert.ok((await fsp.lstat(root.path)).isDirectory());
    root.release();
    const dir = await resolve('/var/cache/..', false);
    assert.deepEqual([dir.realPath, dir.name], [path.join(tree.root, 'var'), 'var']);
    dir.release();
  });

  test('a directory swapped for a link after the walk entered it: the walk goes on in the one it holds', async () => {
    const swap = path.join(tree.root, 'data/swap');
    const parked = path.join(tree.root, 'data/swap-parked');
    const toLink = async (): Promise<void> => {
      await fsp.rename(swap, parked);
      await fsp.symlink(path.join(tree.base, 'outside'), swap);
    };
    const back = async (): Promise<void> => {
      await fsp.rm(swap, { force: true });
      await fsp.rename(parked, swap).catch(() => undefined);
    };
    try {
      // A path-based readlink of data/swap/hop now would read outside/hop -> leaked-outside.
      const hop = await lstatAt('/data/swap/hop', true, treeWithStep(tree.root, 'swap', toLink));
      assert.equal(hop.realPath, path.join(tree.root, 'data/swap/hop'));
      await back();
      const file = await lstatAt('/data/swap/file.txt', true, treeWithStep(tree.root, 'swap', toLink));
      assert.equal(file.size, Buffer.byteLength('inside\n'));
    } finally {
      await back();
    }
  });

  test('".." after a directory was moved goes by the names walked, not by the kernel', async () => {
    // data/a/b moves up to data/b once entered: three kernel ".." from it would leave the root
    // for tree.base, which holds x.
    const moveUp = (): Promise<void> => fsp.rename(path.join(tree.root, 'data/a/b'), path.join(tree.root, 'data/b'));
    const d = await resolve('/data/a/b/../../../x', true, treeWithStep(tree.root, 'b', moveUp));
    try {
      assert.equal(d.realPath, path.join(tree.root, 'x'));
      await assert.rejects(fsp.lstat(d.path), { code: 'ENOENT' });
    } finally {
      d.release();
      await fsp.rename(path.join(tree.root, 'data/b'), path.join(tree.root, 'data/a/b'));
    }
  });

  test('a path that cannot be walked fails as the kernel would, when used, and holds nothing', async () => {
    const failsWith = async (clientPath: string, code: string): Promise<void> => {
      const d = await resolve(clientPath, true);
      try {
        assert.throws(() => d.path, { code }, clientPath);
      } finally {
        d.release();
      }
    };
    await failsWith('/data/missing/x', 'ENOENT');
    await failsWith('/var/cache/existing.txt/x', 'ENOTDIR');
    // Walked again from the root: still ENOENT.
    await failsWith('/data/missing/../missing/x', 'ENOENT');
    const missingParentOk = await resolve('/data/missing/../swap/file.txt', true);
    assert.ok((await fsp.lstat(missingParentOk.path)).isFile(), 'a missing directory that ".." leaves again is no obstacle');
    missingParentOk.release();
    await assert.rejects(resolve('/data/climb', true), (e: unknown) => e instanceof SftpPathError && e.code === 'EACCES');
    await fsp.symlink('loop', path.join(tree.root, 'data/loop'));
    await assert.rejects(resolve('/data/loop/x', true), (e: unknown) => e instanceof SftpPathError && e.code === 'ELOOP');
  });
});
