import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InterceptSpec } from '../../../protocol/src/gen/telepath/manager/v1/manager.js';
import { testSpec } from '../../../common/src/testing/interceptSpecs.js';
import { sessionObject, sessionObjectName, type RightName, type SessionObject } from '../../../common/src/sessionIdentity.js';
import { InterceptRegistry } from '../intercepts/interceptRegistry.js';
import { SessionRegistry } from '../sessions.js';
import { silentLogger } from '../../../common/src/log/jsonLogger.js';
import { ManualClock } from '../testing/managerHarness.js';
import type { ClientRightsCheck, RightVerdict } from './clientRights.js';
import { type SessionObjectsApi, SessionObjects } from './sessionObjects.js';

class FakeApi implements SessionObjectsApi {
  objects: SessionObject[] = [];
  deleted: string[] = [];
  listSessions(): Promise<SessionObject[]> {
    return Promise.resolve(this.objects);
  }
  deleteSession(_namespace: string, name: string): Promise<void> {
    this.deleted.push(name);
    return Promise.resolve();
  }
}

/** Verdicts per "session namespace [right]"; anything unlisted is allowed. */
class Rights implements ClientRightsCheck {
  verdicts = new Map<string, RightVerdict>();
  forgotten: string[] = [];
  check(sessionId: string, right: RightName, namespace: string): Promise<RightVerdict> {
    const v = this.verdicts.get(`${sessionId} ${namespace} ${right}`) ?? this.verdicts.get(`${sessionId} ${namespace}`);
    return Promise.resolve(v ?? { ok: true, user: { username: 'alice' } });
  }
  forget(sessionId: string): void {
    this.forgotten.push(sessionId);
  }
}

function spec(name: string, namespace: string): InterceptSpec {
  return testSpec({ name, namespace, workloadName: name, headers: [{ name: 'x-dev', value: name }], localPort: 3000 });
}

function setup() {
  const clock = new ManualClock();
  const sessions = new SessionRegistry({ ttlMs: 60_000, clock, logger: silentLogger });
  const intercepts = new InterceptRegistry(silentLogger);
  const api = new FakeApi();
  const rights = new Rights();
  const objects = new SessionObjects({
    api,
    namespace: 'telepath',
    rights,
    intercepts,
    liveSessions: () => sessions.ids('client'),
    logger: silentLogger,
    wallNow: () => Date.parse('2026-12-06T10:00:00Z'),
    graceMs: 120_000,
  });
  return { sessions, intercepts, api, rights, objects };
}

test('an intercept whose holder lost the right, or whose Session object is gone, is ended; one the API server cannot be asked about stays', async () => {
  const { sessions, intercepts, rights, objects } = setup();
  const alice = sessions.arrive({ name: 'alice@a', installId: 'a', namespace: 'samples', version: '1' });
  const bob = sessions.arrive({ name: 'bob@b', installId: 'b', namespace: 'samples', version: '1' });
  intercepts.create(alice, spec('echo', 'samples'));
  intercepts.create(alice, spec('web', 'team-a'));
  intercepts.create(bob, spec('api', 'samples'));
  intercepts.create(bob, spec('db', 'team-b'));
  assert.equal(await objects.recheck(), 0, 'all still allowed');
  rights.verdicts.set(`${alice.id} samples`, { ok: false, code: 'denied', reason: 'alice may not create intercepts.telepath.dev in namespace samples' });
  rights.verdicts.set(`${bob.id} samples`, { ok: false, code: 'noIdentity', reason: 'no Session' });
  rights.verdicts.set(`${bob.id} team-b`, { ok: false, code: 'unavailable', reason: 'API server down' });
  assert.equal(await objects.recheck(), 2);
  assert.deepEqual(intercepts.all().map((i) => i.spec.name).sort(), ['db', 'web']);
});

test('a volume key whose holder lost the volumes right is withdrawn; the intercept stays', async () => {
  const { sessions, intercepts, rights, objects } = setup();
  const alice = sessions.arrive({ name: 'alice@a', installId: 'a', namespace: 'samples', version: '1' });
  const i = intercepts.create(alice, spec('echo', 'samples'));
  intercepts.setVolumeKey(i, 'ssh-ed25519 AAAA');
  await objects.recheck();
  assert.deepEqual(intercepts.volumeKeys('samples', 'echo'), ['ssh-ed25519 AAAA']);
  rights.verdicts.set(`${alice.id} samples volumes`, { ok: false, code: 'denied', reason: 'alice may not get intercepts.telepath.dev/volumes' });
  assert.equal(await objects.recheck(), 0);
  assert.deepEqual(intercepts.volumeKeys('samples', 'echo'), []);
  assert.equal(intercepts.all().length, 1);
});

test("an ended session's identity is forgotten and its object deleted", () => {
  const { sessions, api, rights, objects } = setup();
  const s = sessions.arrive({ name: 'alice@a', installId: 'a', namespace: 'samples', version: '1' });
  objects.ended(s.id);
  assert.deepEqual(rights.forgotten, [s.id]);
  assert.deepEqual(api.deleted, [sessionObjectName(s.id)]);
});

test('the sweep deletes objects of sessions this manager does not hold, once past the grace time', async () => {
  const { sessions, api, objects } = setup();
  const live = sessions.arrive({ name: 'alice@a', installId: 'a', namespace: 'samples', version: '1' });
  const at = (id: string, created: string): SessionObject => {
    const o = sessionObject('telepath', id, { username: 'u' }, '');
    return { ...o, metadata: { ...o.metadata, creationTimestamp: created } };
  };
  api.objects = [
    at(live.id, '2026-12-06T09:00:00Z'), // old, but its session lives
    at('gone-old', '2026-12-06T09:57:59Z'), // 2 min 1 s old, no session
    at('gone-young', '2026-12-06T09:59:00Z'), // a minute old: perhaps arriving at this very moment
  ];
  assert.equal(await objects.sweep(), 1);
  assert.deepEqual(api.deleted, [sessionObjectName('gone-old')]);
});
