/**
 * Re-pointing a Service's numeric targetPorts at the agent (the daemon, when it installs one), and
 * undoing it (the daemon's uninstall, and the manager's removal of idle agents: agentRemoval.ts).
 *
 * The patches are JSON merge patches (RFC 7386, `application/merge-patch+json`). Those replace a
 * list whole, so each carries the Service's complete `spec.ports`, copied from the object it was
 * computed from with only targetPorts changed; and it carries that object's resourceVersion, so the
 * API server refuses it (409 Conflict) if the Service changed in between, instead of silently
 * dropping someone else's edit of another port. On a conflict: read the Service again, recompute.
 */
import type { ServicePort } from 'kubernetes-types/core/v1';
import { ORIGINAL_TARGET_PORTS_ANNOTATION } from '../../../protocol/src/agent/agentConfig.js';
import { compareStrings, originalTargetPorts, servicePortKey, type ServiceObject } from './agentObjects.js';

/** One Service port whose targetPort goes from the app's number to the agent's port name. */
export interface TargetPortRepoint {
  /** servicePortKey: the Service port's name, or its number when unnamed. */
  key: string;
  from: number;
  to: string;
}

export interface ServicePatch {
  service: string;
  namespace: string;
  ports: TargetPortRepoint[];
  /** ORIGINAL_TARGET_PORTS_ANNOTATION afterwards: the Service's existing record plus `ports`, keys sorted. */
  annotation: string;
}

/** A JSON merge patch of a Service; a null annotation removes it. */
export interface ServiceMergePatch {
  metadata: { annotations: Record<string, string | null>; resourceVersion?: string };
  spec: { ports: ServicePort[] };
}

/**
 * The merge patch that applies `patch` to `service` (the Service as just read). A port already
 * pointing at the agent is left as is; a port that now targets something else than the plan saw
 * means the Service changed since planning, so this throws rather than guess.
 */
export function servicePatch(service: ServiceObject, patch: ServicePatch): ServiceMergePatch {
  const where = `Service ${patch.namespace}/${patch.service}`;
  const ports = service.spec?.ports ?? [];
  for (const r of patch.ports) {
    if (!ports.some((p) => servicePortKey(p) === r.key)) throw new Error(`${where} has no port ${r.key} any more; plan the intercept again`);
  }
  const newPorts = ports.map((p) => {
    const r = patch.ports.find((r) => r.key === servicePortKey(p));
    if (!r) return p;
    const current = p.targetPort ?? p.port;
    if (current === r.to) return p;
    if (current !== r.from) {
      throw new Error(`${where} port ${r.key} now targets ${current}, not ${r.from}; plan the intercept again`);
    }
    return { ...p, targetPort: r.to };
  });
  const record = { ...originalTargetPorts(service), ...Object.fromEntries(patch.ports.map((r) => [r.key, r.from])) };
  return mergePatch(service, { [ORIGINAL_TARGET_PORTS_ANNOTATION]: sortedJson(record) }, newPorts);
}

/**
 * The merge patch that gives every port recorded in ORIGINAL_TARGET_PORTS_ANNOTATION its original
 * targetPort back and removes the annotation; undefined when the Service has no such annotation.
 * A port whose targetPort is a number again was restored by someone else and is left alone.
 */
export function serviceRestorePatch(service: ServiceObject): ServiceMergePatch | undefined {
  if (service.metadata?.annotations?.[ORIGINAL_TARGET_PORTS_ANNOTATION] === undefined) return undefined;
  const record = originalTargetPorts(service);
  const ports = (service.spec?.ports ?? []).map((p) => {
    const original = record[servicePortKey(p)];
    return original !== undefined && typeof p.targetPort === 'string' ? { ...p, targetPort: original } : p;
  });
  return mergePatch(service, { [ORIGINAL_TARGET_PORTS_ANNOTATION]: null }, ports);
}

/** JSON of a record with its keys sorted, so equal records give equal annotations. */
export function sortedJson(record: Record<string, number>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(record).sort(([a], [b]) => compareStrings(a, b))));
}

function mergePatch(service: ServiceObject, annotations: Record<string, string | null>, ports: ServicePort[]): ServiceMergePatch {
  const resourceVersion = service.metadata?.resourceVersion;
  return {
    metadata: { annotations, ...(resourceVersion ? { resourceVersion } : {}) },
    spec: { ports },
  };
}
