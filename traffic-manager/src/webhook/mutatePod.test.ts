/**
 * Pods as the ReplicaSet controller sends them on CREATE (generateName, defaults applied, the
 * service-account token volume already added), patched the way the API server applies a patch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Container, Pod, Volume } from 'kubernetes-types/core/v1';
import { AGENT_CONFIG_ANNOTATION, type AgentConfig, type AgentPort } from '../../../protocol/src/agent/agentConfig.js';
import { applyJsonPatch } from './jsonPatch.js';
import { AGENT_INJECTED_ANNOTATION, mutatePod, type PodMutation } from './mutatePod.js';

const OPTS = { image: 'docker.io/library/node:20-alpine', managerAddress: 'traffic-manager.telepath:8083', namespace: 'shop' };
const TOKEN_VOLUME = 'kube-api-access-x7k2p';
/** The agent's identity token: bound to the pod, for the manager's audience, renewed by the kubelet. */
const TOKEN_FOR_THE_MANAGER: Volume = {
  name: 'telepath-agent-token',
  projected: { sources: [{ serviceAccountToken: { audience: 'telepath.io/traffic-manager', expirationSeconds: 3600, path: 'token' } }] },
};

function agentPort(p: Partial<AgentPort> & Pick<AgentPort, 'name' | 'appPort'>): AgentPort {
  return { agentPort: 9900, protocol: 'TCP', services: [{ service: 'web', portName: 'http', port: 80 }], ...p };
}

function config(ports: AgentPort[], container = 'web'): AgentConfig {
  return { version: 1, workload: { kind: 'Deployment', name: 'web', namespace: 'shop' }, container, ports };
}

function appContainer(extra: Partial<Container> = {}): Container {
  return {
    name: 'web',
    image: 'registry.example/shop/web:1.4',
    imagePullPolicy: 'IfNotPresent',
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
    volumeMounts: [{ name: TOKEN_VOLUME, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
    ...extra,
  };
}

function pod(cfg: AgentConfig | string | undefined, containers: Container[], extraSpec: Partial<NonNullable<Pod['spec']>> = {}): Pod {
  const annotations: Record<string, string> = { 'kubectl.kubernetes.io/restartedAt': '2025-01-01T00:00:00Z' };
  if (cfg !== undefined) annotations[AGENT_CONFIG_ANNOTATION] = typeof cfg === 'string' ? cfg : JSON.stringify(cfg);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'web-6d9f7c8b5-',
      labels: { app: 'web', 'pod-template-hash': '6d9f7c8b5', 'telepath.io/agent': 'enabled' },
      annotations,
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-6d9f7c8b5', uid: 'u1', controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      containers,
      restartPolicy: 'Always',
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default',
      volumes: [
        {
          name: TOKEN_VOLUME,
          projected: {
            defaultMode: 420,
            sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }, { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } }],
          },
        },
      ],
      ...extraSpec,
    },
  };
}

function injected(p: Pod, m: PodMutation): Pod {
  assert.deepEqual(m.problems, []);
  assert.ok(m.patch.length > 0, 'a patch');
  return applyJsonPatch(p, m.patch);
}

function containerOf(p: Pod, name: string): Container {
  const c = p.spec?.containers.find((x) => x.name === name);
  assert.ok(c, `container ${name}`);
  return c;
}

/** What a Service's named targetPort reaches: the first container port of that name. */
function targetOf(p: Pod, portName: string): string {
  for (const c of p.spec?.containers ?? []) for (const cp of c.ports ?? []) if (cp.name === portName) return `${c.name}:${cp.containerPort}`;
  return 'nothing';
}

test('a named Service port reaches the agent, while the app port and its probes move to the new name', () => {
  const cfg = config([agentPort({ name: 'http', appPort: 8080, appPortRename: 'tpa-http' })]);
  const app = appContainer({
    readinessProbe: { httpGet: { path: '/ready', port: 'http', scheme: 'HTTP' }, periodSeconds: 5 },
    livenessProbe: { tcpSocket: { port: 'http' } },
    startupProbe: { grpc: { port: 8080 } },
    lifecycle: { preStop: { httpGet: { path: '/drain', port: 'http' } } },
  });
  const shipper: Container = {
    name: 'log-shipper',
    image: 'fluent/fluent-bit:3',
    ports: [{ name: 'admin', containerPort: 2020 }],
    livenessProbe: { httpGet: { path: '/', port: 'admin' } },
  };
  const before = pod(cfg, [app, shipper]);
  const frozen = structuredClone(before);
  const m = mutatePod(before, OPTS);
  assert.deepEqual(before, frozen, 'the input pod is not modified');
  assert.deepEqual(m.config, cfg);
  const after = injected(before, m);

  assert.equal(targetOf(after, 'http'), 'telepath-agent:9900');
  const web = containerOf(after, 'web');
  assert.deepEqual(web.ports, [{ name: 'tpa-http', containerPort: 8080, protocol: 'TCP' }]);
  assert.deepEqual(web.readinessProbe, { httpGet: { path: '/ready', port: 'tpa-http', scheme: 'HTTP' }, periodSeconds: 5 });
  assert.deepEqual(web.livenessProbe, { tcpSocket: { port: 'tpa-http' } });
  assert.deepEqual(web.startupProbe, { grpc: { port: 8080 } });
  assert.deepEqual(web.lifecycle?.preStop?.httpGet?.port, 'tpa-http');
  // Another container's named ports are its own (the kubelet resolves them per container).
  assert.deepEqual(containerOf(after, 'log-shipper'), shipper);

  const agent = containerOf(after, 'telepath-agent');
  assert.equal(after.spec?.containers.at(-1)?.name, 'telepath-agent', 'appended, so the app stays the default container');
  assert.equal(agent.image, OPTS.image);
  assert.equal(agent.imagePullPolicy, 'IfNotPresent');
  assert.deepEqual(agent.command, ['node', '/telepath-agent/traffic-agent.js']);
  assert.deepEqual(agent.ports, [{ name: 'http', containerPort: 9900, protocol: 'TCP' }]);
  assert.deepEqual(agent.readinessProbe, { tcpSocket: { port: 9900 }, periodSeconds: 2 });
  assert.deepEqual(agent.resources, { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } });
  assert.deepEqual(agent.securityContext, {
    runAsNonRoot: true,
    runAsUser: 1000,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  });
  assert.deepEqual(agent.env, [
    { name: '_TP_AGENT_CONFIG', value: JSON.stringify(cfg) },
    { name: '_TP_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: '_TP_POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    { name: '_TP_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: '_TP_MANAGER_ADDRESS', value: 'traffic-manager.telepath:8083' },
  ]);
  assert.equal(agent.envFrom, undefined);
  // The ServiceAccount admission plugin ran before us: the agent gets the API token mount by copy.
  assert.deepEqual(agent.volumeMounts, [
    { name: 'telepath-agent-bundle', mountPath: '/telepath-agent', readOnly: true },
    { name: 'telepath-agent-token', mountPath: '/var/run/secrets/telepath.io', readOnly: true },
    { name: TOKEN_VOLUME, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
  ]);
  assert.deepEqual(after.spec?.volumes?.map((v) => v.name), [TOKEN_VOLUME, 'telepath-agent-bundle', 'telepath-agent-token']);
  assert.deepEqual(after.spec?.volumes?.[1], { name: 'telepath-agent-bundle', configMap: { name: 'telepath-agent', defaultMode: 0o444 } });
  assert.deepEqual(after.spec?.volumes?.[2], TOKEN_FOR_THE_MANAGER);
  assert.match(after.metadata?.annotations?.[AGENT_INJECTED_ANNOTATION] ?? '', /^[0-9a-f]{16}$/);
  assert.equal(after.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'], '2025-01-01T00:00:00Z');
});

test('a numeric Service port: the agent takes a fresh name and the app keeps its port and probes', () => {
  const cfg = config([agentPort({ name: 'tp-8080', appPort: 8080 })]);
  const app = appContainer({ ports: [{ containerPort: 8080, protocol: 'TCP' }], readinessProbe: { httpGet: { path: '/', port: 8080 } } });
  const before = pod(cfg, [app]);
  const after = injected(before, mutatePod(before, OPTS));
  assert.deepEqual(containerOf(after, 'web'), app);
  assert.equal(targetOf(after, 'tp-8080'), 'telepath-agent:9900');
  assert.deepEqual(containerOf(after, 'telepath-agent').ports, [{ name: 'tp-8080', containerPort: 9900, protocol: 'TCP' }]);
});

test('two ports: each is renamed or named as configured, and the probe watches the first TCP one', () => {
  const cfg = config([
    agentPort({ name: 'dns', appPort: 5353, agentPort: 9900, protocol: 'UDP' }),
    agentPort({ name: 'http', appPort: 8080, agentPort: 9901, appPortRename: 'tpa-http' }),
    agentPort({ name: 'tp-9090', appPort: 9090, agentPort: 9902 }),
  ]);
  const app = appContainer({
    ports: [
      { name: 'http', containerPort: 8080, protocol: 'TCP' },
      { name: 'metrics', containerPort: 9090, protocol: 'TCP' },
      { name: 'dns', containerPort: 5353, protocol: 'UDP' },
    ],
    readinessProbe: { httpGet: { path: '/ready', port: 'metrics' } },
  });
  // 'dns' is taken by the agent without a rename, so the app's own 'dns' port is a clash…
  assert.match(mutatePod(pod(cfg, [app]), OPTS).problems.join('\n'), /container web has a port named dns, which the agent needs/);
  // …unless the config renames it too.
  cfg.ports[0].appPortRename = 'tpa-dns';
  const before = pod(cfg, [app]);
  const after = injected(before, mutatePod(before, OPTS));
  assert.deepEqual(
    containerOf(after, 'web').ports?.map((p) => p.name),
    ['tpa-http', 'metrics', 'tpa-dns'],
  );
  assert.deepEqual(containerOf(after, 'web').readinessProbe?.httpGet?.port, 'metrics', 'a probe on a port the agent does not take is unchanged');
  const agent = containerOf(after, 'telepath-agent');
  assert.deepEqual(agent.ports, [
    { name: 'dns', containerPort: 9900, protocol: 'UDP' },
    { name: 'http', containerPort: 9901, protocol: 'TCP' },
    { name: 'tp-9090', containerPort: 9902, protocol: 'TCP' },
  ]);
  assert.deepEqual(agent.readinessProbe?.tcpSocket, { port: 9901 });
  assert.equal(targetOf(after, 'http'), 'telepath-agent:9901');
  assert.equal(targetOf(after, 'dns'), 'telepath-agent:9900');
});

test('a UDP-only agent gets no TCP readiness probe', () => {
  const cfg = config([agentPort({ name: 'tp-5353', appPort: 5353, protocol: 'UDP' })]);
  const before = pod(cfg, [appContainer()]);
  assert.equal(containerOf(injected(before, mutatePod(before, OPTS)), 'telepath-agent').readinessProbe, undefined);
});

test("the agent gets the app's env and envFrom unchanged, before its own variables, and the app's mounts under one root", () => {
  const cfg = config([agentPort({ name: 'http', appPort: 8080, appPortRename: 'tpa-http' })]);
  const app = appContainer({
    envFrom: [{ prefix: 'DB_', secretRef: { name: 'postgres' } }, { configMapRef: { name: 'web-settings', optional: true } }],
    env: [
      { name: 'MODE', value: 'production' },
      { name: 'URL', value: 'http://$(MODE).example' },
      { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'api', key: 'token' } } },
      { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
      { name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
      { name: 'SIDE_CPU', valueFrom: { resourceFieldRef: { containerName: 'other', resource: 'limits.cpu' } } },
    ],
    volumeMounts: [
      { name: 'config', mountPath: '/etc/config', readOnly: true },
      { name: 'data', mountPath: '/var/lib/web', subPath: 'web', mountPropagation: 'HostToContainer' },
      { name: TOKEN_VOLUME, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
    ],
  });
  const before = pod(cfg, [app], {
    volumes: [
      { name: 'config', configMap: { name: 'web-config' } },
      { name: 'data', emptyDir: {} },
      { name: TOKEN_VOLUME, projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } },
    ],
  });
  const agent = containerOf(injected(before, mutatePod(before, OPTS)), 'telepath-agent');
  assert.deepEqual(agent.envFrom, app.envFrom);
  assert.deepEqual(agent.env?.slice(0, 6), [
    { name: 'MODE', value: 'production' },
    { name: 'URL', value: 'http://$(MODE).example' },
    { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'api', key: 'token' } } },
    { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
    // Without containerName it would name the agent's own limit.
    { name: 'MEM', valueFrom: { resourceFieldRef: { containerName: 'web', resource: 'limits.memory', divisor: '1Mi' } } },
    { name: 'SIDE_CPU', valueFrom: { resourceFieldRef: { containerName: 'other', resource: 'limits.cpu' } } },
  ]);
  assert.deepEqual(
    agent.env?.slice(6).map((e) => e.name),
    ['_TP_AGENT_CONFIG', '_TP_POD_NAME', '_TP_POD_IP', '_TP_NAMESPACE', '_TP_MANAGER_ADDRESS'],
  );
  assert.deepEqual(agent.volumeMounts, [
    { name: 'telepath-agent-bundle', mountPath: '/telepath-agent', readOnly: true },
    { name: 'telepath-agent-token', mountPath: '/var/run/secrets/telepath.io', readOnly: true },
    { name: 'config', mountPath: '/telepath-agent-mounts/etc/config', readOnly: true },
    { name: 'data', mountPath: '/telepath-agent-mounts/var/lib/web', subPath: 'web' },
    { name: TOKEN_VOLUME, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
  ]);
});

test('the config reaches the agent intact through the kubelet\'s $(VAR) expansion', () => {
  const cfg = config([agentPort({ name: 'tp-8080', appPort: 8080, services: [{ service: 'web$(HOME)$$', portName: '', port: 80 }] })]);
  const before = pod(cfg, [appContainer()]);
  const value = containerOf(injected(before, mutatePod(before, OPTS)), 'telepath-agent').env?.find((e) => e.name === '_TP_AGENT_CONFIG')?.value ?? '';
  // The kubelet's rule (third_party/forked/golang/expansion): "$$" is "$", "$(NAME)" a reference.
  const expanded = value.replace(/\$(\$|\(([^)]*)\))/g, (_m, _x, name: string | undefined) => (name === undefined ? '$' : `<${name}>`));
  assert.deepEqual(JSON.parse(expanded), cfg);
});

test('a pod without volumes (automountServiceAccountToken: false) gets the volumes array, not an append to a missing one', () => {
  const cfg = config([agentPort({ name: 'tp-8080', appPort: 8080 })]);
  const before = pod(cfg, [appContainer({ volumeMounts: undefined })], { volumes: undefined, automountServiceAccountToken: false });
  const m = mutatePod(before, OPTS);
  assert.ok(m.patch.some((op) => op.op === 'add' && op.path === '/spec/volumes'));
  const after = injected(before, m);
  assert.deepEqual(after.spec?.volumes, [{ name: 'telepath-agent-bundle', configMap: { name: 'telepath-agent', defaultMode: 0o444 } }, TOKEN_FOR_THE_MANAGER]);
  assert.deepEqual(containerOf(after, 'telepath-agent').volumeMounts, [
    { name: 'telepath-agent-bundle', mountPath: '/telepath-agent', readOnly: true },
    { name: 'telepath-agent-token', mountPath: '/var/run/secrets/telepath.io', readOnly: true },
  ]);
  // The kubelet fills a projected token whatever automountServiceAccountToken says.
  assert.equal(after.spec?.automountServiceAccountToken, false);
});

test('the agent alone gets a token bound to its pod, for the manager only, under the "restricted" Pod Security rules', () => {
  const cfg = config([agentPort({ name: 'http', appPort: 8080, appPortRename: 'tpa-http' })]);
  const shipper: Container = { name: 'log-shipper', image: 'fluent/fluent-bit:3' };
  const before = pod(cfg, [appContainer(), shipper], { initContainers: [{ name: 'migrate', image: 'registry.example/shop/web:1.4' }] });
  const after = injected(before, mutatePod(before, OPTS));
  const tokenVolume = after.spec?.volumes?.find((v) => v.name === 'telepath-agent-token');
  assert.deepEqual(tokenVolume, TOKEN_FOR_THE_MANAGER);
  // Audience: the API server itself refuses this token, and the manager refuses the pod's usual one.
  assert.equal(tokenVolume?.projected?.sources?.[0]?.serviceAccountToken?.audience, 'telepath.io/traffic-manager');
  // Only projected volumes (and the ConfigMap) are added, which "restricted" allows; no hostPath.
  const added = after.spec?.volumes?.filter((v) => !before.spec?.volumes?.some((b) => b.name === v.name)) ?? [];
  assert.deepEqual(added.map((v) => Object.keys(v).filter((k) => k !== 'name')), [['configMap'], ['projected']]);
  const mountedBy = [...(after.spec?.initContainers ?? []), ...(after.spec?.containers ?? [])]
    .filter((c) => c.volumeMounts?.some((m) => m.name === 'telepath-agent-token'))
    .map((c) => c.name);
  assert.deepEqual(mountedBy, ['telepath-agent']);
});

test('the injected annotation is added under its escaped key and follows the config', () => {
  const a = mutatePod(pod(config([agentPort({ name: 'tp-8080', appPort: 8080 })]), [appContainer()]), OPTS);
  const b = mutatePod(pod(config([agentPort({ name: 'tp-8080', appPort: 8080, agentPort: 9901 })]), [appContainer()]), OPTS);
  const annotationOp = (m: PodMutation) => m.patch.find((op) => op.path === '/metadata/annotations/telepath.io~1agent-injected');
  assert.ok(annotationOp(a) && annotationOp(b));
  assert.notDeepEqual(annotationOp(a), annotationOp(b));
});

function refused(p: Pod, pattern: RegExp): void {
  const m = mutatePod(p, OPTS);
  assert.deepEqual(m.patch, [], 'no patch');
  assert.match(m.problems.join('\n'), pattern);
}

test('a pod without the annotation is left alone', () => {
  refused(pod(undefined, [appContainer()]), /no telepath\.io\/agent-config annotation/);
});

test('a pod that already has the agent is left alone', () => {
  const cfg = config([agentPort({ name: 'tp-8080', appPort: 8080 })]);
  refused(pod(cfg, [appContainer(), { name: 'telepath-agent', image: 'x' }]), /already has a telepath-agent container/);
  refused(pod(cfg, [appContainer()], { initContainers: [{ name: 'telepath-agent', image: 'x' }] }), /already has a telepath-agent container/);
});

test('a bad config is reported and ignored', () => {
  refused(pod('{"version":1', [appContainer()]), /agent config is not JSON/);
  refused(pod(JSON.stringify({ ...config([]), version: 2 }), [appContainer()]), /bad agent config: unsupported version 2/);
  refused(pod(config([]), [appContainer()]), /ports must be a non-empty array/);
});

test('a config for another namespace is ignored', () => {
  const cfg = config([agentPort({ name: 'tp-8080', appPort: 8080 })]);
  cfg.workload.namespace = 'other';
  refused(pod(cfg, [appContainer()]), /for namespace other, but the pod is in shop/);
});

test('a config naming a missing container is ignored', () => {
  refused(pod(config([agentPort({ name: 'tp-8080', appPort: 8080 })], 'api'), [appContainer()]), /names container api, which the pod does not have/);
});

test('a rename of a port the container does not declare is ignored', () => {
  const cfg = config([agentPort({ name: 'web', appPort: 8080, appPortRename: 'tpa-web' })]);
  refused(pod(cfg, [appContainer()]), /container web has no port named web to rename to tpa-web/);
  const wrongNumber = config([agentPort({ name: 'http', appPort: 8081, appPortRename: 'tpa-http' })]);
  refused(pod(wrongNumber, [appContainer()]), /port http is 8080, but the agent config forwards to 8081/);
});

test('ports the agent would fight over are refused', () => {
  const cfg = config([agentPort({ name: 'http', appPort: 8080, appPortRename: 'tpa-http' })]);
  refused(pod(cfg, [appContainer(), { name: 'side', image: 'x', ports: [{ name: 'http', containerPort: 3000 }] }]), /container side has a port named http/);
  refused(pod(cfg, [appContainer(), { name: 'side', image: 'x', ports: [{ containerPort: 9900 }] }]), /container side declares port 9900\/TCP/);
  refused(
    pod(cfg, [appContainer({ ports: [{ name: 'http', containerPort: 8080 }, { name: 'tpa-http', containerPort: 8443 }] })]),
    /two ports named tpa-http/,
  );
  refused(pod(cfg, [appContainer()], { volumes: [{ name: 'telepath-agent-bundle', emptyDir: {} }] }), /already has a volume named telepath-agent-bundle/);
  refused(pod(cfg, [appContainer()], { volumes: [{ name: 'telepath-agent-token', emptyDir: {} }] }), /already has a volume named telepath-agent-token/);
});
