import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mountUnavailable } from './volumeMounts.js';

test('without sshfs or /dev/fuse the user is told what to install', () => {
  assert.match(mountUnavailable({ PATH: '/nonexistent' }) ?? '', /sshfs is not installed \(Debian\/Ubuntu: apt-get install sshfs/);
  const withSshfs = mountUnavailable(process.env, '/nonexistent/fuse');
  // On a machine without sshfs the first check answers; with it, the device check does.
  assert.match(withSshfs ?? '', /sshfs is not installed|\/dev\/fuse is missing/);
});
