import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { mountUnavailable, parseMountinfo } from './volumeMounts.js';

test('without sshfs or /dev/fuse the user is told what to install', () => {
  assert.match(mountUnavailable({ PATH: '/nonexistent' }) ?? '', /sshfs is not installed \(Debian\/Ubuntu: apt-get install sshfs/);
  // An sshfs on PATH (a stand-in: it is only looked up), but no FUSE device.
  const bin = mkdtempSync(path.join(os.tmpdir(), 'telepath-sshfs-'));
  try {
    writeFileSync(path.join(bin, 'sshfs'), '#!/bin/sh\n');
    chmodSync(path.join(bin, 'sshfs'), 0o755);
    assert.match(mountUnavailable({ PATH: bin }, '/nonexistent/fuse') ?? '', /^\/dev\/fuse is missing/);
    assert.equal(mountUnavailable({ PATH: bin }, os.tmpdir()), undefined);
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});

test("mountinfo gives each mount's device and its mount point, spaces unescaped", () => {
  const text = [
    '22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw',
    '103 70 0:53 / /tmp/my\\040volumes rw,nosuid,nodev,relatime - fuse.sshfs telepath@127.0.0.1:/ rw,user_id=0,group_id=0',
    '',
  ].join('\n');
  assert.deepEqual(parseMountinfo(text), [
    { device: '0:21', mountPoint: '/proc' },
    { device: '0:53', mountPoint: '/tmp/my volumes' },
  ]);
});
