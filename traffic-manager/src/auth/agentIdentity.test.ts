/**
 * The decision over a TokenReview and a pod, with both as the API server returns them for an
 * injected pod of Deployment samples/echo whose agent sends its projected token.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TokenReviewStatus } from 'kubernetes-types/authentication/v1';
import type { Pod } from 'kubernetes-types/core/v1';
import { AGENT_CONFIG_ANNOTATION, AGENT_TOKEN_AUDIENCE, type AgentConfig } from '../../../protocol/src/agent/agentConfig.js';
import { AGENT_INJECTED_ANNOTATION } from '../webhook/mutatePod.js';
import { type AgentClaim, identityOfReview, isRefusal, podRefusal, type Refusal, type TokenIdentity } from './agentIdentity.js';

const POD = 'echo-7d4b9c6f5-x2x9k';
const UID = '5b0c2d6e-3f0a-4c1e-9a57-1e2d3c4b5a69';
const claim: AgentClaim = { namespace: 'samples', workloadKind: 'Deployment', workloadName: 'echo', podName: POD, container: 'echo' };

function review(extra: Partial<TokenReviewStatus> = {}, user: NonNullable<TokenReviewStatus['user']> = {}): TokenReviewStatus {
  return {
    authenticated: true,
    audiences: [AGENT_TOKEN_AUDIENCE],
    user: {
      username: 'system:serviceaccount:samples:default',
      uid: 'c1d2e3f4-sa',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:samples', 'system:authenticated'],
      extra: {
        'authentication.kubernetes.io/credential-id': ['JTI=0f1e2d3c'],
        'authentication.kubernetes.io/node-name': ['tp-node'],
        'authentication.kubernetes.io/node-uid': ['n-1'],
        'authentication.kubernetes.io/pod-name': [POD],
        'authentication.kubernetes.io/pod-uid': [UID],
      },
      ...user,
    },
    ...extra,
  };
}

const agentConfig: AgentConfig = {
  version: 1,
  workload: { kind: 'Deployment', name: 'echo', namespace: 'samples' },
  container: 'echo',
  ports: [{ agentPort: 9900, name: 'http', appPort: 8080, appPortRename: 'tpa-http', protocol: 'TCP', services: [] }],
};

function pod(change: (p: Pod) => void = () => undefined): Pod {
  const p: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: POD,
      namespace: 'samples',
      uid: UID,
      annotations: { [AGENT_CONFIG_ANNOTATION]: JSON.stringify(agentConfig), [AGENT_INJECTED_ANNOTATION]: '0123456789abcdef' },
    },
    spec: {
      serviceAccountName: 'default',
      containers: [
        { name: 'echo', image: 'telepath-samples:dev' },
        { name: 'telepath-agent', image: 'node:20-alpine' },
      ],
    },
  };
  change(p);
  return p;
}

function identity(r: TokenReviewStatus = review(), c: AgentClaim = claim): TokenIdentity {
  const v = identityOfReview(r, AGENT_TOKEN_AUDIENCE, c);
  assert.ok(!isRefusal(v), `refused: ${JSON.stringify(v)}`);
  return v;
}

function refusedReview(r: TokenReviewStatus | undefined, c: AgentClaim = claim): Refusal {
  const v = identityOfReview(r, AGENT_TOKEN_AUDIENCE, c);
  assert.ok(isRefusal(v), `accepted: ${JSON.stringify(v)}`);
  return v;
}

test("the agent's own pod token, for the manager's audience, on its injected pod: accepted", () => {
  const who = identity();
  assert.deepEqual(who, { namespace: 'samples', serviceAccount: 'default', podName: POD, podUid: UID });
  assert.equal(podRefusal(pod(), who, claim), undefined);
  // A pod without serviceAccountName runs as "default".
  assert.equal(podRefusal(pod((p) => delete p.spec!.serviceAccountName), who, claim), undefined);
});

test('a token the API server does not accept is UNAUTHENTICATED, with its error', () => {
  assert.deepEqual(refusedReview(undefined), { code: 'unauthenticated', reason: 'the API server did not accept the token' });
  assert.deepEqual(refusedReview({ authenticated: false, user: {}, error: 'token has been invalidated' }), {
    code: 'unauthenticated',
    reason: 'the API server did not accept the token: token has been invalidated',
  });
  assert.equal(refusedReview({ error: '[invalid bearer token, square/go-jose: error in cryptographic primitive]' }).code, 'unauthenticated');
});

test("a token for another audience, or the API server's own (no audiences returned), is UNAUTHENTICATED", () => {
  // The client pod's default token: valid for the API server, which answers with its audiences or none.
  assert.deepEqual(refusedReview(review({ audiences: [] })), {
    code: 'unauthenticated',
    reason: `the token is not for ${AGENT_TOKEN_AUDIENCE} (its audiences: the API server's)`,
  });
  assert.deepEqual(refusedReview(review({ audiences: undefined })).code, 'unauthenticated');
  assert.match(refusedReview(review({ audiences: ['vault'] })).reason, /its audiences: vault/);
});

test("a user's token, or a service account token not bound to a pod, is PERMISSION_DENIED", () => {
  assert.deepEqual(refusedReview(review({}, { username: 'alice@example.com', extra: {} })), {
    code: 'permissionDenied',
    reason: 'the token is not a service account\'s (user "alice@example.com")',
  });
  assert.equal(refusedReview(review({}, { username: 'system:serviceaccount:samples' })).code, 'permissionDenied');
  assert.equal(refusedReview(review({}, { username: 'system:serviceaccount::default' })).code, 'permissionDenied');
  // `kubectl create token default --audience ...` without --bound-object-kind Pod.
  assert.deepEqual(refusedReview(review({}, { extra: { 'authentication.kubernetes.io/credential-id': ['JTI=1'] } })), {
    code: 'permissionDenied',
    reason: 'the token of system:serviceaccount:samples:default is not bound to a pod',
  });
  assert.equal(refusedReview(review({}, { extra: { 'authentication.kubernetes.io/pod-name': [POD] } })).code, 'permissionDenied', 'no pod uid');
  assert.equal(
    refusedReview(review({}, { extra: { 'authentication.kubernetes.io/pod-name': [POD, 'other'], 'authentication.kubernetes.io/pod-uid': [UID] } })).code,
    'permissionDenied',
    'two pod names',
  );
});

test("another pod's token, or one of another namespace, is PERMISSION_DENIED", () => {
  const other = review({}, { extra: { 'authentication.kubernetes.io/pod-name': ['client'], 'authentication.kubernetes.io/pod-uid': ['u-client'] } });
  assert.deepEqual(refusedReview(other), {
    code: 'permissionDenied',
    reason: `the token is pod samples/client's, but the agent claims pod ${POD}`,
  });
  assert.deepEqual(refusedReview(review({}, { username: 'system:serviceaccount:attackers:default' })), {
    code: 'permissionDenied',
    reason: 'the token is of namespace attackers, but the agent claims namespace samples',
  });
});

test('a pod that is gone, or was replaced by another of the same name, is PERMISSION_DENIED', () => {
  const who = identity();
  assert.deepEqual(podRefusal(undefined, who, claim), { code: 'permissionDenied', reason: `pod samples/${POD} does not exist` });
  assert.deepEqual(podRefusal(pod((p) => (p.metadata = { ...p.metadata, uid: 'new-uid' })), who, claim), {
    code: 'permissionDenied',
    reason: `pod samples/${POD} is not the pod the token was issued to (uid new-uid, not ${UID})`,
  });
  assert.match(podRefusal(pod((p) => (p.spec!.serviceAccountName = 'builder')), who, claim)?.reason ?? '', /runs as service account builder, not default/);
});

test('a pod without an injected agent, or without its config, is PERMISSION_DENIED', () => {
  const who = identity();
  const noAgent = podRefusal(pod((p) => p.spec!.containers.pop()), who, claim);
  assert.deepEqual(noAgent, { code: 'permissionDenied', reason: `pod samples/${POD} has no traffic-agent injected by the webhook` });
  assert.deepEqual(podRefusal(pod((p) => delete p.metadata!.annotations![AGENT_INJECTED_ANNOTATION]), who, claim), noAgent);
  assert.deepEqual(podRefusal(pod((p) => delete p.metadata!.annotations![AGENT_CONFIG_ANNOTATION]), who, claim), {
    code: 'permissionDenied',
    reason: `pod samples/${POD} has no telepath.io/agent-config annotation`,
  });
  assert.match(podRefusal(pod((p) => (p.metadata!.annotations![AGENT_CONFIG_ANNOTATION] = '{"version":1')), who, claim)?.reason ?? '', /agent config is not JSON/);
});

test("a claim of another workload or container than the pod's agent config names is PERMISSION_DENIED", () => {
  const who = identity();
  const workload = (c: Partial<AgentClaim>): Refusal | undefined => podRefusal(pod(), who, { ...claim, ...c });
  assert.deepEqual(workload({ workloadName: 'payments' }), {
    code: 'permissionDenied',
    reason: `pod samples/${POD} runs the agent of Deployment samples/echo, but the agent claims Deployment samples/payments`,
  });
  assert.equal(workload({ workloadKind: 'StatefulSet' })?.code, 'permissionDenied');
  assert.deepEqual(workload({ container: 'sidecar' }), {
    code: 'permissionDenied',
    reason: `pod samples/${POD}'s agent takes container echo, but the agent claims sidecar`,
  });
  // A config copied from another namespace's template names that namespace.
  const copied = pod((p) => (p.metadata!.annotations![AGENT_CONFIG_ANNOTATION] = JSON.stringify({ ...agentConfig, workload: { ...agentConfig.workload, namespace: 'prod' } })));
  assert.match(podRefusal(copied, who, claim)?.reason ?? '', /runs the agent of Deployment prod\/echo/);
});
