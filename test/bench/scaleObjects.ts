/**
 * The objects of the scale benchmark (scaleBench.ts): Service number n is `svc-NNNN` in namespace
 * `tp-scale-XXX` (ten per namespace), with a selector that matches no pod and one EndpointSlice of
 * its own holding one or two made-up, ready addresses in the pod range — so DNS, kube-proxy and
 * listings see Services with endpoints, and no pod has to run. Pure: the objects, not their
 * creation (scaleCreate.ts).
 *
 * The addresses lie in 10.244.128.0/17, above the local node's pod CIDR (10.244.0.0/24), so they
 * never collide with a real pod's. The EndpointSlice controller leaves these slices alone (their
 * managed-by label is not its own) and adds, as for any Service with a selector, an empty slice of
 * its own.
 */
import type { V1EndpointSlice, V1Namespace, V1Service } from '@kubernetes/client-node';

/** The label on every namespace the benchmark makes: `kubectl delete ns -l telepath-bench=scale` removes all. */
export const SCALE_LABEL = { key: 'telepath-bench', value: 'scale' } as const;
export const SERVICES_PER_NAMESPACE = 10;
/** Four digits of Service number and three of namespace number. */
export const MAX_SERVICES = 9990;
export const SERVICE_PORT = 80;
export const ENDPOINT_PORT = 8080;

const labels = { [SCALE_LABEL.key]: SCALE_LABEL.value };

export function namespaceName(i: number): string {
  return `tp-scale-${String(i).padStart(3, '0')}`;
}

export function serviceName(n: number): string {
  return `svc-${String(n).padStart(4, '0')}`;
}

export function namespaceOf(n: number): string {
  return namespaceName(Math.floor(n / SERVICES_PER_NAMESPACE));
}

/** The fully-qualified DNS name of Service n. */
export function serviceFqdn(n: number, clusterDomain = 'cluster.local'): string {
  return `${serviceName(n)}.${namespaceOf(n)}.svc.${clusterDomain}`;
}

/** How many namespaces hold Services 0 … count-1. */
export function namespaceCount(count: number): number {
  return Math.ceil(count / SERVICES_PER_NAMESPACE);
}

/** The endpoint addresses of Service n: one for even n, two for odd n; distinct across all Services. */
export function endpointAddresses(n: number): string[] {
  const at = (k: number): string => `10.244.${128 + Math.floor(k / 250)}.${(k % 250) + 1}`;
  return n % 2 === 0 ? [at(2 * n)] : [at(2 * n), at(2 * n + 1)];
}

export function scaleNamespace(i: number): V1Namespace {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespaceName(i), labels } };
}

export function scaleService(n: number): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: serviceName(n), namespace: namespaceOf(n), labels },
    spec: {
      // No pod carries this label.
      selector: { 'telepath-bench/none': serviceName(n) },
      ports: [{ name: 'http', port: SERVICE_PORT, targetPort: ENDPOINT_PORT, protocol: 'TCP' }],
    },
  };
}

export function scaleEndpointSlice(n: number): V1EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${serviceName(n)}-bench`,
      namespace: namespaceOf(n),
      labels: { ...labels, 'kubernetes.io/service-name': serviceName(n), 'endpointslice.kubernetes.io/managed-by': 'telepath-bench' },
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: ENDPOINT_PORT, protocol: 'TCP' }],
    endpoints: endpointAddresses(n).map((a) => ({ addresses: [a], conditions: { ready: true } })),
  };
}
