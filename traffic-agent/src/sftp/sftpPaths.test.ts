import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { clientPathOf, type LinkReader, resolveClientPath, SftpPathError, touchesReadOnly } from './sftpPaths.js';

const ROOT = '/telepath-agent-mounts';

/** Links by real path; every other path is "not a link". */
function links(map: Record<string, string>): LinkReader & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    readLinkIfSymlink: (p) => {
      reads.push(p);
      return Promise.resolve(map[p]);
    },
  };
}

/** The kubelet's ConfigMap layout at /etc/config. */
const CONFIGMAP = links({
  [`${ROOT}/etc/config/..data`]: '..2026_01_02',
  [`${ROOT}/etc/config/config.txt`]: '..data/config.txt',
  [`${ROOT}/etc/config/sub`]: '..data/sub',
  [`${ROOT}/data/abs`]: '/etc/config/config.txt',
  [`${ROOT}/data/climb`]: '../../outside',
  [`${ROOT}/data/loop`]: 'loop',
});

const follow = { followFinal: true };
const noFollow = { followFinal: false };

describe('resolveClientPath', () => {
  test('a plain path maps under the root; relative paths start at "/"', async () => {
    assert.equal(await resolveClientPath(ROOT, '/var/cache/a.txt', follow, links({})), `${ROOT}/var/cache/a.txt`);
    assert.equal(await resolveClientPath(ROOT, 'var/cache', follow, links({})), `${ROOT}/var/cache`);
    assert.equal(await resolveClientPath(ROOT, '/', follow, links({})), ROOT);
    assert.equal(await resolveClientPath(ROOT, '', follow, links({})), ROOT);
    assert.equal(await resolveClientPath(ROOT, '.', follow, links({})), ROOT);
    assert.equal(await resolveClientPath(ROOT, '//var/./cache//', follow, links({})), `${ROOT}/var/cache`);
  });

  test('a ConfigMap key resolves through ..data to the timestamped directory', async () => {
    assert.equal(await resolveClientPath(ROOT, '/etc/config/config.txt', follow, CONFIGMAP), `${ROOT}/etc/config/..2026_01_02/config.txt`);
    assert.equal(await resolveClientPath(ROOT, '/etc/config/sub/nested.txt', noFollow, CONFIGMAP), `${ROOT}/etc/config/..2026_01_02/sub/nested.txt`);
  });

  test('without followFinal the last component stays the link itself', async () => {
    assert.equal(await resolveClientPath(ROOT, '/etc/config/config.txt', noFollow, CONFIGMAP), `${ROOT}/etc/config/config.txt`);
    assert.equal(await resolveClientPath(ROOT, '/etc/config/..data', noFollow, CONFIGMAP), `${ROOT}/etc/config/..data`);
    // A trailing slash names the target, as for the kernel.
    assert.equal(await resolveClientPath(ROOT, '/etc/config/..data/', noFollow, CONFIGMAP), `${ROOT}/etc/config/..2026_01_02`);
  });

  test('without followFinal the last component is not even looked at', async () => {
    const l = links({});
    await resolveClientPath(ROOT, '/a/b', noFollow, l);
    assert.deepEqual(l.reads, [`${ROOT}/a`]);
  });

  test('an absolute link target is taken relative to the root, as the app sees it', async () => {
    assert.equal(await resolveClientPath(ROOT, '/data/abs', follow, CONFIGMAP), `${ROOT}/etc/config/..2026_01_02/config.txt`);
  });

  test('".." is resolved after the link before it, like the kernel does', async () => {
    // /etc/config/sub is ..data/sub = ..2026_01_02/sub, so its ".." is ..2026_01_02, not /etc/config.
    assert.equal(await resolveClientPath(ROOT, '/etc/config/sub/../app.yaml', follow, CONFIGMAP), `${ROOT}/etc/config/..2026_01_02/app.yaml`);
  });

  test('climbing above the root is refused, by path or by link', async () => {
    for (const p of ['../../etc/passwd', '/var/cache/../../../etc/passwd', '/..', '/data/climb', '/data/climb/x']) {
      await assert.rejects(
        resolveClientPath(ROOT, p, follow, CONFIGMAP),
        (e: unknown) => e instanceof SftpPathError && e.code === 'EACCES',
        p,
      );
    }
    // Naming the link itself is fine (READLINK, REMOVE); only following it would leave the root.
    assert.equal(await resolveClientPath(ROOT, '/data/climb', noFollow, CONFIGMAP), `${ROOT}/data/climb`);
  });

  test('".." inside the root is fine', async () => {
    assert.equal(await resolveClientPath(ROOT, '/var/cache/../../data', follow, links({})), `${ROOT}/data`);
  });

  test('a link loop fails with ELOOP', async () => {
    await assert.rejects(
      resolveClientPath(ROOT, '/data/loop', follow, CONFIGMAP),
      (e: unknown) => e instanceof SftpPathError && e.code === 'ELOOP',
    );
  });
});

describe('clientPathOf', () => {
  test('maps back to the client view', () => {
    assert.equal(clientPathOf(ROOT, ROOT), '/');
    assert.equal(clientPathOf(ROOT, `${ROOT}/etc/config`), '/etc/config');
    assert.throws(() => clientPathOf(ROOT, '/etc/passwd'), SftpPathError);
    assert.throws(() => clientPathOf(ROOT, `${ROOT}-other/x`), SftpPathError);
  });
});

describe('touchesReadOnly', () => {
  const ro = [`${ROOT}/etc/config`, `${ROOT}/etc/app.yaml`];
  test('the volume, what is inside it, and what holds it', () => {
    assert.equal(touchesReadOnly(`${ROOT}/etc/config`, ro), true);
    assert.equal(touchesReadOnly(`${ROOT}/etc/config/..data`, ro), true);
    assert.equal(touchesReadOnly(`${ROOT}/etc/app.yaml`, ro), true, 'a subPath file mount');
    assert.equal(touchesReadOnly(`${ROOT}/etc`, ro), true, 'renaming /etc would move the mount');
    assert.equal(touchesReadOnly(ROOT, ro), true);
  });
  test('neighbours with a common prefix are not read-only', () => {
    assert.equal(touchesReadOnly(`${ROOT}/etc/config2`, ro), false);
    assert.equal(touchesReadOnly(`${ROOT}/etc/app.yaml.bak`, ro), false);
    assert.equal(touchesReadOnly(`${ROOT}/var/cache/x`, ro), false);
  });
});
