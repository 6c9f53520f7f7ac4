import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Deployment, ReplicaSet } from 'kubernetes-types/apps/v1';
import type { Service } from 'kubernetes-types/core/v1';
import {
  AGENT_BUNDLE_CONFIGMAP,
  AGENT_API_LEVELS_ANNOTATION,
  AGENT_CONFIG_ANNOTATION,
  AGENT_VERSION_ANNOTATION,
  AGENT_INJECT_LABEL,
  AGENT_INJECT_VALUE,
  type WorkloadKind,
} from '../../../protocol/src/agent/agentConfig.js';
import { applyMergePatch } from '../testing/mergePatch.js';
import { allServices, echo, echoService, grpcEcho, grpcEchoService, NAMESPACE } from '../testing/sampleObjects.js';
import type { PodObject, ServiceObject } from './agentObjects.js';
import { agentBundleStillUsed, removeAgent, serviceRestores, templateRemovalPatch, type AgentRemovalIo, type RemovableWorkload } from './agentRemoval.js';
import { servicePatch } from './servicePatches.js';

/** A workload's template as the daemon marks it (agentPlan.ts templatePatch). */
function marked<T extends Deployment | ReplicaSet>(w: T): T {
  return applyMergePatch(w, {
    spec: { template: { metadata: { labels: { [AGENT_INJECT_LABEL]: AGENT_INJECT_VALUE }, annotations: { [AGENT_CONFIG_ANNOTATION]: '{"version":1}' } } } },
  });
}

/** grpc-echo's Service as the daemon left it: its numeric targetPort pointed at the agent. */
const grpcEchoInstalled: Service = applyMergePatch(
  grpcEchoService,
  servicePatch(grpcEchoService, { service: 'grpc-echo', namespace: NAMESPACE, ports: [{ key: 'grpc', from: 50051, to: 'tp-50051' }], annotation: '' }),
);

/** As the API server stores it: an annotations map left empty by a merge patch is no map at all. */
function stored<T>(objects: T[]): T[] {
  return objects.map((o) => {
    const copy = structuredClone(o) as { metadata?: { annotations?: object }; spec?: { template?: { metadata?: { annotations?: object } } } };
    for (const m of [copy.metadata, copy.spec?.template?.metadata]) if (m?.annotations && Object.keys(m.annotations).length === 0) delete m.annotations;
    return copy as T;
  });
}

const removable = (w: Deployment | ReplicaSet): RemovableWorkload => ({ ...w, kind: w.kind as WorkloadKind }) as RemovableWorkload;

/** The API as the removal sees it, over objects in memory; every call is recorded in order. */
class FakeApi implements AgentRemovalIo {
  readonly calls: string[] = [];
  bundle = true;
  constructor(
    public services: Service[],
    public workloads: (Deployment | ReplicaSet)[],
    public pods: (PodObject & { metadata: { name: string } })[] = [],
  ) {}
  listServices(namespace: string): Promise<ServiceObject[]> {
    this.calls.push(`list services ${namespace}`);
    return Promise.resolve(structuredClone(this.services));
  }
  patchService(_namespace: string, name: string, patch: object): Promise<void> {
    this.calls.push(`patch service ${name}`);
    this.services = this.services.map((s) => (s.metadata?.name === name ? applyMergePatch(s, patch) : s));
    return Promise.resolve();
  }
  patchWorkload(ref: { kind: string; name: string }, patch: object): Promise<void> {
    this.calls.push(`patch ${ref.kind} ${ref.name}`);
    this.workloads = this.workloads.map((w) => (w.kind === ref.kind && w.metadata?.name === ref.name ? applyMergePatch(w, patch) : w));
    return Promise.resolve();
  }
  listPods(_namespace: string, selector: string): Promise<PodObject[]> {
    this.calls.push(`list pods ${selector}`);
    return Promise.resolve(this.pods);
  }
  deletePod(_namespace: string, name: string): Promise<void> {
    this.calls.push(`delete pod ${name}`);
    return Promise.resolve();
  }
  listWorkloads(): Promise<RemovableWorkload[]> {
    this.calls.push('list workloads');
    return Promise.resolve(this.workloads.map(removable));
  }
  deleteAgentBundle(): Promise<boolean> {
    this.calls.push('delete bundle');
    const had = this.bundle;
    this.bundle = false;
    return Promise.resolve(had);
  }
}

test('removeAgent restores the workload and its Services exactly, Services first and the ConfigMap last', async () => {
  const api = new FakeApi([echoService, grpcEchoInstalled], [marked(grpcEcho), echo]);
  const done = await removeAgent(removable(marked(grpcEcho)), api);
  assert.deepEqual(stored(api.services), [echoService, grpcEchoService]);
  assert.deepEqual(stored(api.workloads), [grpcEcho, echo]);
  assert.deepEqual(api.calls, [`list services ${NAMESPACE}`, 'patch service grpc-echo', 'patch Deployment grpc-echo', 'list workloads', 'delete bundle']);
  assert.deepEqual(done, [
    'restored Service samples/grpc-echo',
    'removed the traffic-agent from samples/deployment/grpc-echo',
    `removed ConfigMap samples/${AGENT_BUNDLE_CONFIGMAP}`,
  ]);
});

test('the ConfigMap stays while another workload of the namespace is marked; a missing one is not reported', async () => {
  const api = new FakeApi([echoService], [marked(echo), marked(grpcEcho)]);
  assert.deepEqual(await removeAgent(removable(marked(echo)), api), ['removed the traffic-agent from samples/deployment/echo']);
  assert.equal(api.bundle, true);
  api.bundle = false;
  assert.deepEqual(await removeAgent(removable(marked(grpcEcho)), api), ['removed the traffic-agent from samples/deployment/grpc-echo']);
  assert.ok(api.calls.includes('delete bundle'));
});

test('a workload already unmarked only has its Services restored (an interrupted uninstall)', async () => {
  const api = new FakeApi([grpcEchoInstalled], [grpcEcho]);
  assert.deepEqual(await removeAgent(removable(grpcEcho), api), ['restored Service samples/grpc-echo', `removed ConfigMap samples/${AGENT_BUNDLE_CONFIGMAP}`]);
  assert.ok(!api.calls.some((c) => c.startsWith('patch Deployment')));
});

test('proceed() false after the reads changes nothing', async () => {
  const api = new FakeApi([grpcEchoInstalled], [marked(grpcEcho)]);
  let asked = 0;
  const done = await removeAgent(removable(marked(grpcEcho)), api, { proceed: () => (asked++, false) });
  assert.equal(done, undefined);
  assert.equal(asked, 1);
  assert.deepEqual(api.calls, [`list services ${NAMESPACE}`]);
  assert.deepEqual(api.services, [grpcEchoInstalled]);
});

test("a ReplicaSet's pods with the agent are replaced (it does not roll out); unmarked() runs before the ConfigMap goes", async () => {
  const rs: ReplicaSet = {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'solo', namespace: NAMESPACE },
    spec: { selector: { matchLabels: { app: 'solo' } }, template: { metadata: { labels: { app: 'solo' } }, spec: { containers: [{ name: 'app' }] } } },
  };
  const owned = [{ kind: 'ReplicaSet', name: 'solo' }];
  const api = new FakeApi([], [marked(rs)], [
    { metadata: { name: 'solo-a', ownerReferences: owned }, spec: { containers: [{ name: 'app' }, { name: 'telepath-agent' }] } },
    { metadata: { name: 'solo-b', ownerReferences: owned }, spec: { containers: [{ name: 'app' }] } },
    { metadata: { name: 'solo-c', ownerReferences: owned, deletionTimestamp: '2025-01-01T00:00:00Z' }, spec: { containers: [{ name: 'app' }, { name: 'telepath-agent' }] } },
    { metadata: { name: 'other', ownerReferences: [{ kind: 'ReplicaSet', name: 'x' }] }, spec: { containers: [{ name: 'telepath-agent' }] } },
  ]);
  await removeAgent(removable(marked(rs)), api, { unmarked: () => (api.calls.push('unmarked'), Promise.resolve()) });
  assert.deepEqual(api.calls, [`list services ${NAMESPACE}`, 'patch ReplicaSet solo', 'list pods app=solo', 'delete pod solo-a', 'unmarked', 'list workloads', 'delete bundle']);
  assert.deepEqual(stored(api.workloads), [rs]);
});

test('the pure parts: which Services, which template patch, whether the ConfigMap is still used', () => {
  assert.deepEqual(serviceRestores(grpcEcho, [...allServices.filter((s) => s.metadata?.name !== 'grpc-echo'), grpcEchoInstalled]).map((r) => r.name), ['grpc-echo']);
  assert.deepEqual(serviceRestores(echo, allServices), []);
  assert.deepEqual(templateRemovalPatch(), {
    spec: {
      template: {
        metadata: {
          labels: { [AGENT_INJECT_LABEL]: null },
          annotations: { [AGENT_CONFIG_ANNOTATION]: null, [AGENT_VERSION_ANNOTATION]: null, [AGENT_API_LEVELS_ANNOTATION]: null },
        },
      },
    },
  });
  const ref = { namespace: NAMESPACE, kind: 'Deployment' as const, name: 'echo' };
  assert.equal(agentBundleStillUsed(ref, [removable(marked(echo)), removable(grpcEcho)]), false);
  assert.equal(agentBundleStillUsed(ref, [removable(marked(echo)), removable(marked(grpcEcho))]), true);
  // A StatefulSet of the same name is another workload.
  assert.equal(agentBundleStillUsed(ref, [{ ...removable(marked(echo)), kind: 'StatefulSet' }]), true);
});
