/**
 * Issue #14 from inside the cluster: the samples client pod, which anyone who may run a pod could
 * own, attacks the traffic-manager with its own gRPC client (probes/managerAttacker.ts, bundled
 * and piped to `node -` in the pod), skipping the daemon and the agent. Every attack must fail,
 * and a real intercept of echo must keep working with its agent's session untouched:
 *   (i)   the client API on the manager's Service port 8081, or on the pod IP: nothing listens;
 *         on the agent port the client API is PERMISSION_DENIED and nothing is dialed;
 *   (ii)  ArriveAsAgent as echo's agent with no token;
 *   (iii) with the client pod's own ServiceAccount token (audience: the API server);
 *   (iv)  with a token for the manager's audience bound to the client pod, claiming echo's pod,
 *         and claiming the client pod itself (which runs no agent).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { rmSync } from 'node:fs';
import { buildSync } from 'esbuild';
import { AGENT_TOKEN_AUDIENCE } from '../../protocol/src/agent/agentConfig.js';
import { AGENT_PORT, GRPC_PORT } from '../../common/src/install/managerManifests.js';
import { buildBundles, ensureCluster, fromClientPod, kubectl, kubectlJson, repoRoot, stateDir, ws, wsSpawn, type RunResult } from '../cluster/harness.js';

const telepath = path.join(repoRoot, 'dist/telepath.js');
const samples = path.join(repoRoot, '.cluster/build/samples.js');
const runDir = '/run/telepath-e2e-attack';
const env = { ...process.env, TELEPATH_RUN_DIR: runDir, TELEPATH_STATE_DIR: path.join(stateDir, 'telepath-e2e-attack') };
const tp = (args: string[], timeoutMs = 240_000): RunResult => ws(['node', '--', telepath, ...args], { env, timeoutMs });
const MANAGER = `traffic-manager.telepath`;
const LOCAL_PORT = 18086;
const HEADER = 'x-attack=1';

interface Outcome {
  code: string;
  details: string;
  sessionId?: string;
}

interface Pod {
  metadata: { name: string; uid: string };
  spec: { containers: { name: string }[] };
  status: { podIP?: string };
}

interface LogLine {
  level: string;
  tag?: string;
  msg: string;
  [field: string]: unknown;
}

let attacker = '';
let server: ChildProcess | undefined;
let echoPod = '';
let managerPod: Pod;
let logLinesBefore = 0;

/** Runs the attacker in the client pod; its outcome. */
function attack(...args: string[]): Outcome {
  const r = ws(['kubectl', 'exec', '-i', '-n', 'samples', 'client', '--', 'node', '-', ...args], { input: attacker, timeoutMs: 60_000 });
  assert.equal(r.code, 0, `the attacker did not run: ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as Outcome;
  process.stderr.write(`attack ${args.filter((a) => a.length < 100).join(' ')}: ${JSON.stringify(out)}\n`);
  return out;
}

function managerLogSinceStart(): LogLine[] {
  const lines = kubectl('-n', 'telepath', 'logs', managerPod.metadata.name).split('\n').filter(Boolean);
  return lines.slice(logLinesBefore).map((l) => JSON.parse(l) as LogLine);
}

/** The real intercept still takes its requests, the rest still reach the pods, and echo's agent kept its session. */
function realInterceptUntouched(): void {
  const mine = fromClientPod(['http-get', 'http://echo.samples:8080/', '--header', HEADER, '--count', '2']);
  assert.equal(mine.code, 0, mine.stderr);
  assert.deepEqual(mine.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { pod: string }).pod), ['workstation-attacked', 'workstation-attacked']);
  const theirs = fromClientPod(['http-get', 'http://echo.samples:8080/']);
  assert.match((JSON.parse(theirs.stdout) as { pod: string }).pod, /^echo-/);
  const replaced = managerLogSinceStart().filter((l) => l.msg === 'session ended' && l.reason === 'replaced' && String(l.client).startsWith('agent samples/'));
  assert.deepEqual(replaced, [], 'no agent session was replaced');
}

before(async () => {
  ensureCluster();
  buildBundles('telepath', 'traffic-manager', 'traffic-agent');
  const built = buildSync({
    entryPoints: [path.join(repoRoot, 'test/integration/probes/managerAttacker.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    write: false,
    logLevel: 'warning',
  });
  attacker = built.outputFiles[0]!.text;
  server = wsSpawn(['env', 'POD_NAME=workstation-attacked', 'node', samples, 'http-echo', '--port', String(LOCAL_PORT)]);
  server.stderr?.on('data', () => undefined);
  await new Promise((r) => setTimeout(r, 1000));
  const c = tp(['connect', '--namespace', 'samples']);
  assert.equal(c.code, 0, c.stderr);
  const i = tp(['intercept', 'echo', '--port', String(LOCAL_PORT), '--name', 'echo-attacked', '--http-header', HEADER, '--mount=false', '-o', 'json']);
  assert.equal(i.code, 0, i.stderr);
  echoPod = (JSON.parse(i.stdout) as { podName: string }).podName;
  const pods = kubectlJson<{ items: Pod[] }>('-n', 'telepath', 'get', 'pods', '-l', 'app.kubernetes.io/name=traffic-manager').items;
  assert.equal(pods.length, 1);
  managerPod = pods[0]!;
  logLinesBefore = kubectl('-n', 'telepath', 'logs', managerPod.metadata.name).split('\n').filter(Boolean).length;
  realInterceptUntouched();
});

after(() => {
  tp(['leave', 'echo-attacked']);
  tp(['uninstall', '--agent', 'echo', '--namespace', 'samples']);
  tp(['quit']);
  server?.kill('SIGTERM');
  rmSync(runDir, { recursive: true, force: true });
});

describe('a pod attacks the traffic-manager', () => {
  test('(i) the client API: no Service port 8081, nothing on the pod IP at 8081; the agent port refuses it and dials nothing', () => {
    const svc = kubectlJson<{ spec: { ports: { name: string; port: number }[] } }>('-n', 'telepath', 'get', 'service', 'traffic-manager');
    assert.deepEqual(svc.spec.ports.map((p) => [p.name, p.port]), [['agent', AGENT_PORT], ['https-webhook', 443]]);
    const viaService = attack('call', `${MANAGER}:${GRPC_PORT}`, 'version');
    assert.ok(['UNAVAILABLE', 'DEADLINE_EXCEEDED'].includes(viaService.code), JSON.stringify(viaService));
    const podIp = managerPod.status.podIP!;
    const viaPodIp = attack('call', `${podIp}:${GRPC_PORT}`, 'arriveAsClient');
    assert.equal(viaPodIp.code, 'UNAVAILABLE');
    assert.match(viaPodIp.details, /ECONNREFUSED/, 'the pod IP refuses the connection: the port listens on loopback only');
    // The manager itself is reachable from the pod, on the agent port, which serves only agents.
    assert.equal(attack('call', `${MANAGER}:${AGENT_PORT}`, 'version').code, 'OK');
    for (const method of ['arriveAsClient', 'listAgents', 'listIntercepts']) {
      const r = attack('call', `${MANAGER}:${AGENT_PORT}`, method);
      assert.equal(r.code, 'PERMISSION_DENIED', `${method}: ${JSON.stringify(r)}`);
    }
    const echoIp = kubectlJson<{ spec: { clusterIP: string } }>('-n', 'samples', 'get', 'service', 'echo').spec.clusterIP;
    const dial = attack('dial', `${MANAGER}:${AGENT_PORT}`, echoIp, '8080');
    assert.deepEqual(dial.code, 'PERMISSION_DENIED', JSON.stringify(dial));
    realInterceptUntouched();
  });

  test("(ii) ArriveAsAgent as echo's agent without a token is UNAUTHENTICATED", () => {
    const r = attack('arrive', `${MANAGER}:${AGENT_PORT}`, echoPod);
    assert.equal(r.code, 'UNAUTHENTICATED');
    assert.match(r.details, /no bearer token/);
    realInterceptUntouched();
  });

  test("(iii) with the client pod's own ServiceAccount token (the API server's audience) it is UNAUTHENTICATED", () => {
    const r = attack('arrive', `${MANAGER}:${AGENT_PORT}`, echoPod, '@/var/run/secrets/kubernetes.io/serviceaccount/token');
    assert.equal(r.code, 'UNAUTHENTICATED');
    // The API server itself refuses a token whose audiences miss the one asked for (Kubernetes
    // 1.34 answers authenticated: false, naming both); a server that accepted it would still fail
    // the manager's own audience check ("not for ...").
    const audience = AGENT_TOKEN_AUDIENCE.replace('/', '\\/');
    assert.match(r.details, new RegExp(`invalid for the target audiences \\["${audience}"\\]|not for ${audience}`));
    realInterceptUntouched();
  });

  test("(iv) with a manager-audience token bound to another pod, claiming echo's pod or its own, it is PERMISSION_DENIED", () => {
    // What a pod with a projected token volume of the manager's audience would read: the API
    // server mints it for the client pod, as the kubelet would.
    const client = kubectlJson<Pod>('-n', 'samples', 'get', 'pod', 'client');
    const token = kubectl(
      '-n', 'samples', 'create', 'token', 'default', '--audience', AGENT_TOKEN_AUDIENCE, '--duration', '10m',
      '--bound-object-kind', 'Pod', '--bound-object-name', 'client', '--bound-object-uid', client.metadata.uid,
    ).trim();
    const asEcho = attack('arrive', `${MANAGER}:${AGENT_PORT}`, echoPod, token);
    assert.equal(asEcho.code, 'PERMISSION_DENIED');
    assert.equal(asEcho.details, `the token is pod samples/client's, but the agent claims pod ${echoPod}`);
    const asItself = attack('arrive', `${MANAGER}:${AGENT_PORT}`, 'client', token);
    assert.equal(asItself.code, 'PERMISSION_DENIED');
    assert.equal(asItself.details, 'pod samples/client has no traffic-agent injected by the webhook');
    realInterceptUntouched();
  });

  test('the manager logged each refused arrival as a warning, opened no session for it, and echo’s agent is still listed', () => {
    const refused = managerLogSinceStart().filter((l) => l.msg === 'agent refused');
    assert.deepEqual(
      refused.map((l) => [l.level, l.pod]),
      [
        ['warn', echoPod],
        ['warn', echoPod],
        ['warn', echoPod],
        ['warn', 'client'],
      ],
    );
    const opened = managerLogSinceStart().filter((l) => l.msg === 'arrived' && l.kind === 'agent');
    assert.ok(opened.every((l) => !String(l.client).includes('client')), 'no session for the attacker');
    const list = JSON.parse(tp(['list', '-o', 'json']).stdout) as { workloads: { name: string; agent: string }[] };
    assert.equal(list.workloads.find((w) => w.name === 'echo')?.agent, 'ready');
    realInterceptUntouched();
  });
});
