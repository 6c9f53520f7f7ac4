import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isCidr, nodesHavePodCidrs, parseResolvConf, parseServiceRangeError, podCidrsOfNodes } from './clusterInfo.js';

test('the service range is read from the API server error, IPv4 and dual stack', () => {
  assert.deepEqual(
    parseServiceRangeError('Service "x" is invalid: spec.clusterIPs: Invalid value: []string{"1.1.1.1"}: failed to allocate IP 1.1.1.1: the provided IP (1.1.1.1) is not in the valid range. The range of valid IPs is 10.96.0.0/16'),
    ['10.96.0.0/16'],
  );
  assert.deepEqual(parseServiceRangeError('The range of valid IPs is 10.43.0.0/16, fd00:10:43::/112'), ['10.43.0.0/16', 'fd00:10:43::/112']);
  assert.deepEqual(parseServiceRangeError('forbidden: User cannot create services'), []);
});

test('resolv.conf gives the cluster DNS server and domain', () => {
  const conf = 'search telepath.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n';
  assert.deepEqual(parseResolvConf(conf), { nameserver: '10.96.0.10', clusterDomain: 'cluster.local' });
  assert.deepEqual(parseResolvConf('# nothing\n'), { nameserver: undefined, clusterDomain: undefined });
  assert.deepEqual(parseResolvConf('search svc.k8s.example.\nnameserver fd00::a\n'), { nameserver: 'fd00::a', clusterDomain: 'k8s.example' });
});

test('pod CIDRs are collected from every node, podCIDRs before podCIDR, deduplicated', () => {
  assert.deepEqual(
    podCidrsOfNodes([
      { spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24', 'fd00::/64'] } },
      { spec: { podCIDR: '10.244.0.0/24' } },
      { spec: {} },
      { spec: { podCIDR: '10.244.0.0/24' } },
      { spec: { podCIDR: 'garbage' } },
    ]),
    ['10.244.0.0/24', '10.244.1.0/24', 'fd00::/64'],
  );
});

test('the nodes give the pod subnets while some node has a pod CIDR and every Ready one has', () => {
  const ready = { conditions: [{ type: 'MemoryPressure', status: 'False' }, { type: 'Ready', status: 'True' }] };
  const notReady = { conditions: [{ type: 'Ready', status: 'False' }] };
  const withCidr = { spec: { podCIDR: '10.244.0.0/24' }, status: ready };
  assert.equal(nodesHavePodCidrs([withCidr, { spec: { podCIDRs: ['10.244.1.0/24'] }, status: ready }]), true);
  // Calico IPAM, Cilium cluster-pool, VPC CNIs: Ready nodes without one.
  assert.equal(nodesHavePodCidrs([withCidr, { spec: {}, status: ready }]), false);
  assert.equal(nodesHavePodCidrs([{ spec: {}, status: ready }]), false);
  assert.equal(nodesHavePodCidrs([{ spec: { podCIDR: 'garbage' }, status: ready }]), false);
  // A node that just joined gets its podCIDR before it becomes Ready.
  assert.equal(nodesHavePodCidrs([withCidr, { spec: {}, status: notReady }, { spec: {} }]), true);
  // Nothing to go by: not the nodes.
  assert.equal(nodesHavePodCidrs([]), false);
  assert.equal(nodesHavePodCidrs([{ spec: {}, status: notReady }]), false);
});

test('isCidr accepts IPv4 and IPv6 CIDRs only', () => {
  assert.equal(isCidr('10.0.0.0/8'), true);
  assert.equal(isCidr('fd00::/64'), true);
  assert.equal(isCidr('10.0.0.256/8'), false);
  assert.equal(isCidr('10.0.0.0/33'), false);
  assert.equal(isCidr('10.0.0.0'), false);
});
