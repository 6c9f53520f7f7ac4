import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { test } from 'node:test';
import { fsOpenFlags, opensForWriting, SftpOpenFlag } from './sftpOpenFlags.js';

test('open flags as OpenSSH maps them; what counts as writing', () => {
  const { READ, WRITE, APPEND, CREAT, TRUNC, EXCL } = SftpOpenFlag;
  const { O_RDONLY, O_WRONLY, O_RDWR, O_APPEND, O_CREAT, O_TRUNC, O_EXCL } = constants;
  assert.equal(fsOpenFlags(READ), O_RDONLY);
  assert.equal(fsOpenFlags(WRITE | CREAT | TRUNC), O_WRONLY | O_CREAT | O_TRUNC);
  assert.equal(fsOpenFlags(READ | WRITE), O_RDWR);
  assert.equal(fsOpenFlags(WRITE | APPEND | CREAT | EXCL), O_WRONLY | O_APPEND | O_CREAT | O_EXCL);
  assert.equal(opensForWriting(READ), false);
  for (const f of [WRITE, APPEND, CREAT, TRUNC, READ | WRITE]) assert.equal(opensForWriting(f), true, String(f));
});
