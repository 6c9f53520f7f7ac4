import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode } from '../../../../protocol/src/daemon';
import { decideInstall, managerRefusal, type FoundManager, type ManagerBuild } from './installDecision.js';

const self: ManagerBuild = { version: '0.2.0', bundleHash: 'b-020', api: { level: 2, min: 1 } };
const found = (over: Partial<FoundManager>): FoundManager => ({ ...self, available: true, ...over });
const ns = 'telepath';

test('no manager: install this one; without the right to, say so', () => {
  assert.deepEqual(decideInstall(undefined, self, true, ns), { action: 'install', message: 'No traffic-manager in namespace telepath: installing 0.2.0' });
  const d = decideInstall(undefined, self, false, ns);
  assert.equal(d.action, 'refuse');
  assert.equal(d.action === 'refuse' && d.code, ErrorCode.Forbidden);
});

test('the same version and bundle, available: use it, whatever the credentials', () => {
  for (const may of [true, false]) {
    assert.deepEqual(decideInstall(found({}), self, may, ns), { action: 'use', message: 'traffic-manager 0.2.0 found: using it' });
  }
});

test('the same version, another bundle (a development build): re-install as before', () => {
  assert.deepEqual(decideInstall(found({ bundleHash: 'b-dev' }), self, true, ns), {
    action: 'reinstall',
    message: "traffic-manager 0.2.0 found, another build of this version: installing this client's build",
  });
  assert.deepEqual(decideInstall(found({ bundleHash: 'b-dev' }), self, false, ns), {
    action: 'use',
    message: 'traffic-manager 0.2.0 found, another build of this version; your credentials may not replace it; using it',
  });
});

test('the same build, not available: apply it again', () => {
  assert.equal(decideInstall(found({ available: false }), self, true, ns).action, 'reinstall');
});

test('this client newer: upgrade; without the right, use the old one when it is compatible', () => {
  const old = found({ version: '0.1.0', bundleHash: 'b-010', api: { level: 1, min: 1 } });
  assert.deepEqual(decideInstall(old, self, true, ns), { action: 'upgrade', message: 'traffic-manager 0.1.0 found (this client 0.2.0): upgrading it' });
  assert.deepEqual(decideInstall(old, self, false, ns), {
    action: 'use',
    message: 'traffic-manager 0.1.0 found (this client 0.2.0); your credentials may not upgrade it; using it',
  });
});

test('this client newer, the old manager out of its range, no right to upgrade: a cluster error that says who can fix it', () => {
  const newer: ManagerBuild = { version: '0.4.0', bundleHash: 'b-040', api: { level: 4, min: 3 } };
  const old = found({ version: '0.1.0', bundleHash: 'b-010', api: { level: 1, min: 1 } });
  assert.equal(decideInstall(old, newer, true, ns).action, 'upgrade');
  const d = decideInstall(old, newer, false, ns);
  assert.equal(d.action, 'refuse');
  assert.equal(d.action === 'refuse' && d.code, ErrorCode.ManagerTooOld);
  assert.match(d.message, /^the traffic-manager is 0\.1\.0, older than this client 0\.4\.0 works with \(it serves API levels 1-1, this client speaks 3-4\); your credentials may not upgrade it/);
});

test('this client older: never downgrade; use the newer manager while it serves this client', () => {
  const newer = found({ version: '0.3.0', bundleHash: 'b-030', api: { level: 3, min: 1 } });
  for (const may of [true, false]) {
    assert.deepEqual(decideInstall(newer, self, may, ns), {
      action: 'use',
      message: 'traffic-manager 0.3.0 found (this client 0.2.0): newer than this client; using it',
    });
  }
});

test('this client older and out of the newer manager range: upgrade Telepath', () => {
  const newer = found({ version: '0.5.0', bundleHash: 'b-050', api: { level: 5, min: 3 } });
  const d = decideInstall(newer, self, true, ns);
  assert.deepEqual(d, {
    action: 'refuse',
    code: ErrorCode.ClientTooOld,
    message: 'the traffic-manager is 0.5.0, newer than this client 0.2.0; upgrade Telepath (it serves API levels 3-5, this client speaks 1-2)',
  });
});

test('a manager of no known version is replaced like an older one', () => {
  assert.equal(decideInstall(found({ version: '', bundleHash: 'x' }), self, true, ns).action, 'upgrade');
});

test('managerRefusal: asked of the manager reached, on connect and on every reconnect', () => {
  assert.equal(managerRefusal({ version: '0.1.0', api: { level: 1, min: 1 } }, self), undefined);
  assert.equal(managerRefusal({ version: '0.5.0', api: { level: 5, min: 3 } }, self)?.action, 'refuse');
  const old = managerRefusal({ version: '0.1.0', api: { level: 1, min: 1 } }, { ...self, api: { level: 4, min: 3 } });
  assert.equal(old?.action === 'refuse' && old.code, ErrorCode.ManagerTooOld);
  assert.match(old!.message, /connect again to upgrade it$/);
});
