/**
 * The daemon's DNS for `connect`: what the network role uses. See dnsRouter.ts for which names
 * go to the cluster, dnsAnswer.ts for how answers are shaped, resolverConfig.linux.ts for how the
 * workstation is pointed at the server.
 */
export { DnsServer, type DnsServerOptions } from './dnsServer.js';
export type { ForwardQuery, LookupCluster } from './dnsQueryHandler.js';
export { DnsRouter, type DnsRoute, type DnsRoutingConfig } from './dnsRouter.js';
export { Forwarder, ForwardError, type Nameserver } from './forwarder.js';
export { findTopLevelDomains } from './topLevelDomains.js';
export { createResolverConfigurator, recoverResolverConfig, execCommand } from './resolverConfig.js';
export type {
  AppliedResolver,
  CommandRunner,
  RecoveryResult,
  ResolverConfigOptions,
  ResolverConfigurator,
  ResolverSettings,
} from './resolverTypes.js';
export type { DnsLogger } from './dnsLogger.js';
