/**
 * The network role (root): the virtual interface with its routes, and DNS — cluster names
 * answered by the daemon inside the stack at the cluster DNS address, the workstation's resolver
 * pointed there (journaled, and watched by a guard process that undoes it if this process dies
 * without doing so; else the next start does), everything else forwarded to
 * the resolver the workstation had.
 */
import path from 'node:path';
import type { DnsStatus, UnroutedSubnet } from '../../../protocol/src/daemon';
import { subnetFromCidr } from '../../../protocol/src/ipAddress.js';
import type { ManagerClient } from '../../../protocol/src/manager/managerService.js';
import { DnsQueryHandler, type LookupCluster } from './dns/dnsQueryHandler.js';
import type { DnsLogger } from './dns/dnsLogger.js';
import type { DnsRoutingConfig } from './dns/dnsRouter.js';
import { Forwarder } from './dns/forwarder.js';
import { createResolverConfigurator, recoverResolverConfig } from './dns/resolverConfig.js';
import { startResolverGuard, type ResolverGuard } from './dns/resolverGuard.js';
import type { ResolverConfigurator, ResolverSettings } from './dns/resolverTypes.js';
import type { Logger } from '../../../common/src/log/fileLogger.js';
import type { ClusterNetworks } from './clusterNetworks.js';
import { checkLocalOverlap, checkNamespace, checkNamespaces, checkNetworks, checkSearchDomain } from './networkInput.js';
import { readLocalNetworks } from './vif/localNetworks.js';
import { Vif } from './vif/vif.js';

export interface NetworkRoleOptions {
  client: ManagerClient;
  sessionId: () => string;
  lookupCluster: LookupCluster;
  networks: ClusterNetworks;
  connectedNamespace: string;
  namespaces: string[];
  journalDir: string;
  log: Logger;
  /** Route subnets wider than networkInput.ts's WIDEST_PREFIX (the user allowed it). */
  allowWideSubnets?: boolean;
}

/** Where the workstation stands while the role runs: left out of its own networks. */
export interface RoleFootprint {
  /** The role's TUN device, whose routes are the role's. */
  tunDev?: string;
  /** The cluster DNS address the role put into the resolver. */
  dnsIp?: string;
}

export interface NetworkState {
  routedSubnets: string[];
  unroutedSubnets: UnroutedSubnet[];
  dns: DnsStatus;
}

export class NetworkRole {
  private state: NetworkState = { routedSubnets: [], unroutedSubnets: [], dns: { state: 'inactive' } };

  private constructor(
    private readonly vif: Vif,
    private readonly resolver: ResolverConfigurator,
    private readonly handler: DnsQueryHandler,
    private opts: NetworkRoleOptions,
    private readonly guard: ResolverGuard | undefined,
  ) {}

  /** Undoes what a crashed run left in the resolver settings; call when the daemon starts. */
  static async recover(journalDir: string, log: Logger): Promise<void> {
    const result = await recoverResolverConfig({ journalPath: journalFile(journalDir), logger: dnsLogger(log) });
    if (result !== 'nothing') log.warn(`undid the resolver change of a previous run that did not stop cleanly (${result})`);
  }

  /**
   * Refuses (RefusedInput, with what and why) networks, namespaces or a connected namespace that
   * break networkInput.ts's rules or overlap the workstation's own networks. Nothing is written.
   */
  static async check(
    input: { networks: unknown; namespaces: unknown; connectedNamespace: unknown },
    allowWideSubnets: boolean,
    footprint: RoleFootprint = {},
  ): Promise<void> {
    const networks = checkNetworks(input.networks, { allowWideSubnets });
    checkNamespaces(input.namespaces);
    checkSearchDomain(checkNamespace(input.connectedNamespace, 'the connected namespace', true), networks.clusterDomain);
    const ownDnsIps = footprint.dnsIp ? [footprint.dnsIp, networks.dnsIp] : [networks.dnsIp];
    checkLocalOverlap(networks, await readLocalNetworks({ tunDev: footprint.tunDev, ownDnsIps }));
  }

  static async start(opts: NetworkRoleOptions): Promise<NetworkRole> {
    const log = opts.log;
    // Before anything changes: no device, no route, no journal, no resolver change.
    await NetworkRole.check(opts, !!opts.allowWideSubnets);
    const vif = await Vif.start({ client: opts.client, sessionId: opts.sessionId, log: log.child('vif') });
    try {
      const resolver = createResolverConfigurator({ journalPath: journalFile(opts.journalDir), logger: dnsLogger(log.child('resolver')), link: vif.tun.name });
      const applied = await resolver.apply(settingsOf(opts));
      const forwarder = new Forwarder({ nameservers: applied.upstream, logger: dnsLogger(log.child('forward')) });
      const handler = new DnsQueryHandler({
        routing: routingOf(opts),
        // Namespaces named like TLDs (dev, app) must not swallow public names (pkg.go.dev).
        discoverTopLevelDomains: true,
        lookupCluster: opts.lookupCluster,
        forward: (q, signal) => forwarder.forward(q, signal),
        logger: dnsLogger(log.child('dns')),
      });
      vif.setDns(opts.networks.dnsIp, handler);
      // A rewritten resolv.conf outlives a crash; the guard undoes it at once (resolverGuard.ts).
      const guard =
        applied.mode === 'resolved'
          ? undefined
          : startResolverGuard(journalFile(opts.journalDir), { onError: (e) => log.warn(`no resolver guard (a crash will leave resolv.conf until the next start): ${e.message}`) });
      const role = new NetworkRole(vif, resolver, handler, opts, guard);
      role.state.dns = {
        state: 'active',
        method: applied.mode === 'resolved' ? 'systemd-resolved' : 'resolv.conf',
        clusterDomain: opts.networks.clusterDomain,
        searchDomains: [`${opts.connectedNamespace}.svc.${opts.networks.clusterDomain}`, `svc.${opts.networks.clusterDomain}`, opts.networks.clusterDomain],
      };
      try {
        await role.route(opts.networks);
      } catch (err) {
        // No routes (e.g. `ip route add` refused): give the resolver back before failing.
        await role.stop().catch((e: unknown) => log.warn(`undoing the resolver change after a failed start: ${e instanceof Error ? e.message : String(e)}`));
        throw err;
      }
      return role;
    } catch (err) {
      vif.close();
      throw err;
    }
  }

  status(): NetworkState {
    return structuredClone(this.state);
  }

  /** What of the workstation's present state is this role's own. */
  footprint(): RoleFootprint {
    return { tunDev: this.vif.tun.name, dnsIp: this.opts.networks.dnsIp };
  }

  /** The manager reported new networks, or the namespace list changed. A refusal keeps the
   * networks applied so far. */
  async update(networks: ClusterNetworks, namespaces: string[]): Promise<void> {
    await NetworkRole.check({ networks, namespaces, connectedNamespace: this.opts.connectedNamespace }, !!this.opts.allowWideSubnets, this.footprint());
    this.opts = { ...this.opts, networks, namespaces };
    this.handler.setRouting(routingOf(this.opts));
    this.vif.setDns(networks.dnsIp, this.handler);
    await this.resolver.update(settingsOf(this.opts));
    await this.route(networks);
  }

  /**
   * Short names (`echo`) resolve in `namespace` from now on: the connected one, or the namespace of
   * the latest intercept, as a developer working on a service there expects.
   */
  async setShortNameNamespace(namespace: string): Promise<void> {
    checkSearchDomain(checkNamespace(namespace, 'the short-name namespace'), this.opts.networks.clusterDomain);
    if (namespace === this.opts.connectedNamespace) return;
    this.opts = { ...this.opts, connectedNamespace: namespace };
    this.handler.setRouting(routingOf(this.opts));
    await this.resolver.update(settingsOf(this.opts));
    const domain = this.opts.networks.clusterDomain;
    if (this.state.dns.state === 'active') this.state.dns.searchDomains = [`${namespace}.svc.${domain}`, `svc.${domain}`, domain];
  }

  /** Restores the resolver first (so names work again at once), then removes the device. */
  async stop(): Promise<void> {
    this.handler.dispose();
    try {
      await this.resolver.restore();
      await this.guard?.release();
    } finally {
      this.vif.close();
      this.state = { routedSubnets: [], unroutedSubnets: [], dns: { state: 'inactive' } };
    }
  }

  private async route(networks: ClusterNetworks): Promise<void> {
    const plan = await this.vif.setRoutes([...networks.serviceSubnets, ...networks.podSubnets]);
    this.state.routedSubnets = plan.route;
    this.state.unroutedSubnets = plan.unrouted;
  }
}

function journalFile(dir: string): string {
  return path.join(dir, 'resolver.json');
}

function settingsOf(o: NetworkRoleOptions): ResolverSettings {
  return { dnsIp: o.networks.dnsIp, clusterDomain: o.networks.clusterDomain, connectedNamespace: o.connectedNamespace, namespaces: o.namespaces };
}

function routingOf(o: NetworkRoleOptions): DnsRoutingConfig {
  return {
    clusterDomain: o.networks.clusterDomain,
    connectedNamespace: o.connectedNamespace,
    namespaces: o.namespaces,
    reverseSubnets: [...o.networks.serviceSubnets, ...o.networks.podSubnets].map(subnetFromCidr),
  };
}

function dnsLogger(log: Logger): DnsLogger {
  const fmt = (m: string, f?: Record<string, unknown>) => (f ? `${m} ${JSON.stringify(f)}` : m);
  return { debug: (m, f) => log.debug(fmt(m, f)), info: (m, f) => log.info(fmt(m, f)), warn: (m, f) => log.warn(fmt(m, f)) };
}
