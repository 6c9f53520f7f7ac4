/**
 * Two developers on one cluster, as two laptops (issue #16): the first workstation
 * (test/cluster/ws, telepath-admin) and the second (test/cluster/ws2, telepath-admin2), each with
 * its own daemon running as root (routes, DNS), its own resolver and its own state. Both hold a
 * personal intercept on the same workload; each receives exactly its own requests, also under load.
 * While the second workstation's network is gone its callers get a 503 at once; afterwards its
 * intercept comes back by itself. When the second daemon dies (kill -9), its requests go back to
 * the pod, and the first's keep arriving without a failed request.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { inClientPod, runLoad, TWO_DEVELOPERS_MIX } from '../cluster/clientLoad.js';
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

  test('under load from inside the cluster, each workstation gets exactly its own requests, the pod the rest, and none fails', async () => {
    // Eight keep-alive connections, each sending in turn: the first developer's header, nobody's,
    // the second developer's, nobody's. Every connection carries requests of all three.
    const result = await runLoad({
      url: 'http://echo.samples:8080/',
      concurrency: 8,
      requests: 2400,
      classes: TWO_DEVELOPERS_MIX,
    });
    process.stdout.write(`# ${JSON.stringify(result)}\n`);
    assert.deepEqual(result.one!.answers, { 'laptop-one': 600 });
    assert.deepEqual(result.two!.answers, { 'laptop-two': 600 });
    assert.equal(result.pod!.count, 1200);
    for (const [who, n] of Object.entries(result.pod!.answers)) assert.match(who, /^echo-/, `${n} requests without a header answered by ${who}`);
  });

  test(
    'the second workstation loses its network for 30 s: its requests get a prompt answer meanwhile, and afterwards its intercept and outbound access come back by themselves',
    async () => {
    // From inside the cluster, for 40 s: a request of each developer every 500 ms on keep-alive
    // connections, each with a deadline of 10 s (a hang); what answered, with which status, and
    // how long it took.
    const script = `
      const http = require('http');
      const seen = { one: [], two: [] };
      const get = (dev) => new Promise((res) => {
        const t0 = Date.now();
        const done = (what) => { seen[dev].push({ what, ms: Date.now() - t0, at: t0 }); res(); };
        const req = http.get({ host: 'echo.samples', port: 8080, path: '/', headers: { 'x-dev': dev }, timeout: 10000 }, (r) => {
          let b = ''; r.on('data', (c) => (b += c)); r.on('end', () => done(r.statusCode === 200 ? JSON.parse(b).pod : 'status ' + r.statusCode));
        });
        req.on('timeout', () => req.destroy(new Error('no answer in 10 s')));
        req.on('error', (e) => done('error ' + e.message));
      });
      (async () => { const end = Date.now() + 40000; while (Date.now() < end) { await Promise.all([get('one'), get('two')]); await new Promise((r) => setTimeout(r, 500)); } console.log(JSON.stringify(seen)); })();`;
    const load = inClientPod(script);
    await new Promise((r) => setTimeout(r, 2000));
    // The network goes away, not the interface (whose routes the kernel would drop with it): every
    // packet in and out of the second workstation's link is dropped for 30 s.
    const drop = (op: '-A' | '-D'): void => {
      for (const rule of [['INPUT', '-i'], ['OUTPUT', '-o']]) {
        const r = ws2(['iptables', op, rule[0]!, rule[1]!, 'tpw1', '-j', 'DROP']);
        assert.equal(r.code, 0, r.stderr);
      }
    };
    drop('-A');
    const downAt = Date.now();
    await new Promise((r) => setTimeout(r, 30_000));
    drop('-D');
    const upAt = Date.now();
    const r = await load;
    assert.equal(r.code, 0, r.stderr);
    const seen = JSON.parse(r.stdout) as Record<'one' | 'two', { what: string; ms: number; at: number }[]>;
    const oneBad = seen.one.filter((x) => x.what !== 'laptop-one');
    process.stdout.write(`# the first developer meanwhile: ${seen.one.length} requests, not answered by laptop-one: ${JSON.stringify(oneBad.map((x) => ({ ...x, sinceDown: x.at - downAt })))}\n`);
    process.stdout.write(`# the second developer: ${JSON.stringify(seen.two.map((x) => [x.at - downAt, x.what.slice(0, 12), x.ms]))}\n`);
    // The second developer's requests while away, from the moment the link went: each gets an
    // answer, a 503 that says why (also one sent into a connection that was open when the link
    // went) or the pod's (should the manager drop the intercept); none hangs.
    const away = seen.two.filter((x) => x.at >= downAt && x.at < upAt - 10_000);
    assert.ok(away.length >= 5, `${away.length} requests while away`);
    for (const x of away) assert.match(x.what, /^(status 503|echo-)/, JSON.stringify(x));
    const slowest = Math.max(...away.map((x) => x.ms));
    const to503 = away.filter((x) => x.what === 'status 503').length;
    const firstPod = away.find((x) => x.what.startsWith('echo-'));
    process.stdout.write(
      `# while away: ${away.length} requests, slowest answer ${slowest} ms, ${to503} answered 503, the pod took over ${firstPod ? firstPod.at - downAt : -1} ms after the link went down\n`,
    );
    // Back by itself: the intercept, and outbound access from the workstation.
    let back = -1;
    while (Date.now() - upAt < 60_000) {
      const g = fromClientPod(['http-get', 'http://echo.samples:8080/', '--header', 'x-dev=two', '--timeout', '3000']);
      if (g.code === 0 && (JSON.parse(g.stdout.trim().split('\n')[0]!) as Answer).pod === 'laptop-two') {
        back = Date.now() - upAt;
        break;
      }
      await new Promise((res) => setTimeout(res, 500));
    }
    process.stdout.write(`# the intercept routed to the second workstation again ${back} ms after the network came back\n`);
    assert.ok(back >= 0, 'the intercept did not come back within 60 s');
    const curl = ws2(['curl', '-sS', '--max-time', '10', 'http://echo.samples:8080/']);
    assert.equal(curl.code, 0, `outbound access after the outage: ${curl.stderr}`);
    // The first developer never noticed.
    assert.deepEqual(oneBad, [], 'requests of the first developer that failed while the second was away');
    },
  );

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
    const load = inClientPod(script);
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
