/**
 * The network-role process (`telepath network-role-foreground --owner UID [--allow-wide-subnets]`,
 * started by `sudo telepath network-role`): undoes what a crashed predecessor left in the resolver, serves one
 * user daemon, and ends when that daemon goes away or on a signal.
 */
import path from 'node:path';
import { PRODUCT_VERSION } from '../../../protocol/src/version.js';
import { createLogger, RotatingFileSink } from '../../../common/src/log/fileLogger.js';
import { ProcessLifetime } from './processLifetime.js';
import { NetworkRole } from './networkRole.js';
import { NetworkRoleHost } from './networkRoleHost.js';
import { networkRolePaths } from './networkRolePaths.js';

export async function runNetworkRole(args: string[]): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('telepath network role: needs root\n');
    return 1;
  }
  const i = args.indexOf('--owner');
  const ownerUid = i >= 0 ? Number(args[i + 1]) : 0;
  if (!Number.isInteger(ownerUid) || ownerUid < 0) {
    process.stderr.write('telepath network role: --owner takes a numeric uid\n');
    return 2;
  }
  // Root's decision, not the daemon's: subnets wider than networkInput.ts's limit are routed.
  const allowWideSubnets = args.includes('--allow-wide-subnets');
  const paths = networkRolePaths();
  const sink = new RotatingFileSink(paths.logFile, (process.env.TELEPATH_LOG_LEVEL as 'info' | undefined) ?? 'info');
  const log = createLogger(sink, 'network-role');
  log.info(`telepath network role ${PRODUCT_VERSION} starting (pid ${process.pid}, for uid ${ownerUid}${allowWideSubnets ? ', wide subnets allowed' : ''})`);

  const lifetime = new ProcessLifetime(log);
  await NetworkRole.recover(paths.journalDir, log);
  const host = new NetworkRoleHost({ socketPath: paths.socket, ownerUid, journalDir: paths.journalDir, log, allowWideSubnets, onDone: (r) => lifetime.stop(r) });
  await host.listen();
  await lifetime.serve(path.join(path.dirname(paths.socket), 'network.pid'), async () => {
    try {
      await host.close();
    } catch (err) {
      log.error('restoring routes and DNS failed during shutdown', err);
    }
  });
  sink.close();
  return 0;
}
