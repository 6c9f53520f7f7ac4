/**
 * The life of a long-running Telepath process (the daemon, the network role): a pid file beside
 * its socket, stop on a signal or a request, and a shutdown that must finish within a deadline.
 */
import fs from 'node:fs';
import type { Logger } from '../../../common/src/log/fileLogger.js';

const SHUTDOWN_DEADLINE_MS = 10_000;

export class ProcessLifetime {
  private stopWith!: (reason: string) => void;
  private readonly stopped = new Promise<string>((resolve) => (this.stopWith = resolve));

  constructor(private readonly log: Logger) {}

  /** Ends the process's serving phase (the first reason wins). */
  stop(reason: string): void {
    this.stopWith(reason);
  }

  /**
   * Writes `pidFile` (so tools and tests can find the process), serves until stop() or a signal,
   * then runs `shutdown`, exiting with 1 if that takes longer than the deadline.
   */
  async serve(pidFile: string, shutdown: () => Promise<void>): Promise<void> {
    fs.writeFileSync(pidFile, `${process.pid}\n`);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => this.stop(sig));
    const reason = await this.stopped;
    this.log.info(`stopping (${reason})`);
    const deadline = setTimeout(() => {
      this.log.error(`shutdown took longer than ${SHUTDOWN_DEADLINE_MS} ms; exiting anyway`);
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    try {
      await shutdown();
    } finally {
      fs.rmSync(pidFile, { force: true });
      clearTimeout(deadline);
      this.log.info('stopped');
    }
  }
}
