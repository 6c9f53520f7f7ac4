import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeAccess, idleAgentRbac, idleAgentRights, idleAgentRoleName } from './idleAgentRbac.js';
import { clusterRoleName } from './managerManifests.js';

test("the idle-agent ClusterRole is bound to the manager's ServiceAccount of its install, under a name of that install", () => {
  const [role, binding] = idleAgentRbac('tp');
  assert.equal(role.metadata?.name, 'tp-traffic-manager-idle-agents');
  assert.equal(idleAgentRoleName('tp'), role.metadata?.name);
  assert.notEqual(role.metadata?.name, clusterRoleName('tp'), 'not the ClusterRole that telepath connect applies');
  assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'tp-traffic-manager-idle-agents' });
  assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'traffic-manager', namespace: 'tp' }]);
});

test('the rights the manager asks for are exactly those the ClusterRole grants, one review each', () => {
  assert.deepEqual(idleAgentRights().map(describeAccess), [
    'get deployments.apps',
    'list deployments.apps',
    'patch deployments.apps',
    'get statefulsets.apps',
    'list statefulsets.apps',
    'patch statefulsets.apps',
    'get replicasets.apps',
    'list replicasets.apps',
    'patch replicasets.apps',
    'list services',
    'patch services',
    'delete configmaps/telepath-agent',
    'list pods',
    'delete pods',
  ]);
  assert.deepEqual(idleAgentRights().find((a) => a.resource === 'configmaps'), { group: '', resource: 'configmaps', verb: 'delete', name: 'telepath-agent' });
});
