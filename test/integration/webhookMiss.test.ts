/**
 * A pod made while the API server cannot reach the traffic-manager's webhook starts without the
 * agent (the webhook's failurePolicy is Ignore, so that a manager that is down never keeps pods
 * from being created). Seen in `npm run demo`: an intercept right after a fresh install rolled out
 * one pod without the agent and waited 180 s in vain. The webhook is made unreachable here (its
 * Service port in the configuration points nowhere) while an intercept rolls the agent out, and
 * made reachable again as soon as a pod without the agent shows: the daemon replaces that pod and
 * the intercept succeeds.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { buildBundles, clusterDir, ensureCluster, kubectl, kubectlJson, repoRoot, stateDir, until, ws, type RunResult } from '../cluster/harness.js';
import { webhookConfigName } from '../../common/src/install/managerManifests.js';

const telepath = path.join(repoRoot, 'dist/telepath.js');
const runDir = '/run/telepath-e2e-webhook';
const state = path.join(stateDir, 'telepath-e2e-webhook');
const env = { ...process.env, TELEPATH_RUN_DIR: runDir, TELEPATH_STATE_DIR: state };
const tp = (args: string[], timeoutMs = 240_000): RunResult => ws(['node', '--', telepath, ...args], { env, timeoutMs });
const hook = webhookConfigName('telepath');
const portPath = '/webhooks/0/clientConfig/service/port';

interface PodList {
  items: { metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string }; spec: { containers: { name: string }[] } }[];
}

const setWebhookPort = (port: number): string =>
  kubectl('patch', 'mutatingwebhookconfiguration', hook, '--type=json', '-p', JSON.stringify([{ op: 'replace', path: portPath, value: port }]));

let port = 0;

before(() => {
  ensureCluster();
  buildBundles('telepath', 'traffic-manager', 'traffic-agent');
  const r = tp(['connect', '--namespace', 'samples']);
  assert.equal(r.code, 0, r.stderr);
  port = Number(kubectl('get', 'mutatingwebhookconfiguration', hook, '-o', 'jsonpath={.webhooks[0].clientConfig.service.port}'));
  assert.ok(port > 0, 'the webhook has a Service port');
});

after(() => {
  if (port) setWebhookPort(port);
  tp(['uninstall', '--agent', 'echo', '--namespace', 'samples']);
  tp(['quit']);
  rmSync(runDir, { recursive: true, force: true });
});

describe('a pod the webhook missed', () => {
  test('is replaced while the agent rolls out, and the intercept succeeds', async () => {
    setWebhookPort(1);
    const child = spawn(path.join(clusterDir, 'ws'), ['node', '--', telepath, 'intercept', 'echo', '--port', '18084', '--http-header', 'x-miss=1', '-o', 'json'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const missed = await until('a pod of echo without the agent', 60_000, () => {
        const pods = kubectlJson<PodList>('get', 'pods', '-n', 'samples', '-l', 'app=echo,telepath.io/agent=enabled');
        return pods.items.find((p) => !p.spec.containers.some((c) => c.name === 'telepath-agent'))?.metadata.name;
      });
      setWebhookPort(port);
      const code = await exited;
      assert.equal(code, 0, `intercept: ${stderr}`);
      assert.match((JSON.parse(stdout) as { podName?: string }).podName ?? '', /^echo-/, stdout);
      const pods = kubectlJson<PodList>('get', 'pods', '-n', 'samples', '-l', 'app=echo').items.filter((p) => !p.metadata.deletionTimestamp);
      assert.ok(pods.length > 0);
      for (const p of pods) assert.ok(p.spec.containers.some((c) => c.name === 'telepath-agent'), `${p.metadata.name} has the agent`);
      assert.ok(!pods.some((p) => p.metadata.name === missed), `${missed} was replaced`);
      const log = readFileSync(path.join(state, 'logs/daemon.log'), 'utf8');
      assert.match(log, new RegExp(`pod samples/${missed} was made without the traffic-agent although its template asks for it`));
    } finally {
      if (child.exitCode === null) child.kill('SIGTERM');
    }
    assert.equal(tp(['leave', 'echo']).code, 0);
  });
});
