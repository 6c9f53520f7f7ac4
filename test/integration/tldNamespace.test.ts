/**
 * A namespace named like a top-level domain (`dev`) does not swallow public names: connected, with
 * `dev` among the namespaces that resolve as `svc.ns`, `svc.dev` is the cluster's Service while
 * `pkg.go.dev` reaches the workstation's original resolver. That resolver is a stand-in on
 * 127.0.0.1:53 in the workstation namespace (probes/publicResolver.ts: `dev` has an SOA as in the
 * root zone, `pkg.go.dev` a TEST-NET-1 address), so nothing leaves the machine. The daemon learns
 * that `dev` is a TLD by asking that resolver for `dev`'s SOA when it connects.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { buildBundles, ensureCluster, kubectlJson, repoRoot, stateDir, until, ws, wsSpawn, type RunResult } from '../cluster/harness.js';

const telepath = path.join(repoRoot, 'dist/telepath.js');
const runDir = '/run/telepath-e2e-tld';
const tpState = path.join(stateDir, 'telepath-e2e-tld');
const env = { ...process.env, TELEPATH_RUN_DIR: runDir, TELEPATH_STATE_DIR: tpState };
const tp = (args: string[], timeoutMs = 180_000): RunResult => ws(['node', telepath, ...args], { env, timeoutMs });
const logFile = path.join(tpState, 'logs/daemon.log');
const wsResolvConf = path.join(stateDir, 'ws/resolv.conf');
const NAMESPACE = 'dev';

const service = `
apiVersion: v1
kind: Namespace
metadata: {name: ${NAMESPACE}}
---
apiVersion: v1
kind: Service
metadata: {name: svc, namespace: ${NAMESPACE}}
spec:
  selector: {app: svc}
  ports: [{name: http, port: 80, targetPort: 8080}]
`;

let resolver: ChildProcess | undefined;
/** The queries the original resolver got, as `NAME TYPE`. */
const upstreamSaw: string[] = [];
let clusterIP = '';
let resolvBefore = '';

/**
 * The resolver's lines arrive on this process's event loop, which ws() (spawnSync) blocks while a
 * lookup runs: read them before looking (seen in CI: the query was answered, its line not yet read).
 */
async function sawUpstream(query: string): Promise<void> {
  await until(`the original resolver to see ${query}`, 5_000, () => upstreamSaw.includes(query), () => upstreamSaw.join(', '));
}

function hosts(name: string): RunResult {
  return ws(['getent', 'hosts', name]);
}

before(async () => {
  ensureCluster();
  buildBundles('telepath', 'traffic-manager');
  resolver = wsSpawn(['node', '--import', 'tsx', 'test/integration/probes/publicResolver.ts']);
  await new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: resolver!.stdout! });
    lines.on('line', (line) => {
      if (line === 'listening') resolve();
      const m = /^query (\S+) (\S+)$/.exec(line);
      if (m) upstreamSaw.push(`${m[1]!.toLowerCase()} ${m[2]}`);
    });
    resolver!.once('exit', (c) => reject(new Error(`the stand-in resolver exited ${c}`)));
  });
  const applied = ws(['kubectl', 'apply', '-f', '-'], { input: service });
  assert.equal(applied.code, 0, applied.stderr);
  clusterIP = kubectlJson<{ spec: { clusterIP: string } }>('-n', NAMESPACE, 'get', 'service', 'svc').spec.clusterIP;
  resolvBefore = readFileSync(wsResolvConf, 'utf8');
});

after(() => {
  tp(['quit']);
  resolver?.kill('SIGTERM');
  ws(['kubectl', 'delete', 'namespace', NAMESPACE, '--wait=false', '--ignore-not-found']);
  rmSync(runDir, { recursive: true, force: true });
});

describe('a namespace named like a top-level domain', () => {
  test('connects with the namespace among those that resolve, and finds it is named like a TLD', async () => {
    const r = tp(['connect', '--namespace', 'samples', '--output', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { dns: { state: string } }).dns.state, 'active');
    // One SOA query per namespace, to the original resolver; `dev` has one of its own.
    await until('the daemon to ask about dev', 15_000, () => upstreamSaw.includes('dev SOA'));
    await until('the daemon to log dev as named like a TLD', 15_000, () => /namespaces named like top-level domains.*"dev"/.test(readFileSync(logFile, 'utf8')));
    assert.ok(upstreamSaw.includes('samples SOA'), 'every namespace is asked about');
  });

  test('svc.dev is the cluster\'s Service', async () => {
    const r = hosts(`svc.${NAMESPACE}`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^${clusterIP.replace(/\./g, '\\.')}\\s+svc\\.dev$`, 'm'));
    await new Promise((resolve) => setTimeout(resolve, 200)); // the resolver's lines, if any, read in
    assert.ok(!upstreamSaw.some((q) => q.startsWith('svc.dev ')), 'a cluster name does not go to the original resolver');
  });

  test('pkg.go.dev reaches the original resolver, through glibc and dig alike', async () => {
    const r = hosts('pkg.go.dev');
    assert.equal(r.code, 0, `getent hosts pkg.go.dev: exit ${r.code} ${r.stderr}`);
    assert.match(r.stdout, /^192\.0\.2\.88\s+pkg\.go\.dev$/m);
    await sawUpstream('pkg.go.dev A');
    const d = ws(['dig', '+short', '+tries=1', '+time=3', 'pkg.go.dev', 'A']);
    assert.equal(d.stdout.trim(), '192.0.2.88', d.stderr);
  });

  test('a name under dev that neither knows is NXDOMAIN from the original resolver; other namespaces stay the cluster\'s alone', async () => {
    const nope = ws(['dig', '+tries=1', '+time=3', 'nope.dev', 'A']).stdout;
    assert.match(nope, /status: NXDOMAIN/);
    await sawUpstream('nope.dev A');
    const missing = ws(['dig', '+tries=1', '+time=3', 'nope.samples', 'A']).stdout;
    assert.match(missing, /status: NXDOMAIN/);
    await new Promise((r) => setTimeout(r, 200)); // let the resolver's lines in, as sawUpstream does
    assert.ok(!upstreamSaw.includes('nope.samples A'), 'samples is no TLD: the cluster answers alone');
  });

  test('quit restores resolv.conf', () => {
    assert.equal(tp(['quit']).code, 0);
    assert.equal(readFileSync(wsResolvConf, 'utf8'), resolvBefore);
  });
});
