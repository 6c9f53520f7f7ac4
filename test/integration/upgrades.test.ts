/**
 * Mixed versions on one cluster (issue #16, docs/upgrades.md), with real builds of other versions:
 *   - "older": Telepath 0.1.0 as it was released to this repository (commit OLD_COMMIT, before API
 *     levels), built from git;
 *   - "newer": this tree with PRODUCT_VERSION 0.3.0 (same API levels), built the same way;
 *   - "incompatible": this tree as 0.4.0 with API levels above this build's (it no longer serves
 *     this build's clients and agents), built the same way.
 * A newer client finds an older manager: it says so and upgrades it, or, for a user who may not
 * replace it, uses it. An intercept held by this client survives an upgrade of the manager by a
 * newer client on another workstation, and this client then uses the newer manager instead of
 * downgrading it. A client that drops this build's API level cannot use the manager as a user who may
 * not upgrade it (exit 4), and as one who may it upgrades it: this client is told to upgrade, requests still reach the workload meanwhile, and that client's intercept rolls
 * the workload with its own agent. The builds are cached in .cluster/upgrade-builds by commit.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { API_LEVEL, PRODUCT_VERSION } from '../../protocol/src/version.js';
import { ensureCluster, buildBundles, fromClientPod, kubectl, repoRoot, run as run0, runOk, stateDir, userKubeconfig, ws, ws2, ws2Spawn, wsSpawn, type RunResult } from '../cluster/harness.js';
import { until } from '../cluster/until.js';
import { CONNECT_ROLE, connectBindings } from './users.js';

/** The last commit of 0.1.0: before API levels, a client that re-installs its own manager. */
const OLD_COMMIT = 'd07ef99';
const NEWER_VERSION = '0.3.0';
/** Speaks only a level above this build's: refuses this build's clients and agents. */
const INCOMPATIBLE_VERSION = '0.4.0';
const INCOMPATIBLE_LEVEL = API_LEVEL + 1;
const builds = path.join(stateDir, 'upgrade-builds');
const env = { ...process.env, TELEPATH_RUN_DIR: '/run/telepath-e2e-upgrades', TELEPATH_STATE_DIR: path.join(stateDir, 'telepath-e2e-upgrades') };
const LOCAL_PORT = 18171;
const LOCAL_PORT_WS2 = 18172;

/**
 * A build of `commit` in its own worktree (node_modules and the TUN addon borrowed from this one),
 * `edit` applied to the sources first; returns its CLI. Built once per commit and edit.
 */
function buildAt(name: string, commit: string, edit?: (dir: string) => void): string {
  const dir = path.join(builds, name);
  const cli = path.join(dir, 'dist/telepath.js');
  const sha = runOk('git', ['-C', repoRoot, 'rev-parse', commit]).trim();
  const stamp = path.join(dir, '.built-from');
  if (existsSync(cli) && existsSync(stamp) && readFileSync(stamp, 'utf8') === sha) return cli;
  if (existsSync(dir)) runOk('git', ['-C', repoRoot, 'worktree', 'remove', '--force', dir]);
  runOk('git', ['-C', repoRoot, 'worktree', 'prune']);
  mkdirSync(builds, { recursive: true });
  runOk('git', ['-C', repoRoot, 'worktree', 'add', '--detach', dir, sha]);
  symlinkSync(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'));
  edit?.(dir);
  // webpack resolves the entries against its working directory: the build's own tree.
  runOk('bash', ['-c', 'cd "$1" && exec "$2" --mode production', 'build', dir, path.join(repoRoot, 'node_modules/.bin/webpack')], { timeoutMs: 600_000 });
  // The TUN addon where that tree's daemon looks for it (daemon/native/build.sh's output, which
  // test/cluster/prepare builds here; a packaged checkout has dist/native/tun.node instead).
  const addon = [path.join(repoRoot, 'daemon/native/build/Release/tun.node'), path.join(repoRoot, 'dist/native/tun.node')].find((f) => existsSync(f));
  assert.ok(addon, "the TUN addon is built (daemon/native/build.sh)");
  mkdirSync(path.join(dir, 'daemon/native/build/Release'), { recursive: true });
  cpSync(addon, path.join(dir, 'daemon/native/build/Release/tun.node'));
  writeFileSync(stamp, sha);
  return cli;
}

let oldCli = '';
let newerCli = '';
let incompatibleCli = '';

/** Sets constants of protocol/src/version.ts in the build tree `dir` (name → TypeScript literal). */
function editVersion(dir: string, values: Record<string, string>): void {
  const file = path.join(dir, 'protocol/src/version.ts');
  let text = readFileSync(file, 'utf8');
  for (const [name, value] of Object.entries(values)) {
    const edited = text.replace(new RegExp(`export const ${name} = [^;]*;`), `export const ${name} = ${value};`);
    assert.notEqual(edited, text, `${name} is where the test expects it`);
    text = edited;
  }
  writeFileSync(file, text);
}
const thisCli = path.join(repoRoot, 'dist/telepath.js');
const run = (cli: string, args: string[], extra: NodeJS.ProcessEnv = {}): RunResult => ws(['node', '--', cli, ...args], { env: { ...env, ...extra }, timeoutMs: 300_000 });

function managerVersion(): string {
  return kubectl('-n', 'telepath', 'get', 'deployment', 'traffic-manager', '-o', 'jsonpath={.metadata.labels.app\\.kubernetes\\.io/version}').trim();
}

/** Who answers a GET to echo.samples with `header` from the client pod: the echo's `pod`, or why none did. */
function answeredBy(header: string, timeoutMs = 5000): string {
  const r = fromClientPod(['http-get', 'http://echo.samples:8080/', '--header', header, '--timeout', String(timeoutMs)]);
  return r.code === 0 ? (JSON.parse(r.stdout.trim().split('\n')[0]!) as { pod: string }).pod : `failed: ${r.stdout} ${r.stderr}`;
}

let laptop: ChildProcess | undefined;
let laptop2: ChildProcess | undefined;

/** The older build comes from git history: a checkout without it (an exported tree) cannot run these. */
const noHistory =
  run0('git', ['-C', repoRoot, 'rev-parse', '--verify', '--quiet', `${OLD_COMMIT}^{commit}`]).code !== 0 &&
  `needs this repository's git history (commit ${OLD_COMMIT}, Telepath 0.1.0) to build the older version`;


before(() => {
  if (noHistory) return;
  ensureCluster();
  buildBundles('telepath', 'traffic-manager', 'traffic-agent');
  oldCli = buildAt('old', OLD_COMMIT);
  newerCli = buildAt(`newer-${NEWER_VERSION}`, 'HEAD', (dir) => editVersion(dir, { PRODUCT_VERSION: `'${NEWER_VERSION}'` }));
  incompatibleCli = buildAt(`incompatible-${INCOMPATIBLE_VERSION}`, 'HEAD', (dir) =>
    editVersion(dir, { PRODUCT_VERSION: `'${INCOMPATIBLE_VERSION}'`, API_LEVEL: String(INCOMPATIBLE_LEVEL), MIN_API_LEVEL: String(INCOMPATIBLE_LEVEL) }),
  );
  // The newer build must not reuse a worktree of another HEAD's edit: its stamp is HEAD's commit.
  laptop = wsSpawn(['env', 'POD_NAME=laptop', 'node', path.join(repoRoot, '.cluster/build/samples.js'), 'http-echo', '--port', String(LOCAL_PORT)]);
  laptop.stderr?.on('data', () => undefined);
});

after(() => {
  if (noHistory) return;
  // The incompatible build's agent and manager go first: this build cannot connect to that manager.
  if (incompatibleCli) {
    ws2(['node', '--', incompatibleCli, 'uninstall', '--agent', 'echo', '--namespace', 'samples'], { timeoutMs: 300_000 });
    ws2(['node', '--', incompatibleCli, 'quit']);
  }
  run(thisCli, ['quit']);
  ws(['kubectl', '-n', 'telepath', 'delete', 'deployment', 'traffic-manager', '--ignore-not-found', '--wait=true']);
  run(thisCli, ['leave', 'echo']);
  run(thisCli, ['uninstall', '--agent', 'echo', '--namespace', 'samples']);
  run(thisCli, ['quit']);
  ws2(['node', '--', newerCli, 'quit']);
  ws(['kubectl', 'delete', '--ignore-not-found', 'clusterrolebinding/telepath-connect-upgrader', '-n', 'telepath', 'rolebinding/telepath-connect-upgrader']);
  // Later tests expect this build's manager: the next connect installs it.
  ws(['kubectl', '-n', 'telepath', 'delete', 'deployment', 'traffic-manager', '--ignore-not-found', '--wait=true']);
  laptop?.kill('SIGTERM');
  laptop2?.kill('SIGTERM');
  rmSync(path.join(stateDir, 'telepath-e2e-upgrades'), { recursive: true, force: true });
});

describe('mixed versions', { skip: noHistory }, () => {
  test(`this client (${PRODUCT_VERSION}) finds an older manager (0.1.0): it says so and upgrades it`, () => {
    const o = run(oldCli, ['connect', '--namespace', 'samples']);
    assert.equal(o.code, 0, o.stderr);
    assert.equal(managerVersion(), '0.1.0');
    run(oldCli, ['quit']);
    const c = run(thisCli, ['connect', '--namespace', 'samples']);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stderr, new RegExp(`traffic-manager 0\\.1\\.0 found \\(this client ${PRODUCT_VERSION.replace(/\./g, '\\.')}\\): upgrading it`));
    assert.equal(managerVersion(), PRODUCT_VERSION);
    const v = run(thisCli, ['version']);
    assert.match(v.stdout, /On connect:\s+traffic-manager 0\.1\.0 found/);
    run(thisCli, ['quit']);
  });

  test('a user who may not replace the older manager uses it, and is told so', () => {
    const o = run(oldCli, ['connect', '--namespace', 'samples']);
    assert.equal(o.code, 0, o.stderr);
    assert.equal(managerVersion(), '0.1.0', 'the old client downgrades the manager, as 0.1.0 did');
    run(oldCli, ['quit']);
    const grant = ws(['kubectl', 'apply', '-f', '-'], { input: CONNECT_ROLE + '\n---\n' + connectBindings('upgrader') });
    assert.equal(grant.code, 0, grant.stderr);
    const c = run(thisCli, ['connect', '--namespace', 'samples'], { KUBECONFIG_WS: userKubeconfig('upgrader') });
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stderr, /traffic-manager 0\.1\.0 found \(this client [^)]*\); your credentials may not upgrade it; using it/);
    assert.equal(managerVersion(), '0.1.0');
    const curl = ws(['curl', '-sS', '--max-time', '10', 'http://echo.samples:8080/']);
    assert.equal(curl.code, 0, `connected to the older manager: ${curl.stderr}`);
    run(thisCli, ['quit'], { KUBECONFIG_WS: userKubeconfig('upgrader') });
  });

  test(`a newer client (${NEWER_VERSION}) upgrades the manager on another workstation: this client's intercept survives, and it then uses the newer manager`, async () => {
    const c = run(thisCli, ['connect', '--namespace', 'samples']);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(managerVersion(), PRODUCT_VERSION);
    const i = run(thisCli, ['intercept', 'echo', '--port', String(LOCAL_PORT), '--http-header', 'x-upgrade=me', '--mount=false']);
    assert.equal(i.code, 0, i.stderr);
    assert.equal(answeredBy('x-upgrade=me', 3000), 'laptop');
    const n = ws2(['node', '--', newerCli, 'connect', '--namespace', 'samples'], { timeoutMs: 300_000 });
    assert.equal(n.code, 0, n.stderr);
    assert.match(n.stderr, new RegExp(`found \\(this client ${NEWER_VERSION.replace(/\./g, '\\.')}\\): upgrading it`));
    assert.equal(managerVersion(), NEWER_VERSION);
    const upgradedAt = Date.now();
    await until('the intercept to route to this workstation again', 90_000, () => answeredBy('x-upgrade=me', 3000) === 'laptop');
    process.stdout.write(`# the intercept routed to the workstation again ${Date.now() - upgradedAt} ms after the newer manager was available\n`);
    const s = run(thisCli, ['status', '--output', 'json']);
    assert.match(s.stdout, /"echo"/);
    run(thisCli, ['leave', 'echo']);
    run(thisCli, ['quit']);
    const again = run(thisCli, ['connect', '--namespace', 'samples']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, new RegExp(`traffic-manager ${NEWER_VERSION.replace(/\./g, '\\.')} found \\(this client [^)]*\\): newer than this client; using it`));
    assert.equal(managerVersion(), NEWER_VERSION, 'never downgraded');
  });

  test(`a client (${INCOMPATIBLE_VERSION}) that no longer speaks this build's API level stops at a manager its user may not upgrade; upgrades it as one who may: this client is told to upgrade, requests reach the workload meanwhile, and that client's intercept rolls the workload with its agent`, async () => {
    // This client holds an intercept through the (compatible) 0.3.0 manager, with this build's agent.
    const i = run(thisCli, ['intercept', 'echo', '--port', String(LOCAL_PORT), '--http-header', 'x-upgrade=me', '--mount=false']);
    assert.equal(i.code, 0, i.stderr);
    assert.equal(answeredBy('x-upgrade=me'), 'laptop');
    ws2(['node', '--', newerCli, 'quit']);

    // A user who may not upgrade the manager cannot use the new client with it: told why, exit 4.
    const asUpgrader = { env: { ...process.env, KUBECONFIG_WS2: userKubeconfig('upgrader') }, timeoutMs: 300_000 };
    const denied = ws2(['node', '--', incompatibleCli, 'connect', '--namespace', 'samples'], asUpgrader);
    assert.equal(denied.code, 4, `${denied.stdout}\n${denied.stderr}`);
    assert.match(denied.stderr, new RegExp(`the traffic-manager is ${NEWER_VERSION.replace(/\./g, '\\.')}, older than this client ${INCOMPATIBLE_VERSION.replace(/\./g, '\\.')} works with .*your credentials may not upgrade it`));
    assert.equal(managerVersion(), NEWER_VERSION);
    assert.equal(answeredBy('x-upgrade=me'), 'laptop', "this client's intercept is untouched");
    ws2(['node', '--', incompatibleCli, 'quit'], asUpgrader);

    const n = ws2(['node', '--', incompatibleCli, 'connect', '--namespace', 'samples'], { timeoutMs: 300_000 });
    assert.equal(n.code, 0, n.stderr);
    assert.match(n.stderr, new RegExp(`found \\(this client ${INCOMPATIBLE_VERSION.replace(/\./g, '\\.')}\\): upgrading it`));
    assert.equal(managerVersion(), INCOMPATIBLE_VERSION);

    // This client's daemon finds a manager it cannot speak to: status says what to do.
    const upgradeTelepath = new RegExp(`the traffic-manager is ${INCOMPATIBLE_VERSION.replace(/\./g, '\\.')}, newer than this client ${PRODUCT_VERSION.replace(/\./g, '\\.')}; upgrade Telepath`);
    await until("this client's status to say it must upgrade", 60_000, () => upgradeTelepath.test(run(thisCli, ['status']).stdout), () => run(thisCli, ['status']).stdout);
    // Its intercept no longer routes, but nothing hangs or fails: the refused agent sends everything to the app.
    await until('the old agent to send everything to the app', 60_000, () => answeredBy('x-upgrade=me').startsWith('echo-'), () => answeredBy('x-upgrade=me'));
    assert.match(answeredBy('x-other=1'), /^echo-/);
    // A new connect says the same and fails as a configuration error (exit 3).
    run(thisCli, ['quit']);
    const again = run(thisCli, ['connect', '--namespace', 'samples']);
    assert.equal(again.code, 3, `${again.stdout}\n${again.stderr}`);
    assert.match(again.stderr, upgradeTelepath);
    assert.equal(managerVersion(), INCOMPATIBLE_VERSION, 'an older client never downgrades the manager');

    // The newer client's intercept rolls the workload: the manager no longer serves its agent.
    laptop2 = ws2Spawn(['env', 'POD_NAME=laptop-two', 'node', path.join(repoRoot, '.cluster/build/samples.js'), 'http-echo', '--port', String(LOCAL_PORT_WS2)]);
    laptop2.stderr?.on('data', () => undefined);
    const i2 = ws2(['node', '--', incompatibleCli, 'intercept', 'echo', '--namespace', 'samples', '--port', String(LOCAL_PORT_WS2), '--http-header', 'x-upgrade=newer', '--mount=false'], { timeoutMs: 300_000 });
    assert.equal(i2.code, 0, i2.stderr);
    assert.match(i2.stderr, new RegExp(`Rolling deployment/echo with the traffic-agent ${INCOMPATIBLE_VERSION.replace(/\./g, '\\.')}: .*no longer serves`));
    await until("the newer client's intercept to route to its workstation", 60_000, () => answeredBy('x-upgrade=newer') === 'laptop-two', () => answeredBy('x-upgrade=newer'));
    assert.match(answeredBy('x-other=1'), /^echo-/);
    const template = kubectl('-n', 'samples', 'get', 'deployment', 'echo', '-o', 'jsonpath={.spec.template.metadata.annotations}');
    assert.match(template, new RegExp(`"telepath.io/agent-version":"${INCOMPATIBLE_VERSION.replace(/\./g, '\\.')}"`));
  });
});
