/**
 * The Kubernetes objects of a traffic-manager install, as a pure function of the version, the
 * image and the built bundle. The daemon applies them with the user's credentials, in order, so
 * the API server decides whether this user may install Telepath.
 *
 * The bundle travels gzipped in the ConfigMap's binaryData next to a tiny loader, because a
 * ConfigMap holds at most 1 MiB and the bundle (grpc-js, protobuf) is close to that uncompressed.
 * The bundle's hash is a pod-template annotation, so a new bundle rolls the pod.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type {
  MutatingWebhookConfiguration,
  RuleWithOperations,
  ValidatingAdmissionPolicy,
  ValidatingAdmissionPolicyBinding,
} from 'kubernetes-types/admissionregistration/v1';
import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1';
import type { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-types/rbac/v1';
import type { ConfigMap, Namespace, Service, ServiceAccount } from 'kubernetes-types/core/v1';
import type { Deployment } from 'kubernetes-types/apps/v1';
import { AGENT_INJECT_LABEL, AGENT_INJECT_VALUE } from '../../../protocol/src/agent/agentConfig.js';
import { formatApiRange, OWN_API, type ApiRange } from '../../../protocol/src/version.js';
import { SESSION_RESOURCE, TELEPATH_API_GROUP } from '../sessionIdentity.js';
import { sessionManifests } from './sessionManifests.js';

export const DEFAULT_NAMESPACE = 'telepath';
export const DEFAULT_IMAGE = 'docker.io/library/node:20-alpine';
export const MANAGER_NAME = 'traffic-manager';
/**
 * The daemons' gRPC port: on the manager pod's loopback only, so neither the Service nor the pod
 * IP reaches it; a daemon comes through a port-forward to the pod, which the API server allows
 * only to users with `pods/portforward` on it. Not a container port for that reason.
 */
export const GRPC_PORT = 8081;
/** The agents' gRPC port, on every address and the Service; it serves only what agents call. */
export const AGENT_PORT = 8083;
export const AGENT_PORT_NAME = 'agent';
export const HEALTH_PORT = 8082;
/** The agent-injection webhook: HTTPS on the manager's container port WEBHOOK_PORT, reached by the
 * API server through the Service's port WEBHOOK_SERVICE_PORT at WEBHOOK_PATH. 443 in the pod too:
 * some control planes may reach pods on 443 only (GKE private clusters' firewall lets the API
 * server reach nodes on 443 and 10250), and a webhook it cannot call blocks every pod it matches. */
export const WEBHOOK_PORT = 443;
export const WEBHOOK_PORT_NAME = 'webhook';
export const WEBHOOK_SERVICE_PORT = 443;
export const WEBHOOK_SERVICE_PORT_NAME = 'https-webhook';
export const WEBHOOK_PATH = '/mutate-pods';
export const WEBHOOK_NAME = 'agent-injector.telepath.io';
/** The manager writes its webhook certificate here (webhook/webhookTls.ts); not applied by the daemon. */
export const WEBHOOK_TLS_SECRET = 'traffic-manager-webhook-tls';
/** Where the ConfigMap is mounted; the container runs `node /telepath/traffic-manager.js`. */
export const BUNDLE_DIR = '/telepath';
export const LOADER_KEY = 'traffic-manager.js';
export const BUNDLE_KEY = 'traffic-manager.js.gz';
export const BUNDLE_HASH_ANNOTATION = 'telepath.io/bundle-sha256';
/** The product version of what an object installs (the manager's objects, the agent's ConfigMap). */
export const VERSION_LABEL = 'app.kubernetes.io/version';
/**
 * On the Deployment: the API levels the manager serves ("1-2", protocol/src/version.ts), so that a
 * connecting client decides before it reaches the manager. Missing on installs before 0.2.0.
 */
export const API_LEVELS_ANNOTATION = 'telepath.io/api-levels';
/** The API server refuses a ConfigMap whose data and binaryData values exceed this. */
export const CONFIGMAP_MAX_BYTES = 1024 * 1024;
/** The `node` user of the official Node images (and of the local test image). */
const NODE_UID = 1000;

export interface ManagerInstallOptions {
  version: string;
  /** The API levels the bundle serves; this build's unless a test installs another. */
  api?: ApiRange;
  image?: string;
  /** dist/traffic-manager.js as built. */
  bundle: Buffer;
  namespace?: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /**
   * CIDRs (or addresses) that tunnels may reach besides the cluster's subnets and what cluster DNS
   * answered (docs/security.md); the manager checks them and warns about a bad one. Unset, the
   * Deployment has no TELEPATH_TUNNEL_ALLOW, so one an admin set with `kubectl set env` survives
   * the next install.
   */
  tunnelAllow?: string[];
}

export type ManagerObject =
  | Namespace
  | ServiceAccount
  | ClusterRole
  | ClusterRoleBinding
  | Role
  | RoleBinding
  | ConfigMap
  | Deployment
  | Service
  | MutatingWebhookConfiguration
  | CustomResourceDefinition
  | ValidatingAdmissionPolicy
  | ValidatingAdmissionPolicyBinding;

/**
 * Runs the gzipped bundle `bundleKey` (beside the loader) in this process as a CommonJS module.
 * Plain ES5-era Node APIs only, so it works on any Node the image may carry.
 */
export function bundleLoaderSource(bundleKey: string): string {
  return `'use strict';
// Telepath loader: the bundle ships gzipped because a ConfigMap holds at most 1 MiB.
const fs = require('fs');
const path = require('path');
const vm = require('vm');
const zlib = require('zlib');
const gz = path.join(__dirname, ${JSON.stringify(bundleKey)});
const filename = gz.replace(/\\.gz$/, '');
const code = zlib.gunzipSync(fs.readFileSync(gz)).toString('utf8');
const run = vm.compileFunction(code, ['exports', 'require', 'module', '__filename', '__dirname'], { filename });
const bundleModule = { exports: {} };
run.call(bundleModule.exports, bundleModule.exports, require, bundleModule, filename, __dirname);
`;
}

export const LOADER_SOURCE = bundleLoaderSource(BUNDLE_KEY);

/** The cluster-scoped names include the namespace, so installs in two namespaces do not collide. */
export function clusterRoleName(namespace: string): string {
  return `${namespace}-${MANAGER_NAME}`;
}

/** The MutatingWebhookConfiguration is cluster-scoped too. */
export function webhookConfigName(namespace: string): string {
  return `${namespace}-${MANAGER_NAME}`;
}

export function selectorLabels(): Record<string, string> {
  return { 'app.kubernetes.io/name': MANAGER_NAME, 'app.kubernetes.io/part-of': 'telepath' };
}

/** Every object of the install, in the order to apply them (and the reverse order to delete). */
export function managerManifests(options: ManagerInstallOptions): ManagerObject[] {
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  const image = options.image ?? DEFAULT_IMAGE;
  const labels = { ...selectorLabels(), [VERSION_LABEL]: options.version };
  const partOf = { 'app.kubernetes.io/part-of': 'telepath' };
  const gz = gzipSync(options.bundle, { level: 9 });
  const bundleHash = createHash('sha256').update(options.bundle).digest('hex');

  const ns: Namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: partOf } };
  const sa: ServiceAccount = {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: MANAGER_NAME, namespace, labels },
  };
  const subject = [{ kind: 'ServiceAccount', name: MANAGER_NAME, namespace }];
  const clusterRole: ClusterRole = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: clusterRoleName(namespace), labels },
    rules: [
      // Pod subnets, followed as nodes come and go; where the CNI leaves the nodes' podCIDR empty,
      // covering the pods' addresses (traffic-manager/src/podSubnetCover.ts).
      { apiGroups: [''], resources: ['nodes'], verbs: ['list', 'watch'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
      // Service subnets (Kubernetes 1.33+).
      { apiGroups: ['networking.k8s.io'], resources: ['servicecidrs'], verbs: ['list', 'watch'] },
      // The webhook's caBundle, which the manager keeps current; this configuration only.
      {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['mutatingwebhookconfigurations'],
        resourceNames: [webhookConfigName(namespace)],
        verbs: ['get', 'patch'],
      },
      // An arriving agent's token: whose it is (TokenReview), and the pod it is bound to, in
      // whichever namespace the agent runs (auth/agentIdentity.ts).
      { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
      // Whether a session's user may intercept, read the environment or mount the volumes in the
      // namespace an RPC acts on (auth/clientRights.ts).
      { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
    ],
  };
  const clusterRoleBinding: ClusterRoleBinding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: clusterRoleName(namespace), labels },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRoleName(namespace) },
    subjects: subject,
  };
  const role: Role = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: MANAGER_NAME, namespace, labels },
    rules: [
      // Older clusters have no ServiceCIDR API: a dry-run create (authorized exactly like a real
      // one) of a Service with an impossible ClusterIP makes the API server name the range.
      { apiGroups: [''], resources: ['services'], verbs: ['create'] },
      // The webhook's certificate. resourceNames cannot restrict create (the name is not in the
      // request's URL), so create is granted on secrets of this namespace, the rest on ours only.
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: [WEBHOOK_TLS_SECRET], verbs: ['get', 'update'] },
      // Who holds a session (common/src/sessionIdentity.ts); ended sessions' objects are deleted.
      { apiGroups: [TELEPATH_API_GROUP], resources: [SESSION_RESOURCE], verbs: ['get', 'list', 'delete'] },
    ],
  };
  const roleBinding: RoleBinding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: MANAGER_NAME, namespace, labels },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: MANAGER_NAME },
    subjects: subject,
  };
  const configMap: ConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: MANAGER_NAME, namespace, labels, annotations: { [BUNDLE_HASH_ANNOTATION]: bundleHash } },
    data: { [LOADER_KEY]: LOADER_SOURCE },
    binaryData: { [BUNDLE_KEY]: gz.toString('base64') },
  };
  const size = configMapSize(configMap);
  if (size > CONFIGMAP_MAX_BYTES) {
    throw new Error(`the traffic-manager bundle is too big for a ConfigMap: ${size} bytes gzipped, the limit is ${CONFIGMAP_MAX_BYTES}`);
  }
  const deployment: Deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: MANAGER_NAME, namespace, labels, annotations: { [API_LEVELS_ANNOTATION]: formatApiRange(options.api ?? OWN_API) } },
    spec: {
      replicas: 1,
      selector: { matchLabels: selectorLabels() },
      template: {
        metadata: { labels, annotations: { [BUNDLE_HASH_ANNOTATION]: bundleHash } },
        spec: {
          serviceAccountName: MANAGER_NAME,
          automountServiceAccountToken: true,
          // The manager drains for 5 s (TELEPATH_DRAIN_MS), then forces within a second.
          terminationGracePeriodSeconds: 15,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: NODE_UID,
            runAsGroup: NODE_UID,
            seccompProfile: { type: 'RuntimeDefault' },
            // Lets the non-root manager listen on WEBHOOK_PORT (443) without a capability. A
            // namespaced, "safe" sysctl (kubelet 1.22+), allowed by Pod Security "restricted".
            sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: String(WEBHOOK_PORT) }],
          },
          containers: [
            {
              name: MANAGER_NAME,
              image,
              imagePullPolicy: 'IfNotPresent',
              // Explicit: images without a shell or with another entrypoint still run the bundle.
              // A larger first old-space keeps V8 out of back-to-back major collections under a
              // bulk transfer (seen in test/bench/pipeline.ts: 15–35 per 200 MB without it).
              command: ['node', '--initial-old-space-size=64', `${BUNDLE_DIR}/${LOADER_KEY}`],
              env: [
                { name: 'TELEPATH_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                // The pod's own addresses, which tunnels never reach (comma-separated, both families).
                { name: 'POD_IPS', valueFrom: { fieldRef: { fieldPath: 'status.podIPs' } } },
                { name: 'TELEPATH_GRPC_PORT', value: String(GRPC_PORT) },
                { name: 'TELEPATH_AGENT_PORT', value: String(AGENT_PORT) },
                { name: 'TELEPATH_HEALTH_PORT', value: String(HEALTH_PORT) },
                { name: 'TELEPATH_LOG_LEVEL', value: options.logLevel ?? 'info' },
                { name: 'TELEPATH_WEBHOOK_PORT', value: String(WEBHOOK_PORT) },
                // The injected agent runs on the manager's own image.
                { name: 'TELEPATH_AGENT_IMAGE', value: image },
                ...(options.tunnelAllow?.length ? [{ name: 'TELEPATH_TUNNEL_ALLOW', value: options.tunnelAllow.join(',') }] : []),
              ],
              ports: [
                { name: AGENT_PORT_NAME, containerPort: AGENT_PORT, protocol: 'TCP' },
                { name: 'health', containerPort: HEALTH_PORT, protocol: 'TCP' },
                { name: WEBHOOK_PORT_NAME, containerPort: WEBHOOK_PORT, protocol: 'TCP' },
              ],
              readinessProbe: { httpGet: { path: '/readyz', port: 'health' }, periodSeconds: 2, failureThreshold: 2 },
              livenessProbe: { httpGet: { path: '/healthz', port: 'health' }, periodSeconds: 10, failureThreshold: 3 },
              resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
              volumeMounts: [{ name: 'bundle', mountPath: BUNDLE_DIR, readOnly: true }],
            },
          ],
          volumes: [{ name: 'bundle', configMap: { name: MANAGER_NAME, defaultMode: 0o444 } }],
        },
      },
    },
  };
  const service: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: MANAGER_NAME, namespace, labels },
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(),
      ports: [
        // Agents only: the daemons' port is not on the Service (see GRPC_PORT).
        { name: AGENT_PORT_NAME, port: AGENT_PORT, targetPort: AGENT_PORT_NAME, protocol: 'TCP', appProtocol: 'kubernetes.io/h2c' },
        { name: WEBHOOK_SERVICE_PORT_NAME, port: WEBHOOK_SERVICE_PORT, targetPort: WEBHOOK_PORT_NAME, protocol: 'TCP' },
      ],
    },
  };
  const podCreateRule: WebhookRule = { operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' };
  const webhook: MutatingWebhookConfiguration = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: webhookConfigName(namespace), labels },
    webhooks: [
      {
        name: WEBHOOK_NAME,
        // No caBundle: the manager writes it (webhook/webhookTls.ts) and must stay its only owner,
        // or each server-side apply by the daemon would reset it.
        clientConfig: { service: { namespace, name: MANAGER_NAME, path: WEBHOOK_PATH, port: WEBHOOK_SERVICE_PORT } },
        rules: [podCreateRule],
        // Opt-in: only pods the daemon marked are sent, so the API server does not call the manager
        // for every pod in the cluster.
        objectSelector: { matchLabels: { [AGENT_INJECT_LABEL]: AGENT_INJECT_VALUE } },
        // Never the system namespaces, nor the manager's own (its pods must start without it).
        namespaceSelector: {
          matchExpressions: [
            { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-public', 'kube-node-lease', namespace] },
          ],
        },
        // A manager that is down or slow must never keep pods from being created.
        failurePolicy: 'Ignore',
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        timeoutSeconds: 5,
        reinvocationPolicy: 'Never',
      },
    ],
  };
  // The webhook last: it calls the Service, so it is applied after it and deleted first.
  // The Session type and its admission policy come before the manager that reads Sessions.
  const [sessionCrd, sessionPolicy, sessionPolicyBinding] = sessionManifests(namespace, labels);
  return [ns, sessionCrd, sessionPolicy, sessionPolicyBinding, sa, clusterRole, clusterRoleBinding, role, roleBinding, configMap, deployment, service, webhook];
}

/**
 * admissionregistration/v1 RuleWithOperations embeds Rule inline; kubernetes-types lost the
 * embedded fields, of which `resources` is required.
 */
type WebhookRule = RuleWithOperations & { resources: string[]; scope?: 'Cluster' | 'Namespaced' | '*' };

/** What the API server counts against the 1 MiB limit: the data values plus the decoded binaryData. */
export function configMapSize(cm: ConfigMap): number {
  let n = 0;
  for (const v of Object.values(cm.data ?? {})) n += Buffer.byteLength(v, 'utf8');
  for (const v of Object.values(cm.binaryData ?? {})) n += Buffer.from(v, 'base64').length;
  return n;
}
