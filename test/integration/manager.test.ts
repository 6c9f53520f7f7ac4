/**
 * The traffic-manager in the real local cluster: its manifests install and become Ready on the
 * stock Node image, its service account may do exactly what it needs, and a client in the
 * workstation namespace, through a kubectl port-forward, gets the version, the cluster's
 * networks, cluster DNS answers and tunnels to Services — traffic that only the manager can carry,
 * since the workstation reaches nothing in the cluster but the API server.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { parseServiceRangeError } from '../../traffic-manager/src/clusterInfo.js';

import type { ProbePlan, ProbeReport } from '../../traffic-manager/tools/managerProbe.js';
import { API_LEVEL, MIN_API_LEVEL, PRODUCT_VERSION } from '../../protocol/src/version.js';
import { buildBundles, ensureCluster, kubectl, kubectlJson, ws, wsSpawn, type KubectlPortForward } from '../cluster/harness.js';
import { deleteManagerInstall, installManager, MANAGER_NS as NS, managerPods, type Pod, probeManager } from './managerInstall.js';

const SA = `system:serviceaccount:${NS}:traffic-manager`;

interface Service {
  spec: { clusterIP: string };
}

let portForward: KubectlPortForward | undefined;
let localPort = 0;

function probe(plan: ProbePlan): ProbeReport {
  return probeManager(localPort, plan);
}

function clusterIP(name: string): string {
  return kubectlJson<Service>('-n', 'samples', 'get', 'service', name).spec.clusterIP;
}

before(async () => {
  ensureCluster();
  buildBundles('traffic-manager');
  portForward = await installManager();
  localPort = portForward.port;
});

after(() => {
  portForward?.stop();
  deleteManagerInstall(true);
});

describe('traffic-manager install', () => {
  test('the pod is Ready on the stock Node image, as the node user, without restarts', () => {
    const pods = managerPods();
    assert.equal(pods.length, 1);
    assert.equal(pods[0]?.status.phase, 'Running');
    assert.deepEqual(pods[0]?.status.containerStatuses?.map((c) => [c.ready, c.restartCount]), [[true, 0]]);
    const uid = kubectl('-n', NS, 'exec', pods[0]!.metadata.name, '--', 'node', '-e', 'process.stdout.write(String(process.getuid()))');
    assert.equal(uid, '1000');
    const logs = kubectl('-n', NS, 'logs', pods[0]!.metadata.name);
    const ready = logs.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string }).find((l) => l.msg === 'ready');
    assert.ok(ready, `a "ready" log line in:\n${logs}`);
  });

  test('its service account may list nodes, pods and ServiceCIDRs, dry-run Services, keep its webhook TLS and check agents, and nothing else', () => {
    const can = (...args: string[]): string => ws(['kubectl', 'auth', 'can-i', ...args, `--as=${SA}`]).stdout.trim();
    assert.equal(can('list', 'nodes'), 'yes');
    assert.equal(can('watch', 'nodes'), 'yes');
    assert.equal(can('list', 'servicecidrs.networking.k8s.io'), 'yes');
    assert.equal(can('create', 'services', '-n', NS), 'yes');
    assert.equal(can('create', 'services', '-n', 'samples'), 'no');
    assert.equal(can('get', 'secrets', '-n', NS), 'no');
    assert.equal(can('delete', 'services', '-n', NS), 'no');
    assert.equal(can('patch', 'nodes'), 'no');
    // Pod subnets from the pods' addresses (TELEPATH_POD_CIDR_STRATEGY), in every namespace.
    assert.equal(can('list', 'pods', '-A'), 'yes');
    assert.equal(can('watch', 'pods', '-A'), 'yes');
    assert.equal(can('delete', 'pods', '-n', 'samples'), 'no');
    // An arriving agent: whose its token is, and the pod it is bound to.
    assert.equal(can('create', 'tokenreviews.authentication.k8s.io'), 'yes');
    assert.equal(can('get', 'pods', '-n', 'samples'), 'yes');
    assert.equal(can('create', 'pods/exec', '-n', 'samples'), 'no');
    assert.equal(can('create', 'serviceaccounts/token', '-n', 'samples'), 'no');
    // The webhook: its own TLS Secret and its own configuration's caBundle, nothing more.
    assert.equal(can('get', 'secrets/traffic-manager-webhook-tls', '-n', NS), 'yes');
    assert.equal(can('get', 'secrets/other', '-n', NS), 'no');
    assert.equal(can('patch', `mutatingwebhookconfigurations.admissionregistration.k8s.io/${NS}-traffic-manager`), 'yes');
    assert.equal(can('patch', 'mutatingwebhookconfigurations.admissionregistration.k8s.io/someone-else'), 'no');
    // The fallback for clusters without ServiceCIDRs: a dry-run Service the API server rejects
    // with the range, allowed for the manager's account.
    const dry = ws(['kubectl', 'create', '-f', '-', '--dry-run=server', `--as=${SA}`], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'range-probe', namespace: NS }, spec: { clusterIP: '1.1.1.1', ports: [{ port: 443 }] } }),
    });
    assert.notEqual(dry.code, 0);
    assert.deepEqual(parseServiceRangeError(dry.stderr), ['10.96.0.0/16']);
  });
});

describe('a client through the port-forward', () => {
  let report: ProbeReport;
  let echoIp: string;
  let udpEchoIp: string;
  let echoPodIp: string;

  before(() => {
    echoIp = clusterIP('echo');
    udpEchoIp = clusterIP('udp-echo');
    const pods = kubectlJson<{ items: Pod[] }>('-n', 'samples', 'get', 'pods', '-l', 'app=echo').items;
    echoPodIp = pods[0]?.status.podIP ?? '';
    // The workstation itself cannot reach the Service: only the manager can carry this traffic.
    const direct = ws(['node', '-e', `require('net').connect({host: '${echoIp}', port: 8080, timeout: 1500}).on('connect', () => process.exit(0)).on('error', () => process.exit(3)).on('timeout', () => process.exit(4))`], { timeoutMs: 10_000 });
    assert.notEqual(direct.code, 0, 'the workstation must not reach the echo Service by itself');
    const started = Date.now();
    report = probe({
      namespace: 'samples',
      lookups: [
        { name: 'echo.samples.svc.cluster.local', qtype: 1 },
        { name: 'echo', qtype: 1 },
        { name: 'missing.samples.svc.cluster.local', qtype: 1 },
        { name: 'echo.samples.svc.cluster.local', qtype: 28 },
        { name: '_http._tcp.echo.samples.svc.cluster.local', qtype: 33 },
        { name: 'external.samples.svc.cluster.local', qtype: 1 },
      ],
      tunnels: [
        { protocol: 'tcp', ip: echoIp, port: 8080, send: ['GET /from-the-manager HTTP/1.1\r\nHost: echo\r\nConnection: close\r\n\r\n'] },
        { protocol: 'udp', ip: udpEchoIp, port: 9001, send: ['ping over udp'], replies: 1 },
        { protocol: 'tcp', ip: echoPodIp, port: 1 },
      ],
    });
    process.stderr.write(`probe took ${Date.now() - started} ms\n`);
  });

  test('Version is this build', () => {
    assert.deepEqual(report.version, { version: PRODUCT_VERSION, name: 'traffic-manager', apiLevel: API_LEVEL, minApiLevel: MIN_API_LEVEL });
    assert.ok(report.ttlMs > 0);
  });

  test("WatchClusterInfo names the cluster's service and pod subnets, DNS server and domain", () => {
    assert.deepEqual(report.clusterInfo, {
      serviceSubnets: ['10.96.0.0/16'],
      podSubnets: ['10.244.0.0/24'],
      dnsIp: '10.96.0.10',
      clusterDomain: 'cluster.local',
      managerNamespace: NS,
    });
  });

  test('LookupDNS resolves Services, short names in the session namespace, SRV and CNAME chains; NXDOMAIN differs from no-data', () => {
    const [fqdn, short, missing, aaaa, srv, cname] = report.lookups;
    assert.deepEqual(fqdn?.answers.map((a) => [a.name, a.type, a.data]), [['echo.samples.svc.cluster.local', 1, echoIp]]);
    assert.equal(fqdn?.rcode, 0);
    assert.deepEqual(short?.answers.map((a) => [a.name, a.data]), [['echo', echoIp]]);
    assert.deepEqual([missing?.rcode, missing?.answers], [3, []]);
    assert.deepEqual([aaaa?.rcode, aaaa?.answers], [0, []]);
    assert.deepEqual(srv?.answers.map((a) => a.data), [{ priority: 0, weight: 100, port: 8080, target: 'echo.samples.svc.cluster.local' }]);
    assert.deepEqual(cname?.answers.map((a) => [a.name, a.type, a.data]), [
      ['external.samples.svc.cluster.local', 5, 'echo.samples.svc.cluster.local'],
      ['echo.samples.svc.cluster.local', 1, echoIp],
    ]);
  });

  test('a TCP tunnel to the echo Service carries an HTTP request and the pod answers', () => {
    const t = report.tunnels[0]!;
    assert.equal(t.outcome, 'OK');
    assert.equal(t.status, 'OK');
    assert.equal(t.peerClosedSend, true);
    const response = t.received.join('');
    assert.match(response, /^HTTP\/1\.1 200 OK\r\n/);
    const body = JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as { pod: string; greeting: string; path: string };
    assert.match(body.pod, /^echo-/);
    assert.equal(body.greeting, 'hello from echo');
    assert.equal(body.path, '/from-the-manager');
  });

  test('a UDP tunnel carries a datagram to the udp-echo Service and its answer back', () => {
    const t = report.tunnels[1]!;
    assert.equal(t.outcome, 'OK');
    assert.deepEqual(t.received.map((r) => r.replace(/^udp-echo-[^:]+: /, '<pod>: ')), ['<pod>: ping over udp']);
    assert.equal(t.status, 'OK');
  });

  test('a closed port on a pod is REFUSED', () => {
    const t = report.tunnels[2]!;
    assert.equal(t.outcome, 'REFUSED');
    assert.match(t.message, /ECONNREFUSED/);
    assert.equal(t.status, 'OK');
  });

  test('after Depart the session is gone', () => {
    assert.equal(report.remainAfterDepart, 'NOT_FOUND');
  });
});

describe('shutdown', () => {
  test('SIGTERM drains and stops the manager within its grace period', async () => {
    const pod = managerPods()[0]!;
    // Follow the log while the pod terminates: the stream ends with the container.
    const follow = wsSpawn(['kubectl', '-n', NS, 'logs', '-f', pod.metadata.name]);
    let logs = '';
    follow.stdout?.on('data', (d: Buffer) => (logs += d.toString()));
    const followed = once(follow, 'exit');
    const started = Date.now();
    const deletion = wsSpawn(['kubectl', '-n', NS, 'delete', 'pod', pod.metadata.name, '--wait=true', '--timeout=60s']);
    const [code] = (await once(deletion, 'exit')) as [number | null];
    const took = Date.now() - started;
    assert.equal(code, 0);
    await Promise.race([followed, new Promise((r) => setTimeout(r, 10_000))]);
    follow.kill();
    const messages = logs.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { msg: string }).msg);
    assert.ok(messages.includes('signal received'), `logs: ${logs}`);
    assert.ok(messages.includes('shut down'), `logs: ${logs}`);
    assert.ok(took < 14_000, `the pod went away in ${took} ms, before the 15 s grace period ran out`);
  });
});
