/**
 * The harness on a brand-new machine (issue 12): `up` records the host's iptables before it starts,
 * and a fresh machine's host has no rules — and, before prepare installs it, no iptables at all.
 * A fresh network namespace is such a host. Also: a step of the harness that fails says which
 * step, command and line failed, on stderr, since `npm run demo` and CI hide up's stdout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const here = import.meta.dirname;
const snapshot = path.join(here, 'host-iptables');
const root = process.getuid?.() === 0;
const which = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();

test('the iptables snapshot of a host with no rules is empty, and succeeds', { skip: !root && 'needs root (unshare --net)' }, () => {
  const r = spawnSync('unshare', ['--net', 'bash', snapshot], { encoding: 'utf8' });
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
  assert.equal(r.stdout, '');
});

test('the snapshot lists the rules a host has, without counters', { skip: (!root && 'needs root (unshare --net)') || (!which('iptables') && 'iptables is not installed (test/cluster/prepare installs it)') }, () => {
  const script = `iptables -A INPUT -s 192.0.2.7/32 -j DROP && bash '${snapshot}'`;
  const r = spawnSync('unshare', ['--net', 'sh', '-c', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^-A INPUT -s 192\.0\.2\.7\/32 -j DROP$/m);
  assert.match(r.stdout, /^:INPUT ACCEPT$/m, 'chain counters are dropped');
  assert.doesNotMatch(r.stdout, /^#/m, 'comments (with their timestamps) are dropped');
});

test('the snapshot succeeds, empty, on a machine without any iptables tool', (t) => {
  // PATH holds only what the script itself needs: bash, sed, dirname (no iptables-save, no legacy).
  const bin = mkdtempSync(path.join(os.tmpdir(), 'telepath-nopt-'));
  t.after(() => rmSync(bin, { recursive: true, force: true }));
  for (const tool of ['bash', 'sed', 'dirname', 'date']) symlinkSync(which(tool), path.join(bin, tool));
  const r = spawnSync(path.join(bin, 'bash'), [snapshot], { encoding: 'utf8', env: { PATH: bin, HOME: os.homedir() } });
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
  assert.equal(r.stdout, '');
});

test('a failing step says which step, command, status and line, on stderr', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'telepath-step-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'x'));
  const script = path.join(dir, 'x', 'failing');
  writeFileSync(
    script,
    [
      `. '${path.join(here, 'lib.sh')}'`,
      'step "recording the empty thing"',
      'listed=$(printf "# only a comment\\n" | grep -v "^#" | sed "s/a/b/")',
      'echo "not reached: $listed"',
      '',
    ].join('\n'),
  );
  const r = spawnSync('bash', [script], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '', 'nothing after the failure ran');
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 2, r.stderr);
  assert.match(lines[0]!, /cluster: recording the empty thing$/);
  assert.match(lines[1]!, /cluster: error: while recording the empty thing: 'listed=\$\(printf .*\| grep -v .*\)' exited 1 \(.*x\/failing:3\)$/);
});

test('a failure inside a function names the command that failed there', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'telepath-step-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const script = path.join(dir, 'failing');
  writeFileSync(script, [`. '${path.join(here, 'lib.sh')}'`, 'f() { ls /nonexistent-telepath-path; }', 'if ! false; then f; fi', ''].join('\n'));
  const r = spawnSync('bash', [script], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /cluster: error: 'ls \/nonexistent-telepath-path' exited 2 \(.*failing:\d+\)/);
  assert.equal(r.stderr.match(/error:/g)?.length, 1, `reported once: ${r.stderr}`);
});
