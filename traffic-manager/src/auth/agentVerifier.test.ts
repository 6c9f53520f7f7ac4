import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TokenReviewStatus } from 'kubernetes-types/authentication/v1';
import type { Pod } from 'kubernetes-types/core/v1';
import { AGENT_CONFIG_ANNOTATION, AGENT_TOKEN_AUDIENCE } from '../../../protocol/src/agent/agentConfig.js';
import { ManualClock } from '../testing/managerHarness.js';
import { AGENT_INJECTED_ANNOTATION } from '../webhook/mutatePod.js';
import type { AgentClaim } from './agentIdentity.js';
import { type AgentIdentityApi, AgentVerifier } from './agentVerifier.js';

const claim: AgentClaim = { namespace: 'samples', workloadKind: 'Deployment', workloadName: 'echo', podName: 'echo-1', container: 'echo' };

/** An API server that knows one good token, of pod samples/echo-1, and counts the calls. */
class FakeApi implements AgentIdentityApi {
  reviews: { token: string; audiences: string[] }[] = [];
  podGets = 0;
  fail: Error | undefined;
  pod: Pod | undefined = {
    metadata: {
      name: 'echo-1',
      namespace: 'samples',
      uid: 'u-1',
      annotations: {
        [AGENT_INJECTED_ANNOTATION]: 'abc',
        [AGENT_CONFIG_ANNOTATION]: JSON.stringify({
          version: 1,
          workload: { kind: 'Deployment', name: 'echo', namespace: 'samples' },
          container: 'echo',
          ports: [{ agentPort: 9900, name: 'http', appPort: 8080, protocol: 'TCP', services: [] }],
        }),
      },
    },
    spec: { containers: [{ name: 'echo' }, { name: 'telepath-agent' }] },
  };

  reviewToken(token: string, audiences: string[]): Promise<TokenReviewStatus> {
    this.reviews.push({ token, audiences });
    if (this.fail) return Promise.reject(this.fail);
    if (token !== 'good') return Promise.resolve({ authenticated: false, error: 'invalid bearer token' });
    return Promise.resolve({
      authenticated: true,
      audiences,
      user: {
        username: 'system:serviceaccount:samples:default',
        extra: { 'authentication.kubernetes.io/pod-name': ['echo-1'], 'authentication.kubernetes.io/pod-uid': ['u-1'] },
      },
    });
  }

  getPod(namespace: string, name: string): Promise<Pod | undefined> {
    this.podGets++;
    return Promise.resolve(namespace === 'samples' && name === 'echo-1' ? this.pod : undefined);
  }
}

function setup(): { api: FakeApi; clock: ManualClock; verifier: AgentVerifier } {
  const api = new FakeApi();
  const clock = new ManualClock();
  return { api, clock, verifier: new AgentVerifier({ api, clock, cacheMs: 60_000, maxCached: 2 }) };
}

test('no token: refused without asking the API server', async () => {
  const { api, verifier } = setup();
  assert.deepEqual(await verifier.verify(undefined, claim), { ok: false, code: 'unauthenticated', reason: 'no bearer token in the authorization metadata' });
  assert.deepEqual(await verifier.verify('', claim), { ok: false, code: 'unauthenticated', reason: 'no bearer token in the authorization metadata' });
  assert.equal(api.reviews.length, 0);
});

test("the token is reviewed for the manager's audience, then the pod is read; an accepted arrival is remembered for a minute", async () => {
  const { api, clock, verifier } = setup();
  const accepted = await verifier.verify('good', claim);
  assert.deepEqual(accepted, { ok: true, identity: { namespace: 'samples', serviceAccount: 'default', podName: 'echo-1', podUid: 'u-1' } });
  assert.deepEqual(api.reviews, [{ token: 'good', audiences: [AGENT_TOKEN_AUDIENCE] }]);
  assert.equal(api.podGets, 1);
  // A reconnect storm: the same agent again and again within the minute costs nothing.
  clock.advance(59_000);
  for (let i = 0; i < 5; i++) assert.deepEqual(await verifier.verify('good', claim), accepted);
  assert.equal(api.reviews.length, 1);
  assert.equal(api.podGets, 1);
  // After it, the API server is asked again (the pod may be gone, the token revoked).
  clock.advance(1_000);
  api.pod = undefined;
  assert.deepEqual(await verifier.verify('good', claim), { ok: false, code: 'permissionDenied', reason: 'pod samples/echo-1 does not exist' });
  assert.equal(api.reviews.length, 2);
});

test('what was remembered is for that token and that claim only', async () => {
  const { api, verifier } = setup();
  assert.equal((await verifier.verify('good', claim)).ok, true);
  const other = await verifier.verify('good', { ...claim, workloadName: 'payments' });
  assert.deepEqual(other, { ok: false, code: 'permissionDenied', reason: 'pod samples/echo-1 runs the agent of Deployment samples/echo, but the agent claims Deployment samples/payments' });
  assert.equal((await verifier.verify('forged', claim)).ok, false);
  assert.equal(api.reviews.length, 3);
});

test('refusals are not remembered: a refused agent is checked afresh on its next try', async () => {
  const { api, verifier } = setup();
  const pod = api.pod;
  api.pod = undefined;
  assert.equal((await verifier.verify('good', claim)).ok, false);
  api.pod = pod;
  assert.equal((await verifier.verify('good', claim)).ok, true);
  assert.equal(api.reviews.length, 2);
  assert.equal(verifier.cachedCount, 1);
});

test('simultaneous arrivals with one token share one review', async () => {
  const { api, verifier } = setup();
  const verdicts = await Promise.all([verifier.verify('good', claim), verifier.verify('good', claim), verifier.verify('good', claim)]);
  assert.deepEqual(verdicts.map((v) => v.ok), [true, true, true]);
  assert.equal(api.reviews.length, 1);
});

test('an API server that cannot be asked makes the verdict UNAVAILABLE, and nothing is remembered', async () => {
  const { api, verifier } = setup();
  api.fail = new Error('connect ECONNREFUSED 10.96.0.1:443');
  assert.deepEqual(await verifier.verify('good', claim), {
    ok: false,
    code: 'unavailable',
    reason: "cannot check the agent's token with the API server: connect ECONNREFUSED 10.96.0.1:443",
  });
  api.fail = undefined;
  assert.equal((await verifier.verify('good', claim)).ok, true);
});

test('the memory is bounded: the oldest accepted arrival is forgotten first', async () => {
  const { api, verifier } = setup();
  const claims = ['echo', 'echo-b', 'echo-c'].map((container) => ({ ...claim, container }));
  // Accept all three claims: the pod's config names container "echo", so let the pod follow the claim.
  const config = JSON.parse(api.pod!.metadata!.annotations![AGENT_CONFIG_ANNOTATION]!) as { container: string };
  for (const c of claims) {
    config.container = c.container;
    api.pod!.metadata!.annotations![AGENT_CONFIG_ANNOTATION] = JSON.stringify(config);
    assert.equal((await verifier.verify('good', c)).ok, true);
  }
  assert.equal(verifier.cachedCount, 2);
  assert.equal(api.reviews.length, 3);
  assert.equal((await verifier.verify('good', claims[2]!)).ok, true);
  assert.equal(api.reviews.length, 3, 'the newest is remembered');
  await verifier.verify('good', claims[0]!);
  assert.equal(api.reviews.length, 4, 'the oldest was forgotten');
});
