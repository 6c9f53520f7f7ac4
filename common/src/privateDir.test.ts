import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { daemonPaths, socketDirProblem } from './daemonPaths.js';
import { ensurePrivateDir, privateDirProblem } from './privateDir.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-privdir-'));
after(() => fs.rmSync(base, { recursive: true, force: true }));
const uid = process.getuid!();
const notRoot = uid === 0 ? false : 'making a directory of another user needs root (chown); CI runs unit tests as root';

test('a missing directory is made mode 0700, whatever the umask, and then passes', () => {
  const dir = path.join(base, 'fresh');
  assert.equal(privateDirProblem(dir, uid), undefined, 'absent is no problem: the daemon makes it');
  const umask = process.umask(0o277);
  try {
    ensurePrivateDir(dir, uid);
  } finally {
    process.umask(umask);
  }
  assert.equal(fs.lstatSync(dir).mode & 0o7777, 0o700);
  assert.equal(privateDirProblem(dir, uid), undefined);
  ensurePrivateDir(dir, uid); // again: already there and fine
});

test('a directory of ours with another mode is refused, and left as it is', () => {
  const dir = path.join(base, 'open');
  fs.mkdirSync(dir, { mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  assert.match(privateDirProblem(dir, uid) ?? '', /open has mode 0755, not 0700: other users could reach or add to what is in it\. Remove it \(rm -r .*open; Telepath makes it again, private\), or set XDG_RUNTIME_DIR/);
  assert.throws(() => ensurePrivateDir(dir, uid), /has mode 0755, not 0700/);
  assert.equal(fs.lstatSync(dir).mode & 0o7777, 0o755, 'not "fixed" behind the user\'s back');
  fs.chmodSync(dir, 0o1700);
  assert.match(privateDirProblem(dir, uid) ?? '', /has mode 1700, not 0700/);
});

test('a symbolic link is refused, even to a private directory of ours', () => {
  const target = path.join(base, 'target');
  fs.mkdirSync(target, { mode: 0o700 });
  const link = path.join(base, 'link');
  fs.symlinkSync(target, link);
  assert.match(privateDirProblem(link, uid) ?? '', /link is a symbolic link, not a directory: someone may have put it there to catch Telepath's socket\. Remove it \(rm .*link\)/);
  assert.throws(() => ensurePrivateDir(link, uid), /is a symbolic link/);
});

test('a file is refused', () => {
  const file = path.join(base, 'file');
  fs.writeFileSync(file, '');
  assert.match(privateDirProblem(file, uid) ?? '', /file is not a directory\. Remove it/);
});

test("another user's directory, mode 0700 or not, is refused", { skip: notRoot }, () => {
  const dir = path.join(base, 'planted');
  fs.mkdirSync(dir, { mode: 0o700 });
  fs.chownSync(dir, 65534, 65534);
  assert.match(privateDirProblem(dir, uid) ?? '', /planted belongs to uid 65534, not to you \(uid 0\): another user may have made it to answer in the Telepath daemon's place\. Remove it \(as root: rm -r .*planted\), or set XDG_RUNTIME_DIR/);
  assert.throws(() => ensurePrivateDir(dir, uid), /belongs to uid 65534/);
  assert.match(privateDirProblem(dir, 4242) ?? '', /belongs to uid 65534, not to you \(uid 4242\)/);
});

test('only the fallback in the shared temporary directory is held to this; XDG_RUNTIME_DIR, root and TELEPATH_RUN_DIR are not', () => {
  const tmp = process.env.TMPDIR;
  process.env.TMPDIR = base;
  try {
    const p = daemonPaths({}, 4242);
    assert.equal(p.privateRunDir, path.join(base, 'telepath-4242'));
    assert.equal(p.socket, path.join(base, 'telepath-4242/telepath/daemon.sock'));
    assert.equal(daemonPaths({ XDG_RUNTIME_DIR: '' }, 4242).privateRunDir, path.join(base, 'telepath-4242'), 'an empty XDG_RUNTIME_DIR is unset');
    assert.equal(daemonPaths({ XDG_RUNTIME_DIR: '/run/user/4242' }, 4242).privateRunDir, undefined);
    assert.equal(daemonPaths({ XDG_RUNTIME_DIR: '/run/user/4242' }, 4242).socket, '/run/user/4242/telepath/daemon.sock');
    assert.equal(daemonPaths({ TELEPATH_RUN_DIR: '/x' }, 4242).privateRunDir, undefined);
    assert.equal(daemonPaths({}, 0).privateRunDir, undefined);

    assert.equal(socketDirProblem(p, 4242), undefined, 'not made yet');
    fs.mkdirSync(p.privateRunDir!, { mode: 0o777 });
    fs.chmodSync(p.privateRunDir!, 0o777);
    assert.match(socketDirProblem(p, 4242) ?? '', /^refusing the daemon's socket directory: .*telepath-4242 belongs to uid \d+, not to you \(uid 4242\)/);
    assert.equal(socketDirProblem({ ...p, privateRunDir: undefined }, 4242), undefined);
  } finally {
    if (tmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmp;
  }
});
