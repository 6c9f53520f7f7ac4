import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Deployment, V1Service } from '@kubernetes/client-node';
import type { Service } from 'kubernetes-types/core/v1';
import { AGENT_CONFIG_ANNOTATION, ORIGINAL_TARGET_PORTS_ANNOTATION } from '../../../../protocol/src/agent/agentConfig.js';
import {
  appContainer,
  allServices,
  deployment,
  echo,
  echoService,
  grpcEcho,
  multi,
  NAMESPACE,
  service,
  udpEcho,
  web,
} from '../../../../common/src/testing/sampleObjects.js';
import { interceptablePorts, type InterceptablePort } from './workloadPorts.js';

test('interceptablePorts of the samples: named, numeric, several ports, StatefulSet', () => {
  assert.deepEqual(interceptablePorts(echo, allServices), [
    { service: 'echo', portName: 'http', port: 8080, targetPort: 'http', container: 'app', containerPort: 8080, protocol: 'TCP', interceptable: true },
  ]);
  assert.deepEqual(interceptablePorts(grpcEcho, allServices), [
    { service: 'grpc-echo', portName: 'grpc', port: 50051, targetPort: 50051, container: 'app', containerPort: 50051, protocol: 'TCP', interceptable: true },
  ]);
  assert.deepEqual(interceptablePorts(multi, allServices), [
    { service: 'multi', portName: 'http', port: 80, targetPort: 'http', container: 'app', containerPort: 8080, protocol: 'TCP', interceptable: true },
    { service: 'multi', portName: 'tcp', port: 9000, targetPort: 'tcp', container: 'app', containerPort: 9000, protocol: 'TCP', interceptable: true },
  ]);
  assert.deepEqual(interceptablePorts(web, allServices), [
    { service: 'web', portName: 'http', port: 8080, targetPort: 'http', container: 'app', containerPort: 8080, protocol: 'TCP', interceptable: true },
  ]);
});

test('UDP ports are listed but not interceptable', () => {
  assert.deepEqual(interceptablePorts(udpEcho, allServices), [
    { service: 'udp-echo', portName: 'echo', port: 9001, targetPort: 'echo', container: 'app', containerPort: 9001, protocol: 'UDP', interceptable: false },
  ]);
});

test('a numeric targetPort goes to the container declaring it, else to the first container', () => {
  const w = deployment('two', [
    appContainer('two', [], [{ name: 'http', containerPort: 8080 }]),
    appContainer('two', [], [{ name: 'metrics', containerPort: 9090 }], 'exporter'),
  ]);
  const s = service('two', [
    { name: 'metrics', port: 9090, targetPort: 9090 },
    { name: 'undeclared', port: 7000, targetPort: 7000 },
  ]);
  assert.deepEqual(
    interceptablePorts(w, [s]).map((p) => [p.portName, p.container, p.containerPort]),
    [
      ['metrics', 'exporter', 9090],
      ['undeclared', 'app', 7000],
    ],
  );
});

test('a named targetPort matches name and protocol, and one that no container declares is left out', () => {
  const w = deployment('dns', [appContainer('dns', [], [{ name: 'dns', containerPort: 53, protocol: 'UDP' }, { name: 'dns-tcp', containerPort: 53 }])]);
  const s = service('dns', [
    { name: 'tcp', port: 53, targetPort: 'dns' },
    { name: 'udp', port: 53, targetPort: 'dns', protocol: 'UDP' },
    { name: 'typo', port: 54, targetPort: 'dsn' },
  ]);
  assert.deepEqual(
    interceptablePorts(w, [s]).map((p) => [p.portName, p.protocol, p.containerPort]),
    [['udp', 'UDP', 53]],
  );
});

test('Services of other namespaces are ignored; results are sorted by Service name', () => {
  const other: Service = { ...echoService, metadata: { ...echoService.metadata, name: 'aaa', namespace: 'elsewhere' } };
  const alias = service('alias', [{ name: 'web', port: 80, targetPort: 8080 }], { app: 'echo' });
  assert.deepEqual(
    interceptablePorts(echo, [echoService, other, alias]).map((p) => `${p.service}:${p.port}->${p.containerPort}`),
    ['alias:80->8080', 'echo:8080->8080'],
  );
});

test('after installation the list is the same: re-pointed Services map back through their annotation', () => {
  const before = interceptablePorts(grpcEcho, allServices);
  const installed = withTemplateAnnotation(grpcEcho, '{"bad json');
  const repointed: Service = {
    ...allServices[1],
    metadata: { ...allServices[1].metadata, annotations: { [ORIGINAL_TARGET_PORTS_ANNOTATION]: '{"grpc":50051}' } },
    spec: { ...allServices[1].spec, ports: [{ ...allServices[1].spec!.ports![0], targetPort: 'tp-50051' }] },
  };
  assert.deepEqual(interceptablePorts(installed, [repointed]), before);
});

test('a pod spec in which the webhook gave the name to the agent maps back through the agent config', () => {
  const config = {
    version: 1,
    workload: { kind: 'Deployment', name: 'echo', namespace: NAMESPACE },
    container: 'app',
    ports: [{ agentPort: 9900, name: 'http', appPort: 8080, appPortRename: 'tpa-http', protocol: 'TCP', services: [] }],
  };
  const pod = deployment('echo', [
    appContainer('echo', [], [{ name: 'tpa-http', containerPort: 8080 }]),
    { name: 'telepath-agent', ports: [{ name: 'http', containerPort: 9900 }] },
  ]);
  assert.deepEqual(interceptablePorts(withTemplateAnnotation(pod, JSON.stringify(config)), allServices), interceptablePorts(echo, allServices));
});

test('client-node V1 objects are accepted as they are', () => {
  // Compile-time check: the planning types are structural subsets of both libraries' types.
  const d = {} as V1Deployment;
  const s = [] as V1Service[];
  const ports: InterceptablePort[] = interceptablePorts(d, s);
  assert.deepEqual(ports, []);
});

function withTemplateAnnotation<T extends typeof echo>(w: T, config: string): T {
  const template = w.spec!.template;
  return {
    ...w,
    spec: { ...w.spec!, template: { ...template, metadata: { ...template.metadata, annotations: { [AGENT_CONFIG_ANNOTATION]: config } } } },
  };
}
