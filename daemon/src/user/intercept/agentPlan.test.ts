import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Service } from 'kubernetes-types/core/v1';
import {
  AGENT_CONFIG_ANNOTATION,
  AGENT_INJECT_LABEL,
  AGENT_INJECT_VALUE,
  isPortName,
  ORIGINAL_TARGET_PORTS_ANNOTATION,
  parseAgentConfig,
  type AgentConfig,
} from '../../../../protocol/src/agent/agentConfig.js';
import {
  agentConfigJson,
  agentRestorePatch,
  InterceptPlanError,
  isAgentCurrent,
  planAgent,
  templatePatch,
  templateRemovalPatch,
  type AgentPlan,
} from './agentPlan.js';
import { servicePatch, serviceRestorePatch } from '../../../../common/src/agents/servicePatches.js';
import { applyMergePatch } from '../../../../common/src/testing/mergePatch.js';
import {
  allServices,
  appContainer,
  deployment,
  echo,
  echoReplicaSet,
  echoService,
  grpcEcho,
  grpcEchoService,
  multi,
  multiNumericService,
  NAMESPACE,
  service,
  tcpEcho,
  udpEcho,
  web,
  webService,
} from '../../../../common/src/testing/sampleObjects.js';
import type { ServiceObject, WorkloadObject } from '../../../../common/src/agents/agentObjects.js';
import { interceptablePorts } from './workloadPorts.js';
import type { AgentBuild } from './agentVersion.js';

const AGENT: AgentBuild = { version: '0.2.0', api: { level: 2, min: 1 } };
const workload = (kind: AgentConfig['workload']['kind'], name: string) => ({ kind, name, namespace: NAMESPACE });

test('echo: a named targetPort gives its name to the agent and renames the app port', () => {
  const plan = planAgent(echo, allServices);
  assert.deepEqual(plan, {
    config: {
      version: 1,
      workload: workload('Deployment', 'echo'),
      container: 'app',
      ports: [
        { agentPort: 9900, name: 'http', appPort: 8080, appPortRename: 'tpa-http', protocol: 'TCP', services: [{ service: 'echo', portName: 'http', port: 8080 }] },
      ],
    },
    servicePatches: [],
  });
  assert.equal(
    agentConfigJson(plan.config),
    '{"version":1,"workload":{"kind":"Deployment","name":"echo","namespace":"samples"},"container":"app","ports":[{"agentPort":9900,' +
      '"name":"http","appPort":8080,"appPortRename":"tpa-http","protocol":"TCP","services":[{"service":"echo","portName":"http","port":8080}]}]}',
  );
});

test('grpc-echo: a numeric targetPort gets tp-<n> and the Service is re-pointed, the original recorded', () => {
  assert.deepEqual(planAgent(grpcEcho, allServices), {
    config: {
      version: 1,
      workload: workload('Deployment', 'grpc-echo'),
      container: 'app',
      ports: [{ agentPort: 9900, name: 'tp-50051', appPort: 50051, protocol: 'TCP', services: [{ service: 'grpc-echo', portName: 'grpc', port: 50051 }] }],
    },
    servicePatches: [{ service: 'grpc-echo', namespace: NAMESPACE, ports: [{ key: 'grpc', from: 50051, to: 'tp-50051' }], annotation: '{"grpc":50051}' }],
  });
});

test('multi: one config covers every port of the container, sorted by app port', () => {
  const services = (ports: AgentConfig['ports']) => ports.map((p) => p.services);
  const named = planAgent(multi, allServices);
  assert.deepEqual(named.config.ports, [
    { agentPort: 9900, name: 'http', appPort: 8080, appPortRename: 'tpa-http', protocol: 'TCP', services: [{ service: 'multi', portName: 'http', port: 80 }] },
    { agentPort: 9901, name: 'tcp', appPort: 9000, appPortRename: 'tpa-tcp', protocol: 'TCP', services: [{ service: 'multi', portName: 'tcp', port: 9000 }] },
  ]);
  assert.deepEqual(named.servicePatches, []);

  const numeric = planAgent(multi, [multiNumericService]);
  assert.deepEqual(numeric.config.ports, [
    { agentPort: 9900, name: 'http', appPort: 8080, appPortRename: 'tpa-http', protocol: 'TCP', services: [{ service: 'multi', portName: 'http', port: 80 }] },
    { agentPort: 9901, name: 'tp-9000', appPort: 9000, protocol: 'TCP', services: [{ service: 'multi', portName: 'tcp', port: 9000 }] },
  ]);
  assert.deepEqual(services(numeric.config.ports), services(named.config.ports));
  assert.deepEqual(numeric.servicePatches, [
    { service: 'multi', namespace: NAMESPACE, ports: [{ key: 'tcp', from: 9000, to: 'tp-9000' }], annotation: '{"tcp":9000}' },
  ]);
});

test('web: a StatefulSet behind a headless Service', () => {
  assert.deepEqual(planAgent(web, allServices).config, {
    version: 1,
    workload: workload('StatefulSet', 'web'),
    container: 'app',
    ports: [{ agentPort: 9900, name: 'http', appPort: 8080, appPortRename: 'tpa-http', protocol: 'TCP', services: [{ service: 'web', portName: 'http', port: 8080 }] }],
  });
});

test('tcp-echo: a plain TCP port named echo', () => {
  assert.deepEqual(planAgent(tcpEcho, allServices).config.ports, [
    { agentPort: 9900, name: 'echo', appPort: 9000, appPortRename: 'tpa-echo', protocol: 'TCP', services: [{ service: 'tcp-echo', portName: 'echo', port: 9000 }] },
  ]);
});

test('udp-echo is refused: the agent intercepts TCP only', () => {
  assert.throws(() => planAgent(udpEcho, allServices), {
    name: 'InterceptPlanError',
    message: 'Deployment udp-echo receives only UDP traffic through its Services (udp-echo:echo/9001 UDP); Telepath intercepts TCP ports only',
  });
});

test('a ReplicaSet of a Deployment is refused in favour of the Deployment', () => {
  assert.throws(() => planAgent(echoReplicaSet, allServices), (err: Error) => {
    assert.ok(err instanceof InterceptPlanError);
    assert.match(err.message, /^ReplicaSet echo-6d4cf56db6 is managed by Deployment echo.*; intercept the Deployment echo instead$/);
    return true;
  });
  const standalone = { ...echoReplicaSet, metadata: { ...echoReplicaSet.metadata, ownerReferences: [] } };
  assert.equal(planAgent(standalone, allServices).config.workload.kind, 'ReplicaSet');
});

test('a workload that no Service selects, or whose Services reach no container, is refused', () => {
  assert.throws(() => planAgent(echo, [grpcEchoService]), {
    name: 'InterceptPlanError',
    message:
      'no Service selects Deployment echo in namespace samples; Telepath intercepts traffic that arrives through a Service, ' +
      "so create a Service whose selector matches the pod template's labels",
  });
  const typo = service('echo', [{ name: 'http', port: 8080, targetPort: 'htp' }]);
  assert.throws(() => planAgent(echo, [typo]), { name: 'InterceptPlanError', message: /Service echo selects Deployment echo, but none of its targetPorts/ });
});

test('other kinds are refused; a missing kind is a bug of the caller', () => {
  assert.throws(() => planAgent({ ...echo, kind: 'DaemonSet' }, allServices), {
    name: 'InterceptPlanError',
    message: 'DaemonSet echo cannot be intercepted: Telepath intercepts Deployments, StatefulSets and ReplicaSets',
  });
  assert.throws(() => planAgent({ ...echo, kind: undefined }, allServices), (err: Error) => !(err instanceof InterceptPlanError));
});

const twoContainers = deployment('shop', [
  appContainer('shop', [], [{ name: 'http', containerPort: 8080 }, { name: 'debug', containerPort: 9901 }]),
  appContainer('shop', [], [{ name: 'metrics', containerPort: 9900, hostPort: 9902 }], 'exporter'),
]);
const shopServices = [
  service('shop', [{ name: 'http', port: 80, targetPort: 'http' }]),
  service('shop-metrics', [{ name: 'metrics', port: 9900, targetPort: 'metrics' }], { app: 'shop' }),
];

test('Service ports reaching two containers need --container', () => {
  assert.throws(() => planAgent(twoContainers, shopServices), {
    name: 'InterceptPlanError',
    message:
      'the Service ports of Deployment shop reach more than one container: app (shop:http/80); exporter (shop-metrics:metrics/9900); ' +
      'choose one with --container <name>',
  });
  const app = planAgent(twoContainers, shopServices, { container: 'app' });
  assert.equal(app.config.container, 'app');
  // 9900 and 9901 are container ports, 9902 a host port: the agent takes the next free one.
  assert.deepEqual(app.config.ports.map((p) => [p.agentPort, p.name, p.appPort]), [[9903, 'http', 8080]]);
  assert.deepEqual(planAgent(twoContainers, shopServices, { container: 'exporter' }).config.ports.map((p) => [p.agentPort, p.name]), [[9903, 'metrics']]);
});

test('--container must name a container that Service ports reach', () => {
  assert.throws(() => planAgent(twoContainers, shopServices, { container: 'ap' }), {
    name: 'InterceptPlanError',
    message: 'Deployment shop has no container "ap"; its containers are: app, exporter',
  });
  assert.throws(() => planAgent(twoContainers, shopServices, { container: 'telepath-agent' }), { message: /has no container "telepath-agent"/ });
  assert.throws(() => planAgent(twoContainers, [shopServices[0]], { container: 'exporter' }), {
    name: 'InterceptPlanError',
    message: 'no Service port reaches container exporter of Deployment shop; Service ports reach: app (shop:http/80). Choose one of those with --container',
  });
});

test('UDP ports of the container stay out of the config; an undeclared numeric targetPort is reserved', () => {
  const w = deployment('dns', [appContainer('dns', [], [{ name: 'dns', containerPort: 53, protocol: 'UDP' }])]);
  const s = service('dns', [
    { name: 'dns', port: 53, targetPort: 'dns', protocol: 'UDP' },
    { name: 'admin', port: 80, targetPort: 9900 },
  ]);
  assert.deepEqual(planAgent(w, [s]), {
    config: {
      version: 1,
      workload: workload('Deployment', 'dns'),
      container: 'app',
      ports: [{ agentPort: 9901, name: 'tp-9900', appPort: 9900, protocol: 'TCP', services: [{ service: 'dns', portName: 'admin', port: 80 }] }],
    },
    servicePatches: [{ service: 'dns', namespace: NAMESPACE, ports: [{ key: 'admin', from: 9900, to: 'tp-9900' }], annotation: '{"admin":9900}' }],
  });
});

test('Service ports landing on one container port share an agent port, re-pointed at its name', () => {
  const alias = service('echo-alias', [{ port: 80, targetPort: 8080 }], { app: 'echo' });
  const other = service('echo-other', [{ name: 'web', port: 8080, targetPort: 'http' }], { app: 'echo' });
  const plan = planAgent(echo, [other, alias, echoService]);
  assert.deepEqual(plan.config.ports, [
    {
      agentPort: 9900,
      name: 'http',
      appPort: 8080,
      appPortRename: 'tpa-http',
      protocol: 'TCP',
      services: [
        { service: 'echo', portName: 'http', port: 8080 },
        { service: 'echo-alias', portName: '', port: 80 },
        { service: 'echo-other', portName: 'web', port: 8080 },
      ],
    },
  ]);
  assert.deepEqual(plan.servicePatches, [
    { service: 'echo-alias', namespace: NAMESPACE, ports: [{ key: '80', from: 8080, to: 'http' }], annotation: '{"80":8080}' },
  ]);
});

test('renamed app ports never collide with another port name', () => {
  const w = deployment('names', [
    appContainer('names', [], [
      { name: 'http', containerPort: 8080 },
      { name: 'tpa-http', containerPort: 8081 },
      { name: 'very-long-name1', containerPort: 7001 },
      { name: 'very-long-name2', containerPort: 7002 },
    ]),
  ]);
  const s = service('names', [
    { name: 'http', port: 80, targetPort: 'http' },
    { name: 'a', port: 7001, targetPort: 'very-long-name1' },
    { name: 'b', port: 7002, targetPort: 'very-long-name2' },
  ]);
  const ports = planAgent(w, [s]).config.ports;
  assert.deepEqual(
    ports.map((p) => [p.name, p.appPortRename]),
    [
      ['very-long-name1', 'tpa-very-long-n'],
      ['very-long-name2', 'tpa-very-long-2'],
      ['http', 'tpa-http-2'],
    ],
  );
  for (const p of ports) assert.ok(isPortName(p.appPortRename ?? ''), p.appPortRename);
});

test('a container port already named tp-<n> is reported, not shadowed', () => {
  const w = deployment('odd', [appContainer('odd', [], [{ name: 'tp-8080', containerPort: 8080 }])]);
  assert.throws(() => planAgent(w, [service('odd', [{ port: 80, targetPort: 8080 }])]), {
    name: 'InterceptPlanError',
    message: 'Deployment odd declares a container port named tp-8080, a name Telepath needs for its agent; rename that port in the pod template',
  });
});

test('the plan does not depend on the order of the Services', () => {
  const services = [multiNumericService, service('multi-b', [{ name: 'x', port: 1, targetPort: 9000 }], { app: 'multi' })];
  const a = planAgent(multi, services);
  const b = planAgent(multi, [...services].reverse());
  assert.equal(agentConfigJson(a.config), agentConfigJson(b.config));
  assert.deepEqual(a, b);
});

/** Applies a plan as the daemon would: the template patch, then each Service patch. */
function install<W extends WorkloadObject>(w: W, services: Service[], plan: AgentPlan): { workload: W; services: Service[] } {
  const patched = services.map((s) => {
    const p = plan.servicePatches.find((x) => x.service === s.metadata?.name);
    return p ? applyMergePatch(s, servicePatch(s, p)) : s;
  });
  return { workload: applyMergePatch(w, templatePatch(plan.config, AGENT)), services: patched };
}

const cases: [string, WorkloadObject, Service[]][] = [
  ['echo', echo, allServices],
  ['grpc-echo', grpcEcho, allServices],
  ['multi', multi, allServices],
  ['multi (numeric)', multi, [multiNumericService]],
  ['web', web, [webService]],
  ['shared port', echo, [echoService, service('echo-alias', [{ port: 80, targetPort: 8080 }], { app: 'echo' })]],
];

for (const [name, w, services] of cases) {
  test(`${name}: planning again after installation gives the same config and no Service change`, () => {
    const plan = planAgent(w, services);
    const after = install(w, services, plan);
    assert.equal(after.workload.spec?.template?.metadata?.labels?.[AGENT_INJECT_LABEL], AGENT_INJECT_VALUE);
    assert.deepEqual(parseAgentConfig(after.workload.spec?.template?.metadata?.annotations?.[AGENT_CONFIG_ANNOTATION] ?? ''), plan.config);
    assert.ok(isAgentCurrent(after.workload, plan.config));
    assert.ok(!isAgentCurrent(w, plan.config));
    const again = planAgent(after.workload, after.services);
    assert.equal(agentConfigJson(again.config), agentConfigJson(plan.config));
    assert.deepEqual(again.servicePatches, []);
    assert.deepEqual(interceptablePorts(after.workload, after.services), interceptablePorts(w, services));
  });

  test(`${name}: uninstalling restores the workload and every Service exactly`, () => {
    const after = install(w, services, planAgent(w, services));
    assert.deepEqual(applyMergePatch(after.workload, templateRemovalPatch()).spec?.template, {
      ...w.spec?.template,
      metadata: { ...w.spec?.template?.metadata, annotations: {} },
    });
    after.services.forEach((s, i) => {
      const patch = serviceRestorePatch(s);
      const restored = patch ? applyMergePatch(s, patch) : s;
      assert.deepEqual(restored.spec, services[i].spec);
      assert.deepEqual(restored.metadata?.annotations ?? {}, services[i].metadata?.annotations ?? {});
    });
  });
}

test('a Service whose annotation was lost gets it back without another change', () => {
  const plan = planAgent(grpcEcho, [grpcEchoService]);
  const after = install(grpcEcho, [grpcEchoService], plan);
  const lost: Service = { ...after.services[0], metadata: { ...after.services[0].metadata, annotations: {} } };
  const again = planAgent(after.workload, [lost]);
  assert.equal(agentConfigJson(again.config), agentConfigJson(plan.config));
  assert.deepEqual(again.servicePatches, plan.servicePatches);
  const repaired = applyMergePatch(lost, servicePatch(lost, again.servicePatches[0]));
  assert.deepEqual(repaired, after.services[0]);
});

test("a Service's other recorded ports are kept in its annotation", () => {
  const s: ServiceObject = {
    ...multiNumericService,
    metadata: { ...multiNumericService.metadata, annotations: { [ORIGINAL_TARGET_PORTS_ANNOTATION]: '{"zeta":1234}', team: 'a' } },
  };
  const plan = planAgent(multi, [s]);
  assert.equal(plan.servicePatches[0].annotation, '{"tcp":9000,"zeta":1234}');
  assert.deepEqual(servicePatch(s, plan.servicePatches[0]).metadata.annotations, { [ORIGINAL_TARGET_PORTS_ANNOTATION]: '{"tcp":9000,"zeta":1234}' });
});

test('templatePatch marks the pod template and names the agent; templateRemovalPatch unmarks it', () => {
  const config = planAgent(echo, allServices).config;
  assert.deepEqual(templatePatch(config, AGENT), {
    spec: {
      template: {
        metadata: {
          labels: { 'telepath.io/agent': 'enabled' },
          annotations: { 'telepath.io/agent-config': agentConfigJson(config), 'telepath.io/agent-version': '0.2.0', 'telepath.io/agent-api-levels': '1-2' },
        },
      },
    },
  });
  assert.deepEqual(templateRemovalPatch(), {
    spec: {
      template: {
        metadata: {
          labels: { 'telepath.io/agent': null },
          annotations: { 'telepath.io/agent-config': null, 'telepath.io/agent-version': null, 'telepath.io/agent-api-levels': null },
        },
      },
    },
  });
});

test('agentConfigJson does not depend on the key order of the config it is given', () => {
  const config = planAgent(grpcEcho, allServices).config;
  const shuffled = JSON.parse(JSON.stringify({ ports: config.ports, container: config.container, workload: config.workload, version: 1 })) as AgentConfig;
  assert.equal(agentConfigJson(shuffled), agentConfigJson(config));
  assert.notEqual(JSON.stringify(shuffled), JSON.stringify(config));
});

test('agentRestorePatch undoes a rollout that changed only the agent: back to the agent named before, or none', () => {
  const plan = planAgent(echo, allServices);
  const before = applyMergePatch(echo, templatePatch(plan.config, AGENT));
  const newer: AgentBuild = { version: '0.3.0', api: { level: 3, min: 2 } };
  const rolled = applyMergePatch(before, templatePatch(plan.config, newer));
  assert.deepEqual(applyMergePatch(rolled, agentRestorePatch(before.spec?.template?.metadata)).spec?.template, before.spec?.template);
  // A workload marked before 0.2.0 named no agent: the undo leaves it naming none, still marked.
  const unnamed = { spec: { template: { metadata: { annotations: { 'telepath.io/agent-version': null, 'telepath.io/agent-api-levels': null } } } } };
  const legacy = applyMergePatch(applyMergePatch(echo, templatePatch(plan.config, AGENT)), unnamed);
  const undone = applyMergePatch(applyMergePatch(legacy, templatePatch(plan.config, AGENT)), agentRestorePatch(legacy.spec?.template?.metadata));
  assert.deepEqual(undone.spec?.template, legacy.spec?.template);
  assert.ok(isAgentCurrent(undone, plan.config));
});
