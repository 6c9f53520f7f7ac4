import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { mountUnavailable } from './volumeMounts.js';

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
