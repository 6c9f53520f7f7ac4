/**
 * The daemon process (`telepath daemon-foreground`): opens its socket first, then serves until
 * quit or a signal, and on the way out disconnects cleanly within a deadline.
 */
import fs from 'node:fs';
import path from 'node:path';
import { daemonPaths } from './paths.js';
import { createLogger, RotatingFileSink } from './log/logger.js';
import { RpcServer } from './rpc/rpcServer.js';
import { Daemon } from './daemon.js';
import { NetworkRole } from './vif/networkRole.js';
import { mountJournal, VolumeMounts } from './intercept/volumeMounts.js';
import { PRODUCT_VERSION } from '../../protocol/src/version.js';

const SHUTDOWN_DEADLINE_MS = 10_000;

export async function runDaemon(): Promise<number> {
  const paths = daemonPaths();
  const sink = new RotatingFileSink(paths.logFile, (process.env.TELEPATH_LOG_LEVEL as 'info' | undefined) ?? 'info');
  const log = createLogger(sink, 'daemon');
  log.info(`telepath daemon ${PRODUCT_VERSION} starting (pid ${process.pid}, uid ${process.getuid?.()})`);

  let stop!: (reason: string) => void;
  const stopped = new Promise<string>((resolve) => (stop = resolve));
  // One process hosts both roles when it runs as root; the network role journals its changes.
  const networkRole = process.getuid?.() === 0;
  if (networkRole) await NetworkRole.recover(paths.journalDir, log.child('network'));
  VolumeMounts.recover(mountJournal(paths.journalDir), log.child('mounts'));
  const daemon = new Daemon(log, sink, () => stop('quit'), networkRole ? paths.journalDir : undefined, mountJournal(paths.journalDir));
  const rpc = new RpcServer(paths.socket, daemon, log.child('rpc'));
  daemon.onStatusChanged((s) => rpc.notifyStatus(s));
  await rpc.listen();
  // Beside the socket, so tools and tests can find the process (e.g. to check crash recovery).
  const pidFile = path.join(path.dirname(paths.socket), 'daemon.pid');
  fs.writeFileSync(pidFile, `${process.pid}\n`);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => stop(sig));

  const reason = await stopped;
  log.info(`stopping (${reason})`);
  const deadline = setTimeout(() => {
    log.error(`shutdown took longer than ${SHUTDOWN_DEADLINE_MS} ms; exiting anyway`);
    process.exit(1);
  }, SHUTDOWN_DEADLINE_MS);
  try {
    await daemon.disconnect();
  } catch (err) {
    log.error('disconnect failed during shutdown', err);
  }
  await rpc.close();
  fs.rmSync(pidFile, { force: true });
  clearTimeout(deadline);
  log.info('stopped');
  sink.close();
  return 0;
}
