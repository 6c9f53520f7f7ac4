/**
 * The webhook over real HTTPS on 127.0.0.1, verified the way the API server verifies it: against
 * the caBundle the manager published, for the Service's DNS name. Only the Kubernetes API is
 * in memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import tls from 'node:tls';
import type { MutatingWebhookConfiguration } from 'kubernetes-types/admissionregistration/v1';
import { AGENT_CONFIG_ANNOTATION } from '../../../protocol/src/agent/agentConfig.js';
import { silentLogger, type LogFields, type Logger } from '../../../common/src/log/jsonLogger.js';
import { InMemoryKube } from '../testing/inMemoryKube.js';
import { startWebhook, type StartWebhookOptions, type WebhookHandle, WebhookServer } from './webhookServer.js';
import { issueWebhookCertificates } from './x509.js';

const CONFIG_PATH = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/telepath-traffic-manager';
const SERVER_NAME = 'traffic-manager.telepath.svc';
const T0 = Date.parse('2030-03-01T12:00:00Z');

const webhookConfig: MutatingWebhookConfiguration = {
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'MutatingWebhookConfiguration',
  metadata: { name: 'telepath-traffic-manager' },
  webhooks: [
    {
      name: 'agent-injector.telepath.io',
      clientConfig: { service: { namespace: 'telepath', name: 'traffic-manager', path: '/mutate-pods', port: 443 } },
      sideEffects: 'None',
      admissionReviewVersions: ['v1'],
    },
  ],
};

function options(kube: InMemoryKube, signal: AbortSignal, extra: Partial<StartWebhookOptions> = {}): StartWebhookOptions {
  return {
    kube,
    namespace: 'telepath',
    serviceName: 'traffic-manager',
    webhookConfigName: 'telepath-traffic-manager',
    port: 0,
    host: '127.0.0.1',
    image: 'node:20-alpine',
    managerAddress: 'traffic-manager.telepath:8083',
    logger: silentLogger,
    signal,
    checkIntervalMs: 50,
    caPropagationMs: 0,
    ...extra,
  };
}

function publishedBundle(kube: InMemoryKube): string {
  const b = kube.get<MutatingWebhookConfiguration>(CONFIG_PATH)?.webhooks?.[0]?.clientConfig.caBundle;
  return b ? Buffer.from(b, 'base64').toString('utf8') : '';
}

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Reply {
  status: number;
  body: string;
}

function post(port: number, ca: string, body: string, opts: { path?: string; method?: string; servername?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: opts.path ?? '/mutate-pods',
        method: opts.method ?? 'POST',
        servername: opts.servername ?? SERVER_NAME,
        ca,
        agent: false,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The certificate the server presents to a new connection (verified against `ca`). */
function peerCertificate(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: SERVER_NAME, ca }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.end();
      resolve(cert?.fingerprint256 ?? '');
    });
    socket.on('error', reject);
  });
}

function admissionReviewJson(): string {
  const config = {
    version: 1,
    workload: { kind: 'Deployment', name: 'web', namespace: 'shop' },
    container: 'web',
    ports: [{ name: 'http', agentPort: 9900, appPort: 8080, appPortRename: 'tpa-http', protocol: 'TCP', services: [] }],
  };
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'b2a6c1a0-0000-4000-8000-000000000001',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'shop',
      operation: 'CREATE',
      object: {
        metadata: { generateName: 'web-1-', annotations: { [AGENT_CONFIG_ANNOTATION]: JSON.stringify(config) } },
        spec: { containers: [{ name: 'web', image: 'web', ports: [{ name: 'http', containerPort: 8080 }] }] },
      },
    },
  });
}

async function started(kube: InMemoryKube, extra: Partial<StartWebhookOptions> = {}): Promise<{ hook: WebhookHandle; stop: AbortController }> {
  const stop = new AbortController();
  const hook = await startWebhook(options(kube, stop.signal, extra));
  return { hook, stop };
}

test('the webhook answers AdmissionReviews over HTTPS that verifies against the published CA for the Service name', async () => {
  const kube = new InMemoryKube();
  kube.put(CONFIG_PATH, webhookConfig);
  const { hook } = await started(kube);
  try {
    await until('the caBundle is published', () => hook.caBundlePublished());
    const ca = publishedBundle(kube);
    assert.match(ca, /^-----BEGIN CERTIFICATE-----/);
    const r = await post(hook.port, ca, admissionReviewJson());
    assert.equal(r.status, 200);
    const answer = JSON.parse(r.body) as { apiVersion: string; kind: string; response: { uid: string; allowed: boolean; patchType: string; patch: string } };
    assert.equal(answer.apiVersion, 'admission.k8s.io/v1');
    assert.equal(answer.response.uid, 'b2a6c1a0-0000-4000-8000-000000000001');
    assert.equal(answer.response.allowed, true);
    assert.equal(answer.response.patchType, 'JSONPatch');
    const patch = JSON.parse(Buffer.from(answer.response.patch, 'base64').toString('utf8')) as { path: string }[];
    assert.ok(patch.some((op) => op.path === '/spec/containers/-'));

    // The API server dials <service>.<namespace>.svc; another name, or another CA, fails.
    await assert.rejects(post(hook.port, ca, '{}', { servername: 'traffic-manager.other.svc' }), /altnames/);
    const otherCa = (await issueWebhookCertificates({ dnsNames: [SERVER_NAME], caCommonName: 'x', notBefore: new Date(T0), notAfter: new Date(T0 + 1e9) })).caPem;
    await assert.rejects(post(hook.port, otherCa, '{}'), /self.signed|unable to verify|signature/i);
  } finally {
    await hook.close();
  }
});

test('bad requests get JSON errors with their status', async () => {
  const { certPem, keyPem, caPem } = await issueWebhookCertificates({
    dnsNames: [SERVER_NAME],
    caCommonName: 'test',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3600_000),
  });
  let handled = 0;
  const server = new WebhookServer(
    { certPem, keyPem },
    (body) => {
      handled++;
      if ((body as { boom?: boolean }).boom) throw new Error('boom');
      return { ok: true };
    },
    silentLogger,
    1024,
  );
  const port = await server.listen(0, '127.0.0.1');
  try {
    const expect = async (r: Promise<Reply>, status: number, error: RegExp): Promise<void> => {
      const got = await r;
      assert.equal(got.status, status, got.body);
      assert.match((JSON.parse(got.body) as { error: string }).error, error);
    };
    await expect(post(port, caPem, '{}', { path: '/other' }), 404, /not found: \/other/);
    await expect(post(port, caPem, '', { method: 'GET' }), 405, /GET is not allowed/);
    await expect(post(port, caPem, '{"kind":'), 400, /not JSON/);
    await expect(post(port, caPem, JSON.stringify({ pad: 'x'.repeat(2048) })), 413, /exceeds 1024 bytes/);
    await expect(post(port, caPem, '{"boom":true}'), 500, /boom/);
    const ok = await post(port, caPem, '{}');
    assert.deepEqual([ok.status, JSON.parse(ok.body)], [200, { ok: true }]);
    assert.equal(handled, 2, 'only well-formed bodies reach the handler');
  } finally {
    await server.close();
  }
});

test('a body that is not an AdmissionReview is a 400', async () => {
  const kube = new InMemoryKube();
  kube.put(CONFIG_PATH, webhookConfig);
  const { hook } = await started(kube);
  try {
    await until('the caBundle is published', () => hook.caBundlePublished());
    const r = await post(hook.port, publishedBundle(kube), JSON.stringify({ kind: 'Pod' }));
    assert.equal(r.status, 400);
    assert.match(r.body, /not an AdmissionReview/);
  } finally {
    await hook.close();
  }
});

test('renewal publishes the new CA first, then serves the new certificate', async () => {
  const kube = new InMemoryKube();
  kube.put(CONFIG_PATH, webhookConfig);
  let now = T0;
  const { hook } = await started(kube, { now: () => new Date(now), caPropagationMs: 1500 });
  try {
    await until('the caBundle is published', () => hook.caBundlePublished());
    const firstBundle = publishedBundle(kube);
    const first = await presented(hook.port);
    assert.ok(signedByOneOf(first, firstBundle));
    now += 300 * 24 * 3600_000;
    await until('the new CA is published beside the old one', () => (publishedBundle(kube).match(/BEGIN CERTIFICATE/g) ?? []).length === 2);
    const bundle = publishedBundle(kube);
    assert.ok(bundle.endsWith(firstBundle), 'the old CA stays trusted');
    assert.equal((await presented(hook.port)).fingerprint256, first.fingerprint256, 'the old certificate until the API server can know the new CA');
    const deadline = Date.now() + 10_000;
    let second = first;
    while (second.fingerprint256 === first.fingerprint256) {
      assert.ok(Date.now() < deadline, 'the server presents the new certificate in time');
      await new Promise((r) => setTimeout(r, 50));
      second = await presented(hook.port);
    }
    assert.equal(second.checkHost(SERVER_NAME), SERVER_NAME);
    assert.ok(signedByOneOf(second, bundle), 'the new certificate verifies against the published bundle');
    assert.ok(!signedByOneOf(second, firstBundle), '…through the new CA');
    assert.equal(Date.parse(second.validFrom), now - 5 * 60_000, 'issued at the injected time');
  } finally {
    await hook.close();
  }
});

/**
 * The certificate the server presents to a new connection. Verified by hand, since the injected
 * clock is years ahead and TLS would call the certificate not yet valid.
 */
function presented(port: number): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: SERVER_NAME, rejectUnauthorized: false }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.end();
      if (cert) resolve(cert);
      else reject(new Error('no peer certificate'));
    });
    socket.on('error', reject);
  });
}

function signedByOneOf(cert: X509Certificate, bundle: string): boolean {
  const cas = bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return cas.some((pem) => cert.verify(new X509Certificate(pem).publicKey));
}

test('the webhook configuration may appear after the manager started; the caBundle follows', async () => {
  const kube = new InMemoryKube();
  const lines: { msg: string; fields?: LogFields }[] = [];
  const log = (msg: string, fields?: LogFields): void => void lines.push({ msg, fields });
  const logger: Logger = { debug: log, info: log, warn: log, error: log, child: () => logger };
  const { hook } = await started(kube, { logger });
  try {
    await until('a failed upkeep is logged', () => lines.some((l) => l.msg === 'webhook TLS upkeep failed; retrying'));
    assert.equal(hook.caBundlePublished(), false);
    assert.match(String(lines.find((l) => l.msg.startsWith('webhook TLS upkeep failed'))?.fields?.error), /does not exist/);
    kube.put(CONFIG_PATH, webhookConfig);
    await until('the caBundle is published', () => hook.caBundlePublished());
    const r = await post(hook.port, publishedBundle(kube), admissionReviewJson());
    assert.equal(r.status, 200);
  } finally {
    await hook.close();
  }
});

test('aborting the signal stops the server and its upkeep', async () => {
  const kube = new InMemoryKube();
  kube.put(CONFIG_PATH, webhookConfig);
  const { hook, stop } = await started(kube);
  await until('the caBundle is published', () => hook.caBundlePublished());
  const ca = publishedBundle(kube);
  assert.ok(await peerCertificate(hook.port, ca));
  stop.abort();
  await hook.close();
  const calls = kube.calls.length;
  await assert.rejects(peerCertificate(hook.port, ca), /ECONNREFUSED/);
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(kube.calls.length, calls, 'no more API calls after close');
});
