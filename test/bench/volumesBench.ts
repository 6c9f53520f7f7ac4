/**
 * The volumes part of `npm run bench`: reading a 50 MB file of the intercepted container's
 * emptyDir through the sshfs mount (TELEPATH_ROOT), side by side with copying it out of the pod
 * with kubectl. `kubectl cp` needs `tar` in the container and the sample images have none (they
 * hold Node only), so the kubectl figure is `kubectl exec … node -e <stream the file to stdout>`,
 * which is the same exec stream `kubectl cp` uses, without tar. Asserts nothing.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, stateDir, ws } from '../cluster/harness.js';

export interface VolumesBenchResult {
  mb: number;
  mountMBs: number;
  kubectlMBs: number;
}

const telepath = path.join(repoRoot, 'dist/telepath.js');
const env = { ...process.env, TELEPATH_RUN_DIR: '/run/telepath-bench-volumes', TELEPATH_STATE_DIR: path.join(stateDir, 'telepath-bench-volumes') };
const mountPoint = '/tmp/telepath-bench-volumes';
const FILE = '/var/scratch/bench-50mb.bin';

function tp(args: string[]): string {
  const r = ws(['node', '--', telepath, ...args], { env, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`telepath ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** Reads `file` in the workstation namespace; prints seconds and sha256. */
function readLocal(file: string): { s: number; sha: string } {
  const script = `const t = process.hrtime.bigint(); const h = require('crypto').createHash('sha256');
    require('fs').createReadStream(${JSON.stringify(file)}, { highWaterMark: 1 << 20 }).on('data', (d) => h.update(d))
      .on('end', () => console.log(JSON.stringify({ s: Number(process.hrtime.bigint() - t) / 1e9, sha: h.digest('hex') })));`;
  const r = ws(['node', '-e', script], { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`reading ${file} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { s: number; sha: string };
}

export function volumesBench(rounds: number, mb = 50): VolumesBenchResult {
  tp(['connect', '--namespace', 'samples']);
  try {
    const out = JSON.parse(tp(['intercept', 'echo', '--port', '18091', '--http-header', 'x-bench-vol=1', '--mount', mountPoint, '-o', 'json'])) as {
      podName: string;
      mountProblem?: string;
    };
    if (out.mountProblem) throw new Error(`no mount: ${out.mountProblem}`);
    const pod = out.podName;
    const make = ws(['kubectl', 'exec', '-n', 'samples', pod, '-c', 'app', '--', 'node', '-e',
      `require('fs').writeFileSync(${JSON.stringify(FILE)}, require('crypto').randomBytes(${mb} * 1024 * 1024))`]);
    if (make.code !== 0) throw new Error(`cannot write the file in the pod: ${make.stderr}`);
    const mount: number[] = [];
    const kubectl: number[] = [];
    const copy = '/tmp/telepath-bench-volumes-copy.bin';
    let sha = '';
    for (let i = 0; i < rounds; i++) {
      const m = readLocal(path.join(mountPoint, FILE));
      mount.push(m.s);
      sha = m.sha;
      const t0 = performance.now();
      const k = ws(['sh', '-c', `kubectl exec -n samples ${pod} -c app -- node -e "require('fs').createReadStream('${FILE}').pipe(process.stdout)" > ${copy}`], {
        timeoutMs: 300_000,
      });
      kubectl.push((performance.now() - t0) / 1000);
      if (k.code !== 0) throw new Error(`kubectl exec failed: ${k.stderr}`);
      const c = readLocal(copy);
      rmSync(copy, { force: true });
      if (c.sha !== sha) throw new Error('the kubectl copy differs from the file read through the mount');
    }
    ws(['kubectl', 'exec', '-n', 'samples', pod, '-c', 'app', '--', 'node', '-e', `require('fs').rmSync(${JSON.stringify(FILE)})`]);
    return { mb, mountMBs: mb / Math.min(...mount), kubectlMBs: mb / Math.min(...kubectl) };
  } finally {
    ws(['node', '--', telepath, 'leave', 'echo'], { env });
    ws(['node', '--', telepath, 'uninstall', '--agent', 'echo', '--namespace', 'samples'], { env, timeoutMs: 300_000 });
    ws(['node', '--', telepath, 'quit'], { env });
  }
}
