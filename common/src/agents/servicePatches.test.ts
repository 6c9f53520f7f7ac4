import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Service } from 'kubernetes-types/core/v1';
import { ORIGINAL_TARGET_PORTS_ANNOTATION } from '../../../protocol/src/agent/agentConfig.js';
import { servicePatch, serviceRestorePatch, type ServicePatch } from './servicePatches.js';
import { applyMergePatch } from '../testing/mergePatch.js';
import { NAMESPACE, service } from '../testing/sampleObjects.js';

/** A NodePort Service with three ports, two of them numeric. */
const api: Service = (() => {
  const s = service('api', [
    { name: 'http', port: 80, targetPort: 8080, nodePort: 30080 },
    { name: 'grpc', port: 50051, targetPort: 'grpc', nodePort: 30051 },
    { name: 'admin', port: 9000, targetPort: 9000, nodePort: 30900, appProtocol: 'http' },
  ]);
  return { ...s, metadata: { ...s.metadata, annotations: { owner: 'team-a' } }, spec: { ...s.spec, type: 'NodePort' } };
})();

const patch: ServicePatch = {
  service: 'api',
  namespace: NAMESPACE,
  ports: [
    { key: 'http', from: 8080, to: 'tp-8080' },
    { key: 'admin', from: 9000, to: 'tp-9000' },
  ],
  annotation: '{"admin":9000,"http":8080}',
};

test('servicePatch re-points the planned ports only, keeping everything else of the list', () => {
  assert.deepEqual(servicePatch(api, patch), {
    metadata: { annotations: { [ORIGINAL_TARGET_PORTS_ANNOTATION]: '{"admin":9000,"http":8080}' }, resourceVersion: '1077' },
    spec: {
      ports: [
        { protocol: 'TCP', name: 'http', port: 80, targetPort: 'tp-8080', nodePort: 30080 },
        { protocol: 'TCP', name: 'grpc', port: 50051, targetPort: 'grpc', nodePort: 30051 },
        { protocol: 'TCP', name: 'admin', port: 9000, targetPort: 'tp-9000', nodePort: 30900, appProtocol: 'http' },
      ],
    },
  });
});

test('serviceRestorePatch gives back exactly the Service as it was', () => {
  const patched = applyMergePatch(api, servicePatch(api, patch));
  assert.notDeepEqual(patched.spec, api.spec);
  const restore = serviceRestorePatch(patched);
  assert.ok(restore);
  assert.deepEqual(restore.metadata, { annotations: { [ORIGINAL_TARGET_PORTS_ANNOTATION]: null }, resourceVersion: '1077' });
  assert.deepEqual(applyMergePatch(patched, restore), api);
});

test('serviceRestorePatch leaves a port alone that someone already set to a number', () => {
  const patched = applyMergePatch(api, servicePatch(api, patch));
  const edited: Service = { ...patched, spec: { ...patched.spec, ports: patched.spec?.ports?.map((p) => (p.name === 'http' ? { ...p, targetPort: 8081 } : p)) } };
  const restored = applyMergePatch(edited, serviceRestorePatch(edited));
  assert.deepEqual(restored.spec?.ports?.map((p) => p.targetPort), [8081, 'grpc', 9000]);
  assert.deepEqual(restored.metadata?.annotations, { owner: 'team-a' });
});

test('serviceRestorePatch is undefined without the annotation, and removes an unreadable one', () => {
  assert.equal(serviceRestorePatch(api), undefined);
  const junk: Service = { ...api, metadata: { ...api.metadata, annotations: { ...api.metadata?.annotations, [ORIGINAL_TARGET_PORTS_ANNOTATION]: 'junk' } } };
  assert.deepEqual(applyMergePatch(junk, serviceRestorePatch(junk)), api);
});

test('servicePatch is idempotent and refuses a Service that changed since planning', () => {
  const patched = applyMergePatch(api, servicePatch(api, patch));
  assert.deepEqual(applyMergePatch(patched, servicePatch(patched, patch)), patched);
  const changed: Service = { ...api, spec: { ...api.spec, ports: api.spec?.ports?.map((p) => (p.name === 'http' ? { ...p, targetPort: 8081 } : p)) } };
  assert.throws(() => servicePatch(changed, patch), { message: 'Service samples/api port http now targets 8081, not 8080; plan the intercept again' });
  const shrunk: Service = { ...api, spec: { ...api.spec, ports: api.spec?.ports?.slice(0, 2) } };
  assert.throws(() => servicePatch(shrunk, patch), { message: 'Service samples/api has no port admin any more; plan the intercept again' });
});

test('a Service without resourceVersion gives a patch without one', () => {
  const bare: Service = { ...api, metadata: { name: 'api', namespace: NAMESPACE } };
  assert.deepEqual(Object.keys(servicePatch(bare, patch).metadata), ['annotations']);
});
