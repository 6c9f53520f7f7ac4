/**
 * Real users for the integration tests: the Roles of docs/security.md, as the tests grant them
 * (kept in one place so the tests exercise the very rules the docs tell an admin to write), and
 * `telepath` run as a user with a client certificate of their own (the harness's userKubeconfig).
 */
import path from 'node:path';
import { repoRoot, stateDir, userKubeconfig, ws, type RunResult } from '../cluster/harness.js';

const telepath = path.join(repoRoot, 'dist/telepath.js');

/** `telepath` as a user: root in the workstation namespace (so it routes itself), the user's kubeconfig, a daemon of its own. */
export function asUser(user: string, args: string[]): RunResult {
  const env = {
    ...process.env,
    // test/cluster/ws sets KUBECONFIG from KUBECONFIG_WS (the admin's when unset).
    KUBECONFIG_WS: userKubeconfig(user),
    TELEPATH_RUN_DIR: `/run/telepath-user-${user}`,
    TELEPATH_STATE_DIR: path.join(stateDir, `telepath-user-${user}`),
  };
  return ws(['node', telepath, ...args], { env, timeoutMs: 240_000 });
}

/** The admin's daemon, apart from the users' ones. */
export const adminEnv = { ...process.env, TELEPATH_RUN_DIR: '/run/telepath-user-admin', TELEPATH_STATE_DIR: path.join(stateDir, 'telepath-user-admin') };

/** "May connect": find the manager, port-forward to it, say who holds the session, list namespaces. */
export const CONNECT_ROLE = `
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
- {apiGroups: [telepath.dev], resources: [sessions], verbs: [create]}
`;

/** "May intercept in N" and "may read env and volumes in N": ClusterRoles, bound per namespace. */
export const INTERCEPT_ROLES = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: telepath-intercept}
rules:
- {apiGroups: [telepath.dev], resources: [intercepts], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: telepath-env-volumes}
rules:
- {apiGroups: [telepath.dev], resources: [intercepts/environment, intercepts/volumes], verbs: [get]}
`;

/** Binds the connect roles to `user`. */
export function connectBindings(user: string): string {
  return `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: telepath-connect-${user}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: telepath-connect}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: ${user}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: telepath-connect-${user}, namespace: telepath}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: telepath-connect}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: ${user}}]
`;
}

/** A RoleBinding `name` in `namespace` of ClusterRole `role` to `user`. */
export function roleBinding(name: string, namespace: string, role: string, user: string): string {
  return `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ${name}, namespace: ${namespace}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ${role}}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: ${user}}]
`;
}
