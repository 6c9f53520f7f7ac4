/**
 * A real VS Code for the editor tests: code-server (installed by scripts/installCodeServer.sh),
 * started with a throw-away user-data and extensions directory, no authentication, on a free port
 * of 127.0.0.1, with the extension's .vsix installed. The extension host starts only when a browser
 * opens the workbench (browser.ts).
 *
 * With `inWorkstation`, code-server runs in the cluster's workstation namespace (tp-ws, through
 * test/cluster/ws): its extension host, and the daemon the extension starts, then reach the API
 * server like a developer's editor would. 127.0.0.1 there is not the test process's 127.0.0.1, so
 * the browser must run there too (`launchBrowser({ inWorkstation: true })`).
 *
 * With `user`, code-server — and so the extension host, its terminals and the daemon — runs as that
 * user, as VS Code does on a developer's machine, instead of root (see startCodeServer).
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clusterDir, pidsWhere, repoRoot, ws, wsNetns } from '../cluster/harness.js';

export const e2eDir = import.meta.dirname;
/** Screenshots and logs of the last runs (git-ignored). */
export const artifactsDir = path.join(e2eDir, 'artifacts');

/** VS Code user settings every run starts with: nothing that opens a page, calls home or asks. */
export const defaultSettings: Record<string, unknown> = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'security.workspace.trust.enabled': false,
  'git.autoRepositoryDetection': false,
};

export interface CodeServerOptions {
  /** Run code-server, and so the extension host and the daemon, in the workstation namespace. */
  inWorkstation?: boolean;
  /** The folder the workbench opens (see workbenchUrl). */
  workspace: string;
  /** Added to code-server's environment, which the extension host inherits. */
  env?: NodeJS.ProcessEnv;
  /** .vsix files to install first; default: none. */
  extensions?: string[];
  /** User settings, over defaultSettings. */
  settings?: Record<string, unknown>;
  /** Base name of the log files kept in artifacts/ (default "code-server"). */
  name?: string;
  /** How long to wait for it to answer /healthz. */
  timeoutMs?: number;
  /** Run code-server as this user (setpriv) instead of root; `env` is applied after the switch. */
  user?: { uid: number; gid: number };
}

export interface CodeServer {
  /** http://127.0.0.1:PORT/ — reachable from the namespace code-server runs in only. */
  readonly url: string;
  readonly port: number;
  /** Its pid, which is also its process group. */
  readonly pid: number;
  /** The temporary directory holding its config, user data and extensions; gone after stop(). */
  readonly tempDir: string;
  readonly userDataDir: string;
  readonly inWorkstation: boolean;
  /** code-server's own output (artifacts/NAME.log). */
  readonly logFile: string;
  /** The workbench with a folder open (default: the workspace it was started for). */
  workbenchUrl(folder?: string): string;
  /** Pids still in its process group (server, extension hosts, watchers, terminals). */
  processes(): number[];
  /** Stops the whole process group (TERM, then KILL after 5 s), then whatever escaped it but runs
   * from its directories (a daemon the extension started detached: TERM, KILL after 10 s); keeps
   * VS Code's logs in artifacts/NAME-logs; removes the temporary directory. Idempotent. */
  stop(): Promise<void>;
}

/** The code-server binary; installs it first when missing (seconds when present). */
export function codeServerBin(): string {
  const r = spawnSync('bash', [path.join(repoRoot, 'scripts/installCodeServer.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 15 * 60_000,
  });
  const bin = r.stdout?.trim().split('\n').pop();
  if (r.status !== 0 || !bin || !existsSync(bin)) throw new Error(`scripts/installCodeServer.sh failed (exit ${r.status})`);
  return bin;
}

/** Packs dist/ into the .vsix with scripts/package.sh (it does not build); returns its path. */
export function packageVsix(): string {
  const r = spawnSync('bash', [path.join(repoRoot, 'scripts/package.sh')], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`scripts/package.sh failed (exit ${r.status}):\n${r.stderr}`);
  return r.stdout.trim().split('\n').pop()!;
}

/** The workstation's address on its link to the node (WS_IP in test/cluster/lib.sh). */
const workstationIp = '10.250.0.2';

/** Whether this process already runs in the workstation namespace (e.g. started by test/cluster/ws). */
export function inWorkstationNamespace(): boolean {
  const handle = `/run/netns/${wsNetns}`;
  if (!existsSync(handle)) return false;
  const mine = statSync('/proc/self/ns/net');
  const theirs = statSync(handle);
  // A bound namespace handle lives on nsfs, like /proc/self/ns/net: then compare the two.
  if (theirs.dev === mine.dev) return theirs.ino === mine.ino;
  // Unbound: test/cluster/ws also enters the workstation's mount namespace, which was made before
  // the handle was bound. Tell by the workstation's address instead.
  return Object.values(os.networkInterfaces()).some((addrs) => addrs?.some((a) => a.address === workstationIp));
}

/** The command line that runs `argv` in the workstation namespace, or as is when already there. */
export function inWorkstationCommand(argv: string[]): string[] {
  return inWorkstationNamespace() ? argv : [path.join(clusterDir, 'ws'), ...argv];
}

/** Pids whose process group is `pgid`. */
export function processGroup(pgid: number): number[] {
  return pidsWhere((pid) => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain anything.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[2]) === pgid;
  });
}

/** Pids whose command line contains `needle` (e.g. a temporary directory). */
export function processesMentioning(needle: string): number[] {
  return pidsWhere((pid) => pid !== process.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle));
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function untilTrue(what: () => boolean | Promise<boolean>, timeoutMs: number, stepMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await what()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(stepMs);
  }
}

/**
 * Stops every process that runs from `dir` (its command line names a path under it), such as a
 * daemon an extension started detached: TERM, which lets it undo what it changed, then KILL after
 * 10 s. Resolves when none is left, or 5 s after KILL.
 */
export async function stopProcessesIn(dir: string): Promise<void> {
  const needle = `${dir}/`;
  const signal = (sig: NodeJS.Signals): void => {
    for (const p of processesMentioning(needle)) {
      try {
        process.kill(p, sig);
      } catch {
        // gone meanwhile
      }
    }
  };
  signal('SIGTERM');
  if (!(await untilTrue(() => processesMentioning(needle).length === 0, 10_000))) {
    signal('SIGKILL');
    await untilTrue(() => processesMentioning(needle).length === 0, 5_000);
  }
}

/**
 * Turns code-server's command line into one that runs it as `user`, and makes its temporary
 * directory `dir` (config, user data, extensions) that user's, with HOME in it. The installation
 * lives under root's home (0700) by default, so it is bound onto DIR/code-server in a mount
 * namespace of its own: the user reads it there, nothing changes outside, and the mount goes away
 * with the last process in that namespace (the daemon the extension starts is one of them).
 * `env` comes after the switch, so it wins over what test/cluster/ws sets (KUBECONFIG), and over
 * the SHELL given here.
 */
function asUser(user: { uid: number; gid: number }, dir: string, argv: string[], env: NodeJS.ProcessEnv = {}): string[] {
  const bin = argv[0]!;
  // BIN is INSTALL/node_modules/.bin/code-server (scripts/installCodeServer.sh).
  const install = path.resolve(path.dirname(bin), '../..');
  const mounted = path.join(dir, 'code-server');
  const home = path.join(dir, 'home');
  mkdirSync(mounted);
  mkdirSync(home);
  const r = spawnSync('chown', ['-R', `${user.uid}:${user.gid}`, dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`chown -R ${user.uid}:${user.gid} ${dir} failed: ${r.stderr}`);
  // A desktop user has a login shell; nobody's is /usr/sbin/nologin. VS Code's terminals and its
  // shell-environment probe use $SHELL, then the passwd entry: an interactive root shell passes
  // its SHELL down, but CI starts the tests without one, and the terminal then failed to launch.
  const vars = Object.entries({ HOME: home, SHELL: '/bin/bash', ...env }).map(([k, v]) => `${k}=${v ?? ''}`);
  return [
    'unshare', '--mount', '--propagation', 'private', '--',
    'sh', '-c', 'mount --bind "$1" "$2" && shift 2 && exec "$@"', 'sh', install, mounted,
    'setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--',
    // Root's runtime directory is not the user's.
    'env', '-u', 'XDG_RUNTIME_DIR', ...vars,
    path.join(mounted, path.relative(install, bin)), ...argv.slice(1),
  ];
}

export async function startCodeServer(opts: CodeServerOptions): Promise<CodeServer> {
  const bin = codeServerBin();
  const name = opts.name ?? 'code-server';
  const inWs = opts.inWorkstation ?? false;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  mkdirSync(artifactsDir, { recursive: true });

  const dir = mkdtempSync(path.join(os.tmpdir(), 'telepath-e2e-'));
  const userDataDir = path.join(dir, 'user-data');
  const extensionsDir = path.join(dir, 'extensions');
  const config = path.join(dir, 'config.yaml');
  mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
  mkdirSync(extensionsDir);
  // Always --config: without it code-server writes a password config into ~/.config/code-server.
  // Port 0: the kernel picks a free one in whichever namespace it runs; the log line says which.
  writeFileSync(config, 'bind-addr: 127.0.0.1:0\nauth: none\ncert: false\n');
  writeFileSync(
    path.join(userDataDir, 'User', 'settings.json'),
    JSON.stringify({ ...defaultSettings, ...opts.settings }, null, 2),
  );
  const common = ['--config', config, '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir];
  // EXTENSIONS_GALLERY={} keeps the workbench from asking the Open VSX gallery for anything.
  const env = { ...process.env, EXTENSIONS_GALLERY: '{}', ...opts.env };

  for (const vsix of opts.extensions ?? []) {
    const r = spawnSync(bin, [...common, '--install-extension', vsix], { encoding: 'utf8', env, timeout: 120_000 });
    if (r.status !== 0) throw new Error(`installing ${vsix} failed (exit ${r.status}):\n${r.stderr}${r.stdout}`);
  }

  const argv = [
    bin,
    ...common,
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    '--ignore-last-opened',
  ];
  const launch = opts.user ? asUser(opts.user, dir, argv, opts.env) : argv;
  const cmd = inWs ? inWorkstationCommand(launch) : launch;
  const logFile = path.join(artifactsDir, `${name}.log`);
  const log = createWriteStream(logFile);
  // Its own process group (detached), so that stop() reaches every process it starts. Through
  // test/cluster/ws the pid stays the same: the script, nsenter and env all exec.
  const child = spawn(cmd[0]!, cmd.slice(1), { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid!;
  let output = '';
  let exited: number | null | undefined;
  const onData = (d: Buffer): void => {
    output += d.toString();
    log.write(d);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  child.once('exit', (code, signal) => {
    exited = code ?? (signal ? -1 : null);
  });

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const signalGroup = (sig: NodeJS.Signals): void => {
      try {
        process.kill(-pid, sig);
      } catch {
        // no such group any more
      }
    };
    signalGroup('SIGTERM');
    if (!(await untilTrue(() => processGroup(pid).length === 0, 5_000))) {
      signalGroup('SIGKILL');
      await untilTrue(() => processGroup(pid).length === 0, 5_000);
    }
    // A process that left the group (setsid, e.g. spawn({ detached: true })) but runs code from
    // the extensions directory: the daemon.
    await stopProcessesIn(dir);
    log.end();
    const logs = path.join(userDataDir, 'logs');
    const kept = path.join(artifactsDir, `${name}-logs`);
    rmSync(kept, { recursive: true, force: true });
    if (existsSync(logs)) cpSync(logs, kept, { recursive: true });
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    // "HTTP server listening on http://127.0.0.1:PORT/" once it listens.
    let port = 0;
    const listening = await untilTrue(() => {
      if (exited !== undefined) throw new Error(`code-server exited (${exited}) before it listened:\n${output}`);
      const m = /server listening on https?:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (m) port = Number(m[1]);
      return port > 0;
    }, timeoutMs);
    if (!listening) throw new Error(`code-server did not listen within ${timeoutMs} ms:\n${output}`);
    const url = `http://127.0.0.1:${port}/`;
    const healthy = async (): Promise<boolean> => {
      if (!inWs || inWorkstationNamespace()) {
        try {
          return (await fetch(`${url}healthz`)).ok;
        } catch {
          return false;
        }
      }
      return ws(['curl', '-sf', '-o', '/dev/null', `${url}healthz`], { timeoutMs: 5_000 }).code === 0;
    };
    if (!(await untilTrue(healthy, timeoutMs, 200))) throw new Error(`${url}healthz did not answer within ${timeoutMs} ms`);
    return {
      url,
      port,
      pid,
      tempDir: dir,
      userDataDir,
      inWorkstation: inWs,
      logFile,
      workbenchUrl: (folder = opts.workspace) => `${url}?folder=${encodeURIComponent(folder)}`,
      processes: () => processGroup(pid),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
