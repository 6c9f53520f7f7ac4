/**
 * Two developers on one cluster, as two laptops (issue #16): the first workstation
 * (test/cluster/ws, telepath-admin) and the second (test/cluster/ws2, telepath-admin2), each with
 * its own daemon running as root (routes, DNS), its own resolver and its own state. Both hold a
 * personal intercept on the same workload; each receives exactly its own requests. When the second
 * daemon dies (kill -9), its requests go back to the pod, and the first's keep arriving without a
 * failed request.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { buildBundles, ensureCluster, fromClientPod, repoRoot, ws, ws2, ws2Spawn, wsSpawn, type RunResult } from '../cluster/harness.js';

const telepath = path.join(repoRoot, 'dist/telepath.js');
const samples = path.join(repoRoot, '.cluster/build/samples.js');
const one = (args: string[]): RunResult => ws(['node', '--', telepath, ...args], { timeoutMs: 240_000 });
const two = (args: string[]): RunResult => ws2(['node', '--', telepath, ...args], { timeoutMs: 240_000 });

interface Answer {
  pod: string;
}

/** The pods that answered `count` GETs with `header`, from the client pod, one connection each. */
function answeredBy(header: string, count = 3): string[] {
  const r = fromClientPod(['http-get', 'http://echo.samples:8080/', '--header', header, '--count', String(count), '--timeout', '3000']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as Answer).pod);
}

const servers: ChildProcess[] = [];

before(() => {
  ensureCluster();
  buildBundles('telepath', 'traffic-manager', 'traffic-agent');
  servers.push(wsSpawn(['env', 'POD_NAME=laptop-one', 'node', samples, 'http-echo', '--port', '18101']));
  servers.push(ws2Spawn(['env', 'POD_NAME=laptop-two', 'node', samples, 'http-echo', '--port', '18102']));
  for (const s of servers) s.stderr?.on('data', () => undefined);
});

after(() => {
  one(['quit']);
  two(['quit']);
  one(['uninstall', '--agent', 'echo', '--namespace', 'samples']);
  one(['quit']);
  for (const s of servers) s.kill('SIGTERM');
});

describe('two workstations at once', () => {
  test('both connect as different users, each with its own routes and DNS', () => {
    for (const [name, tp] of [['one', one], ['two', two]] as const) {
      const c = tp(['connect', '--namespace', 'samples', '--output', 'json']);
      assert.equal(c.code, 0, `${name}: ${c.stderr}`);
      assert.equal((JSON.parse(c.stdout) as { state: string }).state, 'connected');
    }
    const curl1 = ws(['curl', '-sS', '--max-time', '10', 'http://echo.samples:8080/']);
    const curl2 = ws2(['curl', '-sS', '--max-time', '10', 'http://echo.samples:8080/']);
    assert.equal(curl1.code, 0, curl1.stderr);
    assert.equal(curl2.code, 0, curl2.stderr);
    // Two daemons, two users: the manager holds a session of each.
    const users = ws(['kubectl', '-n', 'telepath', 'get', 'sessions.telepath.dev', '-o', 'jsonpath={.items[*].spec.user.username}']).stdout;
    assert.match(users, /\btelepath-admin\b/);
    assert.match(users, /\btelepath-admin2\b/);
  });

  test('personal intercepts of one workload side by side: each workstation gets exactly its own requests', () => {
    const a = one(['intercept', 'echo', '--namespace', 'samples', '--port', '18101', '--http-header', 'x-dev=one', '--mount=false']);
    assert.equal(a.code, 0, a.stderr);
    const b = two(['intercept', 'echo', '--namespace', 'samples', '--port', '18102', '--http-header', 'x-dev=two', '--mount=false']);
    assert.equal(b.code, 0, b.stderr);
    assert.deepEqual(answeredBy('x-dev=one'), ['laptop-one', 'laptop-one', 'laptop-one']);
    assert.deepEqual(answeredBy('x-dev=two'), ['laptop-two', 'laptop-two', 'laptop-two']);
    for (const pod of answeredBy('x-dev=three')) assert.match(pod, /^echo-/);
  });

  test("kill -9 of the second daemon: its requests go back to the pod, the first's never fail", async () => {
    // Requests with the first developer's header, one every 50 ms, while the second daemon dies.
    const script = `
      const http = require('http');
      const out = { ok: 0, failed: [], others: [] };
      const get = () => new Promise((res) => {
        const req = http.get({ host: 'echo.samples', port: 8080, path: '/', headers: { 'x-dev': 'one' }, timeout: 5000 }, (r) => {
          let b = ''; r.on('data', (c) => (b += c)); r.on('end', () => {
            const pod = r.statusCode === 200 ? JSON.parse(b).pod : 'status ' + r.statusCode;
            if (pod === 'laptop-one') out.ok++; else out.others.push(pod);
            res();
          });
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', (e) => { out.failed.push(e.message); res(); });
      });
      (async () => { const end = Date.now() + 15000; while (Date.now() < end) { await get(); await new Promise((r) => setTimeout(r, 50)); } console.log(JSON.stringify(out)); })();`;
    const load = new Promise<RunResult>((resolve) => {
      const child = wsSpawn(['kubectl', 'exec', '-n', 'samples', 'client', '--', 'node', '-e', script]);
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    });
    await new Promise((r) => setTimeout(r, 2000));
    const pid = Number(ws2(['cat', '/run/telepath/daemon.pid']).stdout.trim());
    assert.ok(pid > 0, 'the second daemon runs');
    process.kill(pid, 'SIGKILL');
    const killedAt = Date.now();
    let back = -1;
    while (Date.now() - killedAt < 30_000) {
      const r = fromClientPod(['http-get', 'http://echo.samples:8080/', '--header', 'x-dev=two', '--timeout', '3000']);
      if (r.code === 0 && /^echo-/.test((JSON.parse(r.stdout.trim().split('\n')[0]!) as Answer).pod)) {
        back = Date.now() - killedAt;
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    process.stdout.write(`# the second developer's requests reached the pod again ${back} ms after kill -9\n`);
    assert.ok(back >= 0, "the dead daemon's intercept still routes 30 s after kill -9");
    const r = await load;
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { ok: number; failed: string[]; others: string[] };
    process.stdout.write(`# the first developer's requests meanwhile: ${out.ok} answered by laptop-one\n`);
    assert.deepEqual(out.failed, [], 'no request of the first developer failed');
    assert.deepEqual(out.others, [], 'every request of the first developer reached the first workstation');
    assert.ok(out.ok > 50, `${out.ok} requests`);
  });
});
