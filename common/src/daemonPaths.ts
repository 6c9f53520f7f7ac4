/**
 * Where the daemon keeps its socket, log and journal. Run as root (one process hosting both
 * roles) they live under /run and /var/log; otherwise under the user's runtime and cache
 * directories. TELEPATH_RUN_DIR and TELEPATH_STATE_DIR override both, for tests and packaging.
 * Without XDG_RUNTIME_DIR the socket goes under os.tmpdir()/telepath-<uid>, which must be the
 * user's own, mode 0700 (privateDir.ts): see socketDirProblem.
 */
import os from 'node:os';
import path from 'node:path';
import { privateDirProblem } from './privateDir.js';

export interface DaemonPaths {
  /** The JSON-RPC unix socket. */
  socket: string;
  /** The daemon's log file (rotated beside itself). */
  logFile: string;
  /** Journal of everything changed outside the process, to undo after a crash. */
  journalDir: string;
  /** The fallback run directory in the shared temporary directory (no XDG_RUNTIME_DIR), which
   * must be the user's alone; undefined when the socket lives elsewhere. */
  privateRunDir?: string;
}

export function daemonPaths(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? -1): DaemonPaths {
  const root = uid === 0;
  // An empty XDG_RUNTIME_DIR is an unset one (XDG Base Directory specification).
  const fallback = env.TELEPATH_RUN_DIR === undefined && !root && !env.XDG_RUNTIME_DIR ? path.join(os.tmpdir(), `telepath-${uid}`) : undefined;
  const runDir = env.TELEPATH_RUN_DIR ?? (root ? '/run/telepath' : path.join(env.XDG_RUNTIME_DIR || fallback!, 'telepath'));
  const stateDir =
    env.TELEPATH_STATE_DIR ??
    (root ? '/var/lib/telepath' : path.join(env.XDG_STATE_HOME ?? path.join(os.homedir(), '.local/state'), 'telepath'));
  const logDir = root && !env.TELEPATH_STATE_DIR ? '/var/log/telepath' : path.join(stateDir, 'logs');
  return {
    socket: path.join(runDir, 'daemon.sock'),
    logFile: path.join(logDir, 'daemon.log'),
    journalDir: path.join(stateDir, 'journal'),
    ...(fallback ? { privateRunDir: fallback } : {}),
  };
}

/** Why the daemon's socket must not be used (its fallback directory is not private), if so. */
export function socketDirProblem(paths: DaemonPaths, uid = process.getuid?.() ?? -1): string | undefined {
  if (!paths.privateRunDir || uid < 0) return undefined;
  const problem = privateDirProblem(paths.privateRunDir, uid);
  return problem && `refusing the daemon's socket directory: ${problem}`;
}
