import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ResourceAttributes, SubjectAccessReviewStatus } from 'kubernetes-types/authorization/v1';
import { sessionObject, sessionObjectName, type SessionObject, type SessionUser } from '../../../common/src/sessionIdentity.js';
import { ManualClock } from '../testing/managerHarness.js';
import { type ClientRightsApi, ClientRights } from './clientRights.js';

const alice: SessionUser = { username: 'alice', groups: ['devs', 'system:authenticated'], extra: { 'authentication.kubernetes.io/credential-id': ['X509SHA256=ab'] } };

/** Session objects by name, and RBAC as a set of "user verb resource[/sub] namespace" lines. */
class FakeApi implements ClientRightsApi {
  objects = new Map<string, SessionObject>();
  allowed = new Set<string>();
  gets = 0;
  reviews: { user: SessionUser; attributes: ResourceAttributes }[] = [];
  fail: Error | undefined;

  getSession(namespace: string, name: string): Promise<SessionObject | undefined> {
    this.gets++;
    if (this.fail) return Promise.reject(this.fail);
    const o = this.objects.get(name);
    return Promise.resolve(o?.metadata.namespace === namespace ? o : undefined);
  }

  reviewAccess(user: SessionUser, attributes: ResourceAttributes): Promise<SubjectAccessReviewStatus> {
    this.reviews.push({ user, attributes });
    if (this.fail) return Promise.reject(this.fail);
    const what = `${user.username} ${attributes.verb} ${attributes.resource}${attributes.subresource ? `/${attributes.subresource}` : ''} ${attributes.namespace}`;
    return Promise.resolve(this.allowed.has(what) ? { allowed: true } : { allowed: false, reason: 'no RBAC rule' });
  }

  holds(sessionId: string, user: SessionUser): void {
    const o = sessionObject('telepath', sessionId, user, 'alice@laptop');
    this.objects.set(o.metadata.name, o);
  }
}

function setup(): { api: FakeApi; clock: ManualClock; rights: ClientRights } {
  const api = new FakeApi();
  const clock = new ManualClock();
  return { api, clock, rights: new ClientRights({ api, namespace: 'telepath', clock, cacheMs: 10_000 }) };
}

test("a session without a Session object is nobody: refused without asking RBAC, and asked again a second later", async () => {
  const { api, clock, rights } = setup();
  const v = await rights.check('s-1', 'intercept', 'samples');
  assert.equal(v.ok, false);
  assert.equal(!v.ok && v.code, 'noIdentity');
  assert.match(!v.ok ? v.reason : '', /does not know who holds this session: there is no Session tp-/);
  assert.equal(api.reviews.length, 0);
  // The daemon writes the object right after it arrives: the next check a second on finds it.
  api.holds('s-1', alice);
  api.allowed.add('alice create intercepts samples');
  clock.advance(1001);
  assert.deepEqual(await rights.check('s-1', 'intercept', 'samples'), { ok: true, user: sessionObject('telepath', 's-1', alice, '').spec.user });
});

test('the user of the Session object is reviewed with every field the API server authenticated, for the right and the namespace asked', async () => {
  const { api, rights } = setup();
  api.holds('s-1', alice);
  api.allowed.add('alice create intercepts samples');
  assert.equal((await rights.check('s-1', 'intercept', 'samples')).ok, true);
  assert.deepEqual(api.reviews[0], {
    user: alice,
    attributes: { namespace: 'samples', verb: 'create', group: 'telepath.dev', resource: 'intercepts' },
  });
  const env = await rights.check('s-1', 'environment', 'samples');
  assert.equal(env.ok, false);
  assert.equal(!env.ok && env.code, 'denied');
  assert.equal(!env.ok && env.reason, 'alice may not get intercepts.telepath.dev/environment in namespace samples (no RBAC rule)');
  assert.deepEqual(api.reviews[1]!.attributes, { namespace: 'samples', verb: 'get', group: 'telepath.dev', resource: 'intercepts', subresource: 'environment' });
  const other = await rights.check('s-1', 'intercept', 'other');
  assert.equal(!other.ok && other.code, 'denied');
});

test('a no is remembered for a second only, so a right just granted works at once', async () => {
  const { api, clock, rights } = setup();
  api.holds('s-1', alice);
  assert.equal((await rights.check('s-1', 'intercept', 'samples')).ok, false);
  api.allowed.add('alice create intercepts samples');
  assert.equal((await rights.check('s-1', 'intercept', 'samples')).ok, false, 'the no of a moment ago');
  clock.advance(1001);
  assert.equal((await rights.check('s-1', 'intercept', 'samples')).ok, true);
});

test("an object under the session's name whose hash is another's proves nothing", async () => {
  const { api, rights } = setup();
  const forged = sessionObject('telepath', 'someone-else', alice, '');
  api.objects.set(sessionObjectName('s-1'), { ...forged, metadata: { ...forged.metadata, name: sessionObjectName('s-1') } });
  api.allowed.add('alice create intercepts samples');
  const v = await rights.check('s-1', 'intercept', 'samples');
  assert.equal(!v.ok && v.code, 'noIdentity');
});

test('answers are remembered for the cache time, so a revoked right is seen by the first check after it', async () => {
  const { api, clock, rights } = setup();
  api.holds('s-1', alice);
  api.allowed.add('alice create intercepts samples');
  await Promise.all([rights.check('s-1', 'intercept', 'samples'), rights.check('s-1', 'intercept', 'samples')]);
  assert.equal(api.gets, 1, 'one read of the Session object for callers at the same time');
  assert.equal(api.reviews.length, 1, 'one review for callers at the same time');
  api.allowed.clear();
  clock.advance(9_000);
  assert.equal((await rights.check('s-1', 'intercept', 'samples')).ok, true, 'still remembered');
  clock.advance(1_001);
  const v = await rights.check('s-1', 'intercept', 'samples');
  assert.equal(!v.ok && v.code, 'denied');
  assert.equal(api.reviews.length, 2);
});

test('forget drops the identity at once; an API server that cannot be asked is unavailable, not a denial', async () => {
  const { api, rights } = setup();
  api.holds('s-1', alice);
  api.allowed.add('alice create intercepts samples');
  assert.equal((await rights.check('s-1', 'intercept', 'samples')).ok, true);
  rights.forget('s-1');
  api.objects.clear();
  const gone = await rights.check('s-1', 'intercept', 'samples');
  assert.equal(!gone.ok && gone.code, 'noIdentity');
  api.holds('s-2', alice);
  api.fail = new Error('connect ECONNREFUSED');
  const v = await rights.check('s-2', 'intercept', 'samples');
  assert.equal(!v.ok && v.code, 'unavailable');
  assert.match(!v.ok ? v.reason : '', /ECONNREFUSED/);
});
