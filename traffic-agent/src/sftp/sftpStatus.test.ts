import assert from 'node:assert/strict';
import { promises as fsp, type Stats } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { SftpPathError } from './sftpPaths.js';
import { attrsFromStats, longname, modeString, SftpStatus, statusForError } from './sftpStatus.js';

test('fs errors map to SFTP status codes without the real path in the message', async () => {
  const err = await fsp.open(path.join(os.tmpdir(), 'telepath-no-such-dir/x')).then(
    () => assert.fail('opened'),
    (e: unknown) => e,
  );
  const failure = statusForError(err);
  assert.equal(failure.code, SftpStatus.NO_SUCH_FILE);
  assert.equal(failure.message, 'no such file or directory (ENOENT)');

  const errno = (code: string): Error => Object.assign(new Error(code), { code });
  assert.equal(statusForError(errno('EACCES')).code, SftpStatus.PERMISSION_DENIED);
  assert.equal(statusForError(errno('EPERM')).code, SftpStatus.PERMISSION_DENIED);
  assert.equal(statusForError(errno('EROFS')).code, SftpStatus.PERMISSION_DENIED);
  assert.equal(statusForError(errno('ENOTDIR')).code, SftpStatus.NO_SUCH_FILE);
  assert.equal(statusForError(errno('EEXIST')).code, SftpStatus.FAILURE);
  assert.equal(statusForError(errno('ENOTEMPTY')).code, SftpStatus.FAILURE);
  assert.deepEqual(statusForError(new SftpPathError('/../x leads out of the volumes', 'EACCES')), {
    code: SftpStatus.PERMISSION_DENIED,
    message: '/../x leads out of the volumes',
  });
  assert.deepEqual(statusForError('boom'), { code: SftpStatus.FAILURE, message: 'boom' });
});

test('attributes carry type, permissions and whole-second times', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'telepath-attrs-'));
  try {
    const file = path.join(dir, 'f');
    await fsp.writeFile(file, 'abc', { mode: 0o640 });
    await fsp.chmod(file, 0o640);
    await fsp.utimes(file, 1_700_000_000.75, 1_700_000_100.25);
    const a = attrsFromStats(await fsp.stat(file));
    assert.equal(a.mode, 0o100640);
    assert.equal(a.size, 3);
    assert.equal(a.atime, 1_700_000_000);
    assert.equal(a.mtime, 1_700_000_100);
    assert.equal((attrsFromStats(await fsp.stat(dir)).mode & 0o170000), 0o040000);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('mode strings as ls prints them', () => {
  assert.equal(modeString(0o040755), 'drwxr-xr-x');
  assert.equal(modeString(0o100644), '-rw-r--r--');
  assert.equal(modeString(0o120777), 'lrwxrwxrwx');
  assert.equal(modeString(0o104755), '-rwsr-xr-x');
  assert.equal(modeString(0o102644), '-rw-r-Sr--');
  assert.equal(modeString(0o041777), 'drwxrwxrwt');
  assert.equal(modeString(0o041776), 'drwxrwxrwT');
});

test('longname: OpenSSH layout, time of day for recent files, the year for old ones', () => {
  const st = (mtime: string, size: number): Pick<Stats, 'mode' | 'nlink' | 'uid' | 'gid' | 'size' | 'mtimeMs'> => ({
    mode: 0o100644,
    nlink: 1,
    uid: 1000,
    gid: 2000,
    size,
    mtimeMs: Date.parse(mtime),
  });
  const now = Date.parse('2026-03-10T12:00:00Z');
  assert.equal(longname('config.txt', st('2026-03-04T09:05:00Z', 34), now), '-rw-r--r--   1 1000     2000           34 Mar  4 09:05 config.txt');
  assert.equal(longname('old', st('2024-11-20T00:00:00Z', 123456789), now), '-rw-r--r--   1 1000     2000     123456789 Nov 20  2024 old');
});
