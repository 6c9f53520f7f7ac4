import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parseMountinfo, READ_AHEAD_KB, readAheadRefusal, setReadAhead } from './readAhead.js';

const mountinfo = [
  '22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw',
  '103 70 0:53 / /tmp/my\\040volumes rw,nosuid,nodev,relatime - fuse.sshfs telepath@127.0.0.1:/ rw,user_id=0,group_id=0',
  '104 70 0:54 / /home/dev/mnt rw,nosuid,nodev,relatime shared:70 master:3 - fuse.sshfs telepath@127.0.0.1:/ rw,user_id=1000,group_id=1000',
  '',
].join('\n');

test('mountinfo gives each mount its device, mount point (unescaped), type and options, past any optional fields', () => {
  assert.deepEqual(parseMountinfo(mountinfo), [
    { device: '0:21', mountPoint: '/proc', fsType: 'proc', superOptions: 'rw' },
    { device: '0:53', mountPoint: '/tmp/my volumes', fsType: 'fuse.sshfs', superOptions: 'rw,user_id=0,group_id=0' },
    { device: '0:54', mountPoint: '/home/dev/mnt', fsType: 'fuse.sshfs', superOptions: 'rw,user_id=1000,group_id=1000' },
  ]);
});

test("the network role raises the read-ahead only of a FUSE mount its user made", () => {
  const [proc, rootMount, userMount] = parseMountinfo(mountinfo);
  assert.equal(readAheadRefusal(userMount, '/home/dev/mnt', 1000), undefined);
  assert.equal(readAheadRefusal(rootMount, '/tmp/my volumes', 1000), '/tmp/my volumes was not mounted by uid 1000');
  // user_id=10000 is not user_id=1000
  assert.match(readAheadRefusal({ ...userMount!, superOptions: 'rw,user_id=10000,group_id=1000' }, '/home/dev/mnt', 1000) ?? '', /not mounted by uid 1000/);
  assert.equal(readAheadRefusal(proc, '/proc', 1000), '/proc is a proc mount, not FUSE');
  assert.equal(readAheadRefusal(undefined, '/home/dev', 1000), '/home/dev is not a mount point');
  assert.equal(readAheadRefusal(userMount, 'mnt', 1000), 'mnt is not an absolute path');
});

test("setReadAhead writes the mount's bdi entry", () => {
  const sysfs = mkdtempSync(path.join(os.tmpdir(), 'telepath-bdi-'));
  try {
    mkdirSync(path.join(sysfs, '0:54'));
    const file = setReadAhead(parseMountinfo(mountinfo)[2]!, sysfs);
    assert.equal(file, path.join(sysfs, '0:54', 'read_ahead_kb'));
    assert.equal(readFileSync(file, 'utf8'), `${READ_AHEAD_KB}\n`);
    assert.throws(() => setReadAhead(parseMountinfo(mountinfo)[1]!, sysfs), /ENOENT/);
  } finally {
    rmSync(sysfs, { recursive: true, force: true });
  }
});
