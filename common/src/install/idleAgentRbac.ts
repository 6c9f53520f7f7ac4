/**
 * The rights the traffic-manager needs to remove idle agents (TELEPATH_AGENT_IDLE_TIMEOUT), as a
 * ClusterRole and its binding to the manager's ServiceAccount. Not part of managerManifests: they
 * let the manager change every workload in the cluster, which nothing else of Telepath needs (a
 * developer changes workloads with their own credentials), so an admin grants them on purpose,
 * with the YAML of docs/security.md ("Idle agents"), which is this function's output. The manager
 * asks the API server for each of them (SelfSubjectAccessReview) before it removes anything.
 */
import type { ResourceAttributes } from 'kubernetes-types/authorization/v1';
import type { ClusterRole, ClusterRoleBinding, PolicyRule } from 'kubernetes-types/rbac/v1';
import { AGENT_BUNDLE_CONFIGMAP } from '../../../protocol/src/agent/agentConfig.js';
import { MANAGER_NAME } from './managerManifests.js';

export function idleAgentRoleName(namespace: string): string {
  return `${namespace}-${MANAGER_NAME}-idle-agents`;
}

/** What a removal reads and writes (common/src/agents/agentRemoval.ts), in every namespace. */
export const IDLE_AGENT_RULES: readonly PolicyRule[] = [
  // The marked workloads (found when the manager starts), the one to restore, and whether another
  // of its namespace still uses the agent's ConfigMap; the template mark is removed with a patch.
  { apiGroups: ['apps'], resources: ['deployments', 'statefulsets', 'replicasets'], verbs: ['get', 'list', 'patch'] },
  // Services whose numeric targetPort was pointed at the agent get their number back.
  { apiGroups: [''], resources: ['services'], verbs: ['list', 'patch'] },
  // The agent's code, once no workload of the namespace is marked; that ConfigMap only.
  { apiGroups: [''], resources: ['configmaps'], resourceNames: [AGENT_BUNDLE_CONFIGMAP], verbs: ['delete'] },
  // A ReplicaSet does not roll out a template change: its pods with the agent are deleted.
  { apiGroups: [''], resources: ['pods'], verbs: ['list', 'delete'] },
];

export function idleAgentRbac(namespace: string): [ClusterRole, ClusterRoleBinding] {
  const name = idleAgentRoleName(namespace);
  const labels = { 'app.kubernetes.io/name': MANAGER_NAME, 'app.kubernetes.io/part-of': 'telepath' };
  return [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name, labels }, rules: IDLE_AGENT_RULES.map((r) => ({ ...r })) },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name: MANAGER_NAME, namespace }],
    },
  ];
}

/** Every right of IDLE_AGENT_RULES, one per verb, resource and name, as a SelfSubjectAccessReview asks it (all namespaces). */
export function idleAgentRights(): ResourceAttributes[] {
  return IDLE_AGENT_RULES.flatMap((rule) =>
    (rule.apiGroups ?? ['']).flatMap((group) =>
      (rule.resources ?? []).flatMap((resource) =>
        rule.verbs.flatMap((verb) => (rule.resourceNames ?? ['']).map((name) => ({ group, resource, verb, ...(name ? { name } : {}) }))),
      ),
    ),
  );
}

/** A right as RBAC spells it: `patch deployments.apps`, `delete configmaps/telepath-agent`. */
export function describeAccess(a: ResourceAttributes): string {
  return `${a.verb} ${a.resource}${a.group ? `.${a.group}` : ''}${a.name ? `/${a.name}` : ''}`;
}
