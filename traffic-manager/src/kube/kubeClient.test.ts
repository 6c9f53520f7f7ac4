/**
 * The requests KubeClient makes for the agent check, as an HTTPS server that plays the API server
 * sees them: method, path, the manager's own credentials, and the body.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { issueWebhookCertificates } from '../webhook/x509.js';
import { KubeApiError, KubeClient } from './kubeClient.js';

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: unknown;
}

const seen: Seen[] = [];
let server: https.Server;
let kube: KubeClient;

before(async () => {
  const now = Date.now();
  const tls = await issueWebhookCertificates({ dnsNames: ['localhost'], caCommonName: 'test CA', notBefore: new Date(now - 60_000), notAfter: new Date(now + 3_600_000) });
  server = https.createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, contentType: req.headers['content-type'], body: text ? JSON.parse(text) : undefined });
      const reply = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.url === '/apis/authentication.k8s.io/v1/tokenreviews') {
        const spec = (JSON.parse(text) as { spec: { audiences: string[] } }).spec;
        return reply(201, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec, status: { authenticated: true, audiences: spec.audiences, user: { username: 'system:serviceaccount:samples:default' } } });
      }
      if (req.url === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews') {
        const spec = (JSON.parse(text) as { spec: { resourceAttributes: { verb: string } } }).spec;
        return reply(201, { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec, status: { allowed: spec.resourceAttributes.verb !== 'patch' } });
      }
      if (req.url === '/api/v1/namespaces/samples/pods/echo-1') return reply(200, { kind: 'Pod', metadata: { name: 'echo-1', uid: 'u-1' } });
      if (req.url === '/api/v1/namespaces/locked/pods/echo-1') {
        return reply(403, { kind: 'Status', reason: 'Forbidden', message: 'pods "echo-1" is forbidden: User "system:serviceaccount:telepath:traffic-manager" cannot get resource "pods"' });
      }
      reply(404, { kind: 'Status', reason: 'NotFound', message: 'not found' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, resolve));
  kube = new KubeClient({ server: `https://localhost:${(server.address() as AddressInfo).port}`, ca: tls.caPem, token: () => 'managers-own-token' });
});

after(() => {
  kube.close();
  server.close();
});

test("reviewToken posts a TokenReview of the agent's token with the manager's credentials and returns its status", async () => {
  seen.length = 0;
  const status = await kube.reviewToken('agents-token', ['telepath.io/traffic-manager']);
  assert.deepEqual(status, { authenticated: true, audiences: ['telepath.io/traffic-manager'], user: { username: 'system:serviceaccount:samples:default' } });
  assert.deepEqual(seen, [
    {
      method: 'POST',
      url: '/apis/authentication.k8s.io/v1/tokenreviews',
      authorization: 'Bearer managers-own-token',
      contentType: 'application/json',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 'agents-token', audiences: ['telepath.io/traffic-manager'] } },
    },
  ]);
});

test('getPod reads one pod; a missing one is undefined, a refusal throws', async () => {
  assert.deepEqual(await kube.getPod('samples', 'echo-1'), { kind: 'Pod', metadata: { name: 'echo-1', uid: 'u-1' } });
  assert.equal(await kube.getPod('samples', 'gone'), undefined);
  await assert.rejects(kube.getPod('locked', 'echo-1'), (e: unknown) => e instanceof KubeApiError && e.status === 403 && e.reason === 'Forbidden');
  assert.equal(seen.at(-1)?.method, 'GET');
});

test("reviewOwnAccess asks with a SelfSubjectAccessReview what the manager's own account may do", async () => {
  seen.length = 0;
  assert.deepEqual(await kube.reviewOwnAccess({ verb: 'list', group: 'apps', resource: 'deployments' }), { allowed: true });
  assert.deepEqual(await kube.reviewOwnAccess({ verb: 'patch', group: 'apps', resource: 'deployments' }), { allowed: false });
  assert.deepEqual(seen[0], {
    method: 'POST',
    url: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
    authorization: 'Bearer managers-own-token',
    contentType: 'application/json',
    body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb: 'list', group: 'apps', resource: 'deployments' } } },
  });
});
