/**
 * Starts the daemon when none runs: the `telepathd` bundle that ships beside the extension, run by
 * the Node that runs the extension host (VS Code's Electron as Node, or code-server's Node), so
 * users need no Node of their own. The daemon outlives the window, as it does for the CLI.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { CancellationToken } from 'vscode-jsonrpc';
import { delay } from '../util/cancellation.js';
import { DaemonConnection } from './daemonConnection.js';
import type { Logger } from './logger.js';

export interface DaemonLaunch {
  /** The Node (or Electron) executable: process.execPath of the extension host. */
  execPath: string;
  /** dist/telepathd.js, the daemon's bundle. */
  daemonPath: string;
  socketPath: string;
  /** Where the daemon's stdout and stderr go (its own log is beside it). */
  logFile: string;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** How long to wait for the socket; default 15 s. */
  timeoutMs?: number;
}

/** The command line that runs the daemon in the foreground; pure, so it is testable. */
export function daemonCommand(launch: Pick<DaemonLaunch, 'execPath' | 'daemonPath' | 'env'>): {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
} {
  // "--" ends Node's own options: Node 20 would otherwise take an --env-file argument as its own.
  // ELECTRON_RUN_AS_NODE makes VS Code's Electron behave as plain Node; Node ignores it.
  return {
    command: launch.execPath,
    args: ['--', launch.daemonPath, 'daemon-foreground'],
    env: { ...launch.env, ELECTRON_RUN_AS_NODE: '1' },
  };
}

export class DaemonStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DaemonStartError';
  }
}

/**
 * Spawns the daemon, detached, and connects once its socket answers. Another window may win the
 * race to start one; then ours exits and we connect to theirs.
 */
export async function launchDaemon(launch: DaemonLaunch, log: Logger, token?: CancellationToken): Promise<DaemonConnection> {
  if (!fs.existsSync(launch.daemonPath)) {
    throw new DaemonStartError(`the Telepath daemon is missing from the extension (${launch.daemonPath}); reinstall the extension`);
  }
  fs.mkdirSync(path.dirname(launch.logFile), { recursive: true });
  const out = fs.openSync(launch.logFile, 'a', 0o600);
  const { command, args, env } = daemonCommand(launch);
  log.info(`starting the daemon: ${command} ${args.join(' ')}`);
  let exited: string | undefined;
  try {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', out, out], env, cwd: launch.cwd });
    child.once('error', (e) => (exited = e.message));
    child.once('exit', (code, signal) => (exited = signal ? `signal ${signal}` : `exit ${code}`));
    child.unref();
  } finally {
    fs.closeSync(out);
  }
  const deadline = Date.now() + (launch.timeoutMs ?? 15_000);
  for (;;) {
    const conn = await DaemonConnection.open(launch.socketPath, token).catch(() => undefined);
    if (conn) return conn;
    if (exited !== undefined) {
      // Lost a race with another window? Its daemon answers in a moment.
      const other = await DaemonConnection.open(launch.socketPath, token).catch(() => undefined);
      if (other) return other;
      throw new DaemonStartError(`the Telepath daemon stopped right after starting (${exited}); see ${launch.logFile}`);
    }
    if (Date.now() > deadline) {
      throw new DaemonStartError(`the Telepath daemon did not open ${launch.socketPath} in time; see ${launch.logFile}`);
    }
    await delay(100, token);
  }
}
