import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AGENT_CONFIG_ANNOTATION, AGENT_INJECT_LABEL, AGENT_INJECT_VALUE } from '../../../../protocol/src/agent/agentConfig.js';
import { agentAnnotations, agentOf, agentRollReason, chooseAgent, sameAgent, type AgentBuild } from './agentVersion.js';

const ours: AgentBuild = { version: '0.2.0', api: { level: 2, min: 1 } };
const marked = (agent?: AgentBuild) => ({
  labels: { [AGENT_INJECT_LABEL]: AGENT_INJECT_VALUE },
  annotations: { [AGENT_CONFIG_ANNOTATION]: '{}', ...(agent ? agentAnnotations(agent) : {}) },
});

test('agentOf: the agent a template names; one marked before 0.2.0 is level 1; an unmarked one has none', () => {
  assert.deepEqual(agentOf(marked(ours)), ours);
  assert.deepEqual(agentOf(marked()), { version: '', api: { level: 1, min: 1 } });
  assert.equal(agentOf({ labels: {}, annotations: agentAnnotations(ours) }), undefined);
  assert.equal(agentOf(undefined), undefined);
});

test('agentRollReason: an agent within the manager range keeps working, also an older one', () => {
  assert.equal(agentRollReason(marked(ours), { version: '0.2.0', api: ours.api }), '');
  assert.equal(agentRollReason(marked(), { version: '0.2.0', api: ours.api }), '', 'a 0.1.x agent is within 1-2');
  assert.equal(agentRollReason(marked(ours), { version: '0.3.0', api: { level: 3, min: 2 } }), '');
  assert.equal(agentRollReason(undefined, { version: '0.9.0', api: { level: 9, min: 9 } }), '', 'nothing to roll without an agent');
});

test('agentRollReason: an agent outside the manager range is rolled, and the reason names both', () => {
  assert.equal(
    agentRollReason(marked(), { version: '0.4.0', api: { level: 4, min: 2 } }),
    'its traffic-agent (before 0.2.0) speaks API levels 1-1, which the traffic-manager 0.4.0 (2-4) no longer serves',
  );
  assert.match(agentRollReason(marked(ours), { version: '0.5.0', api: { level: 5, min: 3 } }), /traffic-agent 0\.2\.0 speaks API levels 1-2/);
});

test('sameAgent: a pod runs the agent its template names (both unnamed is the same)', () => {
  assert.equal(sameAgent(marked(ours), marked(ours)), true);
  assert.equal(sameAgent(marked(), marked()), true);
  assert.equal(sameAgent(marked(), marked(ours)), false, 'a pod from before the roll');
  assert.equal(sameAgent(marked({ ...ours, version: '0.2.1' }), marked(ours)), false);
});

test('chooseAgent: never replace a newer agent in the ConfigMap that the manager serves', () => {
  const manager = { level: 3, min: 1 };
  assert.equal(chooseAgent(undefined, ours, manager), 'ours');
  assert.equal(chooseAgent({ version: '0.1.0', api: { level: 1, min: 1 } }, ours, manager), 'ours');
  assert.equal(chooseAgent({ version: '0.2.0', api: ours.api }, ours, manager), 'ours', 'the same release: a development build replaces it');
  assert.equal(chooseAgent({ version: '0.3.0', api: { level: 3, min: 1 } }, ours, manager), 'theirs');
  assert.equal(chooseAgent({ version: '0.3.0', api: { level: 3, min: 3 } }, ours, { level: 2, min: 1 }), 'ours', 'not one the manager refuses');
  assert.equal(chooseAgent({ version: '', api: { level: 1, min: 1 } }, ours, manager), 'ours');
});
