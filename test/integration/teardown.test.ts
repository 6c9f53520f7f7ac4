/**
 * `cluster:down` leaves nothing behind: no process, network namespace, veth, mount, cgroup or
 * iptables rule of the cluster's survives it. Runs last (test/run.mjs), after every other file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { clusterDir, clusterDown, ensureCluster, pidsWhere, run, runDir, stateDir } from '../cluster/harness.js';

function pidsInCgroups(): number[] {
  const pids = new Set<number>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(dir, e.name));
      else if (e.name === 'cgroup.procs') {
        for (const l of readFileSync(path.join(dir, e.name), 'utf8').split('\n')) if (l) pids.add(Number(l));
      }
    }
  };
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const d = path.join('/sys/fs/cgroup', h, 'telepath');
    if (existsSync(d)) walk(d);
  }
  return [...pids];
}

function pidsInNamespaces(): number[] {
  const inodes = ['/run/netns/tp-node', '/run/netns/tp-ws', '/run/netns/tp-ws2', `${runDir}/ns/mnt`, `${runDir}/ns/ws2-mnt`]
    .filter((f) => existsSync(f))
    .map((f) => run('stat', ['-L', '-c', '%i', f]).stdout.trim());
  return pidsWhere((p) => {
    const net = /\[(\d+)\]/.exec(readlinkSync(`/proc/${p}/ns/net`))?.[1];
    const mnt = /\[(\d+)\]/.exec(readlinkSync(`/proc/${p}/ns/mnt`))?.[1];
    return inodes.includes(net!) || inodes.includes(mnt!);
  });
}

/**
 * Running, not just listed: a killed process whose parent has not reaped it yet stays in /proc
 * as a zombie (state Z) — containerd's shims are reparented to PID 1, which reaps when it will.
 */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
/** The host namespace's rules, by the script up recorded them with: no comments, no counters. */
const hostIptables = () => {
  const r = run('bash', [path.join(clusterDir, 'host-iptables')]);
  assert.equal(r.code, 0, `host-iptables failed: ${r.stderr}`);
  return r.stdout;
};

test('cluster:down leaves no process, namespace, veth, mount, cgroup or iptables rule behind', () => {
  ensureCluster();
  const before = readFileSync(path.join(stateDir, 'host-before', 'iptables.txt'), 'utf8');
  assert.match(run('ip', ['netns', 'list']).stdout, /^tp-node\b/m);
  const pids = [...pidsInCgroups(), ...pidsInNamespaces()];
  assert.ok(pids.length > 10, `expected the cluster's processes, found ${pids.length}`);

  clusterDown();

  assert.deepEqual(pids.filter(alive), [], 'processes of the cluster survived');
  // Every namespace the cluster made (its own two and the pods') is gone: the list is as before up.
  assert.equal(
    run('ip', ['netns', 'list']).stdout,
    readFileSync(path.join(stateDir, 'host-before', 'netns.txt'), 'utf8'),
    'network namespaces survived',
  );
  assert.doesNotMatch(run('ip', ['-o', 'link']).stdout, /\b(tpn0|tpw0|tpblk[01]|cni0)\b/, 'a veth or bridge survived');
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(stateDir) || l.includes(runDir) || /\/run\/netns\/tp-/.test(l));
  assert.deepEqual(mounts, [], 'mounts survived');
  const cgroups = readdirSync('/sys/fs/cgroup').filter((h) => existsSync(`/sys/fs/cgroup/${h}/telepath`));
  assert.deepEqual(cgroups, [], 'pod cgroups survived');
  // Containers are the processes whose root is not the machine's.
  const containers = pidsWhere((p) => readlinkSync(`/proc/${p}/root`) !== '/');
  assert.deepEqual(containers, [], 'container processes survived');
  assert.equal(hostIptables(), before, "the host namespace's iptables rules changed");
  assert.equal(existsSync(runDir), false, `${runDir} survived`);
});
