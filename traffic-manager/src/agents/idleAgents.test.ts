/**
 * The manager's removal of idle agents against its test fakes: the API server in memory
 * (testing/inMemoryKube.ts) behind the real KubeAgentRemoval, the real InterceptRegistry, a clock
 * the test moves; and the refusal of a new intercept through the real gRPC service (managerHarness).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { status } from '@grpc/grpc-js';
import type { Deployment } from 'kubernetes-types/apps/v1';
import type { ConfigMap, Service } from 'kubernetes-types/core/v1';
import type { ResourceAttributes } from 'kubernetes-types/authorization/v1';
import { AGENT_BUNDLE_CONFIGMAP, AGENT_CONFIG_ANNOTATION, AGENT_INJECT_LABEL, AGENT_INJECT_VALUE } from '../../../protocol/src/agent/agentConfig.js';
import type { InterceptSpec } from '../../../protocol/src/gen/telepath/manager/v1/manager.js';
import { servicePatch } from '../../../common/src/agents/servicePatches.js';
import { jsonLogger, silentLogger } from '../../../common/src/log/jsonLogger.js';
import { applyMergePatch } from '../../../common/src/testing/mergePatch.js';
import { testSpec } from '../../../common/src/testing/interceptSpecs.js';
import { echo, echoService, grpcEcho, grpcEchoService, NAMESPACE } from '../../../common/src/testing/sampleObjects.js';
import { InterceptRegistry } from '../intercepts/interceptRegistry.js';
import { KubeApiError } from '../kube/kubeClient.js';
import { SessionRegistry } from '../sessions.js';
import { InMemoryKube } from '../testing/inMemoryKube.js';
import { ManualClock, startTestManager, unary, type TestManager } from '../testing/managerHarness.js';
import { IdleAgents } from './idleAgents.js';
import { KubeAgentRemoval } from './kubeAgentRemoval.js';

const MIN = 60_000;
const DEPLOYMENTS = `/apis/apps/v1/namespaces/${NAMESPACE}/deployments`;
const SERVICES = `/api/v1/namespaces/${NAMESPACE}/services`;
const BUNDLE = `/api/v1/namespaces/${NAMESPACE}/configmaps/${AGENT_BUNDLE_CONFIGMAP}`;

function marked(d: Deployment): Deployment {
  return applyMergePatch(d, {
    spec: { template: { metadata: { labels: { [AGENT_INJECT_LABEL]: AGENT_INJECT_VALUE }, annotations: { [AGENT_CONFIG_ANNOTATION]: '{"version":1}' } } } },
  });
}

/** The samples as the daemon leaves them after intercepting grpc-echo: marked, its Service re-pointed, the agent's ConfigMap there. */
function installedCluster(): InMemoryKube {
  const kube = new InMemoryKube();
  kube.put(`${DEPLOYMENTS}/grpc-echo`, marked(grpcEcho));
  kube.put(`${DEPLOYMENTS}/echo`, echo);
  kube.put(`${SERVICES}/echo`, echoService);
  kube.put(
    `${SERVICES}/grpc-echo`,
    applyMergePatch(
      grpcEchoService,
      servicePatch(grpcEchoService, { service: 'grpc-echo', namespace: NAMESPACE, ports: [{ key: 'grpc', from: 50051, to: 'tp-50051' }], annotation: '' }),
    ),
  );
  kube.put<ConfigMap>(BUNDLE, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: AGENT_BUNDLE_CONFIGMAP, namespace: NAMESPACE } });
  return kube;
}

/** What restoring must give back: the spec, labels and annotations the objects had before the agent. */
function shape(o: { metadata?: { labels?: object; annotations?: object }; spec?: unknown } | undefined): unknown {
  const empty = (m: object | undefined) => (m && Object.keys(m).length ? m : undefined);
  const spec = structuredClone(o?.spec) as { template?: { metadata?: { annotations?: object } } } | undefined;
  if (spec?.template?.metadata) spec.template.metadata.annotations = empty(spec.template.metadata.annotations);
  return { labels: empty(o?.metadata?.labels), annotations: empty(o?.metadata?.annotations), spec };
}

const grpcEchoRef = { namespace: NAMESPACE, kind: 'Deployment' as const, name: 'grpc-echo' };
const grpcEchoSpec = (extra: Partial<InterceptSpec> = {}): InterceptSpec => testSpec({ name: 'grpc', workloadName: 'grpc-echo', ...extra });

interface Setup {
  kube: InMemoryKube;
  clock: ManualClock;
  intercepts: InterceptRegistry;
  sessions: SessionRegistry;
  idle: IdleAgents;
  asked: ResourceAttributes[];
  lines: { level: string; msg: string; [k: string]: unknown }[];
  allowed: (a: ResourceAttributes) => boolean;
}

function setup(kube = installedCluster()): Setup {
  const clock = new ManualClock();
  const intercepts = new InterceptRegistry(silentLogger);
  const sessions = new SessionRegistry({ ttlMs: 24 * 60 * MIN, clock, logger: silentLogger });
  const s = { kube, clock, intercepts, sessions, asked: [] as ResourceAttributes[], lines: [] as Setup['lines'], allowed: (_a: ResourceAttributes) => true } as Setup;
  s.idle = new IdleAgents({
    timeoutMs: 30 * MIN,
    intercepts,
    api: new KubeAgentRemoval(kube),
    mayI: (a) => {
      s.asked.push(a);
      return Promise.resolve(s.allowed(a));
    },
    namespace: 'telepath',
    logger: jsonLogger({ level: 'debug', write: (l) => void s.lines.push(JSON.parse(l) as Setup['lines'][number]) }),
    clock,
  });
  return s;
}

/** Started, the marked workloads found, and the timeout passed since. */
async function idleSinceStart(): Promise<Setup> {
  const s = setup();
  await s.idle.check();
  s.clock.advance(30 * MIN);
  return s;
}

function holder(s: Setup) {
  return s.sessions.arrive({ name: 'alice@laptop', installId: 'i', namespace: NAMESPACE, version: '1' });
}

test('a marked workload with no intercept is restored exactly a timeout after the manager started, not at once', async () => {
  const s = setup();
  const before = { workload: s.kube.get<Deployment>(`${DEPLOYMENTS}/grpc-echo`), service: s.kube.get<Service>(`${SERVICES}/grpc-echo`) };
  assert.deepEqual(await s.idle.check(), [], 'just started: its agents may not have come back yet');
  assert.ok(s.kube.calls.some((c) => c.path === '/apis/apps/v1/deployments'), 'the marked workloads of every namespace were listed');
  assert.deepEqual(s.kube.writes(), []);
  s.clock.advance(30 * MIN - 1);
  assert.deepEqual(await s.idle.check(), []);
  s.clock.advance(1);
  assert.deepEqual(await s.idle.check(), [grpcEchoRef]);

  assert.deepEqual(shape(s.kube.get(`${DEPLOYMENTS}/grpc-echo`)), shape(grpcEcho));
  assert.deepEqual(shape(s.kube.get(`${SERVICES}/grpc-echo`)), shape(grpcEchoService));
  assert.notDeepEqual(shape(before.workload), shape(grpcEcho), 'it was marked before');
  assert.notDeepEqual(shape(before.service), shape(grpcEchoService), 'it was re-pointed before');
  assert.equal(s.kube.get(BUNDLE), undefined, 'no workload of the namespace uses the ConfigMap any more');
  assert.deepEqual(
    s.kube.writes().map((c) => [c.method, c.path, c.patchType, c.query?.fieldManager]),
    [
      ['PATCH', `${SERVICES}/grpc-echo`, 'merge', 'telepath-traffic-manager'],
      ['PATCH', `${DEPLOYMENTS}/grpc-echo`, 'merge', 'telepath-traffic-manager'],
      ['DELETE', BUNDLE, undefined, undefined],
    ],
  );
  assert.ok(s.lines.some((l) => l.msg === 'removed an idle traffic-agent' && l.workload === 'deployment/grpc-echo in namespace samples'));
  assert.deepEqual(await s.idle.check(), [], 'removed once');
});

test('no removal while an intercept exists; the clock starts again when the last one ends', async () => {
  const s = setup();
  await s.idle.check();
  const alice = holder(s);
  s.intercepts.create(alice, grpcEchoSpec());
  s.clock.advance(5 * 60 * MIN);
  assert.deepEqual(await s.idle.check(), []);
  s.intercepts.remove(alice, 'grpc');
  s.clock.advance(30 * MIN - 1);
  assert.deepEqual(await s.idle.check(), []);
  assert.deepEqual(s.kube.writes(), []);
  s.clock.advance(1);
  assert.deepEqual(await s.idle.check(), [grpcEchoRef]);
});

test('an intercept created while the removal reads the cluster stops it before anything changes', async () => {
  const s = await idleSinceStart();
  s.kube.beforeRequest = (call) => {
    // The Services are the last read before the first write.
    if (call.path === SERVICES && s.intercepts.all().length === 0) s.intercepts.create(holder(s), grpcEchoSpec());
  };
  assert.deepEqual(await s.idle.check(), []);
  assert.deepEqual(s.kube.writes(), []);
  assert.ok(s.lines.some((l) => l.msg === 'an intercept came just before an idle agent was removed; it stays'));
});

test("an agent's arrival starts the clock of a workload the manager did not find marked; more arrivals do not restart it", async () => {
  const s = setup(new InMemoryKube());
  await s.idle.check();
  const agent = s.sessions.arrive({ name: 'agent', installId: 'agent/samples/grpc-echo-1', namespace: NAMESPACE, version: '1' }, 'agent');
  s.intercepts.addAgent(agent, { ...agentInfo('grpc-echo-1') });
  s.clock.advance(20 * MIN);
  s.intercepts.addAgent(agent, { ...agentInfo('grpc-echo-2') });
  s.clock.advance(10 * MIN);
  assert.deepEqual(s.idle.tracker.idle(), [grpcEchoRef]);
  // Its workload is gone from the cluster meanwhile: nothing to restore, it is forgotten.
  assert.deepEqual(await s.idle.check(), []);
  assert.deepEqual(s.kube.writes(), []);
  assert.equal(s.idle.tracker.size, 0);
});

test('a workload whose mark someone else removed (uninstall --agent) is forgotten, not touched', async () => {
  const s = setup();
  await s.idle.check();
  s.kube.put(`${DEPLOYMENTS}/grpc-echo`, grpcEcho);
  s.clock.advance(30 * MIN);
  assert.deepEqual(await s.idle.check(), []);
  assert.deepEqual(s.kube.writes().filter((c) => c.path !== `${DEPLOYMENTS}/grpc-echo`), []);
  assert.equal(s.idle.tracker.size, 0);
});

test('without the rights it says which are missing and the ClusterRole to grant, once, removes nothing, and asks again a minute later', async () => {
  const s = setup();
  s.allowed = (a) => !(a.verb === 'patch' && a.resource === 'deployments') && a.resource !== 'pods';
  assert.deepEqual(await s.idle.check(), []);
  assert.deepEqual(s.kube.calls, [], 'not even a list');
  const warnings = () => s.lines.filter((l) => l.level === 'warn').map((l) => l.msg);
  assert.deepEqual(warnings(), [
    'TELEPATH_AGENT_IDLE_TIMEOUT is set, but the traffic-manager may not patch deployments.apps, list pods, delete pods in every namespace; ' +
      'no idle agent is removed until a cluster admin grants the ClusterRole telepath-traffic-manager-idle-agents of docs/security.md ("Idle agents")',
  ]);
  const asked = s.asked.length;
  s.clock.advance(30 * MIN - 1);
  await s.idle.check();
  s.clock.advance(1);
  await s.idle.check();
  assert.ok(s.asked.length > asked, 'asked again');
  assert.equal(warnings().length, 1, 'said once');
  assert.deepEqual(s.kube.writes(), []);
  // Granted: the clock starts now, with the marked workloads found.
  s.allowed = () => true;
  s.clock.advance(60_000);
  assert.deepEqual(await s.idle.check(), []);
  assert.ok(s.lines.some((l) => l.msg === 'the traffic-manager has the rights to remove idle agents'));
  s.clock.advance(30 * MIN);
  assert.deepEqual(await s.idle.check(), [grpcEchoRef]);
});

test('a refusal of the API server on the way stops the round, is logged, and the rights are asked for again', async () => {
  const s = await idleSinceStart();
  s.kube.beforeRequest = (call) => {
    if (call.method === 'PATCH' && call.path.startsWith(DEPLOYMENTS)) throw new KubeApiError(403, 'Forbidden', 'deployments.apps "grpc-echo" is forbidden');
  };
  const asked = s.asked.length;
  assert.deepEqual(await s.idle.check(), []);
  assert.ok(s.lines.some((l) => l.level === 'warn' && l.msg === 'removing the idle agent of deployment/grpc-echo in namespace samples failed; trying again later'));
  s.kube.beforeRequest = undefined;
  assert.deepEqual(await s.idle.check(), [grpcEchoRef], 'the next round finishes it');
  assert.ok(s.asked.length > asked, 'the rights were asked for again');
  assert.deepEqual(shape(s.kube.get(`${DEPLOYMENTS}/grpc-echo`)), shape(grpcEcho));
  assert.deepEqual(shape(s.kube.get(`${SERVICES}/grpc-echo`)), shape(grpcEchoService));
});

function agentInfo(podName: string) {
  return {
    namespace: NAMESPACE,
    workloadKind: 'Deployment',
    workloadName: 'grpc-echo',
    podName,
    podIp: new Uint8Array([10, 244, 0, 9]),
    container: 'app',
    ports: [],
    environment: {},
    version: '1',
    sftpPort: 0,
    environmentWithheld: '',
    apiLevel: 0,
    minApiLevel: 0,
  };
}

let m: TestManager;
let idle: IdleAgents;
let kube: InMemoryKube;
const clock = new ManualClock();

before(async () => {
  kube = installedCluster();
  m = await startTestManager({ interceptRefusal: (spec) => idle.refusal(spec) });
  idle = new IdleAgents({ timeoutMs: 30 * MIN, intercepts: m.intercepts, api: new KubeAgentRemoval(kube), mayI: () => Promise.resolve(true), namespace: 'telepath', logger: silentLogger, clock });
});

after(async () => {
  idle.stop();
  await m.close();
});

test('through the Manager service: an intercept right after the removal is refused until the webhook injects the agent again', async () => {
  const sessionId = await m.arrive();
  const session = { sessionId };
  await m.arriveAgent('grpc-echo-1', { ...agentInfo('grpc-echo-1') });
  await unary((cb) => m.client.createIntercept({ session, spec: grpcEchoSpec() }, cb));
  await unary((cb) => m.client.removeIntercept({ session, name: 'grpc' }, cb));
  clock.advance(30 * MIN);
  assert.deepEqual(await idle.check(), [grpcEchoRef]);

  // A daemon that found the agent still there a moment ago asks for an intercept now.
  await assert.rejects(unary((cb) => m.client.createIntercept({ session, spec: grpcEchoSpec() }, cb)), {
    code: status.FAILED_PRECONDITION,
    details:
      'the traffic-agent of deployment/grpc-echo in namespace samples was removed a moment ago because no one had intercepted it for 30m; ' +
      'intercept again to put it back (one rollout)',
  });
  await unary((cb) => m.client.createIntercept({ session, spec: testSpec() }, cb));
  // Intercepting again rolls the workload out; the webhook injects the agent into its new pods.
  idle.agentInjected({ namespace: NAMESPACE, kind: 'Deployment', name: 'grpc-echo' });
  await unary((cb) => m.client.createIntercept({ session, spec: grpcEchoSpec() }, cb));
});

test('stop() lets no removal start, and stops one under way before its first write', async () => {
  const s = await idleSinceStart();
  s.kube.beforeRequest = (call) => {
    if (call.path === SERVICES) s.idle.stop();
  };
  assert.deepEqual(await s.idle.check(), []);
  assert.deepEqual(s.kube.writes(), []);
  s.kube.beforeRequest = undefined;
  assert.deepEqual(await s.idle.check(), []);
  assert.deepEqual(s.kube.writes(), []);
});
