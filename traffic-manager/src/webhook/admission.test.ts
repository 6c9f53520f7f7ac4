import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from 'kubernetes-types/core/v1';
import { AGENT_CONFIG_ANNOTATION, type AgentConfig } from '../../../protocol/src/agent/agentConfig.js';
import type { LogFields, Logger } from '../../../common/src/log/jsonLogger.js';
import { type AdmissionReview, BadAdmissionReview, review } from './admission.js';
import { applyJsonPatch, type JsonPatchOp } from './jsonPatch.js';

interface Line {
  level: string;
  msg: string;
  fields?: LogFields;
}

function recordingLogger(lines: Line[]): Logger {
  const log = (level: string) => (msg: string, fields?: LogFields) => void lines.push({ level, msg, fields });
  const l: Logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), child: () => l };
  return l;
}

const CONFIG: AgentConfig = {
  version: 1,
  workload: { kind: 'Deployment', name: 'web', namespace: 'shop' },
  container: 'web',
  ports: [{ name: 'http', agentPort: 9900, appPort: 8080, appPortRename: 'tpa-http', protocol: 'TCP', services: [] }],
};

function markedPod(config: unknown = CONFIG): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'web-5b8c-', labels: { 'telepath.io/agent': 'enabled' }, annotations: { [AGENT_CONFIG_ANNOTATION]: JSON.stringify(config) } },
    spec: { containers: [{ name: 'web', image: 'web:1', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }] },
  };
}

function admissionReview(request: Record<string, unknown>): unknown {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      namespace: 'shop',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object: markedPod(),
      dryRun: false,
      ...request,
    },
  };
}

const OPTS = { image: 'node:20-alpine', managerAddress: 'traffic-manager.telepath:8083' };

function decodePatch(r: AdmissionReview): JsonPatchOp[] {
  assert.equal(r.response?.patchType, 'JSONPatch');
  return JSON.parse(Buffer.from(r.response?.patch ?? '', 'base64').toString('utf8')) as JsonPatchOp[];
}

test('a marked pod creation is allowed with a base64 JSON patch that adds the agent, and the uid is echoed', () => {
  const lines: Line[] = [];
  const r = review(admissionReview({}), { ...OPTS, logger: recordingLogger(lines) });
  assert.equal(r.apiVersion, 'admission.k8s.io/v1');
  assert.equal(r.kind, 'AdmissionReview');
  assert.equal(r.request, undefined, 'the request is not echoed back');
  assert.equal(r.response?.uid, '705ab4f5-6393-11e8-b7cc-42010a800002');
  assert.equal(r.response?.allowed, true);
  const pod = applyJsonPatch(markedPod(), decodePatch(r));
  assert.deepEqual(pod.spec?.containers.map((c) => c.name), ['web', 'telepath-agent']);
  assert.equal(pod.spec?.containers[1].image, 'node:20-alpine');
  assert.equal(pod.spec?.containers[1].env?.find((e) => e.name === '_TP_MANAGER_ADDRESS')?.value, 'traffic-manager.telepath:8083');
  const info = lines.find((l) => l.level === 'info');
  assert.equal(info?.msg, 'injecting the traffic-agent');
  assert.deepEqual(info?.fields, { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', namespace: 'shop', pod: 'web-5b8c-', workload: 'Deployment/web', dryRun: false });
});

test('onInjected hears of each injection with its workload, not of dry runs nor of pods left alone', () => {
  const heard: AgentConfig['workload'][] = [];
  const opts = { ...OPTS, logger: recordingLogger([]), onInjected: (w: AgentConfig['workload']) => void heard.push(w) };
  review(admissionReview({}), opts);
  review(admissionReview({ dryRun: true }), opts);
  review(admissionReview({ object: markedPod({ version: 99 }) }), opts);
  assert.deepEqual(heard, [{ kind: 'Deployment', name: 'web', namespace: 'shop' }]);
});

test('the namespace comes from the request when the pod does not carry it', () => {
  const other = review(admissionReview({ namespace: 'elsewhere' }), { ...OPTS, logger: recordingLogger([]) });
  assert.equal(other.response?.patch, undefined, 'the config is for shop; the pod is created in elsewhere');
});

test('a pod that cannot be injected is allowed unchanged, and the reason is logged', () => {
  const lines: Line[] = [];
  const r = review(admissionReview({ object: markedPod({ ...CONFIG, container: 'api' }) }), { ...OPTS, logger: recordingLogger(lines) });
  assert.deepEqual(r.response, { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true });
  const warn = lines.find((l) => l.level === 'warn');
  assert.equal(warn?.msg, 'traffic-agent not injected');
  assert.match(String(warn?.fields?.problems), /names container api/);
});

test('only pod CREATE is mutated', () => {
  const logger = recordingLogger([]);
  for (const request of [
    { operation: 'UPDATE' },
    { operation: 'CREATE', subResource: 'binding' },
    { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } },
    { kind: { group: '', version: 'v1', kind: 'Service' } },
  ]) {
    const r = review(admissionReview(request), { ...OPTS, logger });
    assert.deepEqual(r.response, { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true }, JSON.stringify(request));
  }
});

test('a request without a usable pod is still allowed', () => {
  const lines: Line[] = [];
  const logger = recordingLogger(lines);
  for (const object of [undefined, 'x', { metadata: {} }, { spec: { containers: 'no' } }]) {
    const r = review(admissionReview({ object }), { ...OPTS, logger });
    assert.deepEqual(r.response, { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true }, JSON.stringify(object));
  }
  assert.ok(lines.some((l) => l.level === 'warn' || l.level === 'error'));
});

test('what is not an admission.k8s.io/v1 AdmissionReview with a uid is refused as a bad request', () => {
  const logger = recordingLogger([]);
  assert.throws(() => review(null, { ...OPTS, logger }), BadAdmissionReview);
  assert.throws(() => review({ kind: 'Pod' }, { ...OPTS, logger }), /not an AdmissionReview/);
  assert.throws(() => review({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'u' } }, { ...OPTS, logger }), /unsupported AdmissionReview version/);
  assert.throws(() => review({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: {} }, { ...OPTS, logger }), /no request uid/);
});
