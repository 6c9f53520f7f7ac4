import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ORIGINAL_TARGET_PORTS_ANNOTATION } from '../../../protocol/src/agent/agentConfig.js';
import { allServices, echoService, service } from '../testing/sampleObjects.js';
import { findServicesFor, isPodOf, originalTargetPorts, podHasAgent, podSelector } from './agentObjects.js';

test('findServicesFor takes Services whose selector is a non-empty subset of the labels', () => {
  const byName = (labels: Record<string, string>) => findServicesFor(labels, allServices).map((s) => s.metadata?.name);
  assert.deepEqual(byName({ app: 'echo', 'pod-template-hash': 'abc' }), ['echo']);
  assert.deepEqual(byName({ app: 'nope' }), []);
  const wide = service('everything', [{ port: 1 }], {});
  const two = service('two', [{ port: 1 }], { app: 'echo', tier: 'web' });
  assert.deepEqual(findServicesFor({ app: 'echo' }, [wide, two, echoService]).map((s) => s.metadata?.name), ['echo']);
  assert.deepEqual(findServicesFor({ app: 'echo', tier: 'web' }, [wide, two, echoService]).map((s) => s.metadata?.name), ['two', 'echo']);
  assert.deepEqual(findServicesFor(undefined, [echoService]), []);
});

test('originalTargetPorts keeps only port numbers', () => {
  const s = (json: string) => ({ metadata: { annotations: { [ORIGINAL_TARGET_PORTS_ANNOTATION]: json } } });
  assert.deepEqual(originalTargetPorts(s('{"grpc":50051,"x":"80","y":0,"z":1.5}')), { grpc: 50051 });
  assert.deepEqual(originalTargetPorts(s('[1]')), {});
  assert.deepEqual(originalTargetPorts(s('nope')), {});
  assert.deepEqual(originalTargetPorts({}), {});
});

test('podSelector writes a workload selector as a list call takes it', () => {
  assert.equal(podSelector({ matchLabels: { app: 'echo' } }), 'app=echo');
  assert.equal(
    podSelector({
      matchLabels: { app: 'web', tier: 'front' },
      matchExpressions: [
        { key: 'track', operator: 'In', values: ['a', 'b'] },
        { key: 'env', operator: 'NotIn', values: ['prod'] },
        { key: 'canary', operator: 'Exists' },
        { key: 'legacy', operator: 'DoesNotExist' },
      ],
    }),
    'app=web,tier=front,track in (a,b),env notin (prod),canary,!legacy',
  );
  assert.equal(podSelector(undefined), '');
});

test("isPodOf: a Deployment's pods by selector, a ReplicaSet's or StatefulSet's by owner; podHasAgent", () => {
  const pod = { metadata: { ownerReferences: [{ kind: 'ReplicaSet', name: 'x' }] }, spec: { containers: [{ name: 'app' }, { name: 'telepath-agent' }] } };
  assert.equal(isPodOf(pod, { kind: 'Deployment', name: 'echo' }), true);
  assert.equal(isPodOf(pod, { kind: 'ReplicaSet', name: 'x' }), true);
  assert.equal(isPodOf(pod, { kind: 'ReplicaSet', name: 'y' }), false);
  assert.equal(isPodOf(pod, { kind: 'StatefulSet', name: 'x' }), false);
  assert.equal(podHasAgent(pod), true);
  assert.equal(podHasAgent({ spec: { containers: [{ name: 'app' }] } }), false);
});
