import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuTicksOf, processSample, statusKb } from './procStats.js';

test('CPU ticks are utime + stime, also when the command name holds spaces and parentheses', () => {
  const rest = 'S 1 1 1 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 11 0 123 1000 200';
  assert.equal(cpuTicksOf(`1 (node) ${rest}`), 325);
  assert.equal(cpuTicksOf(`42 (a (b) c) ${rest}`), 325);
  assert.throws(() => cpuTicksOf('nonsense'), /not a \/proc\/PID\/stat line/);
});

test('VmRSS and VmHWM in KiB from /proc/PID/status', () => {
  const status = 'Name:\tnode\nVmHWM:\t  81234 kB\nVmRSS:\t   70000 kB\n';
  assert.equal(statusKb(status, 'VmRSS'), 70000);
  assert.equal(statusKb(status, 'VmHWM'), 81234);
  assert.throws(() => statusKb('Name: x\n', 'VmRSS'), /no VmRSS/);
});

test("this process's own sample: some memory, a peak at least as large, CPU time spent", () => {
  const s = processSample(process.pid);
  assert.ok(s.rssKb > 1000 && s.hwmKb >= s.rssKb, JSON.stringify(s));
  assert.ok(s.cpuSeconds > 0);
});
