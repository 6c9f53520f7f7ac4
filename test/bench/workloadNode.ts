/**
 * "The workload's node" on this one machine: the pods of a workload and its callers get one core
 * of their own (their cpuset cgroups), and every other process — the control plane, kubelet,
 * containerd, the traffic-manager, the workstations' daemons and local servers — the other (its
 * threads' CPU affinity). On a real cluster the workstations and the control plane are other
 * machines; the team benchmark measures both ways (teamBench.ts). Needs the cgroup v1 cpuset
 * hierarchy the local cluster's kubelet uses (cgroupfs driver, cgroupRoot /telepath) and two CPUs.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { kubectlJson, run } from '../cluster/harness.js';

const CPUSET_PODS = '/sys/fs/cgroup/cpuset/telepath/kubepods';
export const WORKLOAD_CPU = '1';
export const REST_CPU = '0';
const ALL_CPUS = '0-1';

/** The cpuset cgroup directory of the pod with `uid` (any QoS class). */
export function podCpuset(uid: string, root = CPUSET_PODS): string {
  for (const dir of [root, path.join(root, 'besteffort'), path.join(root, 'burstable')]) {
    const d = path.join(dir, `pod${uid}`);
    if (existsSync(d)) return d;
  }
  throw new Error(`no cpuset cgroup for pod ${uid} under ${root}`);
}

/** The pod's directory and its containers' (children before a parent can shrink, in cgroup v1). */
function cgroupDirs(podDir: string): string[] {
  const children = readdirSync(podDir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => path.join(podDir, e.name));
  return [...children, podDir];
}

function pidsIn(dir: string): number[] {
  return readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
}

/** Sets the CPU affinity of every thread of `pid`; a process that is gone or a per-CPU kernel thread is skipped. */
function setAffinity(pid: number, cpus: string): void {
  run('taskset', ['-a', '-p', '-c', cpus, String(pid)]);
}

export interface WorkloadNode {
  /** Every process back on all CPUs, the pods' cpusets as before. */
  release(): void;
}

/**
 * Puts the pods matching `selectors` (namespace and label selector each) on WORKLOAD_CPU and every
 * other process on REST_CPU until release().
 */
export function workloadNode(selectors: readonly { namespace: string; selector: string }[]): WorkloadNode {
  const pods = selectors.flatMap(({ namespace, selector }) =>
    kubectlJson<{ items: { metadata: { uid: string; deletionTimestamp?: string }; status: { phase?: string } }[] }>('-n', namespace, 'get', 'pods', '-l', selector).items,
  );
  const pinned = pods.filter((p) => p.status.phase === 'Running' && !p.metadata.deletionTimestamp).flatMap((p) => cgroupDirs(podCpuset(p.metadata.uid)));
  {
    // Containers first, then the pod: a cgroup v1 parent may not hold fewer CPUs than a child.
    for (const d of pinned) writeFileSync(path.join(d, 'cpuset.cpus'), WORKLOAD_CPU);
    const inPods = new Set(pinned.flatMap(pidsIn));
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const pid = Number(entry);
      if (inPods.has(pid) || pid === 1) continue;
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      if (cmdline === '') continue; // a kernel thread
      setAffinity(pid, REST_CPU);
    }
  }
  return {
    release(): void {
      // The pods first (parents before children when growing), then every process.
      for (const d of [...pinned].reverse()) {
        try {
          writeFileSync(path.join(d, 'cpuset.cpus'), ALL_CPUS);
        } catch {
          // the pod is gone
        }
      }
      for (const entry of readdirSync('/proc')) if (/^\d+$/.test(entry) && entry !== '1') setAffinity(Number(entry), ALL_CPUS);
    },
  };
}
