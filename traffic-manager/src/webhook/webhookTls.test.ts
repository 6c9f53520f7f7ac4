import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { MutatingWebhookConfiguration } from 'kubernetes-types/admissionregistration/v1';
import type { Secret } from 'kubernetes-types/core/v1';
import type { LogFields, Logger } from '../../../common/src/log/jsonLogger.js';
import { InMemoryKube } from '../testing/inMemoryKube.js';
import { sanDnsNames, WebhookTls, type WebhookTlsMaterial } from './webhookTls.js';

const SECRET_PATH = '/api/v1/namespaces/telepath/secrets/traffic-manager-webhook-tls';
const CONFIG_PATH = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/telepath-traffic-manager';
const DAY = 24 * 3600_000;
const T0 = Date.parse('2030-03-01T12:00:00Z');
const NAMES = ['traffic-manager.telepath.svc', 'traffic-manager.telepath.svc.cluster.local', 'traffic-manager.telepath'];

function recordingLogger(lines: { msg: string; fields?: LogFields }[]): Logger {
  const log = (msg: string, fields?: LogFields): void => void lines.push({ msg, fields });
  const l: Logger = { debug: log, info: log, warn: log, error: log, child: () => l };
  return l;
}

function webhookTls(kube: InMemoryKube, at: () => number, extra: { serviceName?: string; lines?: { msg: string; fields?: LogFields }[] } = {}): WebhookTls {
  return new WebhookTls({
    kube,
    namespace: 'telepath',
    serviceName: extra.serviceName ?? 'traffic-manager',
    webhookConfigName: 'telepath-traffic-manager',
    logger: recordingLogger(extra.lines ?? []),
    now: () => new Date(at()),
  });
}

function certsOf(bundle: string): X509Certificate[] {
  return (bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));
}

function storedMaterial(kube: InMemoryKube): { cert: string; key: string; ca: string; type?: string } {
  const s = kube.get<Secret>(SECRET_PATH);
  assert.ok(s, 'the Secret exists');
  const d = (k: string): string => Buffer.from(s.data?.[k] ?? '', 'base64').toString('utf8');
  return { cert: d('tls.crt'), key: d('tls.key'), ca: d('ca.crt'), type: s.type };
}

test('a first start writes a Secret with a CA and a serving certificate for the Service names', async () => {
  const kube = new InMemoryKube();
  const lines: { msg: string; fields?: LogFields }[] = [];
  const m = await webhookTls(kube, () => T0, { lines }).ensure();
  assert.deepEqual(
    kube.calls.map((c) => `${c.method} ${c.path}`),
    [`GET ${SECRET_PATH}`, 'POST /api/v1/namespaces/telepath/secrets'],
  );
  const stored = storedMaterial(kube);
  assert.deepEqual(stored, { cert: m.certPem, key: m.keyPem, ca: m.caBundlePem, type: 'kubernetes.io/tls' });
  assert.equal(lines[0]?.msg, 'wrote a new webhook certificate');
  assert.equal(lines[0]?.fields?.reason, 'there was no Secret');

  const leaf = new X509Certificate(m.certPem);
  const cas = certsOf(m.caBundlePem);
  assert.equal(cas.length, 1);
  const ca = cas[0];
  assert.equal(ca.ca, true);
  assert.equal(ca.subject, ca.issuer, 'the CA is self-signed');
  assert.ok(ca.verify(ca.publicKey));
  assert.equal(leaf.ca, false);
  assert.equal(leaf.issuer, ca.subject);
  assert.ok(leaf.checkIssued(ca));
  assert.ok(leaf.verify(ca.publicKey), "the CA's signature verifies");
  assert.equal(leaf.verify(new X509Certificate((await webhookTls(new InMemoryKube(), () => T0).ensure()).caBundlePem).publicKey), false, 'another CA does not');
  assert.equal(leaf.subject, 'CN=traffic-manager.telepath.svc');
  assert.deepEqual(sanDnsNames(leaf), NAMES);
  assert.equal(leaf.checkHost('traffic-manager.telepath.svc'), 'traffic-manager.telepath.svc');
  assert.equal(leaf.checkHost('traffic-manager.other.svc'), undefined);
  assert.deepEqual(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'serverAuth');
  assert.equal(leaf.publicKey.asymmetricKeyType, 'ec');
  assert.equal(leaf.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.ok(leaf.checkPrivateKey(createPrivateKey(m.keyPem)));
  // Valid from a little before now, for a year; renewed two thirds in.
  assert.equal(Date.parse(leaf.validFrom), T0 - 5 * 60_000);
  assert.equal(Date.parse(leaf.validTo), T0 - 5 * 60_000 + 365 * DAY);
  assert.equal(Date.parse(ca.validTo), Date.parse(leaf.validTo));
  assert.equal(m.renewAt.getTime(), T0 - 5 * 60_000 + Math.floor((365 * DAY * 2) / 3));
});

test('a restarted manager reuses a valid Secret and writes nothing', async () => {
  const kube = new InMemoryKube();
  const first = await webhookTls(kube, () => T0).ensure();
  kube.calls.length = 0;
  const again = await webhookTls(kube, () => T0 + 200 * DAY).ensure();
  assert.deepEqual(again, first);
  assert.deepEqual(kube.writes(), []);
});

test('near expiry the Secret gets a new CA and certificate, and the bundle keeps the old CA', async () => {
  const kube = new InMemoryKube();
  let now = T0;
  const old = await webhookTls(kube, () => now).ensure();
  const lines: { msg: string; fields?: LogFields }[] = [];
  now = old.renewAt.getTime() + 1000;
  const renewed = await webhookTls(kube, () => now, { lines }).ensure();
  assert.notEqual(renewed.certPem, old.certPem);
  assert.equal(kube.writes().at(-1)?.method, 'PUT', 'an update, guarded by resourceVersion');
  assert.match(String(lines[0]?.fields?.reason), /due for renewal/);
  assert.deepEqual(storedMaterial(kube), { cert: renewed.certPem, key: renewed.keyPem, ca: renewed.caBundlePem, type: 'kubernetes.io/tls' });
  const [newCa, oldCa, more] = certsOf(renewed.caBundlePem);
  assert.equal(more, undefined);
  assert.ok(new X509Certificate(renewed.certPem).verify(newCa.publicKey), 'the first CA signed the new certificate');
  assert.ok(new X509Certificate(old.certPem).verify(oldCa.publicKey), 'the old certificate still verifies against the bundle');
  assert.equal(Date.parse(new X509Certificate(renewed.certPem).validFrom), now - 5 * 60_000);

  // Once the old CA has expired it leaves the bundle, without a write.
  kube.calls.length = 0;
  now = old.notAfter.getTime() + 1000;
  const later: WebhookTlsMaterial = await webhookTls(kube, () => now).ensure();
  assert.equal(later.certPem, renewed.certPem);
  assert.equal(certsOf(later.caBundlePem).length, 1);
  assert.deepEqual(kube.writes(), []);
});

test('a Secret for other names, or one that cannot be read, is replaced', async () => {
  const kube = new InMemoryKube();
  await webhookTls(kube, () => T0, { serviceName: 'old-name' }).ensure();
  const lines: { msg: string; fields?: LogFields }[] = [];
  const m = await webhookTls(kube, () => T0, { lines }).ensure();
  assert.match(String(lines[0]?.fields?.reason), /does not name traffic-manager\.telepath\.svc/);
  assert.deepEqual(sanDnsNames(new X509Certificate(m.certPem)), NAMES);

  const secret = kube.get<Secret>(SECRET_PATH);
  assert.ok(secret);
  kube.put(SECRET_PATH, { ...secret, data: { ...secret.data, 'tls.key': Buffer.from('garbage').toString('base64') } });
  lines.length = 0;
  const fixed = await webhookTls(kube, () => T0, { lines }).ensure();
  assert.match(String(lines[0]?.fields?.reason), /cannot be read/);
  assert.notEqual(fixed.certPem, m.certPem);

  kube.put(SECRET_PATH, { ...secret, data: { 'tls.crt': secret.data?.['tls.crt'] ?? '' } });
  lines.length = 0;
  await webhookTls(kube, () => T0, { lines }).ensure();
  assert.match(String(lines[0]?.fields?.reason), /lacks tls\.crt, tls\.key or ca\.crt/);
});

test('of two managers racing to create the Secret, both serve what the first one wrote', async () => {
  const kube = new InMemoryKube();
  const winnerKube = new InMemoryKube();
  const winner = await webhookTls(winnerKube, () => T0).ensure();
  kube.beforeRequest = (call) => {
    if (call.method === 'POST' && !kube.get(SECRET_PATH)) kube.put(SECRET_PATH, winnerKube.get<Secret>(SECRET_PATH) ?? {});
  };
  const mine = await webhookTls(kube, () => T0).ensure();
  assert.equal(mine.certPem, winner.certPem);
  assert.deepEqual(
    kube.calls.map((c) => c.method),
    ['GET', 'POST', 'GET'],
  );
});

test('the CA bundle goes into every webhook of the configuration through a guarded JSON patch, once', async () => {
  const kube = new InMemoryKube();
  const config: MutatingWebhookConfiguration = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: 'telepath-traffic-manager' },
    webhooks: [
      {
        name: 'agent-injector.telepath.io',
        clientConfig: { service: { namespace: 'telepath', name: 'traffic-manager', path: '/mutate-pods', port: 443 } },
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        failurePolicy: 'Ignore',
      },
      {
        name: 'second.telepath.io',
        clientConfig: { service: { namespace: 'telepath', name: 'traffic-manager' }, caBundle: Buffer.from('stale').toString('base64') },
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
      },
    ],
  };
  const tls = webhookTls(kube, () => T0);
  await assert.rejects(tls.publishCaBundle('PEM'), /MutatingWebhookConfiguration telepath-traffic-manager does not exist/);
  kube.put(CONFIG_PATH, config);
  const m = await tls.ensure();
  assert.equal(await tls.publishCaBundle(m.caBundlePem), true);
  const patched = kube.get<MutatingWebhookConfiguration>(CONFIG_PATH);
  const want = Buffer.from(m.caBundlePem).toString('base64');
  assert.deepEqual(patched?.webhooks?.map((w) => w.clientConfig.caBundle), [want, want]);
  assert.deepEqual(patched?.webhooks?.[0], { ...config.webhooks?.[0], clientConfig: { ...config.webhooks?.[0].clientConfig, caBundle: want } });
  const patch = kube.calls.find((c) => c.method === 'PATCH');
  assert.equal(patch?.patchType, 'json');
  assert.deepEqual(patch?.query, { fieldManager: 'telepath-traffic-manager' });
  assert.deepEqual((patch?.body as { op: string; path: string }[]).map((op) => `${op.op} ${op.path}`), [
    'test /webhooks/0/name',
    'add /webhooks/0/clientConfig/caBundle',
    'test /webhooks/1/name',
    'add /webhooks/1/clientConfig/caBundle',
  ]);
  kube.calls.length = 0;
  assert.equal(await tls.publishCaBundle(m.caBundlePem), false);
  assert.deepEqual(kube.writes(), []);
});
