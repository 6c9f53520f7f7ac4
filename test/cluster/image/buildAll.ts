/**
 * Builds every image the local test cluster needs, from this host's files, and prints one JSON
 * line per image — {"archive","name","digest","size"} — for `ctr -n k8s.io images import`.
 *
 *   npx tsx test/cluster/image/buildAll.ts [--samples-bundle PATH] [--out DIR]
 *                                          [--coredns BINARY --coredns-image NAME]
 *
 * --out DIR puts the archives at DIR/<name>.tar (hard links into the cache where possible);
 * without it the printed paths point into the cache. Progress goes to stderr.
 */
import { execFile as execFileCallback } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { buildImage, defaultCacheDir, formatSize, type BuiltImage, type ImageSpec } from './buildImage.js';

const execFile = promisify(execFileCallback);
const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../../..');

export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10';
/**
 * The product runs its in-cluster parts on this image by default, so the local cluster offers an
 * image under exactly this name. It is NOT Alpine: it is this host's (glibc) Node 20 with the
 * libraries it links, a passwd/group and little else — no shell, no package manager, no musl.
 */
export const NODE_IMAGE = 'docker.io/library/node:20-alpine';
export const SAMPLES_IMAGE = 'docker.io/library/telepath-samples:dev';

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

// Users as in the real node:20-alpine (root, nobody, node); homes other than /root are not created.
const PASSWD = `root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/:/sbin/nologin
node:x:1000:1000::/home/node:/bin/sh
`;
const GROUP = `root:x:0:root
nobody:x:65534:
node:x:1000:node
`;
const NSSWITCH = `passwd: files
group: files
hosts: files dns
`;

export interface BuildAllOptions {
  samplesBundle: string;
  /** A static CoreDNS binary and the image name to give it (the cluster's DNS). */
  coredns?: { binary: string; image: string };
  log: (line: string) => void;
  signal?: AbortSignal;
}

export async function buildAll(options: BuildAllOptions): Promise<BuiltImage[]> {
  const { log, signal } = options;
  const nodeMajor = process.versions.node.split('.')[0];
  if (nodeMajor !== '20') log(`warning: ${NODE_IMAGE} will hold this host's Node ${process.version}, not Node 20`);
  await fs.access(options.samplesBundle).catch(() => {
    throw new Error(`samples bundle ${options.samplesBundle} not found: build it first, or pass --samples-bundle PATH`);
  });

  const pause = await buildImage(
    {
      name: PAUSE_IMAGE,
      files: [{ src: await pauseBinary(log, signal), dest: '/pause', mode: 0o755 }],
      // As upstream's: an unprivileged user, no shell, nothing else.
      user: '65535:65535',
      entrypoint: ['/pause'],
    },
    { log, signal },
  );

  const nodeSpec: ImageSpec = {
    name: NODE_IMAGE,
    binaries: [{ src: process.execPath, dest: '/usr/local/bin/node' }],
    files: [
      { dest: '/etc/passwd', content: PASSWD },
      { dest: '/etc/group', content: GROUP },
      { dest: '/etc/nsswitch.conf', content: NSSWITCH },
    ],
    dirs: [{ path: '/tmp', mode: 0o1777 }, { path: '/root', mode: 0o700 }],
    env: { PATH, NODE_VERSION: process.versions.node },
    cmd: ['node'],
  };
  const node = await buildImage(nodeSpec, { log, signal });

  const samples = await buildImage(
    {
      name: SAMPLES_IMAGE,
      base: node,
      files: [{ src: options.samplesBundle, dest: '/app/samples.js', mode: 0o644 }],
      binaries: [await hostCurl(log, signal)],
      workdir: '/app',
      entrypoint: ['node', '/app/samples.js'],
    },
    { log, signal },
  );
  const images = [pause, node, samples];
  if (options.coredns) {
    images.push(
      await buildImage(
        {
          name: options.coredns.image,
          files: [{ src: options.coredns.binary, dest: '/coredns', mode: 0o755 }],
          entrypoint: ['/coredns'],
        },
        { log, signal },
      ),
    );
  }
  return images;
}

/** The pause program, compiled once per source (and compiler) into the cache. */
async function pauseBinary(log: (line: string) => void, signal?: AbortSignal): Promise<string> {
  const source = path.join(here, 'pause.c');
  const { stdout: gccVersion } = await execFile('gcc', ['--version'], { signal });
  const key = createHash('sha256').update(await fs.readFile(source)).update(gccVersion).digest('hex').slice(0, 16);
  const dir = path.join(defaultCacheDir(), `pause-${key}`);
  const binary = path.join(dir, 'pause');
  if (await exists(binary)) return binary;
  log('compiling pause.c');
  await fs.mkdir(dir, { recursive: true });
  const tmp = `${binary}.${process.pid}`;
  await execFile('gcc', ['-static', '-Os', '-s', '-Wall', '-Werror', '-o', tmp, source], { signal });
  await fs.rename(tmp, binary);
  return binary;
}

/** Debian's curl, installed with apt-get when the host lacks it. */
async function hostCurl(log: (line: string) => void, signal?: AbortSignal): Promise<string> {
  const curl = '/usr/bin/curl';
  if (await exists(curl)) return curl;
  log('curl is missing: apt-get install -y curl');
  await execFile('apt-get', ['install', '-y', '--no-install-recommends', 'curl'], {
    signal,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return curl;
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file, fsConstants.F_OK).then(
    () => true,
    () => false,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'samples-bundle': { type: 'string', default: path.join(repoRoot, '.cluster/build/samples.js') },
      out: { type: 'string' },
      coredns: { type: 'string' },
      'coredns-image': { type: 'string' },
    },
    strict: true,
  });
  const log = (line: string): void => void process.stderr.write(`image: ${line}\n`);
  const started = Date.now();
  const coredns =
    values.coredns && values['coredns-image']
      ? { binary: path.resolve(values.coredns), image: values['coredns-image'] }
      : undefined;
  const images = await buildAll({ samplesBundle: path.resolve(values['samples-bundle']!), coredns, log });
  for (const image of images) {
    let archive = image.archive;
    if (values.out) {
      await fs.mkdir(values.out, { recursive: true });
      archive = path.resolve(values.out, `${image.name.replace(/[^A-Za-z0-9._-]+/g, '_')}.tar`);
      await fs.rm(archive, { force: true });
      await fs.link(image.archive, archive).catch(() => fs.copyFile(image.archive, archive));
    }
    log(`${image.name} ${formatSize(image.size)}${image.cached ? ' (cached)' : ''}`);
    process.stdout.write(JSON.stringify({ archive, name: image.name, digest: image.digest, size: image.size }) + '\n');
  }
  log(`done in ${Date.now() - started} ms`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`image: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
