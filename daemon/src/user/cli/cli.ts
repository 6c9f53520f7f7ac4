/**
 * The `telepath` command line: a thin client of the daemon's JSON-RPC API. Commands that need the
 * daemon start it when none runs; `status`, `version` and `quit` never do.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ResponseError } from 'vscode-jsonrpc/node';
import { constants as osConstants } from 'node:os';
import { categoryOf, daemonRequests, type DaemonStatus, type ErrorCategory, type InterceptInfo } from '../../../../protocol/src/daemon';
import { versionReport } from './versionReport.js';
import { ENV_SYNTAXES, type EnvSyntax, formatEnv } from '../../../../common/src/envFile.js';
import { parsePortSpec } from '../intercept/portChoice.js';
import { daemonPaths, socketDirProblem, type DaemonPaths } from '../../../../common/src/daemonPaths.js';
import { DaemonClient } from '../rpc/daemonClient.js';
import { answers } from '../../network/unixSocket.js';
import { networkRolePaths } from '../../network/networkRolePaths.js';
import { programCommand, type ProgramName } from '../../network/programs.js';
import { START_NETWORK_ROLE } from '../../network/networkRoleProtocol.js';

const HELP = `telepath — develop one Kubernetes service on your workstation

Usage:
  telepath connect [--context NAME] [--namespace NS] [--kubeconfig PATH] [--manager-namespace NS]
                                    connect to the cluster (starts the daemon when needed);
                                    the traffic-manager lives in namespace "telepath" by default;
                                    connect installs it, upgrades an older one, uses a newer one
                                    that still serves this client, and says which it did
  telepath status                   the connection state
  telepath intercept WORKLOAD --port LOCAL[:SERVICE_PORT] [options] [-- COMMAND...]
                                    send the workload's traffic to LOCAL on this machine
                                    (connects first when needed). WORKLOAD is "name" or
                                    "kind/name" (deploy, sts, rs). SERVICE_PORT is a Service port
                                    name or number, or "service/port"; needed when there are several.
      --http-header NAME=VALUE      personal: only HTTP/1.1, HTTP/2 and gRPC requests carrying
                                    this header (repeatable; all must match)
      --http-path-prefix PREFIX     personal: only requests whose path starts with PREFIX
      --personal                    personal with a generated x-telepath-intercept header
      --preview                     personal, and print a preview link path that sets the routing
                                    as a cookie for a browser
                                    (without any of these: global, every connection and request)
      --container NAME              the app container, when Service ports reach several
      --name NAME                   name of the intercept (default: the workload's name)
      --env-file PATH               write the container's environment there
      --env-syntax dotenv|sh|json   format of --env-file (default dotenv)
      --env-json PATH               write the environment as JSON
      --mount DIR                   mount the container's volumes at DIR (default: a new directory
                                    under /tmp/telepath); --mount=false: no mount. The path is
                                    TELEPATH_ROOT in the environment. Needs sshfs.
      -- COMMAND...                 run COMMAND with the environment; leave when it exits
  telepath leave NAME               end an intercept; new requests go to the pod again
  telepath list [--namespace NS]    workloads, their interceptable ports, agents and intercepts
  telepath quit                     disconnect and stop the daemon (and the network role serving it)
  telepath network-role [--user NAME] [--allow-wide-subnets]
                                    as root (sudo): route the cluster's subnets and answer its DNS
                                    names for a daemon that runs as a user, so that daemon needs no
                                    root. Serves the user who ran sudo (or NAME) and ends when that
                                    user's daemon quits. Without it, a daemon that is not root
                                    connects and intercepts, but the workstation does not reach
                                    cluster addresses and names. It refuses subnets that overlap
                                    this machine's own networks, and names that are not DNS names.
      --allow-wide-subnets          also route cluster subnets wider than /8 (IPv4) or /32 (IPv6);
                                    a default route is refused all the same
  telepath uninstall --agent WORKLOAD [--namespace NS]
                                    remove the agent, restore the workload and its Services
  telepath uninstall --everything   remove every agent and the traffic-manager from the cluster
  telepath version                  client, daemon and traffic-manager versions, and what connect
                                    did with the traffic-manager it found (docs/upgrades.md)
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

/** Commands that talk to the daemon over its socket. */
const DAEMON_COMMANDS = new Set(['version', '--version', 'connect', 'status', 'quit', 'uninstall', 'intercept', 'leave', 'list', 'ls']);

export async function main(argv: string[], io: Io = stdio, paths: DaemonPaths = daemonPaths()): Promise<number> {
  const [cmd, ...rest] = argv;
  // A socket in a directory someone else controls may be theirs: never talk to it, never start a
  // daemon there.
  const socketProblem = cmd !== undefined && DAEMON_COMMANDS.has(cmd) ? socketDirProblem(paths) : undefined;
  if (socketProblem) {
    io.err(`telepath: ${socketProblem}\n`);
    return EXIT.config;
  }
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
      case 'intercept':
        return await intercept(rest, io, paths);
      case 'leave':
        return await leave(rest, io, paths);
      case 'list':
      case 'ls':
        return await list(rest, io, paths);
      case 'network-role':
        return await networkRole(rest, io);
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
  agent: { type: 'string' },
  port: { type: 'string', short: 'p' },
  'http-header': { type: 'string', multiple: true },
  'http-path-prefix': { type: 'string' },
  personal: { type: 'boolean' },
  preview: { type: 'boolean' },
  container: { type: 'string' },
  name: { type: 'string' },
  'env-file': { type: 'string' },
  'env-syntax': { type: 'string' },
  'env-json': { type: 'string' },
  mount: { type: 'string' },
  user: { type: 'string' },
  'allow-wide-subnets': { type: 'boolean' },
} as const;
type Flags = {
  agent?: string;
  port?: string;
  'http-header'?: string[];
  'http-path-prefix'?: string;
  personal?: boolean;
  preview?: boolean;
  container?: string;
  name?: string;
  'env-file'?: string;
  'env-syntax'?: string;
  'env-json'?: string;
  mount?: string;
  user?: string;
  'allow-wide-subnets'?: boolean;
  output?: string;
  context?: string;
  namespace?: string;
  kubeconfig?: string;
  'manager-namespace'?: string;
  everything?: boolean;
};

/** Parses the flags a command accepts (plus --output); anything else is a usage error. */
function parse(args: string[], accepted: (keyof typeof FLAGS)[], positionals = 0): { values: Flags; positionals: string[] } {
  let parsed: { values: Flags; positionals: string[] };
  try {
    parsed = parseArgs({ args, options: FLAGS, strict: true, allowPositionals: positionals > 0 }) as { values: Flags; positionals: string[] };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  for (const k of Object.keys(parsed.values)) {
    if (k !== 'output' && !accepted.includes(k as keyof typeof FLAGS)) throw new UsageError(`this command takes no --${k}`);
  }
  if (parsed.positionals.length > positionals) throw new UsageError(`unexpected argument "${parsed.positionals[positionals]}"`);
  return parsed;
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
  const report = versionReport(daemon);
  io.out(json ? JSON.stringify(report.json) + '\n' : report.text);
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
  await Promise.race([closed, deadline(10_000)]);
  client.dispose();
  if (json) io.out(JSON.stringify({ daemon: 'stopped' }) + '\n');
  else io.out('Telepath daemon stopped\n');
  return EXIT.ok;
}

async function uninstall(args: string[], io: Io, paths: DaemonPaths): Promise<number> {
  const { values } = parse(args, ['everything', 'agent', 'namespace', 'context', 'kubeconfig']);
  const json = wantsJson(values);
  if (!values.everything && !values.agent) throw new UsageError('uninstall needs --agent WORKLOAD or --everything');
  if (values.everything && values.agent) throw new UsageError('uninstall takes --agent or --everything, not both');
  const client = await ensureDaemon(paths, io);
  try {
    await client.initialize('telepath-cli');
    if (!json) client.onProgress((p) => io.err(`${p.message}\n`));
    const kubeconfig = values.kubeconfig ?? process.env.KUBECONFIG?.split(path.delimiter)[0];
    const result = await client.request(daemonRequests.uninstall, {
      ...(values.everything ? { everything: true as const } : {}),
      ...(values.agent ? { agent: values.agent } : {}),
      ...(values.namespace ? { namespace: values.namespace } : {}),
      ...(values.context ? { context: values.context } : {}),
      ...(kubeconfig ? { kubeconfig: path.resolve(kubeconfig) } : {}),
    });
    if (json) io.out(JSON.stringify(result) + '\n');
    else if (result.removed.length === 0) io.out('Nothing to remove\n');
    else for (const line of result.removed) io.out(`${line}\n`);
    return EXIT.ok;
  } finally {
    client.dispose();
  }
}

async function intercept(argv: string[], io: Io, paths: DaemonPaths): Promise<number> {
  const dash = argv.indexOf('--');
  const command = dash >= 0 ? argv.slice(dash + 1) : [];
  const args = dash >= 0 ? argv.slice(0, dash) : argv;
  const { values, positionals } = parse(
    args,
    ['port', 'http-header', 'http-path-prefix', 'personal', 'preview', 'container', 'name', 'env-file', 'env-syntax', 'env-json', 'mount', 'namespace', 'context', 'kubeconfig'],
    1,
  );
  const json = wantsJson(values);
  const workload = positionals[0];
  if (!workload) throw new UsageError('intercept needs a workload: telepath intercept WORKLOAD --port LOCAL[:SERVICE_PORT]');
  if (!values.port) throw new UsageError('intercept needs --port LOCAL[:SERVICE_PORT], e.g. --port 8080 or --port 8080:http');
  if (dash >= 0 && command.length === 0) throw new UsageError('nothing follows "--"; give the command to run');
  let portSpec;
  try {
    portSpec = parsePortSpec(values.port);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const syntax = (values['env-syntax'] ?? 'dotenv') as EnvSyntax;
  if (!ENV_SYNTAXES.includes(syntax)) throw new UsageError(`--env-syntax takes ${ENV_SYNTAXES.join(', ')}, not "${syntax}"`);
  if (values['env-syntax'] && !values['env-file']) throw new UsageError('--env-syntax goes with --env-file');
  const headers = (values['http-header'] ?? []).map((h) => {
    const eq = h.indexOf('=');
    if (eq <= 0) throw new UsageError(`--http-header takes NAME=VALUE, not "${h}"`);
    return { name: h.slice(0, eq).trim(), value: h.slice(eq + 1) };
  });
  const personal = !!(values.personal || values.preview || headers.length || values['http-path-prefix']);

  const client = await ensureDaemon(paths, io);
  let name: string | undefined;
  try {
    await client.initialize('telepath-cli');
    if (!json) client.onProgress((p) => io.err(`${p.message}\n`));
    const st = await client.request(daemonRequests.status, {});
    if (st.state !== 'connected' && st.state !== 'reconnecting') {
      const kubeconfig = values.kubeconfig ?? process.env.KUBECONFIG?.split(path.delimiter)[0];
      await client.request(daemonRequests.connect, {
        ...(values.context ? { context: values.context } : {}),
        ...(values.namespace ? { namespace: values.namespace } : {}),
        ...(kubeconfig ? { kubeconfig: path.resolve(kubeconfig) } : {}),
      });
    }
    const result = await client.request(daemonRequests.intercept, {
      workload,
      localPort: portSpec.localPort,
      mode: personal ? 'personal' : 'global',
      ...(portSpec.servicePort ? { servicePort: portSpec.servicePort } : {}),
      ...(values.namespace ? { namespace: values.namespace } : {}),
      ...(values.container ? { container: values.container } : {}),
      ...(values.name ? { name: values.name } : {}),
      ...(headers.length ? { headers } : {}),
      ...(values['http-path-prefix'] ? { pathPrefix: values['http-path-prefix'] } : {}),
      ...(values.preview ? { preview: true } : {}),
      ...(values.mount === 'false' ? { mount: false } : values.mount ? { mountPoint: path.resolve(values.mount) } : {}),
    });
    name = result.intercept.name;
    if (values['env-file']) fs.writeFileSync(values['env-file'], formatEnv(result.environment, syntax), { mode: 0o600 });
    if (values['env-json']) fs.writeFileSync(values['env-json'], formatEnv(result.environment, 'json'), { mode: 0o600 });
    if (json) io.out(JSON.stringify(result) + '\n');
    else io.out(describeIntercept(result.intercept));
    if (result.mountProblem && !json) io.err(`telepath: the volumes are not mounted: ${result.mountProblem}\n`);
    if (result.environmentProblem && !json) {
      const what = command.length ? 'the command runs without it' : values['env-file'] || values['env-json'] ? 'the file holds none of it' : 'the intercept works';
      io.err(`telepath: the pod's environment is not available: ${result.environmentProblem}; ${what}\n`);
    }
    if (command.length === 0) return EXIT.ok;

    // Run the command with the pod's environment; leave when it exits, whatever way it does.
    const code = await runWith(command, { ...process.env, ...result.environment }, io);
    await client.request(daemonRequests.leave, { name }).catch(() => undefined);
    return code;
  } finally {
    client.dispose();
  }
}

function describeIntercept(i: InterceptInfo): string {
  const lines = [
    `Intercept ${i.name}: ${i.workload} (namespace ${i.namespace}), ${i.servicePort} -> 127.0.0.1:${i.localPort}`,
    i.mode === 'global' ? '  all connections and requests go to this machine' : '  personal: only requests that carry',
  ];
  for (const h of i.headers) lines.push(`    ${h.name}: ${h.value}`);
  if (i.pathPrefix) lines.push(`    path prefix ${i.pathPrefix}`);
  if (i.mountPoint) lines.push(`  volumes mounted at ${i.mountPoint} (TELEPATH_ROOT)`);
  if (i.previewPath) lines.push(`  preview link: open ${i.previewPath} on the service (e.g. http://<its ingress>${i.previewPath})`);
  lines.push(`  end it with: telepath leave ${i.name}`);
  return lines.join('\n') + '\n';
}

/** Runs `command`, passing signals on; resolves with its exit code (128 + signal when killed). */
function runWith(command: string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit', env });
    const forward = (sig: NodeJS.Signals): void => void child.kill(sig);
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    for (const s of signals) process.on(s, forward);
    const done = (code: number): void => {
      for (const s of signals) process.off(s, forward);
      resolve(code);
    };
    child.once('error', (e) => {
      io.err(`telepath: cannot run ${command[0]}: ${e.message}\n`);
      done(EXIT.user);
    });
    child.once('exit', (code, signal) => done(code ?? 128 + (signal ? (osSignals[signal] ?? 0) : 0)));
  });
}

async function leave(args: string[], io: Io, paths: DaemonPaths): Promise<number> {
  const { values, positionals } = parse(args, [], 1);
  const json = wantsJson(values);
  const name = positionals[0];
  if (!name) throw new UsageError('leave needs the name of an intercept (telepath list shows them)');
  const client = await DaemonClient.connect(paths.socket).catch(() => undefined);
  if (!client) {
    io.err('telepath: the daemon is not running, so there are no intercepts\n');
    return EXIT.noDaemon;
  }
  try {
    await client.initialize('telepath-cli');
    await client.request(daemonRequests.leave, { name });
    if (json) io.out(JSON.stringify({ left: name }) + '\n');
    else io.out(`Left intercept ${name}\n`);
    return EXIT.ok;
  } finally {
    client.dispose();
  }
}

async function list(args: string[], io: Io, paths: DaemonPaths): Promise<number> {
  const { values } = parse(args, ['namespace']);
  const json = wantsJson(values);
  const client = await DaemonClient.connect(paths.socket).catch(() => undefined);
  if (!client) {
    io.err('telepath: not connected; run "telepath connect" first\n');
    return EXIT.noDaemon;
  }
  try {
    await client.initialize('telepath-cli');
    const result = await client.request(daemonRequests.list, values.namespace ? { namespace: values.namespace } : {});
    if (json) {
      io.out(JSON.stringify(result) + '\n');
      return EXIT.ok;
    }
    io.out(`Namespace ${result.namespace}\n`);
    for (const w of result.workloads) {
      io.out(`${w.kind.toLowerCase()}/${w.name}  agent: ${w.agent}${w.problem ? `  (${w.problem})` : ''}\n`);
      for (const p of w.ports) {
        const port = `${p.service}:${p.portName ? `${p.portName}/` : ''}${p.port}`;
        const state = p.intercepts.length
          ? p.intercepts.map((i) => `${i.mode} intercept ${i.name} by ${i.holder} (${i.match})`).join('; ')
          : p.protocol === 'TCP' ? 'not intercepted' : `${p.protocol}: not interceptable`;
        io.out(`  ${port} -> ${p.container}:${p.containerPort}  ${state}\n`);
      }
    }
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
  if (st.managerVersion) lines.push(`Manager:     ${st.managerVersion}${st.managerApiLevels ? ` (API levels ${st.managerApiLevels})` : ''}`);
  if (st.manager) lines.push(`On connect:  ${st.manager.message}`);
  if (st.routedSubnets.length) lines.push(`Routed:      ${st.routedSubnets.join(', ')}`);
  for (const u of st.unroutedSubnets ?? []) lines.push(`Not routed:  ${u.subnet} (${u.reason}${u.message ? `: ${u.message}` : ''})`);
  if (st.networkRole?.process === 'separate') lines.push(`Network role: separate root process${st.networkRole.pid ? ` (pid ${st.networkRole.pid})` : ''}`);
  if (st.dns) lines.push(`DNS:         ${st.dns.state}${st.dns.method ? ` (${st.dns.method})` : ''}${st.dns.message ? `: ${st.dns.message}` : ''}`);
  for (const i of st.intercepts ?? []) {
    lines.push(`Intercept:   ${i.name} ${i.workload} ${i.servicePort} -> :${i.localPort} (${i.mode}${i.state === 'waiting' ? ', waiting for the manager' : ''})`);
    if (i.problem) lines.push(`             no traffic: ${i.problem}`);
  }
  for (const e of st.endedIntercepts ?? []) {
    lines.push(`Ended:       ${e.name}${e.workload ? ` ${e.workload}` : ''} by the traffic-manager at ${e.at}: ${e.reason}`);
  }
  if (st.error) lines.push(`Error:       ${st.error.message}`);
  io.out(lines.join('\n') + '\n');
}

/** Connects to the running daemon, or starts one in the background and waits for its socket. */
async function ensureDaemon(paths: DaemonPaths, io: Io): Promise<DaemonClient> {
  const running = await DaemonClient.connect(paths.socket).catch(() => undefined);
  if (running) return running;
  const child = spawnProgram('daemon', 'daemon-foreground', [], paths.logFile);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const c = await DaemonClient.connect(paths.socket).catch(() => undefined);
    if (c) return c;
    if (child.exited !== null) break;
    await delay(100);
  }
  io.err(`telepath: the daemon did not start${child.exited !== null ? ` (exit ${child.exited})` : ''}; see ${paths.logFile}\n`);
  throw new Error('daemon not started');
}

/**
 * Starts the daemon or the network role (network/programs.ts), detached, its output appended to
 * `logFile`.
 */
function spawnProgram(name: ProgramName, mode: string, args: string[], logFile: string): { exited: number | null } {
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const log = fs.openSync(logFile, 'a', 0o600);
  // --initial-old-space-size: see common/src/install/managerManifests.ts (the same GC trap under bulk transfers).
  const v8 = process.execArgv.some((a) => a.startsWith('--initial-old-space-size')) ? [] : ['--initial-old-space-size=64'];
  const [node, ...program] = programCommand(name, [...v8, ...process.execArgv]);
  const child = spawn(node!, [...program, mode, ...args], {
    detached: true,
    stdio: ['ignore', log, log],
    env: process.env,
  });
  child.unref();
  fs.closeSync(log);
  const state = { exited: null as number | null };
  child.once('exit', (code) => (state.exited = code ?? -1));
  return state;
}

/** `sudo telepath network-role`: starts the root process that runs routes and DNS for a user's daemon. */
async function networkRole(args: string[], io: Io): Promise<number> {
  const { values } = parse(args, ['user', 'allow-wide-subnets']);
  const json = wantsJson(values);
  if (process.getuid?.() !== 0) {
    io.err(`telepath: the network role changes routes and DNS and runs as root: ${START_NETWORK_ROLE}\n`);
    return EXIT.user;
  }
  const owner = values.user !== undefined ? uidOf(values.user) : Number(process.env.SUDO_UID ?? 0);
  const paths = networkRolePaths();
  const report = (pid: string, already: boolean) => {
    if (json) io.out(JSON.stringify({ networkRole: 'running', pid: Number(pid) || null, ownerUid: owner, started: !already }) + '\n');
    else {
      io.out(`Telepath network role ${already ? 'already running' : 'started'} (pid ${pid || '?'}); log: ${paths.logFile}\n`);
      if (!already) io.out(`It serves the daemon of uid ${owner} and ends when that daemon quits.\n`);
      if (!already && values['allow-wide-subnets']) io.out('It also routes cluster subnets wider than /8 (IPv4) or /32 (IPv6).\n');
      if (already && values['allow-wide-subnets']) io.out(`It keeps the options it was started with; to change them, stop it (sudo kill ${pid || 'its pid'}) and start it again.\n`);
    }
  };
  const pidFile = path.join(path.dirname(paths.socket), 'network.pid');
  const readPid = () => {
    try {
      return fs.readFileSync(pidFile, 'utf8').trim();
    } catch {
      return '';
    }
  };
  if (await answers(paths.socket)) {
    report(readPid(), true);
    return EXIT.ok;
  }
  const roleArgs = ['--owner', String(owner), ...(values['allow-wide-subnets'] ? ['--allow-wide-subnets'] : [])];
  const child = spawnProgram('network', 'network-role-foreground', roleArgs, paths.logFile);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (await answers(paths.socket)) {
      report(readPid(), false);
      return EXIT.ok;
    }
    if (child.exited !== null) break;
    await delay(100);
  }
  io.err(`telepath: the network role did not start${child.exited !== null ? ` (exit ${child.exited})` : ''}; see ${paths.logFile}\n`);
  return EXIT.internal;
}

/** A user name or uid as a uid. */
function uidOf(user: string): number {
  if (/^\d+$/.test(user)) return Number(user);
  const r = spawnSync('id', ['-u', '--', user], { encoding: 'utf8' });
  if (r.status !== 0) throw new UsageError(`no such user "${user}"`);
  return Number(r.stdout.trim());
}

const osSignals = osConstants.signals as Record<string, number>;

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A deadline to race against: unlike delay(), it does not keep the CLI alive once the race is won. */
function deadline(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
