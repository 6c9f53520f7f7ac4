/**
 * The ConfigMap that carries the agent's code into a workload's namespace (a pod can mount only
 * ConfigMaps of its own namespace). The daemon writes it before it marks a workload; the webhook
 * mounts it into the agent container at AGENT_BUNDLE_DIR. Like the manager's, the bundle travels
 * gzipped next to a tiny loader, because a ConfigMap holds at most 1 MiB.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { ConfigMap } from 'kubernetes-types/core/v1';
import { AGENT_BUNDLE_CONFIGMAP, AGENT_BUNDLE_KEY, AGENT_LOADER_KEY } from '../../../protocol/src/agent/agentConfig.js';
import { formatApiRange, type ApiRange } from '../../../protocol/src/version.js';
import { API_LEVELS_ANNOTATION, BUNDLE_HASH_ANNOTATION, bundleLoaderSource, CONFIGMAP_MAX_BYTES, configMapSize, VERSION_LABEL } from './managerManifests.js';

/** The agent's version and API levels are its label and annotation, so that no client replaces it with an older one. */
export function agentBundleConfigMap(namespace: string, bundle: Buffer, version: string, api: ApiRange): ConfigMap {
  const cm: ConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: AGENT_BUNDLE_CONFIGMAP,
      namespace,
      labels: { 'app.kubernetes.io/name': 'traffic-agent', 'app.kubernetes.io/part-of': 'telepath', [VERSION_LABEL]: version },
      annotations: { [BUNDLE_HASH_ANNOTATION]: createHash('sha256').update(bundle).digest('hex'), [API_LEVELS_ANNOTATION]: formatApiRange(api) },
    },
    data: { [AGENT_LOADER_KEY]: bundleLoaderSource(AGENT_BUNDLE_KEY) },
    binaryData: { [AGENT_BUNDLE_KEY]: gzipSync(bundle, { level: 9 }).toString('base64') },
  };
  const size = configMapSize(cm);
  if (size > CONFIGMAP_MAX_BYTES) {
    throw new Error(`the traffic-agent bundle is too big for a ConfigMap: ${size} bytes gzipped, the limit is ${CONFIGMAP_MAX_BYTES}`);
  }
  return cm;
}
