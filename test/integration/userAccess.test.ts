/**
 * Who may connect is decided by the cluster (issue #14): the manager's client API is served only
 * on its pod's loopback, so a daemon reaches it only through the API server's port-forward, which
 * RBAC allows or not. Real users with their own client certificates (test/cluster harness's
 * userKubeconfig, signed by the cluster's CA): mallory has no rights at all; carol may see the
 * manager but not port-forward to it; alice has exactly the role docs/security.md gives for "may
 * connect" (telepath-connect, below) and nothing in samples.
 * The manager is installed by an admin first, as on a shared cluster.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { buildBundles, ensureCluster, repoRoot, stateDir, userKubeconfig, ws, type RunResult } from '../cluster/harness.js';

const telepath = path.join(repoRoot, 'dist/telepath.js');

/** The role "may connect": find the manager, port-forward to it, list namespaces for DNS. */
const connectRole = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: telepath-connect}
rules:
- {apiGroups: [""], resources: [namespaces], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: telepath-connect, namespace: telepath}
rules:
- {apiGroups: [apps], resources: [deployments], verbs: [get]}
- {apiGroups: [""], resources: [pods], verbs: [get, list, watch]}
- {apiGroups: [""], resources: [pods/portforward], verbs: [get, create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: telepath-connect-alice}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: telepath-connect}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: telepath-connect-alice, namespace: telepath}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: telepath-connect}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}]
---
# carol may look (namespaces, the manager's Deployment and pods) but not port-forward.
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: telepath-look, namespace: telepath}
rules:
- {apiGroups: [apps], resources: [deployments], verbs: [get]}
- {apiGroups: [""], resources: [pods], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: telepath-look-carol, namespace: telepath}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: telepath-look}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: carol}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: telepath-connect-carol}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: telepath-connect}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: carol}]
`;

/** `telepath` as a user: root in the workstation namespace (so it routes itself), the user's kubeconfig, a daemon of its own. */
function as(user: string, args: string[]): RunResult {
  const env = {
    ...process.env,
    // test/cluster/ws sets KUBECONFIG from KUBECONFIG_WS (the admin's when unset).
    KUBECONFIG_WS: userKubeconfig(user),
    TELEPATH_RUN_DIR: `/run/telepath-user-${user}`,
    TELEPATH_STATE_DIR: path.join(stateDir, `telepath-user-${user}`),
  };
  return ws(['node', telepath, ...args], { env, timeoutMs: 180_000 });
}

const admin = { ...process.env, TELEPATH_RUN_DIR: '/run/telepath-user-admin', TELEPATH_STATE_DIR: path.join(stateDir, 'telepath-user-admin') };

before(() => {
  ensureCluster();
  buildBundles('telepath', 'traffic-manager', 'traffic-agent');
  // The admin installs (or finds) the manager of this build, as on a shared cluster.
  const installed = ws(['node', telepath, 'connect', '--namespace', 'samples'], { env: admin, timeoutMs: 300_000 });
  assert.equal(installed.code, 0, installed.stderr);
  ws(['node', telepath, 'quit'], { env: admin });
  const applied = ws(['kubectl', 'apply', '-f', '-'], { input: connectRole });
  assert.equal(applied.code, 0, applied.stderr);
});

after(() => {
  for (const user of ['alice', 'carol', 'mallory']) {
    as(user, ['quit']);
    rmSync(`/run/telepath-user-${user}`, { recursive: true, force: true });
  }
  rmSync('/run/telepath-user-admin', { recursive: true, force: true });
  ws(['kubectl', 'delete', '--ignore-not-found', '-f', '-'], { input: connectRole });
});

describe('who may connect is what the cluster says', () => {
  test('mallory, with no rights, cannot port-forward to the manager, so cannot connect; told why', () => {
    const pf = ws(['kubectl', '--kubeconfig', userKubeconfig('mallory'), '-n', 'telepath', 'port-forward', 'deployment/traffic-manager', '18081:8081'], { timeoutMs: 30_000 });
    assert.notEqual(pf.code, 0);
    assert.match(pf.stderr, /forbidden/i);
    const r = as('mallory', ['connect', '--namespace', 'samples']);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /forbidden|not allowed|permission/i, r.stderr);
    assert.match(r.stderr, /mallory/, 'the message names who the cluster saw');
  });

  test('carol, who may see the manager but not port-forward to it, cannot connect: the port-forward is the gate', () => {
    const r = as('carol', ['connect', '--namespace', 'samples']);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /portforward/i, r.stderr);
    assert.match(r.stderr, /carol/, 'the message names who the cluster saw');
  });

  test('alice, with the connect role only, connects and reaches a Service through the tunnel', () => {
    const r = as('alice', ['connect', '--namespace', 'samples', '--output', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { state: string }).state, 'connected');
    const curl = ws(['curl', '-sS', '--max-time', '10', 'http://echo.samples:8080/']);
    assert.equal(curl.code, 0, curl.stderr);
    assert.match(curl.stdout, /hello from echo/);
  });

  test('alice may not intercept in samples: the workload is patched with her credentials, and RBAC says no', () => {
    const generation = () => ws(['kubectl', '-n', 'samples', 'get', 'deploy', 'echo', '-o', 'jsonpath={.metadata.generation}']).stdout;
    const before = generation();
    const r = as('alice', ['intercept', 'echo', '--port', '3999', '--mount=false']);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /forbidden|not allowed|permission/i, r.stderr);
    assert.equal(generation(), before, 'the workload is as it was');
    assert.equal(as('alice', ['quit']).code, 0);
  });
});
