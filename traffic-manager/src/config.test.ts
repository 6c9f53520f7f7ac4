import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CONFIG, readConfig } from './config.js';

test('the environment sets the manager, defaults fill the rest', () => {
  assert.deepEqual(readConfig({}), { config: DEFAULT_CONFIG, problems: [] });
  const { config, problems } = readConfig({
    TELEPATH_NAMESPACE: 'tp',
    TELEPATH_GRPC_PORT: '9000',
    TELEPATH_AGENT_PORT: '9003',
    TELEPATH_LOG_LEVEL: 'DEBUG',
    TELEPATH_SESSION_TTL_MS: '5000',
  });
  assert.deepEqual(problems, []);
  assert.deepEqual(config, { ...DEFAULT_CONFIG, namespace: 'tp', grpcPort: 9000, agentPort: 9003, logLevel: 'debug', sessionTtlMs: 5000 });
});

test('bad values are reported and replaced by the defaults', () => {
  const { config, problems } = readConfig({ TELEPATH_GRPC_PORT: '70000', TELEPATH_LOG_LEVEL: 'loud', TELEPATH_DRAIN_MS: 'x' });
  assert.equal(config.grpcPort, 8081);
  assert.equal(config.logLevel, 'info');
  assert.equal(config.drainMs, 5000);
  assert.equal(problems.length, 3);
  assert.match(problems.join('\n'), /TELEPATH_GRPC_PORT="70000"/);
  assert.match(problems.join('\n'), /TELEPATH_LOG_LEVEL="loud"/);
});

test('TELEPATH_TUNNEL_ALLOW: CIDRs in canonical form; a bad one is a problem that names it, and is left out', () => {
  const { config, problems } = readConfig({ TELEPATH_TUNNEL_ALLOW: ' 10.20.0.0/16, 2001:DB8::/32,203.0.113.7,10.0.0.1/8, nonsense,,10.20.0.0/16' });
  assert.deepEqual(config.tunnelAllow, ['10.20.0.0/16', '2001:db8::/32', '203.0.113.7/32']);
  assert.deepEqual(problems, [
    'TELEPATH_TUNNEL_ALLOW: "10.0.0.1/8" has host bits set (did you mean 10.0.0.0/8?); ignored',
    'TELEPATH_TUNNEL_ALLOW: "nonsense" is not a CIDR (like 10.20.0.0/16) or an IP address; ignored',
  ]);
});

test("POD_IPS and POD_IP from the downward API are the pod's own addresses", () => {
  assert.deepEqual(readConfig({ POD_IPS: '10.244.0.5,fd00:10:244::5', POD_IP: '10.244.0.5' }), {
    config: { ...DEFAULT_CONFIG, podIps: ['10.244.0.5', 'fd00:10:244::5'] },
    problems: [],
  });
  const { config, problems } = readConfig({ POD_IPS: '10.244.0.5,pending' });
  assert.deepEqual(config.podIps, ['10.244.0.5']);
  assert.deepEqual(problems, ['POD_IPS: "pending" is not an IP address; ignored']);
});

test('TELEPATH_POD_CIDR_STRATEGY: auto by default, nodes or pods; anything else is a problem', () => {
  assert.equal(readConfig({}).config.podCidrStrategy, 'auto');
  assert.equal(readConfig({ TELEPATH_POD_CIDR_STRATEGY: ' Pods ' }).config.podCidrStrategy, 'pods');
  assert.equal(readConfig({ TELEPATH_POD_CIDR_STRATEGY: 'nodes' }).config.podCidrStrategy, 'nodes');
  assert.deepEqual(readConfig({ TELEPATH_POD_CIDR_STRATEGY: 'coverPodIPs' }), {
    config: DEFAULT_CONFIG,
    problems: ['TELEPATH_POD_CIDR_STRATEGY="coverPodIPs" is not auto|nodes|pods; using auto'],
  });
});

test('TELEPATH_POD_CIDRS: CIDRs in canonical form; a bare address or a bad CIDR is a problem that names it', () => {
  const { config, problems } = readConfig({ TELEPATH_POD_CIDRS: '10.244.0.0/16, FD00:10:244::/56,10.245.0.1, 10.246.0.1/16,x/8,10.244.0.0/16' });
  assert.deepEqual(config.podCidrs, ['10.244.0.0/16', 'fd00:10:244::/56']);
  assert.deepEqual(problems, [
    'TELEPATH_POD_CIDRS: "10.245.0.1" is not a CIDR (like 10.244.0.0/16); ignored',
    'TELEPATH_POD_CIDRS: "10.246.0.1/16" has host bits set (did you mean 10.246.0.0/16?); ignored',
    'TELEPATH_POD_CIDRS: "x/8" is not a CIDR (like 10.20.0.0/16) or an IP address; ignored',
  ]);
});
