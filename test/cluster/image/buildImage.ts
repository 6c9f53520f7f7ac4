/**
 * Builds container images for the local test cluster without a registry or a container engine:
 * host files and host executables in, an OCI image layout packed as a tar out — the form
 * `ctr images import` takes. Every build adds at most one uncompressed layer on top of an optional
 * base image's layers, so derived images share their base's layers byte for byte.
 *
 * Layers are reproducible (GNU tar: sorted names, mtime 0, owner 0:0), and so is everything else,
 * so the same inputs give the same manifest digest on any run. Outputs are cached under
 * `${TELEPATH_CACHE:-~/.cache/telepath}/images/`, keyed by the spec and the contents of its inputs.
 */
import { execFile as execFileCallback } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants, createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

const execFile = promisify(execFileCallback);

/** Part of every cache key: change it when the bytes this module writes change. */
const FORMAT = 'telepath-image/1';

const MEDIA_TYPE = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
} as const;

/** A host file or directory (copied recursively, symlinks inside kept as symlinks). */
export interface HostFile {
  src: string;
  dest: string;
  /** Permission bits for `dest` itself; the host's are kept otherwise. */
  mode?: number;
}

export interface InlineFile {
  dest: string;
  content: string | Uint8Array;
  /** Default 0o644. */
  mode?: number;
}

/** A host executable, copied with its dynamic loader and every library `ldd` lists. */
export interface HostBinary {
  /** An absolute path, or a name looked up on PATH. */
  src: string;
  /** Where the executable goes; its path on the host by default. Libraries always keep theirs. */
  dest?: string;
}

export interface ImageDir {
  path: string;
  /** Default 0o755. */
  mode?: number;
}

export interface ImageSpec {
  /** Full reference, e.g. `docker.io/library/node:20-alpine`. */
  name: string;
  /** A previously built image (its result, archive path or layout directory) to build on. */
  base?: BuiltImage | string;
  files?: (HostFile | InlineFile)[];
  binaries?: (string | HostBinary)[];
  dirs?: (string | ImageDir)[];
  /** Like a Dockerfile: unset inherits the base's; setting `entrypoint` alone clears `cmd`; null clears. */
  entrypoint?: string[] | null;
  cmd?: string[] | null;
  /** Added to, or replacing entries of, the base's environment. */
  env?: Record<string, string>;
  workdir?: string;
  user?: string;
}

export interface BuildOptions {
  /** Default `${TELEPATH_CACHE:-~/.cache/telepath}/images`. */
  cacheDir?: string;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export interface BuiltImage {
  name: string;
  /** Digest of the image manifest, `sha256:…`. */
  digest: string;
  /** The OCI layout as a tar, for `ctr images import`. */
  archive: string;
  /** Size of the archive in bytes. */
  size: number;
  /** True when the result came from the cache. */
  cached: boolean;
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

/** The parts of the OCI image config this builder reads back from a base image. */
interface ImageConfig {
  architecture: string;
  os: string;
  config?: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
  };
  rootfs: { type: 'layers'; diff_ids: string[] };
}

interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}

interface Index {
  schemaVersion: 2;
  manifests: (Descriptor & { annotations?: Record<string, string> })[];
}

/** One path of the new layer. `dependency` marks libraries found through ldd. */
type Entry =
  | { kind: 'file'; dest: string; src: string; mode: number; sha256: string; dependency: boolean }
  | { kind: 'inline'; dest: string; content: Buffer; mode: number }
  | { kind: 'symlink'; dest: string; target: string }
  | { kind: 'dir'; dest: string; mode: number };

export async function buildImage(spec: ImageSpec, options: BuildOptions = {}): Promise<BuiltImage> {
  const log = options.log ?? (() => undefined);
  const started = Date.now();
  const tag = referenceTag(spec.name);
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const entries = await planEntries(spec, options.signal);
  const baseDigest =
    spec.base === undefined ? undefined : typeof spec.base === 'string' ? (await openBase(spec.base)).digest : spec.base.digest;
  const key = sha256Hex(
    JSON.stringify({
      format: FORMAT,
      name: spec.name,
      platform: hostPlatform(),
      base: baseDigest ?? null,
      entries: entries.map(describeEntry),
      entrypoint: spec.entrypoint,
      cmd: spec.cmd,
      env: spec.env ? Object.entries(spec.env) : undefined,
      workdir: spec.workdir,
      user: spec.user,
    }),
  );
  const outDir = path.join(cacheDir, key);
  const cached = await readCachedResult(outDir);
  if (cached) {
    log(`${spec.name}: cached ${cached.digest} (${Date.now() - started} ms)`);
    return cached;
  }

  log(`${spec.name}: building`);
  await fs.mkdir(cacheDir, { recursive: true });
  const work = path.join(cacheDir, `.tmp-${key.slice(0, 16)}-${process.pid}-${randomBytes(4).toString('hex')}`);
  await fs.mkdir(work);
  try {
    const store = new BlobStore(path.join(cacheDir, 'blobs'));
    const base = spec.base === undefined ? undefined : await loadBase(spec.base, store, work);
    const layers = base ? [...base.manifest.layers] : [];
    const diffIds = base ? [...base.config.rootfs.diff_ids] : [];

    const kept = base ? await dropProvidedDependencies(entries, base.manifest.layers, store) : entries;
    if (kept.length > 0) {
      const staging = path.join(work, 'rootfs');
      await stage(kept, staging);
      const layerTar = path.join(work, 'layer.tar');
      await tarDirectory(staging, layerTar, options.signal);
      const layer = await store.putFile(layerTar, MEDIA_TYPE.layer);
      layers.push(layer);
      diffIds.push(layer.digest); // uncompressed: the diff_id is the layer digest
    }

    const config = imageConfig(spec, base?.config, diffIds);
    const configDesc = await store.putBytes(canonicalJson(config), MEDIA_TYPE.config);
    const manifest: Manifest = { schemaVersion: 2, mediaType: MEDIA_TYPE.manifest, config: configDesc, layers };
    const manifestDesc = await store.putBytes(canonicalJson(manifest), MEDIA_TYPE.manifest);
    const index = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.index,
      manifests: [
        {
          ...manifestDesc,
          annotations: {
            'io.containerd.image.name': spec.name,
            'org.opencontainers.image.ref.name': tag,
          },
          platform: { architecture: config.architecture, os: config.os },
        },
      ],
    };

    const layout = path.join(work, 'layout');
    await fs.mkdir(path.join(layout, 'blobs', 'sha256'), { recursive: true });
    await fs.writeFile(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await fs.writeFile(path.join(layout, 'index.json'), canonicalJson(index));
    for (const desc of [manifestDesc, configDesc, ...layers]) {
      await linkOrCopy(store.pathOf(desc.digest), path.join(layout, 'blobs', 'sha256', hexOf(desc.digest)));
    }
    const result = path.join(work, 'result');
    await fs.mkdir(result);
    const archive = path.join(result, 'image.tar');
    // Small metadata first, so reading index.json back stops early.
    await tar(['--create', `--file=${archive}`, '-C', layout, 'oci-layout', 'index.json', 'blobs'], options.signal);
    const size = (await fs.stat(archive)).size;
    const record = { name: spec.name, digest: manifestDesc.digest, size };
    await fs.writeFile(path.join(result, 'image.json'), JSON.stringify(record) + '\n');
    try {
      await fs.rename(result, outDir);
    } catch (err) {
      // Another build of the same spec won the race; its output is identical.
      if (!(await readCachedResult(outDir))) throw err;
    }
    log(`${spec.name}: built ${manifestDesc.digest}, ${formatSize(size)} (${Date.now() - started} ms)`);
    return { ...record, archive: path.join(outDir, 'image.tar'), cached: false };
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

export function defaultCacheDir(): string {
  const root = process.env.TELEPATH_CACHE || path.join(os.homedir(), '.cache', 'telepath');
  return path.join(root, 'images');
}

/** The tag of a full reference (`registry/path:tag`), checked to be there. */
export function referenceTag(name: string): string {
  const m = /^[a-z0-9.-]+(?::[0-9]+)?\/[a-z0-9._/-]+:([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$/.exec(name);
  if (!m) throw new Error(`image name must be a full reference like docker.io/library/node:20-alpine, got ${JSON.stringify(name)}`);
  return m[1];
}

// ---------------------------------------------------------------------------------------------
// Shared libraries

export interface LibraryClosure {
  /** The ELF interpreter (PT_INTERP), absent for static executables. */
  interpreter?: string;
  /** Absolute paths of everything the binary loads, the interpreter included, sorted. */
  libraries: string[];
}

export async function libraryClosure(binary: string, signal?: AbortSignal): Promise<LibraryClosure> {
  const interpreter = await elfInterpreter(binary);
  if (interpreter === undefined) return { libraries: [] };
  const { stdout } = await execFile('ldd', [binary], { signal, env: { ...process.env, LC_ALL: 'C' } });
  const libraries = new Set(parseLdd(stdout, binary));
  libraries.add(interpreter);
  return { interpreter, libraries: [...libraries].sort() };
}

/** Absolute paths from `ldd` output; the vDSO has none and is skipped. */
export function parseLdd(output: string, binary = 'binary'): string[] {
  const paths: string[] = [];
  for (const raw of output.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.includes('=> not found')) throw new Error(`${binary}: library ${line.split(/\s/)[0]} not found by ldd`);
    const m = /^(?:\S+ => )?(\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
    if (m) paths.push(m[1]);
    else if (!/^\S+ \(0x[0-9a-f]+\)$/.test(line) && !/statically linked/.test(line)) {
      throw new Error(`${binary}: cannot read ldd output line ${JSON.stringify(line)}`);
    }
  }
  return paths;
}

/** Reads PT_INTERP from an ELF file's program headers. */
export async function elfInterpreter(file: string): Promise<string | undefined> {
  const fh = await fs.open(file, 'r');
  try {
    const read = async (offset: number, length: number): Promise<Buffer> => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      if (bytesRead !== length) throw new Error(`${file}: truncated ELF file`);
      return buf;
    };
    const head = await read(0, 52);
    if (head.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file} is not an ELF executable`);
    const is64 = head[4] === 2;
    const le = head[5] === 1;
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const word = (b: Buffer, o: number) =>
      is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(b, o);
    const header = is64 ? await read(0, 64) : head;
    const phoff = word(header, is64 ? 32 : 28);
    const phentsize = u16(header, is64 ? 54 : 42);
    const phnum = u16(header, is64 ? 56 : 44);
    const table = await read(phoff, phentsize * phnum);
    for (let i = 0; i < phnum; i++) {
      const ph = i * phentsize;
      if (u32(table, ph) !== 3 /* PT_INTERP */) continue;
      const offset = word(table, ph + (is64 ? 8 : 4));
      const size = word(table, ph + (is64 ? 32 : 16));
      return (await read(offset, size)).toString('latin1').replace(/\0+$/, '');
    }
    return undefined;
  } finally {
    await fh.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Planning: the spec as a flat list of paths with their content hashes

async function planEntries(spec: ImageSpec, signal?: AbortSignal): Promise<Entry[]> {
  const byDest = new Map<string, Entry>();
  const add = (entry: Entry): void => {
    const existing = byDest.get(entry.dest);
    if (!existing) {
      byDest.set(entry.dest, entry);
    } else if (entry.kind === 'file' && entry.dependency) {
      // A library two binaries need, or one also given explicitly (which then wins).
    } else if ((existing.kind === 'file' && existing.dependency) || (existing.kind === 'dir' && entry.kind === 'dir')) {
      byDest.set(entry.dest, entry);
    } else {
      throw new Error(`${entry.dest} is given twice in the spec of ${spec.name}`);
    }
  };

  for (const file of spec.files ?? []) {
    const dest = imagePath(file.dest);
    if ('content' in file) {
      add({ kind: 'inline', dest, content: Buffer.from(file.content), mode: file.mode ?? 0o644 });
    } else {
      for (const entry of await hostEntries(path.resolve(file.src), dest, file.mode)) add(entry);
    }
  }
  for (const item of spec.binaries ?? []) {
    const binary = typeof item === 'string' ? { src: item } : item;
    const src = await resolveExecutable(binary.src);
    const stat = await fs.stat(src);
    const dest = imagePath(binary.dest ?? src);
    add({ kind: 'file', dest, src, mode: stat.mode & 0o7777, sha256: await hashFile(src), dependency: false });
    for (const lib of (await libraryClosure(src, signal)).libraries) {
      const real = await fs.realpath(lib);
      const libStat = await fs.stat(real);
      add({ kind: 'file', dest: imagePath(lib), src: real, mode: libStat.mode & 0o7777, sha256: await hashFile(real), dependency: true });
    }
  }
  for (const item of spec.dirs ?? []) {
    const dir = typeof item === 'string' ? { path: item } : item;
    add({ kind: 'dir', dest: imagePath(dir.path), mode: dir.mode ?? 0o755 });
  }
  return [...byDest.values()].sort((a, b) => compareBytes(a.dest, b.dest));
}

/** A host file or tree as entries; a symlink given as `src` is followed, symlinks inside are kept. */
async function hostEntries(src: string, dest: string, mode: number | undefined): Promise<Entry[]> {
  const stat = await fs.stat(src);
  if (stat.isFile()) {
    return [{ kind: 'file', dest, src, mode: mode ?? stat.mode & 0o7777, sha256: await hashFile(src), dependency: false }];
  }
  if (!stat.isDirectory()) throw new Error(`${src} is neither a file nor a directory`);
  const entries: Entry[] = [{ kind: 'dir', dest, mode: mode ?? stat.mode & 0o7777 }];
  const walk = async (dir: string, into: string): Promise<void> => {
    for (const name of (await fs.readdir(dir)).sort()) {
      const from = path.join(dir, name);
      const to = path.posix.join(into, name);
      const s = await fs.lstat(from);
      if (s.isSymbolicLink()) entries.push({ kind: 'symlink', dest: to, target: await fs.readlink(from) });
      else if (s.isFile()) {
        entries.push({ kind: 'file', dest: to, src: from, mode: s.mode & 0o7777, sha256: await hashFile(from), dependency: false });
      } else if (s.isDirectory()) {
        entries.push({ kind: 'dir', dest: to, mode: s.mode & 0o7777 });
        await walk(from, to);
      } else throw new Error(`${from}: only files, directories and symlinks can go into an image`);
    }
  };
  await walk(src, dest);
  return entries;
}

/** What of an entry decides the layer's bytes (not where a host file happened to be read from). */
function describeEntry(entry: Entry): unknown[] {
  switch (entry.kind) {
    case 'file':
      return [entry.dest, 'file', entry.mode, entry.sha256, entry.dependency];
    case 'inline':
      return [entry.dest, 'file', entry.mode, sha256Hex(entry.content), false];
    case 'symlink':
      return [entry.dest, 'symlink', entry.target];
    case 'dir':
      return [entry.dest, 'dir', entry.mode];
  }
}

function imagePath(p: string): string {
  const trimmed = p.replace(/\/+$/, '');
  const normal = path.posix.normalize(trimmed);
  if (!p.startsWith('/') || trimmed === '' || normal !== trimmed) {
    throw new Error(`image path must be absolute and normal (not "/"), got ${JSON.stringify(p)}`);
  }
  return normal;
}

async function resolveExecutable(name: string): Promise<string> {
  const candidates = name.includes('/')
    ? [path.resolve(name)]
    : (process.env.PATH ?? '').split(':').filter(Boolean).map((dir) => path.join(dir, name));
  for (const candidate of candidates) {
    try {
      await fs.access(candidate, fsConstants.X_OK);
      if ((await fs.stat(candidate)).isFile()) return candidate;
    } catch {
      // try the next one
    }
  }
  throw new Error(`executable ${name} not found${name.includes('/') ? '' : ' on PATH'}`);
}

// ---------------------------------------------------------------------------------------------
// The layer

/** Libraries a base layer already has at the same path come from the same host: leave them out. */
async function dropProvidedDependencies(entries: Entry[], baseLayers: Descriptor[], store: BlobStore): Promise<Entry[]> {
  if (!entries.some((e) => e.kind === 'file' && e.dependency)) return entries;
  const provided = new Set<string>();
  for (const layer of baseLayers) {
    const { stdout } = await execFile('tar', ['--list', `--file=${store.pathOf(layer.digest)}`], {
      maxBuffer: 256 << 20,
      env: { ...process.env, LC_ALL: 'C' },
    });
    for (const name of stdout.split('\n')) if (name) provided.add('/' + name.replace(/^\.?\/+/, '').replace(/\/+$/, ''));
  }
  return entries.filter((e) => !(e.kind === 'file' && e.dependency && provided.has(e.dest)));
}

async function stage(entries: Entry[], root: string): Promise<void> {
  await fs.mkdir(root);
  const made = new Set<string>();
  const parents = async (dest: string): Promise<void> => {
    const dirs: string[] = [];
    for (let d = path.posix.dirname(dest); d !== '/'; d = path.posix.dirname(d)) dirs.unshift(d);
    for (const d of dirs) {
      if (made.has(d)) continue;
      await fs.mkdir(root + d);
      await fs.chmod(root + d, 0o755); // mkdir's mode is cut by the umask
      made.add(d);
    }
  };
  // Sorted by path, so a directory's own entry comes before anything inside it.
  for (const entry of entries) {
    await parents(entry.dest);
    const at = root + entry.dest;
    switch (entry.kind) {
      case 'dir':
        if (!made.has(entry.dest)) await fs.mkdir(at);
        made.add(entry.dest);
        break;
      case 'file':
        await fs.copyFile(entry.src, at, fsConstants.COPYFILE_FICLONE);
        break;
      case 'inline':
        await fs.writeFile(at, entry.content);
        break;
      case 'symlink':
        await fs.symlink(entry.target, at);
        break;
    }
    if (entry.kind !== 'symlink') await fs.chmod(at, entry.mode);
  }
}

async function tarDirectory(dir: string, out: string, signal?: AbortSignal): Promise<void> {
  const top = (await fs.readdir(dir)).sort(compareBytes);
  await tar(['--create', `--file=${out}`, '-C', dir, '--', ...top], signal);
}

/** GNU tar with every knob that makes its output depend on the files' names and contents only. */
async function tar(args: string[], signal?: AbortSignal): Promise<void> {
  await execFile(
    'tar',
    [
      '--format=gnu',
      '--sort=name',
      '--mtime=@0',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--hard-dereference',
      '--no-acls',
      '--no-xattrs',
      '--no-selinux',
      ...args,
    ],
    { signal, env: { ...process.env, LC_ALL: 'C' } },
  );
}

function imageConfig(spec: ImageSpec, base: ImageConfig | undefined, diffIds: string[]): ImageConfig {
  const inherited = base?.config ?? {};
  const env = new Map<string, string>();
  for (const kv of inherited.Env ?? []) {
    const eq = kv.indexOf('=');
    env.set(eq < 0 ? kv : kv.slice(0, eq), eq < 0 ? '' : kv.slice(eq + 1));
  }
  for (const [k, v] of Object.entries(spec.env ?? {})) env.set(k, v);
  const entrypoint = spec.entrypoint !== undefined ? spec.entrypoint : inherited.Entrypoint;
  // As in a Dockerfile, a new ENTRYPOINT drops the CMD inherited from the base.
  const cmd = spec.cmd !== undefined ? spec.cmd : spec.entrypoint !== undefined ? undefined : inherited.Cmd;
  const user = spec.user ?? inherited.User;
  const workdir = spec.workdir ?? inherited.WorkingDir;
  const config: NonNullable<ImageConfig['config']> = {};
  if (user) config.User = user;
  if (env.size > 0) config.Env = [...env].map(([k, v]) => `${k}=${v}`);
  if (entrypoint) config.Entrypoint = entrypoint;
  if (cmd) config.Cmd = cmd;
  if (workdir) config.WorkingDir = workdir;
  const platform = hostPlatform();
  if (base && (base.architecture !== platform.architecture || base.os !== platform.os)) {
    throw new Error(`base image is ${base.os}/${base.architecture}, this host builds ${platform.os}/${platform.architecture}`);
  }
  return { ...platform, config, rootfs: { type: 'layers', diff_ids: diffIds } };
}

function hostPlatform(): { architecture: string; os: string } {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' };
  const architecture = arch[process.arch];
  if (!architecture || process.platform !== 'linux') throw new Error(`cannot build images on ${process.platform}/${process.arch}`);
  return { architecture, os: 'linux' };
}

// ---------------------------------------------------------------------------------------------
// Base images and the blob store

/** A layout directory or a layout tar, read one file at a time. */
interface LayoutSource {
  read(rel: string): Promise<Buffer>;
  extract(rel: string, to: string, work: string): Promise<void>;
}

function layoutSource(location: string, isDir: boolean): LayoutSource {
  if (isDir) {
    return {
      read: (rel) => fs.readFile(path.join(location, rel)),
      extract: (rel, to) => fs.copyFile(path.join(location, rel), to),
    };
  }
  return {
    async read(rel) {
      const { stdout } = await execFile('tar', ['--extract', '--to-stdout', '--occurrence=1', `--file=${location}`, rel], {
        encoding: 'buffer',
        maxBuffer: 64 << 20,
      });
      return stdout;
    },
    async extract(rel, to, work) {
      const dir = await fs.mkdtemp(path.join(work, 'extract-'));
      await execFile('tar', ['--extract', '--occurrence=1', `--file=${location}`, '-C', dir, rel]);
      await fs.rename(path.join(dir, rel), to);
      await fs.rm(dir, { recursive: true });
    },
  };
}

async function openBase(base: BuiltImage | string): Promise<{ source: LayoutSource; digest: string }> {
  const location = typeof base === 'string' ? base : base.archive;
  const source = layoutSource(location, (await fs.stat(location)).isDirectory());
  const index = JSON.parse((await source.read('index.json')).toString()) as Index;
  const platform = hostPlatform();
  const manifests = index.manifests.filter((m) => m.mediaType === MEDIA_TYPE.manifest);
  const chosen =
    manifests.find((m) => {
      const p = (m as { platform?: { architecture?: string; os?: string } }).platform;
      return p?.architecture === platform.architecture && p.os === platform.os;
    }) ?? manifests[0];
  if (!chosen) throw new Error(`${location}: index.json names no image manifest`);
  return { source, digest: chosen.digest };
}

async function loadBase(
  base: BuiltImage | string,
  store: BlobStore,
  work: string,
): Promise<{ digest: string; manifest: Manifest; config: ImageConfig }> {
  const { source, digest } = await openBase(base);
  const blob = async (desc: { digest: string }): Promise<Buffer> => {
    if (!(await store.has(desc.digest))) {
      const tmp = path.join(work, `blob-${hexOf(desc.digest)}`);
      await source.extract(`blobs/sha256/${hexOf(desc.digest)}`, tmp, work);
      await store.putFile(tmp, '', desc.digest);
    }
    return fs.readFile(store.pathOf(desc.digest));
  };
  const manifest = JSON.parse((await blob({ digest })).toString()) as Manifest;
  const config = JSON.parse((await blob(manifest.config)).toString()) as ImageConfig;
  for (const layer of manifest.layers) {
    if (layer.mediaType !== MEDIA_TYPE.layer) throw new Error(`base layer ${layer.digest} is ${layer.mediaType}; only uncompressed OCI layers are supported`);
    if (!(await store.has(layer.digest))) {
      const tmp = path.join(work, `blob-${hexOf(layer.digest)}`);
      await source.extract(`blobs/sha256/${hexOf(layer.digest)}`, tmp, work);
      await store.putFile(tmp, layer.mediaType, layer.digest);
    }
  }
  return { digest, manifest, config };
}

/** Content-addressed blobs shared by every image in the cache, so a base's layers are stored once. */
class BlobStore {
  constructor(private readonly dir: string) {}

  pathOf(digest: string): string {
    return path.join(this.dir, 'sha256', hexOf(digest));
  }

  async has(digest: string): Promise<boolean> {
    return fs.access(this.pathOf(digest)).then(
      () => true,
      () => false,
    );
  }

  /** Moves `file` into the store; checks it against `expected` when given. */
  async putFile(file: string, mediaType: string, expected?: string): Promise<Descriptor> {
    const digest = `sha256:${await hashFile(file)}`;
    if (expected !== undefined && digest !== expected) throw new Error(`blob ${expected} has digest ${digest}`);
    const size = (await fs.stat(file)).size;
    await fs.mkdir(path.join(this.dir, 'sha256'), { recursive: true });
    await fs.rename(file, this.pathOf(digest));
    return { mediaType, digest, size };
  }

  async putBytes(bytes: Buffer, mediaType: string): Promise<Descriptor> {
    const digest = `sha256:${sha256Hex(bytes)}`;
    await fs.mkdir(path.join(this.dir, 'sha256'), { recursive: true });
    if (!(await this.has(digest))) {
      const tmp = `${this.pathOf(digest)}.${process.pid}.${randomBytes(4).toString('hex')}`;
      await fs.writeFile(tmp, bytes);
      await fs.rename(tmp, this.pathOf(digest));
    }
    return { mediaType, digest, size: bytes.length };
  }
}

async function readCachedResult(dir: string): Promise<BuiltImage | undefined> {
  try {
    const record = JSON.parse(await fs.readFile(path.join(dir, 'image.json'), 'utf8')) as Omit<BuiltImage, 'archive' | 'cached'>;
    const archive = path.join(dir, 'image.tar');
    if ((await fs.stat(archive)).size !== record.size) return undefined;
    return { ...record, archive, cached: true };
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers

async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await fs.link(from, to);
  } catch {
    await fs.copyFile(from, to, fsConstants.COPYFILE_FICLONE);
  }
}

export async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function hexOf(digest: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!m) throw new Error(`unsupported digest ${digest}`);
  return m[1];
}

/** JSON with no whitespace; objects are built in a fixed key order, so this is stable. */
function canonicalJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

export function formatSize(bytes: number): string {
  return bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}
