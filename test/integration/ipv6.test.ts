/**
 * A single-stack IPv6 cluster, as EKS's IPv6 clusters and kubeadm's `--service-cidr` of an IPv6
 * range make them: the profile `ipv6` gives the links, the API server, Services, pods and CoreDNS
 * IPv6 addresses only. Telepath learns the IPv6 ranges from the cluster, routes them into its TUN
 * device, answers names with AAAA records, reaches a pod by its IPv6 address, and a personal
 * intercept routes by header. The next test file's ensureCluster() brings the IPv4 cluster back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isIPv6 } from 'node:net';
import { buildBundles, ensureCluster, fromClientPod, kubectl, kubectlJson, profileWorkstation, ws } from '../cluster/harness.js';

const LOCAL_PORT = 18161;
const { tp, startLaptop, cleanUp } = profileWorkstation('ipv6', LOCAL_PORT);
/** test/cluster/lib.sh's addresses for the profile. */
const SERVICE_CIDR = 'fd00:10:96::/112';
const NODE_POD_CIDR = 'fd00:10:244::/64';

before(() => {
  ensureCluster('ipv6');
  buildBundles('telepath', 'traffic-manager', 'traffic-agent');
  startLaptop();
});

after(cleanUp);

describe('a single-stack IPv6 cluster', () => {
  test('the profile is real: the API server, the node, Services and pods have IPv6 addresses only', () => {
    const server = ws(['kubectl', 'config', 'view', '--minify', '-o', 'jsonpath={.clusters[0].cluster.server}']);
    assert.equal(server.stdout, 'https://[fd00:250::1]:6443');
    const node = kubectlJson<{ items: { spec: { podCIDRs?: string[] }; status: { addresses: { type: string; address: string }[] } }[] }>('get', 'nodes').items[0]!;
    assert.deepEqual(node.spec.podCIDRs, [NODE_POD_CIDR]);
    assert.deepEqual(node.status.addresses.filter((a) => a.type === 'InternalIP').map((a) => a.address), ['fd00:250::1']);
    const svc = kubectlJson<{ spec: { ipFamilies: string[]; clusterIPs: string[] } }>('-n', 'samples', 'get', 'service', 'echo');
    assert.deepEqual(svc.spec.ipFamilies, ['IPv6']);
    assert.ok(svc.spec.clusterIPs.every((ip) => isIPv6(ip)), svc.spec.clusterIPs.join());
    const pods = kubectlJson<{ items: { status: { podIPs: { ip: string }[] } }[] }>('-n', 'samples', 'get', 'pods');
    for (const p of pods.items) assert.ok(p.status.podIPs.every((a) => isIPv6(a.ip)), JSON.stringify(p.status.podIPs));
    // In the cluster, names resolve and Services answer over IPv6 without Telepath.
    const inside = fromClientPod(['http-get', 'http://echo.samples:8080/', '--timeout', '5000']);
    assert.equal(inside.code, 0, inside.stderr);
  });

  test('connect routes the IPv6 ranges; a Service answers by name (AAAA) and a pod by its IPv6 address', () => {
    const c = tp(['connect', '--namespace', 'samples']);
    assert.equal(c.code, 0, c.stderr);
    const s = tp(['status', '--output', 'json']);
    assert.equal(s.code, 0, s.stderr);
    const routed = (JSON.parse(s.stdout) as { routedSubnets: string[] }).routedSubnets;
    assert.deepEqual([...routed].sort(), [NODE_POD_CIDR, SERVICE_CIDR].sort());

    const clusterIp = kubectl('-n', 'samples', 'get', 'service', 'echo', '-o', 'jsonpath={.spec.clusterIP}').trim();
    const aaaa = ws(['getent', 'ahostsv6', 'echo.samples.svc.cluster.local']);
    assert.equal(aaaa.code, 0, `no AAAA for echo.samples.svc.cluster.local: ${aaaa.stderr}`);
    assert.equal(aaaa.stdout.split(/\s+/)[0], clusterIp);
    // %{remote_ip}: curl connected to the Service's IPv6 address, through the TUN device.
    const byName = ws(['curl', '-sS', '--max-time', '10', '-w', '\n%{remote_ip}', 'http://echo.samples:8080/']);
    assert.equal(byName.code, 0, byName.stderr);
    const lines = byName.stdout.split('\n').filter((l) => l !== '');
    assert.equal(lines.at(-1), clusterIp);
    assert.match((JSON.parse(lines[0]!) as { pod: string }).pod, /^echo-/);

    const pod = kubectlJson<{ items: { metadata: { name: string }; status: { podIP: string } }[] }>('-n', 'samples', 'get', 'pods', '-l', 'app=echo').items[0]!;
    const byIp = ws(['curl', '-sS', '-g', '--max-time', '10', `http://[${pod.status.podIP}]:8080/`]);
    assert.equal(byIp.code, 0, byIp.stderr);
    assert.equal((JSON.parse(byIp.stdout) as { pod: string }).pod, pod.metadata.name);
  });

  test('a personal intercept routes by header; other requests still reach the pods', () => {
    const i = tp(['intercept', 'echo', '--namespace', 'samples', '--port', String(LOCAL_PORT), '--http-header', 'x-stack=ipv6', '--mount=false']);
    assert.equal(i.code, 0, i.stderr);
    const withHeader = fromClientPod(['http-get', 'http://echo.samples:8080/', '--header', 'x-stack=ipv6', '--count', '3', '--timeout', '5000']);
    assert.equal(withHeader.code, 0, withHeader.stderr);
    for (const line of withHeader.stdout.trim().split('\n')) assert.equal((JSON.parse(line) as { pod: string }).pod, 'laptop');
    const without = fromClientPod(['http-get', 'http://echo.samples:8080/', '--timeout', '5000']);
    assert.equal(without.code, 0, without.stderr);
    assert.match((JSON.parse(without.stdout.trim()) as { pod: string }).pod, /^echo-/);
    const l = tp(['leave', 'echo']);
    assert.equal(l.code, 0, l.stderr);
  });
});
