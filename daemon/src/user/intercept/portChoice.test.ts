import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePortSpec, resolvePortChoice } from './portChoice.js';
import { allServices, echo, grpcEcho, multi, service, udpEcho } from '../../../../common/src/testing/sampleObjects.js';
import { interceptablePorts, type InterceptablePort } from './workloadPorts.js';

test('parsePortSpec reads the local port and the optional service port', () => {
  assert.deepEqual(parsePortSpec('8080'), { localPort: 8080 });
  assert.deepEqual(parsePortSpec('8080:http'), { localPort: 8080, servicePort: 'http' });
  assert.deepEqual(parsePortSpec('8080:50051'), { localPort: 8080, servicePort: '50051' });
  assert.deepEqual(parsePortSpec('8080:0443'), { localPort: 8080, servicePort: '443' });
  assert.deepEqual(parsePortSpec('8080:svc/http'), { localPort: 8080, servicePort: 'svc/http' });
  assert.deepEqual(parsePortSpec('1:grpc-echo/50051'), { localPort: 1, servicePort: 'grpc-echo/50051' });
  assert.deepEqual(parsePortSpec('9000:a-very-long-service-port-name'), { localPort: 9000, servicePort: 'a-very-long-service-port-name' });
});

test('parsePortSpec says what is wrong and how to write it', () => {
  const usage = 'use --port <local port>[:<service port name or number>], e.g. --port 8080, --port 8080:http or --port 8080:echo/http';
  const cases: [string, string][] = [
    ['', '--port "": the local port "" is not a number from 1 to 65535; '],
    ['http', '--port "http": the local port "http" is not a number from 1 to 65535; '],
    ['0', '--port "0": the local port "0" is not a number from 1 to 65535; '],
    ['65536:http', '--port "65536:http": the local port "65536" is not a number from 1 to 65535; '],
    [' 8080', '--port " 8080": the local port " 8080" is not a number from 1 to 65535; '],
    ['8080:', '--port "8080:": nothing follows ":"; '],
    ['8080:80:http', '--port "8080:80:http": only one ":" may separate the local port from the service port; '],
    ['8080:70000', '--port "8080:70000": the service port 70000 is not a number from 1 to 65535; '],
    ['8080:HTTP', '--port "8080:HTTP": "HTTP" is not a Service port name or number; '],
    ['8080:svc/', '--port "8080:svc/": "" is not a Service port name or number; '],
    ['8080:/http', '--port "8080:/http": "" is not a Service name (lowercase letters, digits and "-"); '],
    ['8080:a/b/c', '--port "8080:a/b/c": "b/c" is not a Service port name or number; '],
  ];
  for (const [spec, message] of cases) {
    assert.throws(() => parsePortSpec(spec), { name: 'InterceptPlanError', message: message + usage }, spec);
  }
});

test('without a choice, the only interceptable port is taken', () => {
  assert.equal(resolvePortChoice(interceptablePorts(echo, allServices)).portName, 'http');
  // Two Services on the same container port are one choice.
  const alias = service('echo-alias', [{ port: 80, targetPort: 8080 }], { app: 'echo' });
  assert.equal(resolvePortChoice(interceptablePorts(echo, [alias, ...allServices])).service, 'echo');
});

test('without a choice, several ports are listed for the user to pick from', () => {
  assert.throws(() => resolvePortChoice(interceptablePorts(multi, allServices)), {
    name: 'InterceptPlanError',
    message: 'the workload has several ports: multi:http/80, multi:tcp/9000; choose one with --port <local port>:<service port name or number>',
  });
  assert.throws(() => resolvePortChoice(interceptablePorts(udpEcho, allServices)), {
    message: 'the workload receives no TCP traffic through its Services (udp-echo:echo/9001 (UDP)); Telepath intercepts TCP ports only',
  });
  assert.throws(() => resolvePortChoice([]), { message: /^no Service port reaches this workload/ });
});

test('a choice matches a Service port name or number, optionally with the Service', () => {
  const ports = interceptablePorts(multi, allServices);
  assert.equal(resolvePortChoice(ports, 'tcp').containerPort, 9000);
  assert.equal(resolvePortChoice(ports, '80').containerPort, 8080);
  assert.equal(resolvePortChoice(ports, 'multi/http').containerPort, 8080);
  assert.equal(resolvePortChoice(ports, 'multi/9000').portName, 'tcp');
  assert.equal(resolvePortChoice(interceptablePorts(grpcEcho, allServices), '50051').service, 'grpc-echo');
});

test('a choice that matches nothing, or only UDP, is refused with the list', () => {
  const ports = interceptablePorts(multi, allServices);
  assert.throws(() => resolvePortChoice(ports, '8080'), {
    name: 'InterceptPlanError',
    message: 'no Service port 8080 reaches the workload; its ports are: multi:http/80, multi:tcp/9000',
  });
  assert.throws(() => resolvePortChoice(ports, 'echo/http'), {
    message: 'Service echo does not select the workload; its ports are: multi:http/80, multi:tcp/9000',
  });
  assert.throws(() => resolvePortChoice(interceptablePorts(udpEcho, allServices), 'echo'), {
    message: 'udp-echo:echo/9001 (UDP) cannot be intercepted: Telepath intercepts TCP ports only',
  });
});

test('a port name shared by Services is fine on one container port and ambiguous across two', () => {
  const port = (service: string, containerPort: number): InterceptablePort => ({
    service,
    portName: 'http',
    port: 80,
    targetPort: 'http',
    container: 'app',
    containerPort,
    protocol: 'TCP',
    interceptable: true,
  });
  assert.equal(resolvePortChoice([port('a', 8080), port('b', 8080)], 'http').service, 'a');
  assert.throws(() => resolvePortChoice([port('a', 8080), port('b', 8081)], 'http'), {
    name: 'InterceptPlanError',
    message: 'service port http is ambiguous: a:http/80, b:http/80 lead to different container ports; name the Service too, as in --port <local port>:a/http',
  });
  assert.equal(resolvePortChoice([port('a', 8080), port('b', 8081)], 'b/80').containerPort, 8081);
  assert.throws(() => resolvePortChoice([port('a', 8080), port('b', 8081)]), { message: /several ports: a:http\/80, b:http\/80/ });
});
