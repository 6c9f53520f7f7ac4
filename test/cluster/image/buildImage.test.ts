import assert from 'node:assert/strict';
import { execFile as execFileCallback } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { buildImage, elfInterpreter, libraryClosure, parseLdd, referenceTag, type ImageSpec } from './buildImage.js';

const execFile = promisify(execFileCallback);

let tmp: string;
let inputs: string;
before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'telepath-image-test-'));
  inputs = path.join(tmp, 'inputs');
  await fs.mkdir(path.join(inputs, 'tree', 'sub'), { recursive: true });
  await fs.writeFile(path.join(inputs, 'app.js'), 'console.log("app")\n');
  await fs.writeFile(path.join(inputs, 'tree', 'sub', 'data.txt'), 'data\n');
  await fs.symlink('sub/data.txt', path.join(inputs, 'tree', 'link'));
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

function spec(): ImageSpec {
  return {
    name: 'docker.io/library/telepath-test:1',
    files: [
      { src: path.join(inputs, 'app.js'), dest: '/app/app.js', mode: 0o600 },
      { src: path.join(inputs, 'tree'), dest: '/opt/tree' },
      { dest: '/etc/greeting', content: 'hello\n' },
    ],
    binaries: ['/usr/bin/true'],
    dirs: [{ path: '/tmp', mode: 0o1777 }],
    env: { PATH: '/usr/bin:/bin', GREETING: 'hi' },
    cmd: ['true'],
  };
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

interface Layout {
  dir: string;
  index: { manifests: { digest: string; size: number; annotations: Record<string, string>; platform: unknown }[] };
  manifest: { config: Blob; layers: Blob[] };
  config: {
    architecture: string;
    os: string;
    config: { Env?: string[]; Entrypoint?: string[]; Cmd?: string[] };
    rootfs: { diff_ids: string[] };
  };
}
interface Blob {
  digest: string;
  size: number;
}

async function unpack(archive: string): Promise<Layout> {
  const dir = await fs.mkdtemp(path.join(tmp, 'layout-'));
  await execFile('tar', ['-xf', archive, '-C', dir]);
  const blob = async (digest: string) => fs.readFile(path.join(dir, 'blobs', 'sha256', digest.replace('sha256:', '')));
  const index = JSON.parse(await fs.readFile(path.join(dir, 'index.json'), 'utf8')) as Layout['index'];
  const manifest = JSON.parse((await blob(index.manifests[0].digest)).toString()) as Layout['manifest'];
  const config = JSON.parse((await blob(manifest.config.digest)).toString()) as Layout['config'];
  return { dir, index, manifest, config };
}

interface TarEntry {
  mode: string;
  owner: string;
  date: string;
  name: string;
}

async function layerEntries(layerTar: string): Promise<TarEntry[]> {
  const { stdout } = await execFile('tar', ['--list', '--verbose', '--numeric-owner', '--full-time', `--file=${layerTar}`], {
    env: { ...process.env, LC_ALL: 'C', TZ: 'UTC' },
  });
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const m = /^(\S+) (\S+)\s+\d+ (\S+ \S+) (.*?)(?: -> .*)?$/.exec(line);
      assert.ok(m, `unexpected tar listing line ${line}`);
      return { mode: m[1], owner: m[2], date: m[3], name: m[4].replace(/\/$/, '') };
    });
}

test('the archive is a valid OCI layout that names the image', async () => {
  const image = await buildImage(spec(), { cacheDir: path.join(tmp, 'cache-a') });
  const layout = await unpack(image.archive);

  assert.equal(await fs.readFile(path.join(layout.dir, 'oci-layout'), 'utf8'), '{"imageLayoutVersion":"1.0.0"}');
  assert.equal(layout.index.manifests.length, 1);
  const top = layout.index.manifests[0];
  assert.equal(top.digest, image.digest);
  assert.equal(top.annotations['io.containerd.image.name'], 'docker.io/library/telepath-test:1');
  assert.equal(top.annotations['org.opencontainers.image.ref.name'], '1');

  // Every blob is named by its digest, every descriptor has the blob's size, and nothing is extra.
  const blobsDir = path.join(layout.dir, 'blobs', 'sha256');
  const names = (await fs.readdir(blobsDir)).sort();
  for (const name of names) assert.equal(sha256(await fs.readFile(path.join(blobsDir, name))), name);
  const described = [top, layout.manifest.config, ...layout.manifest.layers];
  for (const desc of described) {
    assert.equal((await fs.stat(path.join(blobsDir, desc.digest.replace('sha256:', '')))).size, desc.size, desc.digest);
  }
  assert.deepEqual(names, described.map((d) => d.digest.replace('sha256:', '')).sort());

  assert.equal(layout.config.architecture, 'amd64');
  assert.equal(layout.config.os, 'linux');
  assert.deepEqual(layout.config.config.Cmd, ['true']);
  assert.deepEqual(layout.config.config.Env, ['PATH=/usr/bin:/bin', 'GREETING=hi']);
  assert.equal(layout.manifest.layers.length, 1);
  const layerFile = path.join(blobsDir, layout.manifest.layers[0].digest.replace('sha256:', ''));
  assert.deepEqual(layout.config.rootfs.diff_ids, [`sha256:${sha256(await fs.readFile(layerFile))}`]);
});

test('a layer has zero mtimes, root owner, parents before children and the modes asked for', async () => {
  const image = await buildImage(spec(), { cacheDir: path.join(tmp, 'cache-a') });
  const layout = await unpack(image.archive);
  const entries = await layerEntries(path.join(layout.dir, 'blobs', 'sha256', layout.manifest.layers[0].digest.replace('sha256:', '')));
  const byName = new Map(entries.map((e) => [e.name, e]));
  const seen = new Set<string>();
  for (const e of entries) {
    assert.equal(e.owner, '0/0', e.name);
    assert.equal(e.date, '1970-01-01 00:00:00', e.name);
    const parent = path.posix.dirname(e.name);
    if (parent !== '.') assert.ok(seen.has(parent), `${e.name} comes before its parent directory`);
    seen.add(e.name);
  }
  assert.equal(byName.get('tmp')?.mode, 'drwxrwxrwt');
  assert.equal(byName.get('app/app.js')?.mode, '-rw-------');
  assert.equal(byName.get('app')?.mode, 'drwxr-xr-x');
  assert.equal(byName.get('etc/greeting')?.mode, '-rw-r--r--');
  assert.equal(byName.get('opt/tree/link')?.mode, 'lrwxrwxrwx');
  assert.ok(byName.has('opt/tree/sub/data.txt'));
  assert.equal(byName.get('usr/bin/true')?.mode.slice(0, 4), '-rwx');
});

test('the ldd closure includes the ELF loader, and the image has every library at its path', async () => {
  const closure = await libraryClosure(process.execPath);
  const interpreter = await elfInterpreter(process.execPath);
  assert.ok(interpreter !== undefined && interpreter.startsWith('/'), `node has an ELF interpreter, got ${interpreter}`);
  assert.equal(closure.interpreter, interpreter);
  assert.ok(closure.libraries.includes(interpreter), 'the loader is part of the closure');
  assert.ok(closure.libraries.some((l) => /\/libc\.so\.6$/.test(l)), 'libc is part of the closure');
  for (const lib of closure.libraries) await fs.access(lib);

  const image = await buildImage(spec(), { cacheDir: path.join(tmp, 'cache-a') });
  const layout = await unpack(image.archive);
  const names = new Set(
    (await layerEntries(path.join(layout.dir, 'blobs', 'sha256', layout.manifest.layers[0].digest.replace('sha256:', '')))).map((e) => '/' + e.name),
  );
  const trueClosure = await libraryClosure('/usr/bin/true');
  assert.ok(trueClosure.interpreter && names.has(trueClosure.interpreter), 'the loader is in the image');
  for (const lib of trueClosure.libraries) assert.ok(names.has(lib), `${lib} is in the image`);
});

test('the same inputs give the same bytes, from a cold cache too; changed inputs do not', async () => {
  const first = await buildImage(spec(), { cacheDir: path.join(tmp, 'cache-a') });
  const second = await buildImage(spec(), { cacheDir: path.join(tmp, 'cache-b') });
  assert.equal(second.cached, false);
  assert.equal(second.digest, first.digest);
  assert.equal(sha256(await fs.readFile(second.archive)), sha256(await fs.readFile(first.archive)));

  const warm = await buildImage(spec(), { cacheDir: path.join(tmp, 'cache-b') });
  assert.equal(warm.cached, true);
  assert.equal(warm.digest, first.digest);

  await fs.writeFile(path.join(inputs, 'tree', 'sub', 'data.txt'), 'changed\n');
  try {
    const changed = await buildImage(spec(), { cacheDir: path.join(tmp, 'cache-b') });
    assert.equal(changed.cached, false);
    assert.notEqual(changed.digest, first.digest);
  } finally {
    await fs.writeFile(path.join(inputs, 'tree', 'sub', 'data.txt'), 'data\n');
  }
});

test('a derived image reuses its base layers and config, and leaves out libraries the base has', async () => {
  const cacheDir = path.join(tmp, 'cache-a');
  const base = await buildImage(spec(), { cacheDir });
  const derived = await buildImage(
    {
      name: 'docker.io/library/telepath-test-derived:2',
      base,
      binaries: ['/usr/bin/false'],
      files: [{ dest: '/app/extra.txt', content: 'extra' }],
      env: { GREETING: 'hello' },
      entrypoint: ['false'],
    },
    { cacheDir },
  );
  const b = await unpack(base.archive);
  const d = await unpack(derived.archive);
  assert.equal(d.manifest.layers.length, 2);
  assert.deepEqual(d.manifest.layers[0], b.manifest.layers[0]);
  assert.deepEqual(d.config.rootfs.diff_ids.slice(0, 1), b.config.rootfs.diff_ids);
  assert.deepEqual(d.config.config.Env, ['PATH=/usr/bin:/bin', 'GREETING=hello']);
  assert.deepEqual(d.config.config.Entrypoint, ['false']);
  assert.equal(d.config.config.Cmd, undefined, 'a new entrypoint drops the base CMD');

  const top = await layerEntries(path.join(d.dir, 'blobs', 'sha256', d.manifest.layers[1].digest.replace('sha256:', '')));
  const names = top.map((e) => '/' + e.name);
  assert.ok(names.includes('/usr/bin/false'));
  assert.ok(names.includes('/app/extra.txt'));
  const { libraries } = await libraryClosure('/usr/bin/false');
  for (const lib of libraries) assert.ok(!names.includes(lib), `${lib} is already in the base layer`);

  // Built on the base's archive path instead of its result: the same image.
  const again = await buildImage(
    {
      name: 'docker.io/library/telepath-test-derived:2',
      base: base.archive,
      binaries: ['/usr/bin/false'],
      files: [{ dest: '/app/extra.txt', content: 'extra' }],
      env: { GREETING: 'hello' },
      entrypoint: ['false'],
    },
    { cacheDir: path.join(tmp, 'cache-c') },
  );
  assert.equal(again.digest, derived.digest);
});

test('parseLdd keeps absolute paths, skips the vDSO and fails on a missing library', () => {
  const out = [
    '\tlinux-vdso.so.1 (0x00007ffd1b3e5000)',
    '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f1b2a000000)',
    '\t/lib64/ld-linux-x86-64.so.2 (0x00007f1b2a3f0000)',
    '',
  ].join('\n');
  assert.deepEqual(parseLdd(out), ['/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2']);
  assert.throws(() => parseLdd('\tlibfoo.so.1 => not found\n', '/bin/x'), /libfoo\.so\.1 not found/);
});

test('image names must be full references with a tag', async () => {
  assert.equal(referenceTag('docker.io/library/node:20-alpine'), '20-alpine');
  assert.equal(referenceTag('localhost:5000/a/b:v1.2'), 'v1.2');
  assert.throws(() => referenceTag('node:20-alpine'), /full reference/);
  assert.throws(() => referenceTag('docker.io/library/node'), /full reference/);
  await assert.rejects(buildImage({ ...spec(), files: [{ dest: 'relative', content: '' }] }, { cacheDir: path.join(tmp, 'cache-x') }), /absolute/);
});
