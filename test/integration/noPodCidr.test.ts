/**
 * A cluster whose nodes have no spec.podCIDR (issue #16), as with Calico's own IPAM, Cilium's
 * cluster pool and cloud VPC CNIs: the profile `no-pod-cidr` has the controller-manager allocate
 * none, while the CNI gives pods addresses from its own ranges. The manager then covers the pods'
 * own addresses (TELEPATH_POD_CIDR_STRATEGY=auto), so the workstation reaches pods by IP; a pod in
 * a range no pod had before becomes reachable by itself. Connect, DNS and a personal intercept
 * work as on the default cluster. The next test file's ensureCluster() brings that one back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildBundles, ensureCluster, fromClientPod, kubectl, kubectlJson, profileWorkstation, stateDir, until, ws } from '../cluster/harness.js';

const LOCAL_PORT = 18151;
const { tp, startLaptop, cleanUp } = profileWorkstation('nopodcidr', LOCAL_PORT);
/** The node's CNI configuration (test/cluster/config.sh); host-local reads it at every pod's start. */
const cniConf = path.join(stateDir, 'cni/net.d/10-telepath.conflist');
/** A range no pod of the cluster uses, as a CNI that hands out a new block would. */
const NEW_RANGE = '10.246.7.0/24';

let savedConf: string | undefined;

function routedSubnets(): string[] {
  const s = tp(['status', '--output', 'json']);
  assert.equal(s.code, 0, s.stderr);
  return (JSON.parse(s.stdout) as { routedSubnets: string[] }).routedSubnets;
}

before(() => {
  ensureCluster('no-pod-cidr');
  buildBundles('telepath', 'traffic-manager', 'traffic-agent');
  startLaptop();
});

after(() => {
  if (savedConf !== undefined) writeFileSync(cniConf, savedConf);
  ws(['kubectl', '-n', 'samples', 'delete', 'pod', 'new-range', '--ignore-not-found', '--wait=false']);
  cleanUp();
});

describe('nodes without spec.podCIDR', () => {
  test('the node has no podCIDR; connect routes the pods by their own addresses and resolves names', () => {
    const nodes = kubectlJson<{ items: { spec: { podCIDR?: string; podCIDRs?: string[] } }[] }>('get', 'nodes').items;
    for (const n of nodes) assert.equal(n.spec.podCIDR ?? n.spec.podCIDRs?.[0], undefined);
    const c = tp(['connect', '--namespace', 'samples']);
    assert.equal(c.code, 0, c.stderr);
    const pod = kubectlJson<{ items: { status: { podIP: string } }[] }>('-n', 'samples', 'get', 'pods', '-l', 'app=echo').items[0]!;
    assert.ok(routedSubnets().includes('10.244.0.0/24'), `routed: ${routedSubnets().join(', ')}`);
    const byIp = ws(['curl', '-sS', '--max-time', '10', `http://${pod.status.podIP}:8080/`]);
    assert.equal(byIp.code, 0, byIp.stderr);
    const byName = ws(['curl', '-sS', '--max-time', '10', 'http://echo.samples:8080/']);
    assert.equal(byName.code, 0, byName.stderr);
  });

  test('a pod in a range no pod had before becomes reachable by itself', async () => {
    savedConf = readFileSync(cniConf, 'utf8');
    // A bridge of its own: the bridge plugin keeps one gateway subnet per bridge.
    const conf = JSON.parse(savedConf) as { plugins: { bridge?: string; ipam?: { ranges: { subnet: string }[][] } }[] };
    conf.plugins[0]!.bridge = 'cni1';
    conf.plugins[0]!.ipam!.ranges = [[{ subnet: NEW_RANGE }]];
    writeFileSync(cniConf, JSON.stringify(conf, null, 2));
    const run = ws(['kubectl', '-n', 'samples', 'run', 'new-range', '--image=docker.io/library/telepath-samples:dev', '--image-pull-policy=Never', '--restart=Never', '--', 'http-echo', '--port', '8080']);
    assert.equal(run.code, 0, run.stderr);
    kubectl('-n', 'samples', 'wait', '--for=condition=Ready', 'pod/new-range', '--timeout=60s');
    writeFileSync(cniConf, savedConf);
    savedConf = undefined;
    const ip = kubectl('-n', 'samples', 'get', 'pod', 'new-range', '-o', 'jsonpath={.status.podIP}').trim();
    assert.match(ip, /^10\.246\.7\./);
    const t0 = Date.now();
    await until('the new range to be routed', 30_000, () => routedSubnets().includes(NEW_RANGE));
    const routedAfter = Date.now() - t0;
    const curl = ws(['curl', '-sS', '--max-time', '10', `http://${ip}:8080/`]);
    assert.equal(curl.code, 0, curl.stderr);
    assert.equal((JSON.parse(curl.stdout) as { pod: string }).pod, 'new-range');
    process.stdout.write(`# ${NEW_RANGE} routed ${routedAfter} ms after its first pod was Ready\n`);
  });

  test('a personal intercept routes by header', () => {
    const i = tp(['intercept', 'echo', '--namespace', 'samples', '--port', String(LOCAL_PORT), '--http-header', 'x-cni=vpc', '--mount=false']);
    assert.equal(i.code, 0, i.stderr);
    const r = fromClientPod(['http-get', 'http://echo.samples:8080/', '--header', 'x-cni=vpc', '--count', '3', '--timeout', '5000']);
    assert.equal(r.code, 0, r.stderr);
    for (const line of r.stdout.trim().split('\n')) assert.equal((JSON.parse(line) as { pod: string }).pod, 'laptop');
    const l = tp(['leave', 'echo']);
    assert.equal(l.code, 0, l.stderr);
  });
});
