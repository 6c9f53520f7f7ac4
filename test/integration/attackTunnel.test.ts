/**
 * Issue #14: the manager's Tunnel must not carry a client where only the manager pod can go. A
 * hand-written gRPC client (traffic-manager/tools/managerProbe.ts, built on protocol/src's
 * ManagerClient, no daemon) arrives through a kubectl port-forward and asks the real manager for
 * tunnels to the node's cloud metadata address, the manager pod's own loopback ports and address,
 * and an address outside the cluster. Each must get DialResult FAILED naming the rule that refused
 * it — without the policy the first ones would dial (loopback and the pod answer OK) and the last
 * would wait for the dial timeout. Controls: a Service's ClusterIP and a pod's IP still answer, and
 * an address outside the cluster's subnets opens to a session once cluster DNS named it to that
 * session (a Service without selector whose endpoint is the API server).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ipToBytes, subnetContains, subnetFromCidr } from '../../protocol/src/ipAddress.js';
import type { ProbeReport, TunnelPlan, TunnelReport } from '../../traffic-manager/tools/managerProbe.js';
import { GRPC_PORT, HEALTH_PORT } from '../../common/src/install/managerManifests.js';
import { buildBundles, ensureCluster, kubectl, kubectlJson, until, ws, type KubectlPortForward } from '../cluster/harness.js';
import { deleteManagerInstall, installManager, MANAGER_NS, managerPods, probeManager } from './managerInstall.js';

const SAMPLES = 'samples';
const CLUSTER_SUBNETS = /\(10\.96\.0\.0\/16, 10\.244\.0\.0\/24\)/;

let portForward: KubectlPortForward | undefined;
let managerPodIp = '';

const probe = (plan: Parameters<typeof probeManager>[1]): ProbeReport => probeManager(portForward!.port, { namespace: SAMPLES, ...plan });

function refused(t: TunnelReport | undefined, reason: RegExp): void {
  assert.ok(t, 'a tunnel report');
  assert.equal(t.outcome, 'FAILED', `refused by the policy, not ${t.outcome}: ${t.message}`);
  assert.match(t.message, reason);
  assert.equal(t.status, 'OK', 'a refusal is a dial result, not a broken stream');
  assert.deepEqual(t.received, []);
}

function answeredHttp(t: TunnelReport | undefined): void {
  assert.ok(t, 'a tunnel report');
  assert.equal(t.outcome, 'OK', t.message);
  assert.match(t.received.join(''), /^HTTP\/1\.1 200 OK\r\n/);
  assert.equal(t.status, 'OK');
}

before(async () => {
  ensureCluster();
  buildBundles('traffic-manager');
  portForward = await installManager();
  managerPodIp = managerPods()[0]?.status.podIP ?? '';
  assert.ok(managerPodIp, 'the manager pod has an IP');
});

after(() => {
  portForward?.stop();
  deleteManagerInstall(true);
});

describe('a hand-written client asking the manager for tunnels it must not get', () => {
  const get = (path: string): string[] => [`GET ${path} HTTP/1.1\r\nHost: echo\r\nConnection: close\r\n\r\n`];
  const attacks: (TunnelPlan & { why: RegExp })[] = [];
  let report: ProbeReport;

  before(() => {
    const echoIp = kubectlJson<{ spec: { clusterIP: string } }>('-n', SAMPLES, 'get', 'service', 'echo').spec.clusterIP;
    const echoPodIp = kubectlJson<{ items: { status: { podIP?: string } }[] }>('-n', SAMPLES, 'get', 'pods', '-l', 'app=echo').items[0]?.status.podIP ?? '';
    assert.ok(echoPodIp, 'an echo pod with an IP');
    attacks.push(
      { protocol: 'tcp', ip: '169.254.169.254', port: 80, why: /^169\.254\.169\.254:80 is link-local \(cloud metadata lives there\); the install's tunnelAllow setting/ },
      { protocol: 'udp', ip: '169.254.169.254', port: 53, why: /^169\.254\.169\.254:53 is link-local/ },
      { protocol: 'tcp', ip: '127.0.0.1', port: HEALTH_PORT, why: new RegExp(`^127\\.0\\.0\\.1:${HEALTH_PORT} is loopback`) },
      { protocol: 'tcp', ip: '127.0.0.1', port: GRPC_PORT, why: new RegExp(`^127\\.0\\.0\\.1:${GRPC_PORT} is loopback`) },
      { protocol: 'tcp', ip: '::ffff:127.0.0.1', port: HEALTH_PORT, why: new RegExp(`^127\\.0\\.0\\.1:${HEALTH_PORT} is loopback`) },
      { protocol: 'tcp', ip: '::1', port: GRPC_PORT, why: new RegExp(`^\\[::1\\]:${GRPC_PORT} is loopback`) },
      { protocol: 'tcp', ip: '0.0.0.0', port: HEALTH_PORT, why: /^0\.0\.0\.0:\d+ is unspecified/ },
      { protocol: 'tcp', ip: managerPodIp, port: GRPC_PORT, why: new RegExp(`^${managerPodIp.replaceAll('.', '\\.')}:${GRPC_PORT} is the traffic-manager pod itself`) },
      { protocol: 'tcp', ip: '192.0.2.1', port: 80, why: /^192\.0\.2\.1:80 is outside the cluster's service and pod subnets/ },
    );
    report = probe({
      tunnels: [
        ...attacks.map(({ why: _why, ...plan }) => plan),
        { protocol: 'tcp', ip: echoIp, port: 8080, send: get('/service-control') },
        { protocol: 'tcp', ip: echoPodIp, port: 8080, send: get('/pod-control') },
      ],
    });
  });

  test("the cloud metadata address, the manager pod's loopback ports and its own address are refused, naming the rule", () => {
    attacks.forEach((a, i) => refused(report.tunnels[i], a.why));
  });

  test('an address outside the cluster is refused at once, without waiting for a dial (no packet is sent)', () => {
    const t = report.tunnels[attacks.length - 1];
    refused(t, CLUSTER_SUBNETS);
    // The probe allows a dial 3 s; a dial to TEST-NET would wait for all of it or fail as UNREACHABLE.
    assert.ok(t!.ms < 1000, `refused in ${t!.ms} ms`);
  });

  test("a Service's ClusterIP and a pod's IP are allowed and answer", () => {
    answeredHttp(report.tunnels[attacks.length]);
    answeredHttp(report.tunnels[attacks.length + 1]);
  });

  test('the manager logs each refusal at info, with the session', () => {
    const lines = kubectl('-n', MANAGER_NS, 'logs', 'deployment/traffic-manager')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { level: string; msg: string; session?: string; reason?: string });
    const refusals = lines.filter((l) => l.msg === 'destination refused');
    assert.ok(refusals.length >= attacks.length, `${refusals.length} refusals logged`);
    for (const r of refusals) {
      assert.equal(r.level, 'info');
      assert.ok(r.session, 'the session is named');
    }
    assert.ok(refusals.some((r) => /169\.254\.169\.254:80 is link-local/.test(r.reason ?? '')));
  });
});

describe('an address outside the cluster subnets that cluster DNS named to the session', () => {
  const SERVICE = 'attack-apiserver';
  let endpoint = '';
  let port = 0;

  before(() => {
    // The API server's own address, as the kubernetes Service's endpoints give it: outside the
    // service and pod subnets, and reachable from every pod.
    const slices = kubectlJson<{ items: { endpoints: { addresses: string[] }[]; ports: { port: number }[] }[] }>(
      '-n', 'default', 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=kubernetes',
    ).items;
    endpoint = slices[0]?.endpoints[0]?.addresses[0] ?? '';
    port = slices[0]?.ports[0]?.port ?? 0;
    assert.ok(endpoint && port, 'the kubernetes Service has an endpoint');
    for (const cidr of ['10.96.0.0/16', '10.244.0.0/24']) {
      assert.ok(!subnetContains(subnetFromCidr(cidr), ipToBytes(endpoint)), `${endpoint} must lie outside ${cidr} for this test to mean anything`);
    }
    // A headless Service without selector: cluster DNS answers its name with the endpoint given here.
    const objects = [
      { apiVersion: 'v1', kind: 'Service', metadata: { name: SERVICE, namespace: SAMPLES }, spec: { clusterIP: 'None', ports: [{ name: 'https', port, protocol: 'TCP' }] } },
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: `${SERVICE}-1`, namespace: SAMPLES, labels: { 'kubernetes.io/service-name': SERVICE } },
        addressType: 'IPv4',
        ports: [{ name: 'https', port, protocol: 'TCP' }],
        endpoints: [{ addresses: [endpoint] }],
      },
    ];
    const applied = ws(['kubectl', 'apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }) });
    assert.equal(applied.code, 0, applied.stderr);
  });

  after(() => {
    ws(['kubectl', '-n', SAMPLES, 'delete', 'service', SERVICE, '--ignore-not-found']);
    ws(['kubectl', '-n', SAMPLES, 'delete', 'endpointslice', `${SERVICE}-1`, '--ignore-not-found']);
  });

  test('refused to a session DNS did not tell; allowed to one it told', async () => {
    const plan: TunnelPlan = { protocol: 'tcp', ip: endpoint, port, closeSend: 'first' };
    refused(probe({ tunnels: [plan] }).tunnels[0], CLUSTER_SUBNETS);

    const question = { name: `${SERVICE}.${SAMPLES}.svc.cluster.local`, qtype: 1 };
    await until(`cluster DNS to answer ${question.name}`, 30_000, () =>
      probe({ lookups: [question] }).lookups[0]?.answers.some((a) => a.data === endpoint),
    );
    // One session: the short name, as the daemon would ask it, then the tunnel.
    const told = probe({ lookups: [{ name: SERVICE, qtype: 1 }], tunnels: [plan] });
    assert.deepEqual(told.lookups[0]?.answers.map((a) => a.data), [endpoint]);
    const t = told.tunnels[0]!;
    assert.equal(t.outcome, 'OK', t.message);
    assert.equal(t.status, 'OK');
  });
});
