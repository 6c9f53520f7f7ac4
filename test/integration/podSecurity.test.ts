/**
 * A namespace that enforces Pod Security "restricted" (issue #16): the API server validates every
 * pod after the webhooks have mutated it, so the injected traffic-agent must meet the level too.
 * The workload there meets it; connect reaches its Service by name, and a personal intercept
 * takes the requests with its header while the pod (app and agent, admitted) answers the rest.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { AGENT_CONTAINER_NAME } from '../../protocol/src/agent/agentConfig.js';
import { buildBundles, ensureCluster, fromClientPod, kubectl, kubectlJson, repoRoot, stateDir, ws, wsSpawn, type RunResult } from '../cluster/harness.js';

const telepath = path.join(repoRoot, 'dist/telepath.js');
const samples = path.join(repoRoot, '.cluster/build/samples.js');
const env = { ...process.env, TELEPATH_RUN_DIR: '/run/telepath-e2e-podsecurity', TELEPATH_STATE_DIR: path.join(stateDir, 'telepath-e2e-podsecurity') };
const tp = (args: string[]): RunResult => ws(['node', '--', telepath, ...args], { env, timeoutMs: 240_000 });
const NS = 'tp-restricted';
const LOCAL_PORT = 18131;

/** The echo sample as a "restricted" workload: non-root, no privilege escalation, no capabilities, RuntimeDefault seccomp. */
const manifests = `
apiVersion: v1
kind: Namespace
metadata:
  name: ${NS}
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: strict-echo, namespace: ${NS}}
spec:
  replicas: 1
  selector: {matchLabels: {app: strict-echo}}
  template:
    metadata: {labels: {app: strict-echo}}
    spec:
      terminationGracePeriodSeconds: 2
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: app
        image: docker.io/library/telepath-samples:dev
        imagePullPolicy: Never
        args: ["http-echo", "--port", "8080"]
        ports: [{name: http, containerPort: 8080}]
        env:
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
---
apiVersion: v1
kind: Service
metadata: {name: strict-echo, namespace: ${NS}}
spec:
  selector: {app: strict-echo}
  ports: [{name: http, port: 8080, targetPort: http}]
`;

let laptop: ChildProcess | undefined;

function answeredBy(...extra: string[]): string[] {
  const r = fromClientPod(['http-get', `http://strict-echo.${NS}:8080/`, '--count', '3', '--timeout', '5000', ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { pod: string }).pod);
}

before(() => {
  ensureCluster();
  buildBundles('telepath', 'traffic-manager', 'traffic-agent');
  const r = ws(['kubectl', 'apply', '-f', '-'], { input: manifests });
  assert.equal(r.code, 0, r.stderr);
  kubectl('-n', NS, 'rollout', 'status', 'deployment/strict-echo', '--timeout=120s');
  laptop = wsSpawn(['env', 'POD_NAME=laptop', 'node', samples, 'http-echo', '--port', String(LOCAL_PORT)]);
  laptop.stderr?.on('data', () => undefined);
});

after(() => {
  tp(['quit']);
  laptop?.kill('SIGTERM');
  ws(['kubectl', 'delete', 'namespace', NS, '--wait=false']);
});

describe('a namespace that enforces Pod Security "restricted"', () => {
  test('the level is enforced: a root pod is refused there', () => {
    const r = ws(['kubectl', '-n', NS, 'run', 'as-root', '--image=docker.io/library/telepath-samples:dev', '--restart=Never', '--dry-run=server']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /violates PodSecurity "restricted/);
  });

  test('connect reaches its Service by name', () => {
    const c = tp(['connect', '--namespace', NS]);
    assert.equal(c.code, 0, c.stderr);
    const curl = ws(['curl', '-sS', '--max-time', '10', `http://strict-echo.${NS}:8080/`]);
    assert.equal(curl.code, 0, curl.stderr);
    assert.match(JSON.parse(curl.stdout).pod as string, /^strict-echo-/);
    const short = ws(['curl', '-sS', '--max-time', '10', 'http://strict-echo:8080/']);
    assert.equal(short.code, 0, `the short name in the connected namespace: ${short.stderr}`);
  });

  test('a personal intercept: the agent is admitted at the level, and routes by header', () => {
    const i = tp(['intercept', 'strict-echo', '--namespace', NS, '--port', String(LOCAL_PORT), '--http-header', 'x-strict=me', '--mount=false']);
    assert.equal(i.code, 0, i.stderr);
    const pods = kubectlJson<{ items: { metadata: { name: string }; spec: { containers: { name: string }[] }; status: { phase: string } }[] }>(
      '-n',
      NS,
      'get',
      'pods',
      '-l',
      'app=strict-echo',
    ).items.filter((p) => p.status.phase === 'Running');
    assert.ok(pods.length >= 1);
    for (const p of pods) assert.deepEqual(p.spec.containers.map((c) => c.name).sort(), ['app', AGENT_CONTAINER_NAME], p.metadata.name);
    assert.deepEqual(answeredBy('--header', 'x-strict=me'), ['laptop', 'laptop', 'laptop']);
    for (const pod of answeredBy()) assert.match(pod, /^strict-echo-/);
    const l = tp(['leave', 'strict-echo']);
    assert.equal(l.code, 0, l.stderr);
    const u = tp(['uninstall', '--agent', 'strict-echo', '--namespace', NS]);
    assert.equal(u.code, 0, u.stderr);
  });
});
