import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MutatingWebhookConfiguration } from 'kubernetes-types/admissionregistration/v1';
import type { Deployment } from 'kubernetes-types/apps/v1';
import type { ConfigMap, Service } from 'kubernetes-types/core/v1';
import type { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-types/rbac/v1';
import { API_LEVEL, MIN_API_LEVEL, PRODUCT_VERSION } from '../../../protocol/src/version.js';
import {
  AGENT_PORT,
  API_LEVELS_ANNOTATION,
  BUNDLE_HASH_ANNOTATION,
  BUNDLE_KEY,
  CONFIGMAP_MAX_BYTES,
  configMapSize,
  GRPC_PORT,
  LOADER_KEY,
  type ManagerObject,
  managerManifests,
  WEBHOOK_NAME,
  WEBHOOK_PATH,
  WEBHOOK_PORT,
  WEBHOOK_TLS_SECRET,
  webhookConfigName,
} from './managerManifests.js';

const builtBundle = path.resolve(import.meta.dirname, '../../../dist/traffic-manager.js');

function byKind<T extends ManagerObject>(objects: ManagerObject[], kind: T['kind']): T {
  const found = objects.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `exactly one ${kind}`);
  return found[0] as T;
}

const bundle = Buffer.from("process.stdout.write('fake manager ' + process.argv.slice(2).join(' ') + '\\n');\n");

test('an install is these objects, in apply order, in its namespace', () => {
  const objects = managerManifests({ version: '1.2.3', bundle, namespace: 'tp-x', image: 'registry.example/node:20' });
  assert.deepEqual(
    objects.map((o) => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`),
    [
      'Namespace//tp-x',
      'CustomResourceDefinition//sessions.telepath.dev',
      'ValidatingAdmissionPolicy//tp-x-telepath-session-identity',
      'ValidatingAdmissionPolicyBinding//tp-x-telepath-session-identity',
      'ServiceAccount/tp-x/traffic-manager',
      'ClusterRole//tp-x-traffic-manager',
      'ClusterRoleBinding//tp-x-traffic-manager',
      'Role/tp-x/traffic-manager',
      'RoleBinding/tp-x/traffic-manager',
      'ConfigMap/tp-x/traffic-manager',
      'Deployment/tp-x/traffic-manager',
      'Service/tp-x/traffic-manager',
      'MutatingWebhookConfiguration//tp-x-traffic-manager',
    ],
  );
  for (const o of objects.slice(1)) assert.equal(o.metadata?.labels?.['app.kubernetes.io/version'], '1.2.3', `${o.kind} carries the version`);
});

test('uninstall, which deletes in reverse order, removes the webhook before the Service it calls', () => {
  const kinds = managerManifests({ version: '1.2.3', bundle }).map((o) => o.kind);
  assert.ok(kinds.indexOf('MutatingWebhookConfiguration') > kinds.indexOf('Service'));
  assert.ok(kinds.indexOf('MutatingWebhookConfiguration') > kinds.indexOf('Deployment'));
  assert.equal(kinds.at(-1), 'MutatingWebhookConfiguration');
});

test('RBAC grants only what the manager uses', () => {
  const objects = managerManifests({ version: '1.2.3', bundle });
  const cr = byKind<ClusterRole>(objects, 'ClusterRole');
  assert.deepEqual(cr.rules, [
    { apiGroups: [''], resources: ['nodes'], verbs: ['list', 'watch'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
    { apiGroups: ['networking.k8s.io'], resources: ['servicecidrs'], verbs: ['list', 'watch'] },
    {
      apiGroups: ['admissionregistration.k8s.io'],
      resources: ['mutatingwebhookconfigurations'],
      resourceNames: ['telepath-traffic-manager'],
      verbs: ['get', 'patch'],
    },
    { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
    { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
  ]);
  const role = byKind<Role>(objects, 'Role');
  assert.deepEqual(role.rules, [
    { apiGroups: [''], resources: ['services'], verbs: ['create'] },
    { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
    { apiGroups: [''], resources: ['secrets'], resourceNames: ['traffic-manager-webhook-tls'], verbs: ['get', 'update'] },
    { apiGroups: ['telepath.dev'], resources: ['sessions'], verbs: ['get', 'list', 'delete'] },
  ]);
  assert.equal(WEBHOOK_TLS_SECRET, 'traffic-manager-webhook-tls');
  assert.equal(role.metadata?.namespace, 'telepath', 'the Secret rules hold in the manager namespace only');
  const sa = [{ kind: 'ServiceAccount', name: 'traffic-manager', namespace: 'telepath' }];
  const crb = byKind<ClusterRoleBinding>(objects, 'ClusterRoleBinding');
  assert.deepEqual(crb.subjects, sa);
  assert.deepEqual(crb.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: cr.metadata?.name });
  const rb = byKind<RoleBinding>(objects, 'RoleBinding');
  assert.deepEqual(rb.subjects, sa);
  assert.deepEqual(rb.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata?.name });
});

test('the Deployment runs the loader from the ConfigMap, unprivileged, and the Service reaches its agent port, not the daemons\' one', () => {
  const objects = managerManifests({ version: '1.2.3', bundle });
  const d = byKind<Deployment>(objects, 'Deployment');
  const cm = byKind<ConfigMap>(objects, 'ConfigMap');
  const svc = byKind<Service>(objects, 'Service');
  const pod = d.spec?.template.spec;
  const c = pod?.containers[0];
  assert.equal(d.spec?.replicas, 1);
  assert.equal(c?.image, 'docker.io/library/node:20-alpine');
  assert.equal(c?.imagePullPolicy, 'IfNotPresent');
  assert.deepEqual(c?.command, ['node', '--initial-old-space-size=64', `/telepath/${LOADER_KEY}`]);
  assert.equal(pod?.serviceAccountName, 'traffic-manager');
  assert.equal(pod?.securityContext?.runAsNonRoot, true);
  assert.equal(pod?.securityContext?.runAsUser, 1000);
  assert.equal(c?.securityContext?.allowPrivilegeEscalation, false);
  assert.deepEqual(c?.securityContext?.capabilities?.drop, ['ALL']);
  assert.deepEqual(c?.readinessProbe?.httpGet, { path: '/readyz', port: 'health' });
  assert.ok(c?.ports?.some((p) => p.name === 'health' && p.containerPort === 8082));
  assert.ok(c?.resources?.limits?.memory, 'a memory limit');
  assert.deepEqual(c?.env?.find((e) => e.name === 'TELEPATH_NAMESPACE')?.valueFrom, { fieldRef: { fieldPath: 'metadata.namespace' } });
  // The selector must match the pod, and must not contain the version (it is immutable).
  const selector = d.spec?.selector.matchLabels ?? {};
  assert.equal(selector['app.kubernetes.io/version'], undefined);
  for (const [k, v] of Object.entries(selector)) assert.equal(d.spec?.template.metadata?.labels?.[k], v);
  assert.deepEqual(svc.spec?.selector, selector);
  assert.equal(d.spec?.template.metadata?.labels?.['app.kubernetes.io/version'], '1.2.3');
  // What a connecting client reads before it decides to use, upgrade or refuse the manager.
  assert.equal(d.metadata?.labels?.['app.kubernetes.io/version'], '1.2.3');
  assert.equal(d.metadata?.annotations?.[API_LEVELS_ANNOTATION], `${MIN_API_LEVEL}-${API_LEVEL}`);
  const older = byKind<Deployment>(managerManifests({ version: '1.2.3', bundle, api: { level: 3, min: 2 } }), 'Deployment');
  assert.equal(older.metadata?.annotations?.[API_LEVELS_ANNOTATION], '2-3');
  // The volume is the ConfigMap, mounted where the command looks.
  assert.equal(pod?.volumes?.[0]?.configMap?.name, cm.metadata?.name);
  assert.deepEqual(c?.volumeMounts, [{ name: pod?.volumes?.[0]?.name, mountPath: '/telepath', readOnly: true }]);
  // A new bundle changes the pod template, so the Deployment rolls.
  const hash = createHash('sha256').update(bundle).digest('hex');
  assert.equal(d.spec?.template.metadata?.annotations?.[BUNDLE_HASH_ANNOTATION], hash);
  const other = byKind<Deployment>(managerManifests({ version: '1.2.3', bundle: Buffer.from('other') }), 'Deployment');
  assert.notEqual(other.spec?.template.metadata?.annotations?.[BUNDLE_HASH_ANNOTATION], hash);
  assert.deepEqual(svc.spec?.ports, [
    { name: 'agent', port: 8083, targetPort: 'agent', protocol: 'TCP', appProtocol: 'kubernetes.io/h2c' },
    { name: 'https-webhook', port: 443, targetPort: 'webhook', protocol: 'TCP' },
  ]);
  // The daemons' port 8081 is the pod's loopback only: no container port, no Service port.
  assert.deepEqual(c?.ports?.map((p) => [p.name, p.containerPort]), [['agent', 8083], ['health', 8082], ['webhook', 443]]);
  assert.ok(!svc.spec?.ports?.some((p) => p.port === GRPC_PORT || String(p.targetPort) === String(GRPC_PORT)), "the Service does not lead to the daemons' port");
  assert.ok(c?.ports?.some((p) => p.name === 'webhook' && p.containerPort === 443 && p.protocol === 'TCP'));
  const env = (name: string): string | undefined => c?.env?.find((e) => e.name === name)?.value;
  assert.equal(env('TELEPATH_WEBHOOK_PORT'), String(WEBHOOK_PORT));
  assert.equal(env('TELEPATH_GRPC_PORT'), String(GRPC_PORT));
  assert.equal(env('TELEPATH_AGENT_PORT'), String(AGENT_PORT));
  assert.equal(env('TELEPATH_AGENT_IMAGE'), 'docker.io/library/node:20-alpine');
  const custom = byKind<Deployment>(managerManifests({ version: '1', bundle, image: 'registry.example/node:20' }), 'Deployment');
  assert.equal(custom.spec?.template.spec?.containers[0].env?.find((e) => e.name === 'TELEPATH_AGENT_IMAGE')?.value, 'registry.example/node:20');
});

test("the manager learns its pod's addresses from the downward API, and TELEPATH_TUNNEL_ALLOW only when the install sets it", () => {
  const envOf = (d: Deployment) => d.spec?.template.spec?.containers[0].env ?? [];
  const plain = envOf(byKind<Deployment>(managerManifests({ version: '1', bundle }), 'Deployment'));
  assert.deepEqual(plain.find((e) => e.name === 'POD_IPS')?.valueFrom, { fieldRef: { fieldPath: 'status.podIPs' } });
  // Absent rather than empty: a value set by hand (kubectl set env) is then not reset by the next apply.
  assert.equal(plain.find((e) => e.name === 'TELEPATH_TUNNEL_ALLOW'), undefined);
  assert.equal(envOf(byKind<Deployment>(managerManifests({ version: '1', bundle, tunnelAllow: [] }), 'Deployment')).find((e) => e.name === 'TELEPATH_TUNNEL_ALLOW'), undefined);
  const allowing = envOf(byKind<Deployment>(managerManifests({ version: '1', bundle, tunnelAllow: ['10.20.0.0/16', '169.254.169.254/32'] }), 'Deployment'));
  assert.deepEqual(allowing.find((e) => e.name === 'TELEPATH_TUNNEL_ALLOW'), { name: 'TELEPATH_TUNNEL_ALLOW', value: '10.20.0.0/16,169.254.169.254/32' });
});

test('the webhook sends only marked pod creations outside system namespaces to the manager, and never blocks them', () => {
  const objects = managerManifests({ version: '1.2.3', bundle, namespace: 'tp-x' });
  const cfg = byKind<MutatingWebhookConfiguration>(objects, 'MutatingWebhookConfiguration');
  const svc = byKind<Service>(objects, 'Service');
  const d = byKind<Deployment>(objects, 'Deployment');
  assert.equal(cfg.apiVersion, 'admissionregistration.k8s.io/v1');
  assert.equal(cfg.metadata?.name, webhookConfigName('tp-x'));
  assert.equal(cfg.metadata?.name, 'tp-x-traffic-manager');
  assert.equal(cfg.metadata?.namespace, undefined, 'cluster-scoped');
  assert.equal(cfg.webhooks?.length, 1);
  const w = cfg.webhooks?.[0];
  assert.equal(w?.name, WEBHOOK_NAME);
  assert.equal(w?.name, 'agent-injector.telepath.io');
  // The manager owns caBundle; a caBundle here would make every apply by the daemon reset it.
  assert.deepEqual(w?.clientConfig, { service: { namespace: 'tp-x', name: 'traffic-manager', path: WEBHOOK_PATH, port: 443 } });
  assert.equal(WEBHOOK_PATH, '/mutate-pods');
  // The Service port it names leads to the manager's webhook port.
  const svcPort = svc.spec?.ports?.find((p) => p.port === w?.clientConfig.service?.port);
  const containerPort = d.spec?.template.spec?.containers[0].ports?.find((p) => p.name === svcPort?.targetPort);
  assert.equal(containerPort?.containerPort, WEBHOOK_PORT);
  assert.deepEqual(w?.rules, [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }]);
  assert.deepEqual(w?.objectSelector, { matchLabels: { 'telepath.io/agent': 'enabled' } });
  assert.deepEqual(w?.namespaceSelector, {
    matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-public', 'kube-node-lease', 'tp-x'] }],
  });
  assert.equal(w?.failurePolicy, 'Ignore');
  assert.equal(w?.sideEffects, 'None');
  assert.deepEqual(w?.admissionReviewVersions, ['v1']);
  assert.equal(w?.timeoutSeconds, 5);
  assert.equal(w?.reinvocationPolicy, 'Never');
});

test('the ConfigMap loader runs the gzipped bundle with its arguments', () => {
  const cm = byKind<ConfigMap>(managerManifests({ version: '1.2.3', bundle }), 'ConfigMap');
  const dir = mkdtempSync(path.join(tmpdir(), 'telepath-loader-'));
  try {
    writeFileSync(path.join(dir, LOADER_KEY), cm.data?.[LOADER_KEY] ?? '');
    writeFileSync(path.join(dir, BUNDLE_KEY), Buffer.from(cm.binaryData?.[BUNDLE_KEY] ?? '', 'base64'));
    assert.equal(execFileSync(process.execPath, [path.join(dir, LOADER_KEY), '--version', 'x'], { encoding: 'utf8' }), 'fake manager --version x\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a bundle that cannot fit a ConfigMap is refused with its size', () => {
  assert.throws(() => managerManifests({ version: '1', bundle: randomBytes(CONFIGMAP_MAX_BYTES + 1) }), /too big for a ConfigMap: \d+ bytes gzipped/);
});

test('the real built bundle fits the ConfigMap and starts through the loader', (t) => {
  if (!existsSync(builtBundle)) return t.skip('dist/traffic-manager.js is not built (npx webpack --config-name traffic-manager)');
  const real = readFileSync(builtBundle);
  const cm = byKind<ConfigMap>(managerManifests({ version: PRODUCT_VERSION, bundle: real }), 'ConfigMap');
  const size = configMapSize(cm);
  t.diagnostic(`bundle ${real.length} bytes raw, ConfigMap ${size} bytes`);
  assert.ok(size < CONFIGMAP_MAX_BYTES / 2, `${size} bytes leaves room to grow`);
  const dir = mkdtempSync(path.join(tmpdir(), 'telepath-loader-'));
  try {
    writeFileSync(path.join(dir, LOADER_KEY), cm.data?.[LOADER_KEY] ?? '');
    writeFileSync(path.join(dir, BUNDLE_KEY), Buffer.from(cm.binaryData?.[BUNDLE_KEY] ?? '', 'base64'));
    assert.equal(execFileSync(process.execPath, [path.join(dir, LOADER_KEY), '--version'], { encoding: 'utf8' }), `traffic-manager ${PRODUCT_VERSION}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
