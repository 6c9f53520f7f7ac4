/**
 * The local cluster, as tests see it: bring it up, run commands in the workstation namespace or
 * inside the node, and exec into pods. Thin wrappers over test/cluster/{up,down,ws}; the shell
 * scripts stay the one place that knows how the cluster is built.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseMountinfo, type MountinfoEntry } from '../../daemon/src/network/readAhead.js';

export const repoRoot = path.resolve(import.meta.dirname, '../..');
export const clusterDir = path.join(repoRoot, 'test/cluster');
export const stateDir = path.join(repoRoot, '.cluster');
export const runDir = '/run/telepath-cluster';
export const kubeconfig = path.join(stateDir, 'kubeconfig');
export const nodeNetns = 'tp-node';
export const wsNetns = 'tp-ws';
export const apiServer = 'https://10.250.0.1:6443';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** Runs a program to completion and returns what it printed; never throws for a non-zero exit. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): RunResult {
  const r = spawnSync(cmd, args, {
    input: opts.input,
    timeout: opts.timeoutMs ?? 120_000,
    encoding: 'utf8',
    env: opts.env ?? process.env,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error && (r.error as NodeJS.ErrnoException).code !== 'ETIMEDOUT') throw r.error;
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Like run, but throws with the output when the exit code is not 0. */
export function runOk(cmd: string, args: string[], opts: RunOptions = {}): string {
  const r = run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}\n${r.stderr}${r.stdout}`);
  }
  return r.stdout;
}

/**
 * Brings the cluster up when it is not, or is up with other profiles (test/cluster/up); returns
 * the admin kubeconfig path. Tests that need the default cluster call it without profiles.
 */
export function ensureCluster(...profiles: string[]): string {
  const r = spawnSync('bash', [path.join(clusterDir, 'up'), ...(profiles.length ? ['--profile', profiles.join(',')] : [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    timeout: 60 * 60_000,
  });
  if (r.status !== 0) throw new Error(`test/cluster/up failed (exit ${r.status}); see .cluster/logs/`);
  return r.stdout.split('\n')[0]!;
}

export function clusterDown(): void {
  runOk('bash', [path.join(clusterDir, 'down')], { timeoutMs: 5 * 60_000 });
}

/** Runs a command in the workstation namespace (KUBECONFIG set, kubectl on PATH). */
export function ws(args: string[], opts: RunOptions = {}): RunResult {
  return run(path.join(clusterDir, 'ws'), args, opts);
}

/**
 * Runs a command on the second workstation (test/cluster/ws2): its own network and mount
 * namespace, resolver, /run/telepath and state; KUBECONFIG is the second admin's unless
 * KUBECONFIG_WS2 is set in opts.env.
 */
export function ws2(args: string[], opts: RunOptions = {}): RunResult {
  return run(path.join(clusterDir, 'ws2'), args, opts);
}

/** Starts a long-running command in the workstation namespace. */
export function wsSpawn(args: string[]): ChildProcess {
  return spawn(path.join(clusterDir, 'ws'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Starts a long-running command on the second workstation. */
export function ws2Spawn(args: string[]): ChildProcess {
  return spawn(path.join(clusterDir, 'ws2'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * The workstation of a test against a profile: `tp` runs the CLI with run and state directories of
 * the test's own (`name`), `startLaptop` serves the samples' http-echo there as pod "laptop" on
 * `localPort` (what a personal intercept routes to), and `cleanUp` removes `workload`'s agent
 * (namespace samples), quits and stops the server.
 */
export function profileWorkstation(name: string, localPort: number, workload = 'echo') {
  const telepath = path.join(repoRoot, 'dist/telepath.js');
  const env = { ...process.env, TELEPATH_RUN_DIR: `/run/telepath-e2e-${name}`, TELEPATH_STATE_DIR: path.join(stateDir, `telepath-e2e-${name}`) };
  const tp = (args: string[]): RunResult => ws(['node', '--', telepath, ...args], { env, timeoutMs: 240_000 });
  let laptop: ChildProcess | undefined;
  return {
    tp,
    startLaptop(): void {
      laptop = wsSpawn(['env', 'POD_NAME=laptop', 'node', path.join(stateDir, 'build/samples.js'), 'http-echo', '--port', String(localPort)]);
      laptop.stderr?.on('data', () => undefined);
    },
    cleanUp(): void {
      tp(['uninstall', '--agent', workload, '--namespace', 'samples']);
      tp(['quit']);
      laptop?.kill('SIGTERM');
    },
  };
}

/** kubectl as the cluster admin, from the workstation namespace; throws on failure. */
export function kubectl(...args: string[]): string {
  const r = ws(['kubectl', ...args]);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

export function kubectlJson<T>(...args: string[]): T {
  return JSON.parse(kubectl(...args, '-o', 'json')) as T;
}

/**
 * The specs and annotations of `resources` in `namespace` (kubectl get names, e.g.
 * "deployments,services" or "deployment/echo"), keyed "Kind/name", without what the cluster itself
 * writes (the Deployment revision, kubectl's last-applied record): what a user compares to check
 * that something was restored exactly.
 */
export function specsOf(namespace: string, ...resources: string[]): Record<string, unknown> {
  const list = kubectlJson<{ items: { kind: string; metadata: { name: string; annotations?: Record<string, string> }; spec: unknown }[] }>(
    '-n',
    namespace,
    'get',
    ...resources,
  );
  const out: Record<string, unknown> = {};
  for (const i of list.items) {
    const ann = { ...(i.metadata.annotations ?? {}) };
    delete ann['deployment.kubernetes.io/revision'];
    delete ann['kubectl.kubernetes.io/last-applied-configuration'];
    out[`${i.kind}/${i.metadata.name}`] = { spec: i.spec, annotations: ann };
  }
  return out;
}

/** Runs the samples program in the in-cluster client pod (namespace samples). */
export function fromClientPod(args: string[], opts: RunOptions = {}): RunResult {
  return ws(['kubectl', 'exec', '-n', 'samples', 'client', '--', 'node', '/app/samples.js', ...args], opts);
}

/** Runs a command in the node's network namespace (not inside a pod). */
export function inNode(args: string[], opts: RunOptions = {}): RunResult {
  return run('nsenter', [`--net=/run/netns/${nodeNetns}`, '--', ...args], opts);
}

export interface KubectlPortForward {
  /** The local port in the workstation namespace. */
  port: number;
  stop(): void;
}

/**
 * Starts `kubectl port-forward -n NS TARGET :PORT` in the workstation namespace (as the admin, or
 * as the user of `kubeconfig`) and resolves with its local port once kubectl says it is forwarding.
 */
export function kubectlPortForward(namespace: string, target: string, remotePort: number, timeoutMs = 30_000, kubeconfig?: string): Promise<KubectlPortForward> {
  const child = wsSpawn(['kubectl', ...(kubeconfig ? ['--kubeconfig', kubeconfig] : []), 'port-forward', '-n', namespace, target, `:${remotePort}`]);
  const stop = () => void child.kill('SIGTERM');
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`kubectl port-forward did not start: ${out}`));
    }, timeoutMs);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ port: Number(m[1]), stop });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`kubectl port-forward exited ${code}: ${out}`));
    });
  });
}

export { until } from './until.js';

/** The pids of the processes `match` accepts; one that ends while it is looked at is left out. */
export function pidsWhere(match: (pid: number) => boolean): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (match(Number(name))) out.push(Number(name));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return out;
}

/** Is process `pid` alive (signal 0 reaches it)? */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The mount at `mountPoint` as the workstation's (mount) namespace sees it, if any. */
export function workstationMount(mountPoint: string): MountinfoEntry | undefined {
  return parseMountinfo(ws(['cat', '/proc/self/mountinfo']).stdout).find((m) => m.mountPoint === mountPoint);
}

/** The read_ahead_kb of the mount at `mountPoint` in the workstation ("128", "1024"), or why there is none. */
export function workstationReadAheadKb(mountPoint: string): string {
  const m = workstationMount(mountPoint);
  return m ? ws(['cat', `/sys/class/bdi/${m.device}/read_ahead_kb`]).stdout.trim() : `${mountPoint} is not mounted`;
}

/** Builds the named webpack bundles into dist/ (e.g. 'telepath', 'traffic-manager'). */
export function buildBundles(...names: string[]): void {
  const args = ['--mode', 'production', '--config', path.join(repoRoot, 'webpack.config.js')];
  // "telepath" stands for the workstation's three programs: the CLI, the daemon and the network role.
  const expanded = names.flatMap((n) => (n === 'telepath' ? ['telepath', 'telepathd', 'telepath-network'] : [n]));
  for (const n of expanded) args.push('--config-name', n);
  runOk(path.join(repoRoot, 'node_modules/.bin/webpack'), args, { timeoutMs: 300_000 });
}

/**
 * A kubeconfig for a cluster user who is not an admin: a client certificate for `name` (in group
 * `group`, if given) signed by the local cluster's CA, the way a company's CA hands developers
 * theirs — made by pki.sh's own `cert` and `kubeconfig`, as up makes the admin's. Made once per
 * user (.cluster/pki/user-NAME.*, .cluster/users/NAME.kubeconfig, 0600); RBAC decides what the
 * user may do. Returns the kubeconfig's path.
 */
export function userKubeconfig(name: string, group = ''): string {
  if (!/^[a-z][a-z0-9-]{0,30}$/.test(name) || !/^[a-z0-9-]*$/.test(group)) throw new Error(`bad user ${name} or group ${group}`);
  const file = path.join(stateDir, 'users', `${name}.kubeconfig`);
  if (existsSync(file)) return file;
  const script = `. "${clusterDir}/lib.sh"; . "${clusterDir}/pki.sh"; mkdir -p -m 700 "$STATE/users"; cert "user-$1" "$1" "$2"; kubeconfig "$3" "user-$1" "$1"`;
  runOk('bash', ['-c', script, 'userKubeconfig', name, group, file]);
  return file;
}
