/**
 * Idle agents (issue #16): with TELEPATH_AGENT_IDLE_TIMEOUT set on the manager and the ClusterRole
 * of docs/security.md applied, the manager removes the agent of a workload that had no intercept
 * for that long and restores the workload and its Services exactly (grpc-echo: its Service has a
 * numeric targetPort that the agent re-pointed). A workload whose intercept is held keeps its
 * agent. Without the ClusterRole nothing is removed and the manager says which rights it lacks.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { idleAgentRbac } from '../../common/src/install/idleAgentRbac.js';
import { AGENT_CONTAINER_NAME } from '../../protocol/src/agent/agentConfig.js';
import { buildBundles, ensureCluster, kubectl, kubectlJson, repoRoot, specsOf, stateDir, until, ws, type RunResult } from '../cluster/harness.js';

const telepath = path.join(repoRoot, 'dist/telepath.js');
const env = { ...process.env, TELEPATH_RUN_DIR: '/run/telepath-e2e-idle', TELEPATH_STATE_DIR: path.join(stateDir, 'telepath-e2e-idle') };
const tp = (args: string[]): RunResult => ws(['node', '--', telepath, ...args], { env, timeoutMs: 240_000 });
const rbac = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: idleAgentRbac('telepath') });

/** grpc-echo's Deployment and Service, as a user would compare them. */
function grpcEcho(): Record<string, unknown> {
  return specsOf('samples', 'deployment/grpc-echo', 'service/grpc-echo');
}

function agentPods(app: string): number {
  const pods = kubectlJson<{ items: { metadata: { deletionTimestamp?: string }; spec: { containers: { name: string }[] } }[] }>(
    '-n',
    'samples',
    'get',
    'pods',
    '-l',
    `app=${app}`,
  ).items;
  return pods.filter((p) => !p.metadata.deletionTimestamp && p.spec.containers.some((c) => c.name === AGENT_CONTAINER_NAME)).length;
}

function setIdleTimeout(value: string | undefined): void {
  kubectl('-n', 'telepath', 'set', 'env', 'deployment/traffic-manager', value === undefined ? 'TELEPATH_AGENT_IDLE_TIMEOUT-' : `TELEPATH_AGENT_IDLE_TIMEOUT=${value}`);
  kubectl('-n', 'telepath', 'rollout', 'status', 'deployment/traffic-manager', '--timeout=120s');
}

function managerLog(): string {
  return ws(['kubectl', '-n', 'telepath', 'logs', 'deployment/traffic-manager']).stdout;
}

let before0: Record<string, unknown>;

before(() => {
  ensureCluster();
  buildBundles('telepath', 'traffic-manager', 'traffic-agent');
  tp(['uninstall', '--agent', 'grpc-echo', '--namespace', 'samples']);
  before0 = grpcEcho();
});

after(() => {
  setIdleTimeout(undefined);
  ws(['kubectl', 'delete', '--ignore-not-found', '-f', '-'], { input: rbac });
  tp(['leave', 'echo']);
  tp(['uninstall', '--agent', 'echo', '--namespace', 'samples']);
  tp(['uninstall', '--agent', 'grpc-echo', '--namespace', 'samples']);
  tp(['quit']);
});

describe('idle agents', () => {
  test('without the ClusterRole the manager removes nothing and names the rights it lacks', async () => {
    const c = tp(['connect', '--namespace', 'samples']);
    assert.equal(c.code, 0, c.stderr);
    const i = tp(['intercept', 'grpc-echo', '--port', '18161', '--mount=false']);
    assert.equal(i.code, 0, i.stderr);
    assert.equal(tp(['leave', 'grpc-echo']).code, 0);
    setIdleTimeout('10s');
    await until('the manager to say what it lacks', 60_000, () => /TELEPATH_AGENT_IDLE_TIMEOUT is set, but the traffic-manager may not/.test(managerLog()));
    await new Promise((r) => setTimeout(r, 15_000));
    assert.ok(agentPods('grpc-echo') > 0, 'the agent is still there');
  });

  test("with it, an idle workload's agent is removed and the workload and Service restored exactly; a held intercept keeps its agent", async () => {
    const r = ws(['kubectl', 'apply', '-f', '-'], { input: rbac });
    assert.equal(r.code, 0, r.stderr);
    const held = tp(['intercept', 'echo', '--port', '18162', '--http-header', 'x-idle=held', '--mount=false']);
    assert.equal(held.code, 0, held.stderr);
    // A new manager pod starts the idle clocks afresh (and asks for its rights again).
    setIdleTimeout('20s');
    const t0 = Date.now();
    await until('the idle agent to be removed', 120_000, () => /removed an idle traffic-agent/.test(managerLog()) && agentPods('grpc-echo') === 0);
    process.stdout.write(`# grpc-echo's agent removed ${Date.now() - t0} ms after the manager started with a 20 s idle timeout\n`);
    kubectl('-n', 'samples', 'rollout', 'status', 'deployment/grpc-echo', '--timeout=120s');
    assert.deepEqual(grpcEcho(), before0, "grpc-echo's Deployment and Service are as before the first intercept");
    assert.ok(agentPods('echo') > 0, 'echo, whose intercept is held, keeps its agent');
    // The daemon's intercept of echo came back on the new manager.
    const list = tp(['status', '--output', 'json']);
    assert.match(list.stdout, /"echo"/);
    // Intercepting the idle workload again puts the agent back.
    const again = tp(['intercept', 'grpc-echo', '--port', '18161', '--mount=false']);
    assert.equal(again.code, 0, again.stderr);
    assert.ok(agentPods('grpc-echo') > 0);
    assert.equal(tp(['leave', 'grpc-echo']).code, 0);
  });
});
