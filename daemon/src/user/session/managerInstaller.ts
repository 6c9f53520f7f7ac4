/**
 * Installs, upgrades and removes the traffic-manager with the user's own credentials, so the API
 * server decides who may. The objects come from common/src/install/managerManifests.ts; an install is
 * current when the Deployment carries this client's bundle hash, so a client never talks to a
 * manager built from other code.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { AppsV1Api, KubernetesObjectApi, PatchStrategy, type KubernetesObject, type V1Deployment } from '@kubernetes/client-node';
import { ErrorCode } from '../../../../protocol/src/daemon';
import {
  BUNDLE_HASH_ANNOTATION,
  DEFAULT_IMAGE,
  MANAGER_NAME,
  managerManifests,
} from '../../../../common/src/install/managerManifests.js';
import { isNotFound, kubeError, type KubeAccess } from '../kube/kubeAccess.js';
import type { Logger } from '../../../../common/src/log/fileLogger.js';
import type { Progress } from '../rpc/rpcServer.js';

const FIELD_MANAGER = 'telepath';

export interface InstallOptions {
  namespace: string;
  version: string;
  bundle: Buffer;
  image?: string;
  timeoutMs?: number;
}

/** The manager's bundle: beside this program in dist/, or dist/ of the repository from sources. */
export function findManagerBundle(env: NodeJS.ProcessEnv = process.env): Buffer {
  return findBundle('traffic-manager.js', env.TELEPATH_MANAGER_BUNDLE);
}

/** A bundle of dist/ (`fileName`): `override` when set, else beside this program, else in the repository's dist/. */
export function findBundle(fileName: string, override?: string): Buffer {
  const candidates = [override, path.join(__dirname, fileName), path.resolve(__dirname, '../../../../dist', fileName)].filter(
    (p): p is string => !!p,
  );
  for (const c of candidates) if (fs.existsSync(c)) return fs.readFileSync(c);
  throw new Error(`the ${fileName.replace(/\.js$/, '')} bundle is missing (looked in ${candidates.join(', ')}); run "npm run build"`);
}

export function bundleHash(bundle: Buffer): string {
  return createHash('sha256').update(bundle).digest('hex');
}

/**
 * Makes the cluster run exactly this manager: nothing when the Deployment already has this bundle
 * and is available; otherwise applies every object (server-side apply) and waits for the rollout.
 * Returns the manager's version.
 */
export async function ensureManager(
  access: KubeAccess,
  opts: InstallOptions,
  progress: Progress,
  log: Logger,
  signal?: AbortSignal,
): Promise<string> {
  const apps = access.kc.makeApiClient(AppsV1Api);
  const hash = bundleHash(opts.bundle);
  let current: V1Deployment | undefined;
  try {
    current = await apps.readNamespacedDeployment({ name: MANAGER_NAME, namespace: opts.namespace });
  } catch (err) {
    if (!isNotFound(err)) throw kubeError(err, `reading the traffic-manager in namespace ${opts.namespace}`, access);
  }
  const currentHash = current?.spec?.template?.metadata?.annotations?.[BUNDLE_HASH_ANNOTATION];
  if (current && currentHash === hash && isAvailable(current)) {
    log.info(`traffic-manager ${opts.version} is installed and available`);
    return opts.version;
  }
  const verb = current ? 'Upgrading' : 'Installing';
  progress('begin', `${verb} the traffic-manager ${opts.version} in namespace ${opts.namespace}`);
  const objects = managerManifests({
    version: opts.version,
    bundle: opts.bundle,
    namespace: opts.namespace,
    image: opts.image ?? process.env.TELEPATH_MANAGER_IMAGE ?? DEFAULT_IMAGE,
  }) as KubernetesObject[];
  const client = KubernetesObjectApi.makeApiClient(access.kc);
  for (const obj of objects) {
    try {
      await client.patch(obj, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    } catch (err) {
      throw kubeError(err, `applying ${obj.kind} ${obj.metadata?.name}`, access, ErrorCode.ManagerInstallFailed);
    }
  }
  progress('report', `Waiting for the traffic-manager to become available`);
  await waitAvailable(access, apps, opts.namespace, opts.timeoutMs ?? 180_000, signal);
  progress('end', `The traffic-manager ${opts.version} is available`);
  return opts.version;
}

/** Removes every object of the install (namespace last). Returns what was removed, for the user. */
export async function uninstallManager(access: KubeAccess, namespace: string, progress: Progress): Promise<string[]> {
  const client = KubernetesObjectApi.makeApiClient(access.kc);
  const objects = managerManifests({ version: '0', bundle: Buffer.alloc(0), namespace }).reverse() as KubernetesObject[];
  const removed: string[] = [];
  progress('begin', `Removing the traffic-manager from namespace ${namespace}`);
  for (const obj of objects) {
    try {
      await client.delete(obj, undefined, undefined, undefined, undefined, 'Foreground');
      removed.push(`removed ${obj.kind} ${obj.metadata?.namespace ? `${obj.metadata.namespace}/` : ''}${obj.metadata?.name}`);
    } catch (err) {
      if (!isNotFound(err)) throw kubeError(err, `deleting ${obj.kind} ${obj.metadata?.name}`, access);
    }
  }
  progress('end', removed.length ? 'The traffic-manager is removed' : 'No traffic-manager was installed');
  return removed;
}

function isAvailable(d: V1Deployment): boolean {
  const s = d.status;
  const want = d.spec?.replicas ?? 1;
  return (
    (s?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) &&
    (s?.updatedReplicas ?? 0) >= want &&
    (s?.availableReplicas ?? 0) >= want &&
    (s?.replicas ?? 0) === want
  );
}

async function waitAvailable(access: KubeAccess, apps: AppsV1Api, namespace: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: V1Deployment | undefined;
  while (Date.now() < deadline) {
    if (signal?.aborted) throw new Error('interrupted');
    try {
      last = await apps.readNamespacedDeployment({ name: MANAGER_NAME, namespace });
      if (isAvailable(last)) return;
    } catch (err) {
      if (!isNotFound(err)) throw kubeError(err, 'waiting for the traffic-manager', access);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  const cond = last?.status?.conditions?.map((c) => `${c.type}=${c.status}${c.message ? ` (${c.message})` : ''}`).join('; ');
  throw kubeError(
    new Error(`the traffic-manager did not become available within ${timeoutMs / 1000}s${cond ? `: ${cond}` : ''}; see "kubectl -n ${namespace} describe deploy/${MANAGER_NAME}"`),
    'installing the traffic-manager',
    access,
    ErrorCode.ManagerInstallFailed,
  );
}
