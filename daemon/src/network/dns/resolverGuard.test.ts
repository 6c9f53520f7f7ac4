/**
 * The resolver guard against real processes: a child plays the network role (testing/guardChild.ts)
 * and is killed with SIGKILL or stops cleanly; the guard's restoring half runs from the sources.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

const CHILD = path.join(import.meta.dirname, 'testing/guardChild.ts');
const ORIGINAL = '# the workstation\nnameserver 192.0.2.53\nsearch example.test\n';
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const alive = (pid: number): boolean => existsSync(`/proc/${pid}`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(what: string, ms: number, f: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** A role with its guard; resolves once the guard runs. */
async function startRole(owner?: number) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'telepath-guard-'));
  dirs.push(dir);
  const file = path.join(dir, 'resolv.conf');
  const journal = path.join(dir, 'journal/resolver.json');
  writeFileSync(file, ORIGINAL);
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, file, journal, ...(owner ? [String(owner)] : [])], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  while (!/guard (\d+)\n/.test(out)) await once(child.stdout, 'data');
  const guard = Number(/guard (\d+)\n/.exec(out)![1]);
  assert.notEqual(readFileSync(file, 'utf8'), ORIGINAL, 'the role changed the file');
  return { child, guard, file, journal };
}

test('the role killed with SIGKILL: the guard puts resolv.conf back and removes the journal, then ends', async () => {
  const { child, guard, file, journal } = await startRole();
  assert.ok(alive(guard));
  child.kill('SIGKILL');
  await until('resolv.conf restored', 10_000, () => readFileSync(file, 'utf8') === ORIGINAL);
  await until('the guard to end', 10_000, () => !alive(guard));
  assert.equal(existsSync(journal), false);
});

test('a clean stop releases the guard: it ends at once and touches nothing', async () => {
  const { child, guard, file, journal } = await startRole();
  child.stdin.write('release\n');
  await once(child, 'exit');
  assert.equal(alive(guard), false, 'the role waited for its guard to end');
  await sleep(300);
  assert.notEqual(readFileSync(file, 'utf8'), ORIGINAL, 'released: the role restores, not the guard');
  assert.equal(existsSync(journal), true);
});

test("a journal that is another process's is left alone (a new daemon journaled its own change)", async () => {
  const { child, guard, file, journal } = await startRole(process.pid);
  child.kill('SIGKILL');
  await until('the guard to end', 10_000, () => !alive(guard));
  assert.notEqual(readFileSync(file, 'utf8'), ORIGINAL);
  assert.equal(existsSync(journal), true);
});
