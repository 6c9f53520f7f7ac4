/**
 * Installs, upgrades and removes the traffic-manager with the user's own credentials, so the API
 * server decides who may. The objects come from common/src/install/managerManifests.ts; whether to
 * install, upgrade, re-install or use what is there is installDecision.ts, from the Deployment's
 * version label, bundle hash and API levels.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ApiException, AppsV1Api, KubernetesObjectApi, PatchStrategy, type KubernetesObject, type V1Deployment } from '@kubernetes/client-node';
import { daemonError, ErrorCode } from '../../../../protocol/src/daemon';
import { OWN_API, parseApiRange, type ApiRange } from '../../../../protocol/src/version.js';
import {
  API_LEVELS_ANNOTATION,
  BUNDLE_HASH_ANNOTATION,
  DEFAULT_IMAGE,
  MANAGER_NAME,
  managerManifests,
  VERSION_LABEL,
} from '../../../../common/src/install/managerManifests.js';
import { isNotFound, kubeError, type KubeAccess } from '../kube/kubeAccess.js';
import type { Logger } from '../../../../common/src/log/fileLogger.js';
import type { Progress } from '../rpc/rpcServer.js';
import { decideInstall, type FoundManager, type InstallAction } from './installDecision.js';

const FIELD_MANAGER = 'telepath';

export interface InstallOptions {
  namespace: string;
  version: string;
  bundle: Buffer;
  /** The API levels the bundle serves: this build's unless a test installs another. */
  api?: ApiRange;
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

/** What connect found in the cluster and did with it, for the user (docs/upgrades.md). */
export interface ManagerChoice {
  /** The version of the manager found; undefined when there was none. */
  found?: string;
  action: InstallAction;
  /** The line connect printed, e.g. "traffic-manager 0.1.0 found (this client 0.2.0): upgrading it". */
  message: string;
}

/**
 * Makes the cluster run a manager this client works with, by the rule of installDecision.ts:
 * installs or upgrades it (server-side apply, then waits for the rollout) only when the rule says
 * so and the user's credentials allow it, and never replaces a newer one. Tells the user what it
 * found and what it does; throws when there is no manager this client can use.
 */
export async function ensureManager(
  access: KubeAccess,
  opts: InstallOptions,
  progress: Progress,
  log: Logger,
  signal?: AbortSignal,
): Promise<ManagerChoice> {
  const apps = access.kc.makeApiClient(AppsV1Api);
  const self = { version: opts.version, bundleHash: bundleHash(opts.bundle), api: opts.api ?? OWN_API };
  let current: V1Deployment | undefined;
  try {
    current = await apps.readNamespacedDeployment({ name: MANAGER_NAME, namespace: opts.namespace });
  } catch (err) {
    if (!isNotFound(err)) throw kubeError(err, `reading the traffic-manager in namespace ${opts.namespace}`, access);
  }
  const found = current && foundManager(current);
  // Made only when something is to be applied, and once: gzipping the bundle takes a while.
  let made: KubernetesObject[] | undefined;
  const objects = (): KubernetesObject[] =>
    (made ??= managerManifests({
      version: opts.version,
      api: self.api,
      bundle: opts.bundle,
      namespace: opts.namespace,
      image: opts.image ?? process.env.TELEPATH_MANAGER_IMAGE ?? DEFAULT_IMAGE,
    }) as KubernetesObject[]);
  const client = KubernetesObjectApi.makeApiClient(access.kc);
  let decision = decideInstall(found, self, true, opts.namespace);
  // Replacing a manager others use: ask the API server first whether these credentials may. A
  // fresh install is simply tried (its namespace does not exist yet for a dry run).
  if (found && decision.action !== 'use' && decision.action !== 'refuse') {
    const refused = await firstRefusal(client, objects());
    if (refused) {
      log.info(`may not replace the traffic-manager: ${refused.message}`);
      decision = decideInstall(found, self, false, opts.namespace);
    }
  }
  if (decision.action === 'refuse') throw daemonError(decision.code, decision.message, { found: found?.version ?? '', client: opts.version });
  const choice: ManagerChoice = { ...(found ? { found: found.version } : {}), action: decision.action, message: decision.message };
  log.info(decision.message);
  if (decision.action === 'use') {
    progress('report', decision.message);
    if (!found!.available) {
      progress('report', 'Waiting for the traffic-manager to become available');
      await waitAvailable(access, apps, opts.namespace, opts.timeoutMs ?? 180_000, signal);
    }
    return choice;
  }
  progress('begin', decision.message);
  for (const obj of objects()) {
    try {
      await client.patch(obj, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    } catch (err) {
      throw kubeError(err, `applying ${obj.kind} ${obj.metadata?.name}`, access, ErrorCode.ManagerInstallFailed);
    }
  }
  progress('report', `Waiting for the traffic-manager to become available`);
  await waitAvailable(access, apps, opts.namespace, opts.timeoutMs ?? 180_000, signal);
  progress('end', `The traffic-manager ${opts.version} is available`);
  return choice;
}

/** The manager a Deployment runs, as far as its labels and annotations say (installs before 0.2.0 name no API levels). */
export function foundManager(d: V1Deployment): FoundManager {
  return {
    version: d.metadata?.labels?.[VERSION_LABEL] ?? d.spec?.template?.metadata?.labels?.[VERSION_LABEL] ?? '',
    bundleHash: d.spec?.template?.metadata?.annotations?.[BUNDLE_HASH_ANNOTATION] ?? '',
    api: parseApiRange(d.metadata?.annotations?.[API_LEVELS_ANNOTATION]),
    available: isAvailable(d),
  };
}

/** The API server's refusal of the first object these credentials may not apply (a dry run), or undefined. */
async function firstRefusal(client: KubernetesObjectApi, objects: KubernetesObject[]): Promise<Error | undefined> {
  for (const obj of objects) {
    try {
      await client.patch(obj, undefined, 'All', FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    } catch (err) {
      if (err instanceof ApiException && (err.code === 401 || err.code === 403)) return new Error(`${obj.kind} ${obj.metadata?.name}: ${err.message}`);
      // Anything else is for the real apply to report.
    }
  }
  return undefined;
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
