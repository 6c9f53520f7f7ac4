/**
 * The workstation side is three programs, each its own bundle in dist/ (or, from sources, its own
 * entry run under the same loader flags, tsx):
 *   cli      telepath.js          the `telepath` command: a thin JSON-RPC client, loads no daemon code
 *   daemon   telepathd.js         the daemon (user role; also the network role when it runs as root)
 *   network  telepath-network.js  the separate root process of the network role, and the resolver
 *                                 guard's restoring half; it holds no Kubernetes client code
 * A program starts another as [node, ...its node flags, file, mode, ...args].
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

export type ProgramName = 'cli' | 'daemon' | 'network';

const BUNDLES: Record<ProgramName, string> = { cli: 'telepath.js', daemon: 'telepathd.js', network: 'telepath-network.js' };
/** Relative to this file's folder (daemon/src/network) when running from sources. */
const SOURCES: Record<ProgramName, string> = { cli: '../user/cli/bin.ts', daemon: '../user/daemonBin.ts', network: './networkBin.ts' };

/** The file of a program beside the running one: a bundle in dist/, or its source entry. */
export function programFile(name: ProgramName, here: string = __filename): string {
  const dir = path.dirname(here);
  if (here.endsWith('.ts')) return path.resolve(dir, SOURCES[name]);
  return path.join(dir, BUNDLES[name]);
}

/** The command line that runs a program: this Node, its flags (tsx's loader from sources), the file. */
export function programCommand(name: ProgramName, execArgv: string[] = process.execArgv): string[] {
  const file = programFile(name);
  if (!existsSync(file)) throw new Error(`${file} is missing: the ${name} program ships beside this one (npm run build)`);
  return [process.execPath, ...execArgv, file];
}
