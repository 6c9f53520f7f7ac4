/**
 * The intercepted container's volumes on the workstation: the agent serves them over SFTP, the
 * daemon (in the workstation namespace, with its own mount namespace) mounts them with sshfs
 * through a port-forward. Contents are compared with what the app container itself reads.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { buildBundles, ensureCluster, pidsWhere, repoRoot, stateDir, until, workstationMount, workstationReadAheadKb, ws, type RunResult } from '../cluster/harness.js';

const telepath = path.join(repoRoot, 'dist/telepath.js');
const runDir = '/run/telepath-e2e-volumes';
const env = { ...process.env, TELEPATH_RUN_DIR: runDir, TELEPATH_STATE_DIR: path.join(stateDir, 'telepath-e2e-volumes') };
const tp = (args: string[], timeoutMs = 240_000): RunResult => ws(['node', '--', telepath, ...args], { env, timeoutMs });
const mountPoint = '/tmp/telepath-e2e-volumes-root';

/** Reads a file on the workstation side (in the workstation's mount namespace, where the mount is). */
function wsRead(file: string): RunResult {
  return ws(['node', '-e', `process.stdout.write(require('fs').readFileSync(${JSON.stringify(file)}))`]);
}

function wsWrite(file: string, text: string): RunResult {
  return ws(['node', '-e', `require('fs').writeFileSync(${JSON.stringify(file)}, ${JSON.stringify(text)})`]);
}

function podRead(pod: string, file: string): RunResult {
  return ws(['kubectl', 'exec', '-n', 'samples', pod, '-c', 'app', '--', 'node', '-e', `process.stdout.write(require('fs').readFileSync(${JSON.stringify(file)}))`]);
}

function mounted(): boolean {
  return workstationMount(mountPoint) !== undefined;
}

/** How often the agent container of the mounted pod has restarted ("0", "1", …). */
function agentRestarts(): string {
  return ws(['kubectl', 'get', 'pod', '-n', 'samples', pod, '-o', `jsonpath={.status.containerStatuses[?(@.name=="telepath-agent")].restartCount}`]).stdout.trim();
}

let pod = '';

before(() => {
  ensureCluster();
  buildBundles('telepath', 'traffic-manager', 'traffic-agent');
  assert.equal(tp(['connect', '--namespace', 'samples']).code, 0);
  const r = tp(['intercept', 'echo', '--port', '18080', '--http-header', 'x-vol=1', '--mount', mountPoint, '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as { podName: string; environment: Record<string, string>; mountProblem?: string };
  assert.equal(result.mountProblem, undefined);
  assert.equal(result.environment.TELEPATH_ROOT, mountPoint);
  pod = result.podName;
});

after(() => {
  tp(['uninstall', '--agent', 'echo', '--namespace', 'samples']);
  tp(['quit']);
  rmSync(runDir, { recursive: true, force: true });
});

describe('volumes', () => {
  test('the ConfigMap and Secret files read exactly as in the pod', () => {
    for (const file of ['/etc/sample/config.txt', '/etc/sample-secret/token']) {
      const local = wsRead(path.join(mountPoint, file));
      assert.equal(local.code, 0, local.stderr);
      const inPod = podRead(pod, file);
      assert.equal(inPod.code, 0, inPod.stderr);
      assert.equal(local.stdout, inPod.stdout);
    }
    assert.equal(wsRead(path.join(mountPoint, '/etc/sample-secret/token')).stdout, 's3cr3t-from-a-secret');
  });

  test('a file written locally into the emptyDir is read in the pod, and the reverse', async () => {
    const w = wsWrite(path.join(mountPoint, '/var/scratch/from-ws.txt'), 'written on the workstation\n');
    assert.equal(w.code, 0, w.stderr);
    assert.equal(podRead(pod, '/var/scratch/from-ws.txt').stdout, 'written on the workstation\n');
    const p = ws(['kubectl', 'exec', '-n', 'samples', pod, '-c', 'app', '--', 'node', '-e', `require('fs').writeFileSync('/var/scratch/from-pod.txt', 'written in the pod\\n')`]);
    assert.equal(p.code, 0, p.stderr);
    let seen = '';
    for (let i = 0; i < 20 && seen !== 'written in the pod\n'; i++) {
      seen = wsRead(path.join(mountPoint, '/var/scratch/from-pod.txt')).stdout;
      if (seen !== 'written in the pod\n') await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(seen, 'written in the pod\n');
  });

  test("a 16 MB file written in the pod reads back intact, with the mount's read-ahead at 1 MiB", () => {
    const file = '/var/scratch/random.bin';
    const make = ws(['kubectl', 'exec', '-n', 'samples', pod, '-c', 'app', '--', 'node', '-e',
      `const b = require('crypto').randomBytes(16 << 20); require('fs').writeFileSync(${JSON.stringify(file)}, b); process.stdout.write(require('crypto').createHash('sha256').update(b).digest('hex'))`]);
    assert.equal(make.code, 0, make.stderr);
    const local = ws(['sha256sum', path.join(mountPoint, file)]);
    assert.equal(local.code, 0, local.stderr);
    assert.equal(local.stdout.split(' ')[0], make.stdout);
    // The kernel's default for a FUSE mount is 128 KiB; the daemon (root here) raises it.
    assert.equal(workstationReadAheadKb(mountPoint), '1024');
  });

  test('a 64 MB file copied into the emptyDir arrives intact, and the agent is not restarted', () => {
    // Before the agent held back a fast writer, a 100 MB copy took it past its memory limit.
    const local = '/tmp/telepath-e2e-volumes-64mb.bin';
    const make = ws(['sh', '-c', `head -c ${64 << 20} /dev/urandom > ${local} && sha256sum ${local} && cp ${local} ${mountPoint}/var/scratch/copy.bin`], { timeoutMs: 120_000 });
    rmSync(local, { force: true });
    assert.equal(make.code, 0, make.stderr);
    const inPod = ws(['kubectl', 'exec', '-n', 'samples', pod, '-c', 'app', '--', 'node', '-e',
      `process.stdout.write(require('crypto').createHash('sha256').update(require('fs').readFileSync('/var/scratch/copy.bin')).digest('hex'))`]);
    assert.equal(inPod.code, 0, inPod.stderr);
    assert.equal(inPod.stdout, make.stdout.split(' ')[0]);
    assert.equal(agentRestarts(), '0');
  });

  test('after the agent restarts (kill -9), the mount works again: sshfs reconnects to its new port', async () => {
    const agentPids = pidsWhere(
      (p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('traffic-agent') && readFileSync(`/proc/${p}/environ`, 'utf8').split('\0').includes(`_TP_POD_NAME=${pod}`),
    );
    assert.equal(agentPids.length, 1, `one agent process of ${pod}`);
    const before = Number(agentRestarts());
    process.kill(agentPids[0]!, 'SIGKILL');
    await until('the agent container to restart', 60_000, () => Number(agentRestarts()) > before);
    // The first access may fail while sshfs notices that its connection is gone.
    const file = path.join(mountPoint, '/etc/sample/config.txt');
    let last = '';
    await until('a read through the mount to work again', 30_000, () => {
      const r = wsRead(file);
      last = r.code === 0 ? r.stdout : r.stderr;
      return r.code === 0 && r.stdout === podRead(pod, '/etc/sample/config.txt').stdout;
    }, () => last);
  });

  test("another local user reads nothing: not through the mount, and not through its forward without the mount's key (nor with root's own)", () => {
    const [sshfs] = pidsWhere((p) => {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      return argv[0]?.endsWith('sshfs') === true && argv.includes(mountPoint);
    });
    assert.ok(sshfs, 'the sshfs process of the mount');
    const argv = readFileSync(`/proc/${sshfs}/cmdline`, 'utf8').split('\0');
    const port = Number(/(?:^|,)port=(\d+)/.exec(argv.find((a) => /(?:^|,)port=\d+/.test(a)) ?? '')?.[1]);
    assert.ok(port > 0, argv.join(' '));
    // An SFTP login through the forward's local port: with no key, then with a key of its own.
    const login = `
      const { Client, utils } = require(${JSON.stringify(path.join(repoRoot, 'node_modules/ssh2'))});
      const tryLogin = (auth) => new Promise((resolve) => {
        const c = new Client();
        c.on('ready', () => { c.end(); resolve('logged in'); });
        c.on('error', (e) => resolve(e.message));
        c.connect({ host: '127.0.0.1', port: ${port}, username: 'x', readyTimeout: 10000, ...auth });
      });
      (async () => {
        const none = await tryLogin({});
        const stranger = await tryLogin({ privateKey: utils.generateKeyPairSync('ed25519').private });
        console.log(JSON.stringify({ none, stranger }));
      })();`;
    for (const asOther of [true, false]) {
      const r = ws([...(asOther ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'] : []), 'node', '-e', login]);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { none: string; stranger: string };
      assert.match(out.none, /authentication methods failed/, `as ${asOther ? 'nobody' : 'root'}: ${r.stdout}`);
      assert.match(out.stranger, /authentication methods failed/, `as ${asOther ? 'nobody' : 'root'}: ${r.stdout}`);
    }
    const ls = ws(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--', 'ls', mountPoint]);
    assert.notEqual(ls.code, 0);
    assert.match(ls.stderr, /Permission denied/i);
  });

  test('read-only volumes stay read-only', () => {
    const w = wsWrite(path.join(mountPoint, '/etc/sample/new.txt'), 'nope');
    assert.notEqual(w.code, 0);
    assert.match(w.stderr, /EACCES|EROFS|EPERM|permission denied/i);
  });

  test('leave unmounts', () => {
    assert.equal(mounted(), true);
    assert.equal(tp(['leave', 'echo']).code, 0);
    assert.equal(mounted(), false);
  });

  test('after kill -9 of the daemon, the next start removes the stale mount', async () => {
    const r = tp(['intercept', 'echo', '--port', '18080', '--http-header', 'x-vol=2', '--mount', mountPoint]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(mounted(), true);
    const pid = Number(ws(['cat', `${runDir}/daemon.pid`]).stdout.trim());
    process.kill(pid, 'SIGKILL');
    await new Promise((res) => setTimeout(res, 500));
    assert.equal(tp(['version']).code, 0);
    // Any command that starts the daemon: the new daemon cleans up first.
    assert.equal(tp(['connect', '--namespace', 'samples']).code, 0);
    assert.equal(mounted(), false);
  });

  test('quit unmounts', () => {
    const r = tp(['intercept', 'echo', '--port', '18080', '--http-header', 'x-vol=3', '--mount', mountPoint]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(mounted(), true);
    assert.equal(tp(['quit']).code, 0);
    assert.equal(mounted(), false);
  });
});
