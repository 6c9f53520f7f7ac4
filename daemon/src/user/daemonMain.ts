/**
 * The daemon process (`telepath daemon-foreground`): opens its socket first, then serves until
 * quit or a signal, and on the way out disconnects cleanly within a deadline.
 */
import path from 'node:path';
import { daemonPaths } from '../../../common/src/daemonPaths.js';
import { ensurePrivateDir } from '../../../common/src/privateDir.js';
import { createLogger, RotatingFileSink } from '../../../common/src/log/fileLogger.js';
import { RpcServer } from './rpc/rpcServer.js';
import { Daemon } from './daemon.js';
import { NetworkRole } from '../network/networkRole.js';
import { mountJournal, VolumeMounts } from './intercept/volumeMounts.js';
import { NetworkRoleLink } from './networkRoleLink.js';
import { networkRoleSocket } from '../network/networkRoleProtocol.js';
import { PRODUCT_VERSION } from '../../../protocol/src/version.js';
import { ProcessLifetime } from '../network/processLifetime.js';

export async function runDaemon(): Promise<number> {
  const paths = daemonPaths();
  const sink = new RotatingFileSink(paths.logFile, (process.env.TELEPATH_LOG_LEVEL as 'info' | undefined) ?? 'info');
  const log = createLogger(sink, 'daemon');
  log.info(`telepath daemon ${PRODUCT_VERSION} starting (pid ${process.pid}, uid ${process.getuid?.()})`);

  // Without XDG_RUNTIME_DIR the socket's directory is in the shared /tmp: it must be ours alone.
  const uid = process.getuid?.();
  if (paths.privateRunDir && uid !== undefined) {
    try {
      ensurePrivateDir(paths.privateRunDir, uid);
    } catch (err) {
      log.error(`not starting: ${(err as Error).message}`);
      sink.close();
      throw err;
    }
  }

  const lifetime = new ProcessLifetime(log);
  // One process hosts both roles when it runs as root; the network role journals its changes.
  // Otherwise a separate root process (`sudo telepath network-role`) may run them for this one.
  const networkRole = process.getuid?.() === 0;
  if (networkRole) await NetworkRole.recover(paths.journalDir, log.child('network'));
  VolumeMounts.recover(mountJournal(paths.journalDir), log.child('mounts'));
  const link = networkRole ? undefined : new NetworkRoleLink(networkRoleSocket(), log.child('network-link'));
  const daemon = new Daemon(log, sink, () => lifetime.stop('quit'), networkRole ? paths.journalDir : undefined, mountJournal(paths.journalDir), link);
  const rpc = new RpcServer(paths.socket, daemon, log.child('rpc'));
  daemon.onStatusChanged((s) => rpc.notifyStatus(s));
  await rpc.listen();
  link?.watch();
  // Beside the socket, so tools and tests can find the process (e.g. to check crash recovery).
  await lifetime.serve(path.join(path.dirname(paths.socket), 'daemon.pid'), async () => {
    try {
      await daemon.disconnect();
    } catch (err) {
      log.error('disconnect failed during shutdown', err);
    }
    link?.close(); // the network role, if one served this daemon, ends with it
    await rpc.close();
  });
  sink.close();
  return 0;
}
