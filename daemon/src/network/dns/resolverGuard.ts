/**
 * The resolver guard: undoes the network role's resolv.conf change as soon as the process that
 * made it ends without undoing it (a crash, `kill -9`), instead of at the next start. Until then
 * every name lookup on the workstation would go to a cluster DNS address that is no longer routed.
 *
 * The guard is a small shell, detached from the role's process group, reading one line from a
 * pipe whose other end only the role holds: a clean stop writes "done" (after the role restored
 * the resolver itself) and the shell exits; if the role dies, the kernel closes the pipe, `read`
 * sees end-of-file, and the shell becomes `telepath resolver-restore`, which undoes what the
 * journal says — only if the journal is still that process's (a new daemon may have started and
 * journaled a change of its own). Nothing runs Node, and nothing polls, while the role is alive.
 * (systemd-resolved needs no guard: its per-link settings go with the TUN device.)
 */
import { spawn } from 'node:child_process';
import { programCommand } from '../programs.js';
import { readJournal } from './resolverJournal.js';
import { recoverLinuxResolver } from './resolverConfig.linux.js';
import type { DnsLogger } from './dnsLogger.js';

/** argv[2] of the telepath bundle for the restoring half. */
export const RESOLVER_RESTORE = 'resolver-restore';

const SCRIPT = 'IFS= read -r line; [ "$line" = done ] && exit 0; exec "$@"';
const RELEASE_WAIT_MS = 2000;

export interface ResolverGuard {
  readonly pid: number;
  /** The role restored the resolver itself: the guard exits (awaited, at most 2 s). */
  release(): Promise<void>;
}

/**
 * Starts the guard for `journalPath` (owned by this process). `program` runs this same bundle
 * (`[node, ...flags, telepath-network.js]`, whether the daemon or the network role runs it). The guard writes to this process's stdout and stderr: the
 * daemon's or the network role's log.
 */
export function startResolverGuard(journalPath: string, opts: { program?: string[]; onError?: (e: Error) => void } = {}): ResolverGuard {
  const program = opts.program ?? programCommand('network');
  const child = spawn('/bin/sh', ['-c', SCRIPT, 'telepath-resolver-guard', ...program, RESOLVER_RESTORE, '--journal', journalPath, '--owner', String(process.pid)], {
    detached: true,
    stdio: ['pipe', 'inherit', 'inherit'],
  });
  child.unref();
  // The pipe must not keep the role's event loop alive either.
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  child.stdin!.on('error', () => {}); // the guard gone already: nothing to tell it
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    // No shell (spawn failed): the role goes on unguarded, as before there was a guard.
    child.once('error', (e) => {
      opts.onError?.(e);
      resolve();
    });
  });
  let released = false;
  return {
    pid: child.pid ?? -1,
    async release() {
      if (released) return;
      released = true;
      child.stdin!.end('done\n');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, RELEASE_WAIT_MS)))]);
      clearTimeout(timer);
    },
  };
}


/**
 * `telepath resolver-restore --journal PATH --owner PID` (run by the guard): undoes the journaled
 * change if process PID made it. Exit code 0 whether or not there was anything to undo.
 */
export async function runResolverRestore(args: string[]): Promise<number> {
  const at = (flag: string): string | undefined => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const journalPath = at('--journal');
  const owner = Number(at('--owner'));
  if (!journalPath || !Number.isInteger(owner) || owner <= 0) {
    process.stderr.write('usage: telepath resolver-restore --journal PATH --owner PID\n');
    return 2;
  }
  const stamp = () => new Date().toISOString();
  const logger: DnsLogger = {
    debug: () => {},
    info: () => {},
    warn: (message, fields) => void process.stderr.write(`${stamp()} WARN  resolver guard: ${message} ${fields ? JSON.stringify(fields) : ''}\n`),
  };
  const entry = await readJournal(journalPath).catch(() => undefined);
  if (!entry || entry.owner !== owner) return 0;
  const result = await recoverLinuxResolver({ journalPath, logger });
  process.stderr.write(`${stamp()} INFO  resolver guard: process ${owner} ended without restoring the resolver; ${result} (${journalPath})\n`);
  return 0;
}
