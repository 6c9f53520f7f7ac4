import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuBetween, cpuLineTicks, cpuTicksOf, machineCpu, processSample, roleOf, statusKb } from './procStats.js';

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

test('roles: a program by its name, a node script by its name and first argument, a pod prefixed, kernel threads together', () => {
  const host = '0::/user.slice\n';
  const pod = '0::/kubepods.slice/kubepods-besteffort.slice/cri-containerd-abc.scope\n';
  assert.equal(roleOf(['/opt/k8s/bin/kube-apiserver', '--secure-port=6443'], 'kube-apiserver', host), 'kube-apiserver');
  assert.equal(roleOf(['node', '/app/samples.js', 'http-echo', '--port', '8080'], 'node', pod), 'pod samples.js http-echo');
  assert.equal(roleOf(['/usr/bin/node', '--import', 'tsx', '/x/dist/telepath.js', 'daemon'], 'node', host), 'telepath.js daemon');
  assert.equal(roleOf(['node', '--enable-source-maps', '/app/traffic-agent.js', '--port=1'], 'MainThread', pod), 'pod traffic-agent.js');
  assert.equal(roleOf(['node', '-e', 'console.log(1)'], 'node', pod), 'pod node -e');
  assert.equal(roleOf([], 'ksoftirqd/0', ''), 'kernel threads');
});

test('busy time from /proc/stat: everything but idle and iowait; interrupts apart', () => {
  const stat = 'cpu  100 5 50 1000 20 3 7 1 0 0\ncpu0 50 2 25 500 10 1 3 0 0 0\n';
  assert.deepEqual(cpuLineTicks(stat), { busy: 166, irq: 10 });
  assert.throws(() => cpuLineTicks('intr 1 2 3\n'), /no cpu line/);
});

test('CPU between two readings: summed by role, a new process from zero, a reused pid of another role from zero', () => {
  const a = { at: 0, busySeconds: 10, irqSeconds: 1, processes: new Map([[1, { role: 'a', seconds: 5 }], [2, { role: 'b', seconds: 1 }], [3, { role: 'a', seconds: 2 }]]) };
  const b = { at: 2000, busySeconds: 14, irqSeconds: 1.2, processes: new Map([[1, { role: 'a', seconds: 6 }], [2, { role: 'c', seconds: 0.5 }], [3, { role: 'a', seconds: 2.5 }], [4, { role: 'b', seconds: 1 }]]) };
  const s = cpuBetween(a, b);
  assert.equal(s.seconds, 2);
  assert.equal(s.cores, 2);
  assert.deepEqual(s.roles.map((r) => [r.role, r.seconds]), [['a', 1.5], ['b', 1], ['c', 0.5]]);
  assert.ok(Math.abs(s.irqCores - 0.1) < 1e-9 && Math.abs(s.unattributedCores - (4 - 0.2 - 3) / 2) < 1e-9, JSON.stringify(s));
});

test('a reading of this machine finds this process with its role', () => {
  const m = machineCpu();
  assert.ok(m.busySeconds > 0);
  assert.ok(m.processes.get(process.pid)!.seconds > 0);
});
