/**
 * The `telepath` command line: a thin client of the daemon's JSON-RPC API. Commands that need the
 * daemon start it when none runs; `status`, `version` and `quit` never do.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ResponseError } from 'vscode-jsonrpc/node';
import { categoryOf, daemonRequests, type DaemonStatus, type ErrorCategory } from '../../protocol/src/daemon/index.js';
import { PRODUCT_VERSION, PROTOCOL_VERSION } from '../../protocol/src/version.js';
import { daemonPaths, type DaemonPaths } from './paths.js';
import { DaemonClient } from './rpc/daemonClient.js';

const HELP = `telepath — develop one Kubernetes service on your workstation

Usage:
  telepath connect [--context NAME] [--namespace NS] [--kubeconfig PATH] [--manager-namespace NS]
                                    connect to the cluster (starts the daemon when needed);
                                    the traffic-manager lives in namespace "telepath" by default
  telepath status                   the connection state
  telepath quit                     disconnect and stop the daemon
  telepath uninstall --everything   remove the traffic-manager from the cluster
  telepath version                  client, daemon and traffic-manager versions
  telepath help                     this help

Options for every command:
  --output json, -o json            machine-readable output on stdout

Exit codes: 0 success; 1 an unexpected error (see the daemon log); 2 usage error;
3 a problem with your input or kubeconfig; 4 a problem in or reaching the cluster;
5 the daemon is not running (status, quit).
`;

const EXIT = { ok: 0, internal: 1, usage: 2, user: 3, config: 3, cluster: 4, noDaemon: 5 } as const;

class UsageError extends Error {}

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

const stdio: Io = {
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
};

export async function main(argv: string[], io: Io = stdio, paths: DaemonPaths = daemonPaths()): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(HELP);
        return EXIT.ok;
      case 'version':
      case '--version':
        return await version(rest, io, paths);
      case 'connect':
        return await connect(rest, io, paths);
      case 'status':
        return await status(rest, io, paths);
      case 'quit':
        return await quit(rest, io, paths);
      case 'uninstall':
        return await uninstall(rest, io, paths);
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`telepath: ${err.message}\n\n${HELP}`);
      return EXIT.usage;
    }
    if (err instanceof ResponseError) {
      const category: ErrorCategory = categoryOf(err);
      io.err(`telepath: ${err.message}\n`);
      if (category === 'internal') io.err(`(the daemon log has the details: ${paths.logFile})\n`);
      return EXIT[category];
    }
    io.err(`telepath: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.internal;
  }
}

const FLAGS = {
  output: { type: 'string', short: 'o' },
  context: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  kubeconfig: { type: 'string' },
  'manager-namespace': { type: 'string' },
  everything: { type: 'boolean' },
} as const;
type Flags = {
  output?: string;
  context?: string;
  namespace?: string;
  kubeconfig?: string;
  'manager-namespace'?: string;
  everything?: boolean;
};

/** Parses the flags a command accepts (plus --output); anything else is a usage error. */
function parse(args: string[], accepted: (keyof typeof FLAGS)[]): { values: Flags } {
  let values: Flags;
  try {
    values = parseArgs({ args, options: FLAGS, strict: true, allowPositionals: false }).values as Flags;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  for (const k of Object.keys(values)) {
    if (k !== 'output' && !accepted.includes(k as keyof typeof FLAGS)) throw new UsageError(`this command takes no --${k}`);
  }
  return { values };
}

function wantsJson(values: { output?: unknown }): boolean {
  if (values.output === undefined) return false;
  if (values.output !== 'json') throw new UsageError(`--output takes "json", not "${String(values.output)}"`);
  return true;
}

async function version(args: string[], io: Io, paths: DaemonPaths): Promise<number> {
  const { values } = parse(args, []);
  const json = wantsJson(values);
  const client = await DaemonClient.connect(paths.socket).catch(() => undefined);
  const daemon = client ? await client.request(daemonRequests.version, {}).finally(() => client.dispose()) : undefined;
  const result = {
    client: PRODUCT_VERSION,
    protocol: PROTOCOL_VERSION,
    daemon: daemon?.daemonVersion ?? null,
    trafficManager: daemon?.managerVersion ?? null,
  };
  if (json) io.out(JSON.stringify(result) + '\n');
  else {
    io.out(`Client:          telepath ${PRODUCT_VERSION} (protocol ${PROTOCOL_VERSION})\n`);
    io.out(`Daemon:          ${daemon ? `${daemon.daemonVersion} (protocol ${daemon.protocolVersion})` : 'not running'}\n`);
    io.out(`Traffic manager: ${daemon?.managerVersion ?? 'not connected'}\n`);
  }
  return EXIT.ok;
}

async function connect(args: string[], io: Io, paths: DaemonPaths): Promise<number> {
  const { values } = parse(args, ['context', 'namespace', 'kubeconfig', 'manager-namespace']);
  const json = wantsJson(values);
  const client = await ensureDaemon(paths, io);
  try {
    await client.initialize('telepath-cli');
    if (!json) client.onProgress((p) => io.err(`${p.message}\n`));
    const kubeconfig = values.kubeconfig ?? process.env.KUBECONFIG?.split(path.delimiter)[0];
    const st = await client.request(daemonRequests.connect, {
      ...(values.context ? { context: values.context } : {}),
      ...(values.namespace ? { namespace: values.namespace } : {}),
      ...(kubeconfig ? { kubeconfig: path.resolve(kubeconfig) } : {}),
      ...(values['manager-namespace'] ? { managerNamespace: values['manager-namespace'] } : {}),
    });
    printStatus(st, json, io);
    return EXIT.ok;
  } finally {
    client.dispose();
  }
}

async function status(args: string[], io: Io, paths: DaemonPaths): Promise<number> {
  const { values } = parse(args, []);
  const json = wantsJson(values);
  const client = await DaemonClient.connect(paths.socket).catch(() => undefined);
  if (!client) {
    if (json) io.out(JSON.stringify({ daemon: 'not running', state: 'disconnected', routedSubnets: [] }) + '\n');
    else io.out('Daemon: not running\n');
    return EXIT.noDaemon;
  }
  try {
    await client.initialize('telepath-cli');
    printStatus(await client.request(daemonRequests.status, {}), json, io);
    return EXIT.ok;
  } finally {
    client.dispose();
  }
}

async function quit(args: string[], io: Io, paths: DaemonPaths): Promise<number> {
  const { values } = parse(args, []);
  const json = wantsJson(values);
  const client = await DaemonClient.connect(paths.socket).catch(() => undefined);
  if (!client) {
    if (json) io.out(JSON.stringify({ daemon: 'not running' }) + '\n');
    else io.out('Daemon: not running\n');
    return EXIT.noDaemon;
  }
  const closed = client.closed();
  await client.request(daemonRequests.quit, {});
  await Promise.race([closed, delay(10_000)]);
  client.dispose();
  if (json) io.out(JSON.stringify({ daemon: 'stopped' }) + '\n');
  else io.out('Telepath daemon stopped\n');
  return EXIT.ok;
}

async function uninstall(args: string[], io: Io, paths: DaemonPaths): Promise<number> {
  const { values } = parse(args, ['everything', 'context', 'kubeconfig']);
  const json = wantsJson(values);
  if (!values.everything) throw new UsageError('uninstall needs --everything (agents come with intercepts)');
  const client = await ensureDaemon(paths, io);
  try {
    await client.initialize('telepath-cli');
    if (!json) client.onProgress((p) => io.err(`${p.message}\n`));
    const kubeconfig = values.kubeconfig ?? process.env.KUBECONFIG?.split(path.delimiter)[0];
    const result = await client.request(daemonRequests.uninstall, {
      everything: true,
      ...(values.context ? { context: values.context } : {}),
      ...(kubeconfig ? { kubeconfig: path.resolve(kubeconfig) } : {}),
    });
    if (json) io.out(JSON.stringify(result) + '\n');
    else for (const line of result.removed) io.out(`${line}\n`);
    return EXIT.ok;
  } finally {
    client.dispose();
  }
}

function printStatus(st: DaemonStatus, json: boolean, io: Io): void {
  if (json) {
    io.out(JSON.stringify({ daemon: 'running', ...st }) + '\n');
    return;
  }
  const lines = [`Status:      ${st.state}`];
  if (st.context) lines.push(`Context:     ${st.context}`);
  if (st.namespace) lines.push(`Namespace:   ${st.namespace}`);
  if (st.managerVersion) lines.push(`Manager:     ${st.managerVersion}`);
  if (st.routedSubnets.length) lines.push(`Routed:      ${st.routedSubnets.join(', ')}`);
  for (const u of st.unroutedSubnets ?? []) lines.push(`Not routed:  ${u.subnet} (${u.reason}${u.message ? `: ${u.message}` : ''})`);
  if (st.dns) lines.push(`DNS:         ${st.dns.state}${st.dns.method ? ` (${st.dns.method})` : ''}${st.dns.message ? `: ${st.dns.message}` : ''}`);
  if (st.error) lines.push(`Error:       ${st.error.message}`);
  io.out(lines.join('\n') + '\n');
}

/** Connects to the running daemon, or starts one in the background and waits for its socket. */
async function ensureDaemon(paths: DaemonPaths, io: Io): Promise<DaemonClient> {
  const running = await DaemonClient.connect(paths.socket).catch(() => undefined);
  if (running) return running;
  fs.mkdirSync(path.dirname(paths.logFile), { recursive: true });
  const log = fs.openSync(paths.logFile, 'a', 0o600);
  // The same program in daemon mode: the bundle (dist/telepath.js) or, from sources, bin.ts
  // under the same loader flags (tsx).
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, 'daemon-foreground'], {
    detached: true,
    stdio: ['ignore', log, log],
    env: process.env,
  });
  child.unref();
  fs.closeSync(log);
  const deadline = Date.now() + 15_000;
  let exited: number | null = null;
  child.once('exit', (code) => (exited = code ?? -1));
  while (Date.now() < deadline) {
    const c = await DaemonClient.connect(paths.socket).catch(() => undefined);
    if (c) return c;
    if (exited !== null) break;
    await delay(100);
  }
  io.err(`telepath: the daemon did not start${exited !== null ? ` (exit ${exited})` : ''}; see ${paths.logFile}\n`);
  throw new Error('daemon not started');
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
