/**
 * Where the daemon keeps its socket, log and journal. Run as root (one process hosting both
 * roles) they live under /run and /var/log; otherwise under the user's runtime and cache
 * directories. TELEPATH_RUN_DIR and TELEPATH_STATE_DIR override both, for tests and packaging.
 */
import os from 'node:os';
import path from 'node:path';

export interface DaemonPaths {
  /** The JSON-RPC unix socket. */
  socket: string;
  /** The daemon's log file (rotated beside itself). */
  logFile: string;
  /** Journal of everything changed outside the process, to undo after a crash. */
  journalDir: string;
}

export function daemonPaths(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? -1): DaemonPaths {
  const root = uid === 0;
  const runDir =
    env.TELEPATH_RUN_DIR ??
    (root ? '/run/telepath' : path.join(env.XDG_RUNTIME_DIR ?? path.join(os.tmpdir(), `telepath-${uid}`), 'telepath'));
  const stateDir =
    env.TELEPATH_STATE_DIR ??
    (root ? '/var/lib/telepath' : path.join(env.XDG_STATE_HOME ?? path.join(os.homedir(), '.local/state'), 'telepath'));
  const logDir = root && !env.TELEPATH_STATE_DIR ? '/var/log/telepath' : path.join(stateDir, 'logs');
  return {
    socket: path.join(runDir, 'daemon.sock'),
    logFile: path.join(logDir, 'daemon.log'),
    journalDir: path.join(stateDir, 'journal'),
  };
}
