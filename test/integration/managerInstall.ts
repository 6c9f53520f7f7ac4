/**
 * The traffic-manager installed the way the daemon installs it (server-side apply of
 * managerManifests), without a daemon, and reached through a kubectl port-forward by the
 * hand-written client traffic-manager/tools/managerProbe.ts. For the tests that talk to the
 * manager itself (manager.test.ts, attackTunnel.test.ts); not a test file.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { clusterRoleName, GRPC_PORT, managerManifests } from '../../common/src/install/managerManifests.js';
import { PRODUCT_VERSION } from '../../protocol/src/version.js';
import type { ProbePlan, ProbeReport } from '../../traffic-manager/tools/managerProbe.js';
import { kubectlJson, kubectlPortForward, repoRoot, ws, type KubectlPortForward } from '../cluster/harness.js';

export const MANAGER_NS = 'telepath';
const bundlePath = path.join(repoRoot, 'dist/traffic-manager.js');

export interface Pod {
  metadata: { name: string };
  status: { podIP?: string; phase: string; containerStatuses?: { ready: boolean; restartCount: number }[] };
}

export function deleteManagerInstall(wait: boolean): void {
  ws(['kubectl', 'delete', 'namespace', MANAGER_NS, '--ignore-not-found', `--wait=${wait}`, '--timeout=120s'], { timeoutMs: 150_000 });
  ws(['kubectl', 'delete', 'clusterrolebinding,clusterrole', clusterRoleName(MANAGER_NS), '--ignore-not-found']);
}

/**
 * Installs the manager from dist/traffic-manager.js (build it first) after removing what an
 * earlier run may have left, waits until it is Ready, and port-forwards to its gRPC port.
 */
export async function installManager(): Promise<KubectlPortForward> {
  // A run that died half-way may have left an install behind.
  deleteManagerInstall(true);
  const objects = managerManifests({ version: PRODUCT_VERSION, bundle: readFileSync(bundlePath) });
  // Server-side apply, as the daemon must: client-side apply copies each object into an
  // annotation, and annotations hold at most 256 KiB, less than the gzipped bundle.
  const applied = ws(['kubectl', 'apply', '--server-side', '--field-manager=telepath', '--force-conflicts', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }),
  });
  assert.equal(applied.code, 0, `kubectl apply failed: ${applied.stderr}`);
  const rolled = ws(['kubectl', '-n', MANAGER_NS, 'rollout', 'status', 'deployment/traffic-manager', '--timeout=120s'], { timeoutMs: 150_000 });
  if (rolled.code !== 0) {
    const logs = ws(['kubectl', '-n', MANAGER_NS, 'logs', 'deployment/traffic-manager', '--tail=50']);
    const events = ws(['kubectl', '-n', MANAGER_NS, 'get', 'events']);
    assert.fail(`the traffic-manager did not become Ready: ${rolled.stderr}\n${logs.stdout}${logs.stderr}\n${events.stdout}`);
  }
  // To the pod, as the daemon does: the daemons' port is on the pod's loopback, not on the Service.
  return kubectlPortForward(MANAGER_NS, 'deployment/traffic-manager', GRPC_PORT);
}

/** The manager's pods (one, once the rollout is done). */
export function managerPods(): Pod[] {
  return kubectlJson<{ items: Pod[] }>('-n', MANAGER_NS, 'get', 'pods', '-l', 'app.kubernetes.io/name=traffic-manager').items;
}

/** Runs the probe in the workstation namespace, where the port-forward listens, as a new session. */
export function probeManager(localPort: number, plan: ProbePlan): ProbeReport {
  const r = ws(['node', '--import', 'tsx', path.join(repoRoot, 'traffic-manager/tools/managerProbe.ts'), `127.0.0.1:${localPort}`, JSON.stringify(plan)], {
    timeoutMs: 60_000,
  });
  assert.equal(r.code, 0, `the probe failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as ProbeReport;
}
