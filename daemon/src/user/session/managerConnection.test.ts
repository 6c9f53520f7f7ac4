import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { removeStaleForwardDirs } from './managerConnection.js';

test("a forward directory whose daemon is gone is removed; a live daemon's and anything else stay", async (t) => {
  const parent = mkdtempSync(path.join(os.tmpdir(), 'forward-dirs-'));
  t.after(() => rmSync(parent, { recursive: true, force: true }));
  const exited = spawnSync(process.execPath, ['-e', '']).pid!;
  for (const name of [`telepath-forward-${exited}-abc`, `telepath-forward-${process.pid}-def`, 'telepath-forward-xyz', 'other']) {
    mkdirSync(path.join(parent, name));
  }
  await removeStaleForwardDirs(parent);
  assert.deepEqual(readdirSync(parent).sort(), ['other', `telepath-forward-${process.pid}-def`, 'telepath-forward-xyz'].sort());
});
