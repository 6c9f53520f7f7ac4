/**
 * The network role as a separate root process: a daemon that runs as a user (65534 here) gets
 * routes and DNS from `telepath network-role`, started as root without any kubeconfig; whichever
 * of the two dies, the workstation's routes and resolver end up as they were. The role also
 * raises the read-ahead of the user's volume mounts, which the daemon cannot.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { READ_AHEAD_KB } from '../../daemon/src/network/readAhead.js';
import { buildBundles, ensureCluster, kubeconfig, processAlive, repoRoot, stateDir, until, workstationMount, workstationReadAheadKb, ws, type RunResult } from '../cluster/harness.js';

const telepath = path.join(repoRoot, 'dist/telepath.js');
const userDir = '/tmp/telepath-e2e-netrole-user';
const roleRunDir = '/run/telepath-e2e-netrole';
const roleSocket = path.join(roleRunDir, 'network.sock');
const rolePidFile = path.join(roleRunDir, 'network.pid');
const roleState = path.join(stateDir, 'telepath-e2e-netrole');
const wsResolvConf = path.join(stateDir, 'ws/resolv.conf');

/** The daemon and CLI as user 65534, with a kubeconfig of its own. */
function asUser(args: string[], timeoutMs = 180_000): RunResult {
  return ws(
    [
      'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--',
      'env', `HOME=${userDir}`, `KUBECONFIG=${userDir}/kubeconfig`, `TELEPATH_RUN_DIR=${userDir}/run`,
      `TELEPATH_STATE_DIR=${userDir}/state`, `TELEPATH_NETWORK_SOCKET=${roleSocket}`,
      'node', '--', telepath, ...args,
    ],
    { timeoutMs },
  );
}

/** `telepath network-role` as root, with no kubeconfig anywhere in reach. */
function asRoot(args: string[]): RunResult {
  return ws(
    [
      'env', '-u', 'KUBECONFIG', 'HOME=/nonexistent', `TELEPATH_STATE_DIR=${roleState}`, `TELEPATH_NETWORK_SOCKET=${roleSocket}`,
      'node', '--', telepath, ...args,
    ],
    { timeoutMs: 60_000 },
  );
}

interface Status {
  state: string;
  routedSubnets: string[];
  dns?: { state: string; message?: string };
  networkRole?: { process: string; pid?: number };
}

function status(): Status {
  const r = asUser(['status', '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Status;
}

function rolePid(): number {
  return Number(readFileSync(rolePidFile, 'utf8').trim());
}

function daemonPid(): number {
  return Number(readFileSync(path.join(userDir, 'run/daemon.pid'), 'utf8').trim());
}

const routes = () => ws(['ip', 'route', 'show']).stdout;
const curlEcho = () => ws(['curl', '-sS', '--max-time', '5', 'http://echo.samples:8080/']);

/** Intercepts echo as the user with its volumes mounted at USERDIR/NAME; returns the mount point. */
function mountEcho(name: string): string {
  const mnt = path.join(userDir, name);
  const r = asUser(['intercept', 'echo', '--port', '18081', '--http-header', 'x-netrole=1', '--mount', mnt, '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as { environment: Record<string, string>; mountProblem?: string };
  assert.equal(result.mountProblem, undefined);
  assert.equal(result.environment.TELEPATH_ROOT, mnt);
  const entry = workstationMount(mnt);
  assert.ok(entry, `${mnt} is mounted`);
  assert.match(entry.superOptions, /(^|,)user_id=65534(,|$)/, 'mounted by the user, through fusermount3');
  return mnt;
}

let earlyMount = '';
let routesBefore = '';
let resolvBefore = '';

before(() => {
  ensureCluster();
  buildBundles('telepath', 'traffic-manager', 'traffic-agent');
  rmSync(userDir, { recursive: true, force: true });
  mkdirSync(userDir, { recursive: true });
  writeFileSync(path.join(userDir, 'kubeconfig'), readFileSync(kubeconfig), { mode: 0o600 });
  chownSync(userDir, 65534, 65534);
  chownSync(path.join(userDir, 'kubeconfig'), 65534, 65534);
  routesBefore = routes();
  resolvBefore = readFileSync(wsResolvConf, 'utf8');
});

after(() => {
  asUser(['quit']);
  if (existsSync(rolePidFile)) {
    const pid = rolePid();
    if (processAlive(pid)) process.kill(pid, 'SIGTERM');
  }
  rmSync(userDir, { recursive: true, force: true });
  rmSync(roleRunDir, { recursive: true, force: true });
});

describe('the network role as a separate root process', () => {
  test('a daemon that is not root connects, and says outbound access needs the network role', () => {
    const r = asUser(['connect', '-n', 'samples', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const st = JSON.parse(r.stdout) as Status;
    assert.equal(st.state, 'connected');
    assert.deepEqual(st.routedSubnets, []);
    assert.equal(st.dns?.state, 'inactive');
    assert.match(st.dns?.message ?? '', /sudo telepath network-role/);
    assert.equal(st.networkRole?.process, 'none');
    assert.notEqual(curlEcho().code, 0, 'no route and no DNS yet');
  });

  test('not as root, network-role refuses and names the sudo command', () => {
    const r = asUser(['network-role']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /runs as root: sudo telepath network-role/);
  });

  test('a volume mount before the network role: the user mounts it, with the kernel\'s read-ahead', () => {
    earlyMount = mountEcho('volumes-1');
    assert.equal(workstationReadAheadKb(earlyMount), '128', 'a daemon that is not root cannot raise it');
  });

  test('started as root without a kubeconfig, it routes and resolves for the running daemon', async () => {
    const r = asRoot(['network-role', '--user', '65534']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /network role started \(pid \d+\)/);
    const pid = rolePid();
    const st = await until('the daemon to attach', 15_000, () => {
      const s = status();
      return s.dns?.state === 'active' && s;
    });
    assert.deepEqual(st.networkRole, { process: 'separate', pid });
    assert.ok(st.routedSubnets.length > 0);
    // The socket is the user's alone.
    const mode = ws(['stat', '-c', '%u %a', roleSocket]).stdout.trim();
    assert.equal(mode, '65534 600');
    const answer = curlEcho();
    assert.equal(answer.code, 0, answer.stderr);
    assert.match(answer.stdout, /hello from echo/);
    // A second start finds it running.
    const again = asRoot(['network-role', '--user', '65534', '-o', 'json']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout), { networkRole: 'running', pid, ownerUid: 65534, started: false });
  });

  test("the user's volume mounts get 1 MiB of read-ahead from the network role: one made before it came, and one made after", async () => {
    // Made before the role started (test 'a volume mount before the network role …'): raised when it attached.
    await until('the earlier mount to be raised', 15_000, () => workstationReadAheadKb(earlyMount) === String(READ_AHEAD_KB), () => `read_ahead_kb ${workstationReadAheadKb(earlyMount)}`);
    assert.equal(asUser(['leave', 'echo']).code, 0);
    // Made while the role serves the daemon: raised at once.
    const later = mountEcho('volumes-2');
    try {
      assert.equal(workstationReadAheadKb(later), String(READ_AHEAD_KB));
    } finally {
      assert.equal(asUser(['leave', 'echo']).code, 0);
    }
    const roleLog = readFileSync(path.join(roleState, 'logs/network-role.log'), 'utf8');
    for (const mnt of [earlyMount, later]) assert.match(roleLog, new RegExp(`read-ahead of ${mnt} set to ${READ_AHEAD_KB} KiB`));
  });

  test('kill -9 of the network role: the daemon says so, its guard restores the resolver; started again, it serves again', async () => {
    const pid = rolePid();
    process.kill(pid, 'SIGKILL');
    const st = await until('the daemon to notice', 10_000, () => {
      const s = status();
      return s.dns?.state === 'inactive' && s;
    });
    assert.equal(st.state, 'connected', 'the session itself goes on');
    assert.equal(st.networkRole?.process, 'none');
    assert.match(st.dns?.message ?? '', /network role \(pid \d+\) stopped/);
    // The device (and its routes) died with the process; the resolver guard undoes the resolver
    // change (test/integration/connect.test.ts covers the journal path, for a guard killed too).
    assert.equal(routes(), routesBefore);
    await until('the guard to restore resolv.conf', 10_000, () => readFileSync(wsResolvConf, 'utf8') === resolvBefore);
    assert.match(readFileSync(path.join(roleState, 'logs/network-role.log'), 'utf8'), new RegExp(`resolver guard: process ${pid} ended without restoring the resolver; restored`));

    const r = asRoot(['network-role', '--user', '65534']);
    assert.equal(r.code, 0, r.stderr);
    await until('the daemon to attach again', 15_000, () => status().dns?.state === 'active');
    assert.notEqual(rolePid(), pid);
    const answer = curlEcho();
    assert.equal(answer.code, 0, answer.stderr);
  });

  test('kill -9 of the daemon: the network role restores routes and the resolver, then ends', async () => {
    const role = rolePid();
    process.kill(daemonPid(), 'SIGKILL');
    await until('the network role to end', 15_000, () => !processAlive(role));
    assert.equal(routes(), routesBefore);
    assert.equal(readFileSync(wsResolvConf, 'utf8'), resolvBefore);
    assert.equal(existsSync(roleSocket), false);
  });

  test('quit ends the daemon and the network role serving it; everything is as before', async () => {
    assert.equal(asRoot(['network-role', '--user', '65534']).code, 0);
    const role = rolePid();
    const r = asUser(['connect', '-n', 'samples', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as Status).dns?.state, 'active', 'attached at connect');
    assert.equal(curlEcho().code, 0);
    assert.equal(asUser(['quit']).code, 0);
    await until('the network role to end', 15_000, () => !processAlive(role));
    assert.equal(routes(), routesBefore);
    assert.equal(readFileSync(wsResolvConf, 'utf8'), resolvBefore);
  });
});
