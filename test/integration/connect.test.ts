/**
 * `telepath connect` end to end: the CLI and daemon run in the workstation namespace, which
 * reaches only the API server, so every answer below crossed Telepath's tunnel.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { buildBundles, ensureCluster, kubectl, kubectlJson, pidsWhere, repoRoot, stateDir, until, ws, wsSpawn, type RunResult } from '../cluster/harness.js';

const telepath = path.join(repoRoot, 'dist/telepath.js');
const runDir = '/run/telepath-e2e';
const env = { ...process.env, TELEPATH_RUN_DIR: runDir, TELEPATH_STATE_DIR: path.join(stateDir, 'telepath-e2e') };
const tp = (args: string[], timeoutMs = 180_000): RunResult => ws(['node', telepath, ...args], { env, timeoutMs });
const wsResolvConf = path.join(stateDir, 'ws/resolv.conf');
const logFile = path.join(stateDir, 'telepath-e2e/logs/daemon.log');

/** The resolver guard watching daemon `pid` (its command line names the owner), if any. */
function guardOf(pid: number): number | undefined {
  return pidsWhere((p) => {
    const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
    return argv.includes('telepath-resolver-guard') && argv[argv.indexOf('--owner') + 1] === String(pid);
  })[0];
}

function routes(): string {
  return ws(['ip', 'route', 'show']).stdout;
}

function curl(url: string, extra: string[] = []): RunResult {
  return ws(['curl', '-sS', '--max-time', '10', ...extra, url]);
}

interface Answer {
  pod: string;
  greeting: string;
  secret: string;
}

let routesBefore = '';
let resolvBefore = '';
let outsideResolver: ChildProcess | undefined;

before(async () => {
  ensureCluster();
  // The workstation's own resolver, for names outside the cluster (resolv.conf names 127.0.0.1).
  outsideResolver = wsSpawn(['node', '--import', 'tsx', 'test/integration/probes/outsideResolver.ts']);
  await new Promise<void>((resolve, reject) => {
    outsideResolver!.stdout!.once('data', () => resolve());
    outsideResolver!.once('exit', (c) => reject(new Error(`the outside resolver exited ${c}`)));
  });
  buildBundles('telepath', 'traffic-manager');
  routesBefore = routes();
  resolvBefore = readFileSync(wsResolvConf, 'utf8');
});

after(() => {
  tp(['quit']);
  outsideResolver?.kill('SIGTERM');
  rmSync(runDir, { recursive: true, force: true });
});

describe('connect', () => {
  test('connect installs the traffic-manager and reports the routed subnets', () => {
    const r = tp(['connect', '--namespace', 'samples', '--output', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const st = JSON.parse(r.stdout) as { state: string; namespace: string; routedSubnets: string[]; dns: { state: string } };
    assert.equal(st.state, 'connected');
    assert.equal(st.namespace, 'samples');
    assert.deepEqual([...st.routedSubnets].sort(), ['10.244.0.0/24', '10.96.0.0/16']);
    assert.equal(st.dns.state, 'active');
    const deploy = kubectlJson<{ status: { availableReplicas?: number } }>('-n', 'telepath', 'get', 'deploy', 'traffic-manager');
    assert.equal(deploy.status.availableReplicas, 1);
  });

  test('status --output json says connected', () => {
    const r = tp(['status', '--output', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).state, 'connected');
  });

  test('HTTP to a Service by short, namespaced and full name, and to a pod IP', () => {
    for (const name of ['echo', 'echo.samples', 'echo.samples.svc.cluster.local']) {
      const r = curl(`http://${name}:8080/`);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      const a = JSON.parse(r.stdout) as Answer;
      assert.match(a.pod, /^echo-/);
      assert.equal(a.secret, 's3cr3t-from-a-secret');
    }
    const pod = kubectlJson<{ items: { status: { podIP: string }; metadata: { name: string } }[] }>('-n', 'samples', 'get', 'pods', '-l', 'app=echo').items[0]!;
    const r = curl(`http://${pod.status.podIP}:8080/`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as Answer).pod, pod.metadata.name);
  });

  test('headless StatefulSet pods by name, and the ExternalName Service', () => {
    const r = curl('http://web-1.web.samples:8080/');
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as Answer).pod, 'web-1');
    const e = curl('http://external.samples:8080/');
    assert.equal(e.code, 0, e.stderr);
    assert.match((JSON.parse(e.stdout) as Answer).pod, /^echo-/);
  });

  test('a name outside the cluster still resolves through the original resolver', () => {
    const r = ws(['getent', 'hosts', 'www.outside.test']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^192\.0\.2\.77\s+www\.outside\.test/);
  });

  test('UDP echo', () => {
    const r = ws(['node', '.cluster/build/samples.js', 'udp-send', 'udp-echo.samples', '9001', 'ping-udp'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^udp-echo-\S+: ping-udp/);
  });

  test('a refused port is refused at once; an unknown name is NXDOMAIN', () => {
    const podIP = kubectlJson<{ items: { status: { podIP: string } }[] }>('-n', 'samples', 'get', 'pods', '-l', 'app=echo').items[0]!.status.podIP;
    const script = `const t = Date.now(); require('net').connect(9999, '${podIP}').on('error', (e) => console.log(e.code, Date.now() - t))`;
    const r = ws(['node', '-e', script], { env });
    const [code, ms] = r.stdout.trim().split(' ');
    assert.equal(code, 'ECONNREFUSED', r.stderr);
    assert.ok(Number(ms) < 1000, `refusal took ${ms} ms`);
    const d = ws(['dig', '+short', '+tries=1', '+time=3', 'nope.samples.svc.cluster.local']);
    assert.equal(d.stdout.trim(), '');
    const status = ws(['dig', '+tries=1', '+time=3', 'nope.samples.svc.cluster.local']).stdout;
    assert.match(status, /status: NXDOMAIN/);
  });

  test('200 concurrent connections', () => {
    const script = `
      const http = require('http');
      let ok = 0, done = 0;
      for (let i = 0; i < 200; i++) {
        http.get({ host: 'echo.samples', port: 8080, path: '/c' + i, agent: false }, (res) => {
          let b = ''; res.on('data', (d) => b += d); res.on('end', () => { if (JSON.parse(b).path === '/c' + i) ok++; if (++done === 200) { console.log(ok); } });
        }).on('error', (e) => { console.error(e.message); if (++done === 200) console.log(ok); });
      }`;
    const r = ws(['node', '-e', script], { env, timeoutMs: 120_000 });
    assert.equal(r.stdout.trim(), '200', r.stderr);
  });

  test('100 MB each way through the TCP echo Service with matching checksums', () => {
    const script = `
      const net = require('net'), crypto = require('crypto');
      const size = 100 * 1024 * 1024, chunk = crypto.randomBytes(1 << 20);
      const sent = crypto.createHash('sha256'), got = crypto.createHash('sha256');
      const s = net.connect(9000, 'tcp-echo.samples');
      let hello = null, received = 0, written = 0;
      s.on('data', (d) => {
        if (hello === null) { const i = d.indexOf(10); if (i < 0) return; hello = d.subarray(0, i).toString(); d = d.subarray(i + 1); }
        got.update(d); received += d.length;
        if (received >= size) { console.log(JSON.stringify({ hello, sent: sent.digest('hex'), got: got.digest('hex') })); s.destroy(); }
      });
      (function write() { while (written < size) { sent.update(chunk); written += chunk.length; if (!s.write(chunk)) return s.once('drain', write); } s.end(); })();`;
    const r = ws(['node', '-e', script], { env, timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { hello: string; sent: string; got: string };
    assert.match(out.hello, /^hello from tcp-echo-/);
    assert.equal(out.got, out.sent);
  });

  test('deleting the manager pod mid-session: traffic resumes without a new connect', async () => {
    kubectl('-n', 'telepath', 'delete', 'pod', '-l', 'app.kubernetes.io/name=traffic-manager', '--wait=false');
    const deadline = Date.now() + 90_000;
    let last: RunResult | undefined;
    while (Date.now() < deadline) {
      last = curl('http://echo.samples:8080/after-restart', ['--max-time', '3']);
      if (last.code === 0) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.equal(last?.code, 0, `no answer after the manager restarted: ${last?.stderr}`);
    assert.equal(JSON.parse(tp(['status', '-o', 'json']).stdout).state, 'connected');
  });

  test('after kill -9 of the daemon, its resolver guard restores resolv.conf at once; routes went with the device', async () => {
    const pid = Number(readFileSync(path.join(runDir, 'daemon.pid'), 'utf8'));
    const guard = guardOf(pid);
    assert.ok(guard, 'a resolver guard watches the daemon');
    assert.notEqual(readFileSync(wsResolvConf, 'utf8'), resolvBefore, 'connected, resolv.conf should point at Telepath');
    process.kill(pid, 'SIGKILL');
    await until('resolv.conf as before', 10_000, () => readFileSync(wsResolvConf, 'utf8') === resolvBefore);
    await until('the guard to end', 10_000, () => !existsSync(`/proc/${guard}`));
    assert.equal(routes(), routesBefore);
    assert.match(readFileSync(logFile, 'utf8'), new RegExp(`resolver guard: process ${pid} ended without restoring the resolver; restored`));
    const r = tp(['connect', '--namespace', 'samples', '--output', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).state, 'connected');
  });

  test('after kill -9 of the daemon and its guard, the next start undoes the resolver change from the journal', async () => {
    const pid = Number(readFileSync(path.join(runDir, 'daemon.pid'), 'utf8'));
    const guard = guardOf(pid)!;
    const logBefore = readFileSync(logFile).length;
    process.kill(guard, 'SIGKILL');
    process.kill(pid, 'SIGKILL');
    await until('the daemon to end', 10_000, () => !existsSync(`/proc/${pid}`));
    // The TUN device and its routes die with the process; the resolver change stays until a start.
    assert.equal(routes(), routesBefore);
    assert.notEqual(readFileSync(wsResolvConf, 'utf8'), resolvBefore);
    const r = tp(['connect', '--namespace', 'samples', '--output', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).state, 'connected');
    assert.match(readFileSync(logFile).subarray(logBefore).toString(), /undid the resolver change of a previous run/);
  });

  test('quit restores the routes and resolv.conf exactly', () => {
    const r = tp(['quit']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(routes(), routesBefore);
    assert.equal(readFileSync(wsResolvConf, 'utf8'), resolvBefore);
  });
});
