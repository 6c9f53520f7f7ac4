/**
 * Discovers the cluster's networks and keeps them current: service CIDRs from the ServiceCIDR API
 * (or, where that API is missing or forbidden, from a dry-run Service with an impossible
 * ClusterIP), pod CIDRs by the configured strategy (config.ts) from the nodes or from the pods'
 * own addresses (both watched, since nodes and pods come and go), and the DNS server and cluster
 * domain from the pod's resolv.conf. Listeners hear each snapshot that differs from the previous
 * one.
 */
import {
  type ClusterNetworks,
  isCidr,
  type NodePodCidrs,
  nodesHavePodCidrs,
  parseResolvConf,
  parseServiceRangeError,
  podCidrsOfNodes,
  sameNetworks,
} from './clusterInfo.js';
import type { PodCidrStrategy } from './config.js';
import { abortableSleep, errorText, type KubeApi, type KubeObject, watchCollection } from './kube/collectionWatch.js';
import { KubeApiError } from './kube/kubeClient.js';
import { type PodAddresses, podBlocksOf, PodSubnetCover } from './podSubnetCover.js';
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

type Node = KubeObject & NodePodCidrs;
type Pod = KubeObject & PodAddresses;

export const SERVICE_CIDRS_PATH = '/apis/networking.k8s.io/v1/servicecidrs';
export const NODES_PATH = '/api/v1/nodes';
export const PODS_PATH = '/api/v1/pods';
/**
 * The pods whose addresses count: finished pods hold none (and a watch reports a pod that
 * finishes as deleted), and a hostNetwork pod's address is its node's, which must not be routed.
 */
export const POD_FIELD_SELECTOR = 'spec.hostNetwork=false,status.phase!=Succeeded,status.phase!=Failed';
/** Pods are listed in pages of this many, so the manager never holds a whole large list at once. */
const POD_PAGE_SIZE = 500;
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
  /** First pause before listing nodes (or pods) again after a failure; doubles up to 5 minutes. */
  retryDelayMs?: number;
  /** Where pod subnets come from (config.ts); `auto` when unset. */
  podCidrStrategy?: PodCidrStrategy;
  /** TELEPATH_POD_CIDRS: when not empty, the pod subnets as they are; nothing is watched for them. */
  podCidrs?: string[];
  /**
   * Covering pod IPs: how long pod changes gather before the cover is computed and published (so
   * a hundred pods starting at once make one snapshot, not a hundred), 1 s by default.
   */
  podCoverDelayMs?: number;
  /** Covering pod IPs: how long a block stays after its last pod went (PodSubnetCover), 5 minutes by default. */
  keepEmptyBlockMs?: number;
}

export class KubeClusterInfoSource implements ClusterInfoSource {
  private readonly listeners = new Set<(n: ClusterNetworks) => void>();
  private snapshot: ClusterNetworks | undefined;
  private serviceCidrs: string[] = [];
  private nodeCidrs: string[] = [];
  /** Under `auto`: whether the nodes' CIDRs are the pod subnets (nodesHavePodCidrs). */
  private nodesGivePodCidrs = true;
  /** What is kept of each pod (its blocks); undefined until pods were first listed. */
  private podBlocks: string[][] | undefined;
  private coverCidrs: string[] = [];
  private readonly cover: PodSubnetCover;
  /** Set once pods are watched; resolves when the first list has succeeded or failed. */
  private podWatch: Promise<void> | undefined;
  /** When the cover is next computed, if that is scheduled. */
  private coverDueAt: number | undefined;
  private started = false;

  constructor(private readonly options: KubeClusterInfoSourceOptions) {
    this.cover = new PodSubnetCover(options.keepEmptyBlockMs ?? 5 * 60_000);
  }

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
   * Watches what the strategy needs: nodes (`nodes`, `auto`), pods (`pods`, and `auto` once a
   * Ready node has no pod CIDR), nothing for configured CIDRs. Resolves when the first lists are
   * in, so the first snapshot has the pod subnets.
   */
  private async startPodCidrs(signal: AbortSignal): Promise<void> {
    const { podCidrs, podCidrStrategy = 'auto', logger } = this.options;
    if (podCidrs?.length) {
      logger.info('pod subnets as configured (TELEPATH_POD_CIDRS)', { podCidrs });
      return;
    }
    if (podCidrStrategy === 'pods') this.watchPods(signal);
    else await this.follow('nodes', () => this.watchNodes(podCidrStrategy, signal), signal);
    await this.podWatch;
  }

  private watchNodes(strategy: PodCidrStrategy, signal: AbortSignal): Promise<unknown> {
    const { api, logger } = this.options;
    return watchCollection<Node>({
      api,
      path: NODES_PATH,
      logger,
      signal,
      onChange: (nodes) => {
        this.nodeCidrs = podCidrsOfNodes(nodes);
        const give = strategy === 'nodes' || nodesHavePodCidrs(nodes);
        if (give !== this.nodesGivePodCidrs) {
          this.nodesGivePodCidrs = give;
          logger.info(give ? "pod subnets: the nodes' pod CIDRs" : 'pod subnets: covering pod IPs, as a Ready node has no spec.podCIDR');
        }
        if (!give) this.watchPods(signal);
        this.publish();
      },
    });
  }

  /** Starts watching pods, once; the watch lasts until `signal` aborts. */
  private watchPods(signal: AbortSignal): void {
    if (this.podWatch) return;
    const { api, logger } = this.options;
    const watch = (): Promise<unknown> =>
      watchCollection<Pod, string[]>({
        api,
        path: PODS_PATH,
        fieldSelector: POD_FIELD_SELECTOR,
        keep: podBlocksOf,
        pageSize: POD_PAGE_SIZE,
        logger,
        signal,
        onChange: (pods) => {
          this.podBlocks = pods;
          // The first list counts at once: discovery is waiting for it.
          if (this.snapshot) this.coverAt(Date.now() + (this.options.podCoverDelayMs ?? 1000), signal);
          else this.computeCover(signal);
        },
      });
    this.podWatch = this.follow('pods', watch, signal);
  }

  private computeCover(signal: AbortSignal): void {
    if (!this.podBlocks) return;
    const { cidrs, nextDrop } = this.cover.update(this.podBlocks, Date.now());
    this.coverCidrs = cidrs;
    if (nextDrop !== undefined) this.coverAt(nextDrop, signal);
    this.publish();
  }

  /** Computes the cover at `at`, unless that is already due sooner. */
  private coverAt(at: number, signal: AbortSignal): void {
    if (this.coverDueAt !== undefined && this.coverDueAt <= at) return;
    this.coverDueAt = at;
    void abortableSleep(Math.max(0, at - Date.now()), signal).then(() => {
      // A sooner one replaced this one, and will schedule what is still due after it.
      if (signal.aborted || this.coverDueAt !== at) return;
      this.coverDueAt = undefined;
      this.computeCover(signal);
    });
  }

  /**
   * Runs a list-then-watch. When the first list fails (RBAC not bound yet, API server busy),
   * discovery goes on without it and the list is retried in the background.
   */
  private async follow(what: string, watch: () => Promise<unknown>, signal: AbortSignal): Promise<void> {
    try {
      await watch();
    } catch (e) {
      this.options.logger.warn(`cannot list ${what}; no pod subnets from them until a retry succeeds`, { error: errorText(e) });
      void this.retry(what, watch, signal);
    }
  }

  private async retry(what: string, attempt: () => Promise<unknown>, signal: AbortSignal): Promise<void> {
    let delay = this.options.retryDelayMs ?? 5000;
    while (!signal.aborted) {
      await abortableSleep(delay, signal);
      if (signal.aborted) return;
      try {
        await attempt();
        this.options.logger.info(`listed ${what} after a retry`);
        return;
      } catch (e) {
        this.options.logger.debug('retry failed', { what, error: errorText(e) });
        delay = Math.min(delay * 2, 5 * 60_000);
      }
    }
  }

  private build(): ClusterNetworks {
    return {
      serviceCidrs: [...this.serviceCidrs],
      podCidrs: [...this.podCidrs()],
      dnsServer: this.options.dnsServer,
      clusterDomain: this.options.clusterDomain,
    };
  }

  /**
   * Configured CIDRs win; `auto` covers pod IPs once pods were listed because a Ready node has no
   * pod CIDR, and keeps to the nodes' while they give them (or the pods cannot be listed).
   */
  private podCidrs(): string[] {
    const { podCidrs, podCidrStrategy = 'auto' } = this.options;
    if (podCidrs?.length) return podCidrs;
    if (podCidrStrategy === 'pods') return this.coverCidrs;
    if (podCidrStrategy === 'auto' && !this.nodesGivePodCidrs && this.podBlocks) return this.coverCidrs;
    return this.nodeCidrs;
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
