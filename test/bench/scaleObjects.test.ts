import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  endpointAddresses,
  MAX_SERVICES,
  namespaceCount,
  namespaceOf,
  scaleEndpointSlice,
  scaleNamespace,
  scaleService,
  serviceFqdn,
} from './scaleObjects.js';

test('Services go ten to a namespace: 100 in 10 namespaces, 3000 in 300', () => {
  assert.equal(namespaceOf(0), 'tp-scale-000');
  assert.equal(namespaceOf(9), 'tp-scale-000');
  assert.equal(namespaceOf(10), 'tp-scale-001');
  assert.equal(namespaceOf(2999), 'tp-scale-299');
  assert.equal(namespaceCount(100), 10);
  assert.equal(namespaceCount(3000), 300);
  assert.equal(namespaceCount(25), 3);
  assert.equal(serviceFqdn(1234), 'svc-1234.tp-scale-123.svc.cluster.local');
});

test('endpoint addresses: one or two per Service, all distinct, all in 10.244.128.0/17', () => {
  const all = Array.from({ length: MAX_SERVICES }, (_, n) => endpointAddresses(n)).flat();
  assert.equal(new Set(all).size, all.length);
  assert.equal(all.length, MAX_SERVICES + MAX_SERVICES / 2);
  for (const a of all) {
    const [p, q, r, s] = a.split('.').map(Number);
    assert.ok(p === 10 && q === 244 && r! >= 128 && r! <= 255 && s! >= 1 && s! <= 250, a);
  }
});

test('a Service, its EndpointSlice and its namespace: the slice names the Service, its port is the target port, its endpoints are ready', () => {
  const svc = scaleService(7);
  const slice = scaleEndpointSlice(7);
  assert.equal(svc.metadata?.namespace, 'tp-scale-000');
  assert.equal(slice.metadata?.namespace, svc.metadata?.namespace);
  assert.equal(slice.metadata?.labels?.['kubernetes.io/service-name'], svc.metadata?.name);
  assert.notEqual(slice.metadata?.labels?.['endpointslice.kubernetes.io/managed-by'], 'endpointslice-controller.k8s.io');
  assert.equal(slice.ports?.[0]?.port, svc.spec?.ports?.[0]?.targetPort);
  assert.equal(slice.ports?.[0]?.name, svc.spec?.ports?.[0]?.name);
  assert.equal(slice.endpoints.length, 2);
  assert.ok(slice.endpoints.every((e) => e.conditions?.ready === true));
  assert.ok(svc.spec?.selector && Object.keys(svc.spec.selector).length === 1);
  assert.deepEqual(scaleNamespace(3).metadata?.labels, { 'telepath-bench': 'scale' });
});
