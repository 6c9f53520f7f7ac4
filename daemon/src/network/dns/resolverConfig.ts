/**
 * Pointing the workstation's resolver at the daemon's DNS server while connected, and back.
 * One implementation per platform (`resolverConfig.<platform>.ts`), chosen here.
 */
import { LinuxResolverConfig, recoverLinuxResolver } from './resolverConfig.linux.js';
import type { RecoveryResult, ResolverConfigOptions, ResolverConfigurator } from './resolverTypes.js';

export type * from './resolverTypes.js';
export { execCommand } from './resolverTypes.js';

export function createResolverConfigurator(options: ResolverConfigOptions, platform: NodeJS.Platform = process.platform): ResolverConfigurator {
  if (platform === 'linux') return new LinuxResolverConfig(options);
  throw new Error(`configuring the DNS resolver is not supported on ${platform} yet`);
}

/** Undoes the resolver change of a run that crashed; call once when the network role starts. */
export function recoverResolverConfig(options: ResolverConfigOptions, platform: NodeJS.Platform = process.platform): Promise<RecoveryResult> {
  if (platform === 'linux') return recoverLinuxResolver(options);
  return Promise.resolve('nothing');
}
