import assert from 'node:assert/strict';
import { execFile as execFileCallback, spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFile = promisify(execFileCallback);
const here = path.dirname(fileURLToPath(import.meta.url));

let tmp: string;
let pause: string;
before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'telepath-pause-test-'));
  pause = path.join(tmp, 'pause');
  await execFile('gcc', ['-static', '-Os', '-Wall', '-Werror', '-o', pause, path.join(here, 'pause.c')]);
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`pause exits 0 on ${signal}`, async () => {
    const child = spawn(pause, [], { stdio: 'ignore' });
    const exit = new Promise<[number | null, string | null]>((resolve) => child.on('exit', (code, sig) => resolve([code, sig])));
    await sleep(100);
    child.kill(signal);
    assert.deepEqual(await exit, [0, null]);
  });
}

test('pause as PID 1 reaps orphans re-parented to it', { skip: process.getuid?.() !== 0 && 'needs root for unshare' }, async () => {
  const outer = spawn('unshare', ['--pid', '--fork', pause], { stdio: 'ignore' });
  const outerExit = new Promise<number | null>((resolve) => outer.on('exit', (code) => resolve(code)));
  let pid = '';
  try {
    await sleep(300);
    pid = (await execFile('pgrep', ['-P', String(outer.pid)])).stdout.trim();
    // The shell exits at once; its background sleep is orphaned to the namespace's PID 1.
    await execFile('nsenter', ['-t', pid, '-p', '--', 'sh', '-c', 'sleep 0.2 & exit 0']);
    await sleep(700);
    const children = (await execFile('ps', ['-o', 'stat=', '--ppid', pid]).catch(() => ({ stdout: '' }))).stdout;
    assert.ok(!children.includes('Z'), `zombie children left: ${children}`);
    process.kill(Number(pid), 'SIGTERM');
    assert.equal(await outerExit, 0);
  } finally {
    // Killing the namespace's PID 1 ends everything in it; killing unshare alone would not.
    if (/^\d+$/.test(pid) && outer.exitCode === null) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    outer.kill('SIGKILL');
  }
});
