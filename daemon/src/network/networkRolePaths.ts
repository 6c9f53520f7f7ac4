/**
 * Where the separate network-role process keeps its socket, log and journal: root's places
 * (daemonPaths as uid 0), with names of its own so that a root daemon hosting both roles and
 * this process never undo each other's journal.
 */
import path from 'node:path';
import { daemonPaths } from '../../../common/src/daemonPaths.js';
import { networkRoleSocket } from './networkRoleProtocol.js';

export interface NetworkRolePaths {
  socket: string;
  logFile: string;
  journalDir: string;
}

export function networkRolePaths(env: NodeJS.ProcessEnv = process.env): NetworkRolePaths {
  const root = daemonPaths(env, 0);
  return {
    socket: networkRoleSocket(env),
    logFile: path.join(path.dirname(root.logFile), 'network-role.log'),
    journalDir: path.join(root.journalDir, 'network-role'),
  };
}
