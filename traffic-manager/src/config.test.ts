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

test('TELEPATH_AGENT_IDLE_TIMEOUT: off unless set; a duration with units, or milliseconds', () => {
  const timeout = (text: string | undefined) => readConfig(text === undefined ? {} : { TELEPATH_AGENT_IDLE_TIMEOUT: text });
  assert.deepEqual(timeout(undefined), { config: DEFAULT_CONFIG, problems: [] });
  assert.equal(DEFAULT_CONFIG.agentIdleTimeoutMs, 0);
  for (const [text, ms] of [['30m', 1_800_000], ['2h', 7_200_000], ['1h30m', 5_400_000], ['20s', 20_000], ['90000', 90_000], [' 45s ', 45_000], ['0', 0], ['', 0]] as const) {
    assert.deepEqual(timeout(text), { config: { ...DEFAULT_CONFIG, agentIdleTimeoutMs: ms }, problems: [] }, text);
  }
});

test('TELEPATH_AGENT_IDLE_TIMEOUT: a bad or out-of-range value is a problem, and leaves idle agents alone', () => {
  const problems = (text: string) => {
    const r = readConfig({ TELEPATH_AGENT_IDLE_TIMEOUT: text });
    assert.equal(r.config.agentIdleTimeoutMs, 0, text);
    return r.problems;
  };
  assert.deepEqual(problems('30 minutes'), [
    'TELEPATH_AGENT_IDLE_TIMEOUT="30 minutes" is not a duration like 30m, 2h, 1h30m, 20s or milliseconds; idle agents are not removed',
  ]);
  assert.deepEqual(problems('-5m'), [
    'TELEPATH_AGENT_IDLE_TIMEOUT="-5m" is not a duration like 30m, 2h, 1h30m, 20s or milliseconds; idle agents are not removed',
  ]);
  assert.deepEqual(problems('30'), [
    'TELEPATH_AGENT_IDLE_TIMEOUT="30" is not between 10s and 720h (a bare number is milliseconds: did you mean 30m?); idle agents are not removed',
  ]);
  assert.deepEqual(problems('5s'), ['TELEPATH_AGENT_IDLE_TIMEOUT="5s" is not between 10s and 720h; idle agents are not removed']);
  assert.deepEqual(problems('721h'), ['TELEPATH_AGENT_IDLE_TIMEOUT="721h" is not between 10s and 720h; idle agents are not removed']);
  assert.equal(readConfig({ TELEPATH_AGENT_IDLE_TIMEOUT: '10s' }).config.agentIdleTimeoutMs, 10_000);
  assert.equal(readConfig({ TELEPATH_AGENT_IDLE_TIMEOUT: '720h' }).config.agentIdleTimeoutMs, 720 * 3600_000);
});
