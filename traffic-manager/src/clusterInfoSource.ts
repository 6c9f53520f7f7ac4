/**
 * Discovers the cluster's networks and keeps them current: service CIDRs from the ServiceCIDR API
 * (or, where that API is missing or forbidden, from a dry-run Service with an impossible
 * ClusterIP), pod CIDRs from the nodes (watched, since nodes come and go), and the DNS server and
 * cluster domain from the pod's resolv.conf. Listeners hear each snapshot that differs from the
 * previous one.
 */
import {
  type ClusterNetworks,
  isCidr,
  parseResolvConf,
  parseServiceRangeError,
  podCidrsOfNodes,
  sameNetworks,
} from './clusterInfo.js';
import { abortableSleep, errorText, type KubeApi, type KubeObject, watchCollection } from './kube/collectionWatch.js';
import { KubeApiError } from './kube/kubeClient.js';
import type { Logger } from '../../common/src/log/jsonLogger.js';

export interface ClusterInfoSource {
  /** The latest snapshot; undefined until the first discovery has finished. */
  current(): ClusterNetworks | undefined;
  /**
   * Hears each snapshot published after this call (the first one too, when discovery has not
   * finished yet), not the current one; returns the unsubscribe function.
   */
  subscribe(listener: (networks: ClusterNetworks) => void): () => void;
}

/** The DNS server and cluster domain the kubelet wrote into the pod's resolv.conf. */
export function dnsOfResolvConf(text: string): { dnsServer: string; clusterDomain: string } {
  const conf = parseResolvConf(text);
  return { dnsServer: conf.nameserver ?? '', clusterDomain: conf.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN };
}

/** networking.k8s.io/v1 ServiceCIDR (GA in 1.33; newer than our kubernetes-types). */
interface ServiceCidr extends KubeObject {
  metadata?: KubeObject['metadata'] & { deletionTimestamp?: string };
  spec?: { cidrs?: string[] };
}

interface Node extends KubeObject {
  spec?: { podCIDR?: string; podCIDRs?: string[] };
}

export const SERVICE_CIDRS_PATH = '/apis/networking.k8s.io/v1/servicecidrs';
export const NODES_PATH = '/api/v1/nodes';
/** An address outside every sane service range; the API server's refusal names the real range. */
const PROBE_CLUSTER_IP = '1.1.1.1';
const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';

export interface KubeClusterInfoSourceOptions {
  api: KubeApi;
  /** The manager's namespace, where the dry-run Service would be created. */
  namespace: string;
  /** From the pod's resolv.conf (parseResolvConf); '' when it names no server. */
  dnsServer: string;
  clusterDomain: string;
  logger: Logger;
  /** First pause before listing nodes again after a failure; doubles up to 5 minutes. */
  retryDelayMs?: number;
}

export class KubeClusterInfoSource implements ClusterInfoSource {
  private readonly listeners = new Set<(n: ClusterNetworks) => void>();
  private snapshot: ClusterNetworks | undefined;
  private serviceCidrs: string[] = [];
  private podCidrs: string[] = [];
  private started = false;

  constructor(private readonly options: KubeClusterInfoSourceOptions) {}

  current(): ClusterNetworks | undefined {
    return this.snapshot;
  }

  subscribe(listener: (networks: ClusterNetworks) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Runs the first discovery and resolves with its snapshot; watching continues until `signal`
   * aborts. A part that cannot be discovered (RBAC, old cluster) is logged and left empty rather
   * than keeping clients from connecting at all.
   */
  async start(signal: AbortSignal): Promise<ClusterNetworks> {
    if (this.started) throw new Error('cluster info discovery already started');
    this.started = true;
    const { logger } = this.options;
    await Promise.all([this.startServiceCidrs(signal), this.startPodCidrs(signal)]);
    this.started = true;
    const first = this.build();
    this.snapshot = first;
    logger.info('cluster networks', { ...first });
    // Watchers that arrived before discovery finished are waiting for this one.
    for (const l of [...this.listeners]) l(first);
    return first;
  }

  private async startServiceCidrs(signal: AbortSignal): Promise<void> {
    const { api, logger } = this.options;
    try {
      await watchCollection<ServiceCidr>({
        api,
        path: SERVICE_CIDRS_PATH,
        logger,
        signal,
        onChange: (items) => {
          this.serviceCidrs = serviceCidrsOf(items);
          this.publish();
        },
      });
      return;
    } catch (e) {
      if (!(e instanceof KubeApiError) || (e.status !== 404 && e.status !== 403)) {
        logger.warn('cannot list ServiceCIDRs', { error: errorText(e) });
      } else {
        logger.info('no ServiceCIDR API here; probing the service range with a dry-run Service', { status: e.status });
      }
    }
    this.serviceCidrs = await this.probeServiceRange(signal);
  }

  /** The API server rejects ClusterIP 1.1.1.1 with "The range of valid IPs is <cidrs>". */
  private async probeServiceRange(signal: AbortSignal): Promise<string[]> {
    const { api, namespace, logger } = this.options;
    try {
      await api.request(`/api/v1/namespaces/${encodeURIComponent(namespace)}/services`, {
        method: 'POST',
        query: { dryRun: 'All' },
        body: serviceRangeProbe(namespace),
        signal,
      });
      logger.warn(`the dry-run Service with ClusterIP ${PROBE_CLUSTER_IP} was accepted; the service range is unknown`);
    } catch (e) {
      const cidrs = parseServiceRangeError(errorText(e));
      if (cidrs.length > 0) return cidrs;
      logger.warn('cannot learn the service range', { error: errorText(e) });
    }
    return [];
  }

  /**
   * Lists and watches nodes. When the first list fails (RBAC not bound yet, API server busy),
   * discovery goes on without pod subnets and the list is retried in the background.
   */
  private async startPodCidrs(signal: AbortSignal): Promise<void> {
    const { api, logger } = this.options;
    const watchNodes = (): Promise<Node[]> =>
      watchCollection<Node>({
        api,
        path: NODES_PATH,
        logger,
        signal,
        onChange: (nodes) => {
          this.podCidrs = podCidrsOfNodes(nodes);
          this.publish();
        },
      });
    try {
      await watchNodes();
    } catch (e) {
      logger.warn('cannot list nodes; no pod subnets until a retry succeeds', { error: errorText(e) });
      void this.retry(watchNodes, signal);
    }
  }

  private async retry(attempt: () => Promise<unknown>, signal: AbortSignal): Promise<void> {
    let delay = this.options.retryDelayMs ?? 5000;
    while (!signal.aborted) {
      await abortableSleep(delay, signal);
      if (signal.aborted) return;
      try {
        await attempt();
        this.options.logger.info('listed nodes after a retry');
        return;
      } catch (e) {
        this.options.logger.debug('retry failed', { error: errorText(e) });
        delay = Math.min(delay * 2, 5 * 60_000);
      }
    }
  }

  private build(): ClusterNetworks {
    return {
      serviceCidrs: [...this.serviceCidrs],
      podCidrs: [...this.podCidrs],
      dnsServer: this.options.dnsServer,
      clusterDomain: this.options.clusterDomain,
    };
  }

  /** Before start() resolves, changes only accumulate: the first snapshot is taken there. */
  private publish(): void {
    if (!this.snapshot) return;
    const next = this.build();
    if (sameNetworks(next, this.snapshot)) return;
    this.snapshot = next;
    this.options.logger.info('cluster networks changed', { ...next });
    for (const l of [...this.listeners]) l(next);
  }
}

/** The dry-run Service whose rejection reveals the service range. */
export function serviceRangeProbe(namespace: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'telepath-service-range-probe', namespace },
    spec: { clusterIP: PROBE_CLUSTER_IP, ports: [{ port: 443 }] },
  };
}

function serviceCidrsOf(items: ServiceCidr[]): string[] {
  const live = items.filter((i) => !i.metadata?.deletionTimestamp);
  // The default range ("kubernetes") first, as clients would list it; then by name.
  live.sort((a, b) => rank(a) - rank(b) || (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  return [...new Set(live.flatMap((i) => i.spec?.cidrs ?? []).filter(isCidr))];
}

function rank(i: ServiceCidr): number {
  return i.metadata?.name === 'kubernetes' ? 0 : 1;
}
