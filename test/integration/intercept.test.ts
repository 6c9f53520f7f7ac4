/**
 * `telepath intercept` end to end: the daemon runs in the workstation namespace, the local
 * services there are the samples program with POD_NAME=workstation..., and every request is sent
 * from the client pod inside the cluster, so an answer from the workstation crossed the agent, the
 * manager and the port-forward.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { buildBundles, ensureCluster, fromClientPod, kubectlJson, repoRoot, specsOf, stateDir, userKubeconfig, ws, wsSpawn, type RunResult } from '../cluster/harness.js';
import { CONNECT_ROLE, connectBindings, INTERCEPT_ROLES, roleBinding } from './users.js';

const telepath = path.join(repoRoot, 'dist/telepath.js');
const samples = path.join(repoRoot, '.cluster/build/samples.js');
const runDir = '/run/telepath-e2e-intercept';
const env = { ...process.env, TELEPATH_RUN_DIR: runDir, TELEPATH_STATE_DIR: path.join(stateDir, 'telepath-e2e-intercept') };
const tp = (args: string[], timeoutMs = 240_000): RunResult => ws(['node', '--', telepath, ...args], { env, timeoutMs });
const envFile = path.join(stateDir, 'intercept-e2e.env');

interface Answer {
  pod: string;
  greeting: string;
  secret: string;
}

/** The specs of every workload and Service in samples, to compare after uninstall. */
function specs(): Record<string, unknown> {
  return specsOf('samples', 'deployments,statefulsets,services');
}

function localServer(args: string[], identity: string): ChildProcess {
  const p = wsSpawn(['env', `POD_NAME=${identity}`, `SAMPLE_GREETING=hello from ${identity}`, 'node', samples, ...args]);
  p.stderr?.on('data', () => undefined);
  return p;
}

function httpGet(url: string, ...extra: string[]): Answer[] {
  const r = fromClientPod(['http-get', url, ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Answer);
}

/**
 * A second developer: another daemon, not root (so without the network role, which intercepts do
 * not need), with its own run directory and kubeconfig.
 */
function otherClient(name: string, kubeconfigText: string): (args: string[]) => RunResult {
  const dir = `/tmp/telepath-e2e-${name}`;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'kubeconfig'), kubeconfigText, { mode: 0o600 });
  chownSync(dir, 65534, 65534);
  chownSync(path.join(dir, 'kubeconfig'), 65534, 65534);
  return (args) =>
    ws(
      [
        'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--',
        'env', `HOME=${dir}`, `KUBECONFIG=${dir}/kubeconfig`, `TELEPATH_RUN_DIR=${dir}/run`, `TELEPATH_STATE_DIR=${dir}/state`,
        'node', '--', telepath, ...args,
      ],
      { timeoutMs: 240_000 },
    );
}

/** Polls `f` until it returns true or `ms` pass; returns how long it took, or -1. */
async function within(ms: number, f: () => boolean): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (f()) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 250));
  }
  return -1;
}

let before0: Record<string, unknown> = {};
const servers: ChildProcess[] = [];
/** What tests granted or made in the cluster, undone after the last one. */
const cleanups: (() => void)[] = [];

before(async () => {
  ensureCluster();
  buildBundles('telepath', 'traffic-manager', 'traffic-agent');
  // A run that stopped half-way may have left agents: start from the workloads as they were.
  const marked = kubectlJson<{ items: { kind: string; metadata: { name: string }; spec: { template: { metadata: { labels?: Record<string, string> } } } }[] }>(
    '-n', 'samples', 'get', 'deployments,statefulsets',
  ).items.filter((w) => w.spec.template.metadata.labels?.['telepath.io/agent']);
  for (const w of marked) assert.equal(tp(['uninstall', '--agent', `${w.kind}/${w.metadata.name}`, '-n', 'samples']).code, 0);
  before0 = specs();
  servers.push(localServer(['http-echo', '--port', '18080'], 'workstation'));
  servers.push(localServer(['grpc-echo', '--port', '15051'], 'workstation-grpc'));
  servers.push(localServer(['tcp-echo', '--port', '19000'], 'workstation-tcp'));
  await new Promise((r) => setTimeout(r, 1000));
  const c = tp(['connect', '--namespace', 'samples']);
  assert.equal(c.code, 0, c.stderr);
});

after(() => {
  tp(['quit']);
  for (const dir of ['/tmp/telepath-e2e-bob', '/tmp/telepath-e2e-carol']) {
    try {
      process.kill(Number(readFileSync(`${dir}/run/daemon.pid`, 'utf8')), 'SIGTERM');
    } catch {
      // not running
    }
    rmSync(dir, { recursive: true, force: true });
  }
  for (const s of servers) s.kill('SIGTERM');
  for (const c of cleanups) c();
  rmSync(runDir, { recursive: true, force: true });
  rmSync(envFile, { force: true });
});

describe('intercept', () => {
  test('a global intercept of an HTTP workload on a named port: every request reaches the workstation; the env file has the pod’s env', () => {
    const r = tp(['intercept', 'echo', '--port', '18080', '--env-file', envFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Intercept echo: deployment\/echo/);
    const answers = httpGet('http://echo.samples:8080/', '--count', '4');
    assert.deepEqual(
      answers.map((a) => a.pod),
      ['workstation', 'workstation', 'workstation', 'workstation'],
    );
    const dotenv = readFileSync(envFile, 'utf8');
    assert.match(dotenv, /^SAMPLE_SECRET=s3cr3t-from-a-secret$/m);
    assert.match(dotenv, /^SAMPLE_GREETING='?hello from echo'?$/m);
    assert.match(dotenv, /^POD_NAME=echo-/m);
    assert.doesNotMatch(dotenv, /_TP_/);
    const st = JSON.parse(tp(['status', '-o', 'json']).stdout) as { intercepts: { name: string; mode: string }[] };
    assert.deepEqual(st.intercepts.map((i) => [i.name, i.mode]), [['echo', 'global']]);
  });

  test('after leave, requests reach the pods again', () => {
    const r = tp(['leave', 'echo']);
    assert.equal(r.code, 0, r.stderr);
    for (const a of httpGet('http://echo.samples:8080/', '--count', '3')) assert.match(a.pod, /^echo-/);
  });

  test('the environment equals what the app container itself sees', () => {
    const r = tp(['intercept', 'echo', '--port', '18080', '--name', 'echo-env', '--http-header', 'x-env=1', '--env-json', envFile, '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const { podName } = JSON.parse(r.stdout) as { podName: string };
    const fromFile = JSON.parse(readFileSync(envFile, 'utf8')) as Record<string, string>;
    const inPod = JSON.parse(
      ws(['kubectl', 'exec', '-n', 'samples', podName, '-c', 'app', '--', 'node', '-e', 'console.log(JSON.stringify(process.env))']).stdout,
    ) as Record<string, string>;
    // What the image sets (PATH, HOME, NODE_VERSION...) and the hostname are not the container's spec.
    for (const k of ['PATH', 'HOME', 'HOSTNAME', 'NODE_VERSION', 'YARN_VERSION', 'TERM', 'PWD', 'SHLVL']) delete inPod[k];
    // Telepath adds where the container's volumes are mounted on the workstation.
    assert.equal(fromFile.TELEPATH_ROOT, '/tmp/telepath/echo-env');
    delete fromFile.TELEPATH_ROOT;
    assert.deepEqual(fromFile, inPod);
    assert.equal(fromFile.SAMPLE_SECRET, 's3cr3t-from-a-secret');
    assert.equal(tp(['leave', 'echo-env']).code, 0);
  });

  test('a personal intercept takes only requests with its header, also on one keep-alive connection', () => {
    const r = tp(['intercept', 'echo', '--port', '18080', '--http-header', 'x-dev=alice', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const mine = httpGet('http://echo.samples:8080/', '--header', 'x-dev=alice', '--count', '2');
    assert.deepEqual(mine.map((a) => a.pod), ['workstation', 'workstation']);
    for (const a of httpGet('http://echo.samples:8080/', '--count', '2')) assert.match(a.pod, /^echo-/);
    for (const a of httpGet('http://echo.samples:8080/', '--header', 'x-dev=bob')) assert.match(a.pod, /^echo-/);
    // One connection, alternating: the agent routes each request on its own.
    const script = `
      const http = require('http');
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const get = (h) => new Promise((res, rej) => http.get({ host: 'echo.samples', port: 8080, path: '/', agent, headers: h }, (r) => {
        const port = r.socket.localPort; let b = ''; r.on('data', (c) => (b += c)); r.on('end', () => res(JSON.parse(b).pod + '@' + port));
      }).on('error', rej));
      (async () => { const out = []; for (const h of [{ 'x-dev': 'alice' }, {}, { 'x-dev': 'alice' }, {}]) out.push(await get(h)); console.log(out.join(' ')); agent.destroy(); })();`;
    const k = ws(['kubectl', 'exec', '-n', 'samples', 'client', '--', 'node', '-e', script]);
    assert.equal(k.code, 0, k.stderr);
    const seen = k.stdout.trim().split(' ').map((x) => x.split('@'));
    assert.equal(new Set(seen.map((s) => s[1])).size, 1, `one connection: ${k.stdout}`);
    assert.equal(seen[0]![0], 'workstation');
    assert.match(seen[1]![0]!, /^echo-/);
    assert.equal(seen[2]![0], 'workstation');
    assert.match(seen[3]![0]!, /^echo-/);
    assert.equal(tp(['leave', 'echo']).code, 0);
  });

  test('gRPC on a numeric targetPort: calls with the metadata reach the workstation, others the pod', () => {
    const r = tp(['intercept', 'grpc-echo', '--port', '15051', '--http-header', 'x-dev=alice']);
    assert.equal(r.code, 0, r.stderr);
    const mine = fromClientPod(['grpc-call', 'grpc-echo.samples:50051', '--metadata', 'x-dev=alice', '--message', 'hi']);
    assert.equal(mine.code, 0, mine.stderr);
    assert.match(mine.stdout, /workstation-grpc/);
    const theirs = fromClientPod(['grpc-call', 'grpc-echo.samples:50051', '--message', 'hi']);
    assert.equal(theirs.code, 0, theirs.stderr);
    assert.match(theirs.stdout, /grpc-echo-/);
    assert.equal(tp(['leave', 'grpc-echo']).code, 0);
  });

  test('a TCP workload, globally', () => {
    const r = tp(['intercept', 'tcp-echo', '--port', '19000']);
    assert.equal(r.code, 0, r.stderr);
    const t = fromClientPod(['tcp-send', 'tcp-echo.samples', '9000', 'ping']);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /^hello from workstation-tcp/);
    assert.equal(tp(['leave', 'tcp-echo']).code, 0);
    assert.match(fromClientPod(['tcp-send', 'tcp-echo.samples', '9000', 'ping']).stdout, /^hello from tcp-echo/);
  });

  test('multi-port: only the chosen port is intercepted', () => {
    const r = tp(['intercept', 'multi', '--port', '19000:tcp']);
    assert.equal(r.code, 0, r.stderr);
    const t = fromClientPod(['tcp-send', 'multi.samples', '9000', 'ping']);
    assert.match(t.stdout, /^hello from workstation-tcp/, t.stderr);
    const h = httpGet('http://multi.samples:80/');
    assert.match(h[0]!.pod, /^multi-/);
    assert.equal(tp(['leave', 'multi']).code, 0);
  });

  test('a StatefulSet through its ClusterIP Service', () => {
    const r = tp(['intercept', 'statefulset/web', '--port', '18080:web-lb/http']);
    assert.equal(r.code, 0, r.stderr);
    for (const a of httpGet('http://web-lb.samples:8080/', '--count', '2')) assert.equal(a.pod, 'workstation');
    assert.equal(tp(['leave', 'web']).code, 0);
  });

  test('-- command runs with the pod’s environment, and the intercept ends with it', () => {
    const r = tp(['intercept', 'echo', '--port', '18080', '--', 'node', '-e', 'console.log("secret=" + process.env.SAMPLE_SECRET)']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^secret=s3cr3t-from-a-secret$/m);
    const st = JSON.parse(tp(['status', '-o', 'json']).stdout) as { intercepts: unknown[] };
    assert.deepEqual(st.intercepts, []);
    const code = tp(['intercept', 'echo', '--port', '18080', '--', 'node', '-e', 'process.exit(7)']);
    assert.equal(code.code, 7, 'the command’s exit code is the CLI’s');
  });

  test('a preview link sets a cookie that routes a browser to the workstation', () => {
    const r = tp(['intercept', 'echo', '--port', '18080', '--preview', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const previewPath = (JSON.parse(r.stdout) as { intercept: { previewPath: string } }).intercept.previewPath;
    assert.match(previewPath, /^\/\.telepath\/preview\/[0-9a-f]+$/);
    const script = `
      const http = require('http');
      const get = (path, headers) => new Promise((res, rej) => http.get({ host: 'echo.samples', port: 8080, path, headers }, (r) => {
        let b = ''; r.on('data', (c) => (b += c)); r.on('end', () => res({ status: r.statusCode, headers: r.headers, body: b }));
      }).on('error', rej));
      (async () => {
        const visit = await get(${JSON.stringify(previewPath)}, {});
        const cookie = visit.headers['set-cookie'][0].split(';')[0];
        const withCookie = await get('/', { cookie: 'theme=dark; ' + cookie });
        const without = await get('/', {});
        console.log(JSON.stringify({ status: visit.status, location: visit.headers.location, withCookie: JSON.parse(withCookie.body).pod, without: JSON.parse(without.body).pod }));
      })();`;
    const k = ws(['kubectl', 'exec', '-n', 'samples', 'client', '--', 'node', '-e', script]);
    assert.equal(k.code, 0, k.stderr);
    const seen = JSON.parse(k.stdout) as { status: number; location: string; withCookie: string; without: string };
    assert.equal(seen.status, 302);
    assert.equal(seen.location, '/');
    assert.equal(seen.withCookie, 'workstation');
    assert.match(seen.without, /^echo-/);
    assert.equal(tp(['leave', 'echo']).code, 0);
  });

  test('two developers hold personal intercepts on one workload; a global one is refused with who holds what', async () => {
    // Bob is a user of his own (a client certificate), with the roles docs/security.md gives a
    // developer of samples: may connect, may intercept there, and edit (the built-in role).
    const grants = `${CONNECT_ROLE}---${INTERCEPT_ROLES}---${connectBindings('bob')}---${roleBinding('bob-edit', 'samples', 'edit', 'bob')}---${roleBinding('bob-intercept', 'samples', 'telepath-intercept', 'bob')}`;
    assert.equal(ws(['kubectl', 'apply', '-f', '-'], { input: grants }).code, 0);
    cleanups.push(() => void ws(['kubectl', 'delete', '--ignore-not-found', '--wait=false', '-f', '-'], { input: grants }));
    const bob = otherClient('bob', readFileSync(userKubeconfig('bob'), 'utf8'));
    servers.push(localServer(['http-echo', '--port', '18082'], 'bob'));
    assert.equal(tp(['intercept', 'echo', '--port', '18080', '--http-header', 'x-dev=alice']).code, 0);
    const c = bob(['connect', '--namespace', 'samples']);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /DNS:\s+inactive/, 'bob’s daemon is not root: no network role');
    const b = bob(['intercept', 'echo', '--port', '18082', '--http-header', 'x-dev=bob']);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(httpGet('http://echo.samples:8080/', '--header', 'x-dev=alice')[0]!.pod, 'workstation');
    assert.equal(httpGet('http://echo.samples:8080/', '--header', 'x-dev=bob')[0]!.pod, 'bob');
    assert.match(httpGet('http://echo.samples:8080/')[0]!.pod, /^echo-/);

    const g = bob(['intercept', 'echo', '--port', '18082', '--name', 'echo-all']);
    assert.equal(g.code, 3);
    // Who holds what, but not the other developer's value: with it, anyone could join her route.
    assert.match(g.stderr, /has personal intercepts: .*x-dev=\(hidden\).*you \(x-dev=bob\)/);
    assert.doesNotMatch(g.stderr, /alice/);

    // Bob's daemon dies without a word: his requests go to the pod again within seconds.
    const pid = readFileSync('/tmp/telepath-e2e-bob/run/daemon.pid', 'utf8').trim();
    process.kill(Number(pid), 'SIGKILL');
    // A request in flight at the moment of death may fail; the next ones must reach the pod.
    const ms = await within(15_000, () => {
      const r = fromClientPod(['http-get', 'http://echo.samples:8080/', '--header', 'x-dev=bob', '--timeout', '3000']);
      return r.code === 0 && /^echo-/.test((JSON.parse(r.stdout) as Answer).pod);
    });
    assert.ok(ms >= 0, 'bob’s requests did not return to the pod within 15 s');
    assert.equal(httpGet('http://echo.samples:8080/', '--header', 'x-dev=alice')[0]!.pod, 'workstation');
  });

  test('the intercept survives a restart of the traffic-manager', async () => {
    ws(['kubectl', '-n', 'telepath', 'delete', 'pod', '-l', 'app.kubernetes.io/name=traffic-manager', '--wait=false']);
    const ms = await within(90_000, () => {
      const r = fromClientPod(['http-get', 'http://echo.samples:8080/', '--header', 'x-dev=alice', '--timeout', '3000']);
      return r.code === 0 && (JSON.parse(r.stdout) as Answer).pod === 'workstation';
    });
    assert.ok(ms >= 0, 'the intercept did not come back within 90 s');
    const st = JSON.parse(tp(['status', '-o', 'json']).stdout) as { state: string; intercepts: { state: string }[] };
    assert.equal(st.state, 'connected');
    assert.deepEqual(st.intercepts.map((i) => i.state), ['active']);
    assert.equal(tp(['leave', 'echo']).code, 0);
  });

  test('a user who may not patch the workload is refused clearly, and nothing changes', () => {
    const rbac = `
apiVersion: v1
kind: ServiceAccount
metadata: {name: tp-viewer, namespace: samples}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: tp-e2e-viewer}
rules:
- {apiGroups: ["", "apps", "discovery.k8s.io"], resources: ["*"], verbs: [get, list, watch]}
- {apiGroups: [""], resources: ["pods/portforward"], verbs: [create]}
# Telepath lets her connect and intercept; the workload is what she may not change.
- {apiGroups: [telepath.dev], resources: [sessions, intercepts], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: tp-e2e-viewer}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: tp-e2e-viewer}
subjects: [{kind: ServiceAccount, name: tp-viewer, namespace: samples}]
`;
    assert.equal(ws(['kubectl', 'apply', '-f', '-'], { input: rbac }).code, 0);
    const token = ws(['kubectl', '-n', 'samples', 'create', 'token', 'tp-viewer']).stdout.trim();
    const admin = readFileSync(path.join(stateDir, 'kubeconfig'), 'utf8');
    const ca = /certificate-authority-data: (\S+)/.exec(admin)![1];
    const kubeconfigText = `apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "https://10.250.0.1:6443", certificate-authority-data: ${ca}}}]
users: [{name: viewer, user: {token: ${token}}}]
contexts: [{name: viewer, context: {cluster: local, user: viewer, namespace: samples}}]
current-context: viewer
`;
    const carol = otherClient('carol', kubeconfigText);
    const specBefore = kubectlJson<{ spec: unknown }>('-n', 'samples', 'get', 'deploy', 'tcp-echo').spec;
    const c = carol(['connect']);
    assert.equal(c.code, 0, c.stderr);
    const r = carol(['intercept', 'tcp-echo', '--port', '19000']);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /forbidden for the user of context "viewer".*cannot patch resource "deployments".*Nothing was changed/s);
    assert.deepEqual(kubectlJson<{ spec: unknown }>('-n', 'samples', 'get', 'deploy', 'tcp-echo').spec, specBefore);
    carol(['quit']);
    ws(['kubectl', 'delete', '-f', '-'], { input: rbac });
  });

  test('list shows the agents and the ports', () => {
    const r = tp(['list', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const l = JSON.parse(r.stdout) as { workloads: { name: string; agent: string; ports: { service: string }[] }[] };
    const echo = l.workloads.find((w) => w.name === 'echo');
    assert.equal(echo?.agent, 'ready');
    assert.ok(echo?.ports.some((p) => p.service === 'echo'), r.stdout);
  });

  test('an unknown workload is a clear user error', () => {
    const r = tp(['intercept', 'nope', '--port', '18080']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /no Deployment, StatefulSet or ReplicaSet named "nope" in namespace samples/);
  });

  test('after an intercept in another namespace, short names resolve in that namespace', () => {
    assert.equal(tp(['quit']).code, 0);
    assert.equal(tp(['connect', '--namespace', 'default']).code, 0);
    const none = ws(['getent', 'hosts', 'echo']);
    assert.notEqual(none.code, 0, `echo is not a name in namespace default: ${none.stdout}; ${ws(['cat', '/etc/resolv.conf']).stdout}; ${tp(['status']).stdout}`);
    const r = tp(['intercept', 'echo', '--namespace', 'samples', '--port', '18080', '--http-header', 'x-ns=1', '--mount=false']);
    assert.equal(r.code, 0, r.stderr);
    const clusterIp = kubectlJson<{ spec: { clusterIP: string } }>('-n', 'samples', 'get', 'svc', 'echo').spec.clusterIP;
    const h = ws(['getent', 'hosts', 'echo']);
    assert.equal(h.code, 0, h.stderr);
    assert.equal(h.stdout.split(/\s+/)[0], clusterIp);
    assert.equal(tp(['leave', 'echo']).code, 0);
  });

  test('uninstall --everything restores every workload and Service exactly', () => {
    const r = tp(['uninstall', '--everything']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(specs(), before0);
    const cms = kubectlJson<{ items: unknown[] }>('get', 'configmaps', '-A', '-l', 'app.kubernetes.io/part-of=telepath');
    assert.equal(cms.items.length, 0);
    const hooks = ws(['kubectl', 'get', 'mutatingwebhookconfigurations', '-o', 'name']);
    assert.doesNotMatch(hooks.stdout, /telepath/);
  });
});
