/**
 * Who may connect is decided by the cluster (issue #14): the manager's client API is served only
 * on its pod's loopback, so a daemon reaches it only through the API server's port-forward, which
 * RBAC allows or not. Real users with their own client certificates (test/cluster harness's
 * userKubeconfig, signed by the cluster's CA): mallory has no rights at all; carol may see the
 * manager but not port-forward to it; dave may port-forward but not write the Session object that
 * tells the manager who he is; alice has exactly the role docs/security.md gives for "may connect"
 * (telepath-connect, test/integration/roles.ts) and nothing in samples.
 * The manager is installed by an admin first, as on a shared cluster.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildBundles, ensureCluster, repoRoot, stateDir, userKubeconfig, ws } from '../cluster/harness.js';
import { adminEnv, asUser, CONNECT_ROLE, connectBindings } from './users.js';

const telepath = path.join(repoRoot, 'dist/telepath.js');

/** The role "may connect" for alice; carol may look at the manager but not port-forward to it. */
const connectRole = `${CONNECT_ROLE}---${connectBindings('alice')}---
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
---
# dave may port-forward to the manager but not write a Session object.
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: telepath-forward-only, namespace: telepath}
rules:
- {apiGroups: [apps], resources: [deployments], verbs: [get]}
- {apiGroups: [""], resources: [pods], verbs: [get, list, watch]}
- {apiGroups: [""], resources: [pods/portforward], verbs: [get, create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: telepath-forward-only-dave, namespace: telepath}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: telepath-forward-only}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: dave}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: telepath-connect-dave}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: telepath-connect}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: dave}]
`;

before(() => {
  ensureCluster();
  buildBundles('telepath', 'traffic-manager', 'traffic-agent');
  // The admin installs (or finds) the manager of this build, as on a shared cluster.
  const installed = ws(['node', telepath, 'connect', '--namespace', 'samples'], { env: adminEnv, timeoutMs: 300_000 });
  assert.equal(installed.code, 0, installed.stderr);
  ws(['node', telepath, 'quit'], { env: adminEnv });
  const applied = ws(['kubectl', 'apply', '-f', '-'], { input: connectRole });
  assert.equal(applied.code, 0, applied.stderr);
});

after(() => {
  for (const user of ['alice', 'carol', 'dave', 'mallory']) {
    asUser(user, ['quit']);
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
    const r = asUser('mallory', ['connect', '--namespace', 'samples']);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /forbidden|not allowed|permission/i, r.stderr);
    assert.match(r.stderr, /mallory/, 'the message names who the cluster saw');
  });

  test('carol, who may see the manager but not port-forward to it, cannot connect: the port-forward is the gate', () => {
    const r = asUser('carol', ['connect', '--namespace', 'samples']);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /portforward/i, r.stderr);
    assert.match(r.stderr, /carol/, 'the message names who the cluster saw');
  });

  test('dave, who may port-forward but not write a Session object, cannot connect: the manager would not know who he is', () => {
    const r = asUser('dave', ['connect', '--namespace', 'samples']);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /does not let dave create sessions\.telepath\.dev in namespace telepath.*"may connect" role/, r.stderr);
  });

  test('alice, with the connect role only, connects and reaches a Service through the tunnel', () => {
    const r = asUser('alice', ['connect', '--namespace', 'samples', '--output', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { state: string }).state, 'connected');
    const curl = ws(['curl', '-sS', '--max-time', '10', 'http://echo.samples:8080/']);
    assert.equal(curl.code, 0, curl.stderr);
    assert.match(curl.stdout, /hello from echo/);
  });

  test('a user whose kubeconfig runs an exec plugin (as on EKS, GKE, AKS) connects; the manager knows her as the API server does', () => {
    // The plugin hands out a bearer token of a ServiceAccount with the connect role, the way
    // cloud plugins hand out theirs; its identity carries groups and extra that the Session must match.
    const sa = `
apiVersion: v1
kind: ServiceAccount
metadata: {name: tp-exec-user, namespace: telepath}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: telepath-connect-exec, namespace: telepath}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: telepath-connect}
subjects: [{kind: ServiceAccount, name: tp-exec-user, namespace: telepath}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: telepath-connect-exec}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: telepath-connect}
subjects: [{kind: ServiceAccount, name: tp-exec-user, namespace: telepath}]
`;
    assert.equal(ws(['kubectl', 'apply', '-f', '-'], { input: sa }).code, 0);
    // One root daemon in the workstation at a time: they would route and resolve over each other.
    asUser('alice', ['quit']);
    const dir = path.join(stateDir, 'users', 'exec-plugin');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    try {
      const token = ws(['kubectl', '-n', 'telepath', 'create', 'token', 'tp-exec-user']).stdout.trim();
      const credential = path.join(dir, 'credential.json');
      writeFileSync(credential, JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token } }), { mode: 0o600 });
      const ca = /certificate-authority-data: (\S+)/.exec(readFileSync(path.join(stateDir, 'kubeconfig'), 'utf8'))![1];
      const kubeconfig = path.join(dir, 'kubeconfig');
      writeFileSync(
        kubeconfig,
        `apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "https://10.250.0.1:6443", certificate-authority-data: ${ca}}}]
users: [{name: plugin, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/cat, args: [${credential}], interactiveMode: Never}}}]
contexts: [{name: plugin, context: {cluster: local, user: plugin, namespace: samples}}]
current-context: plugin
`,
        { mode: 0o600 },
      );
      const env = { ...process.env, KUBECONFIG_WS: kubeconfig, TELEPATH_RUN_DIR: '/run/telepath-user-exec', TELEPATH_STATE_DIR: path.join(dir, 'state') };
      const r = ws(['node', telepath, 'connect', '--namespace', 'samples', '--output', 'json'], { env, timeoutMs: 180_000 });
      assert.equal(r.code, 0, r.stderr);
      const users = ws(['kubectl', '-n', 'telepath', 'get', 'sessions.telepath.dev', '-o', 'jsonpath={.items[*].spec.user.username}']).stdout;
      assert.match(users, /system:serviceaccount:telepath:tp-exec-user/);
      ws(['node', telepath, 'quit'], { env });
    } finally {
      ws(['kubectl', 'delete', '--ignore-not-found', '-f', '-'], { input: sa });
      rmSync(dir, { recursive: true, force: true });
      rmSync('/run/telepath-user-exec', { recursive: true, force: true });
    }
  });

  test('alice may not intercept in samples: told so before her daemon touches the workload', () => {
    const generation = () => ws(['kubectl', '-n', 'samples', 'get', 'deploy', 'echo', '-o', 'jsonpath={.metadata.generation}']).stdout;
    const before = generation();
    const r = asUser('alice', ['intercept', 'echo', '--namespace', 'samples', '--port', '3999', '--mount=false']);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /does not let .* create intercepts\.telepath\.dev in namespace samples.*"may intercept" role/, r.stderr);
    assert.equal(generation(), before, 'the workload is as it was');
    assert.equal(asUser('alice', ['quit']).code, 0);
  });
});
