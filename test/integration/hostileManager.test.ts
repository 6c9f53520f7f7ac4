/**
 * A hostile (or broken) manager, or a local user who talks to the network role's socket by hand,
 * cannot make the root process route the workstation's traffic into the cluster or rewrite its
 * resolver: `telepath network-role` runs as root in the workstation namespace, and a JSON-RPC
 * client written here — not our daemon's link, so none of our daemon's own handling stands in
 * between — hands it networks with 0.0.0.0/1, a cluster domain with a newline in it, and a subnet
 * over the workstation's own link. Each is refused with a message that says what and why, and
 * resolv.conf (byte for byte), the IPv4 and IPv6 route tables and the list of links are as before.
 * The role keeps running after a refusal, and ends when its client goes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createMessageConnection, ErrorCodes, ResponseError, SocketMessageReader, SocketMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import { PRODUCT_VERSION } from '../../protocol/src/version.js';
import { buildBundles, ensureCluster, processAlive, repoRoot, stateDir, until, ws, type RunResult } from '../cluster/harness.js';

const telepath = path.join(repoRoot, 'dist/telepath.js');
const roleRunDir = '/run/telepath-e2e-hostile';
const roleSocket = path.join(roleRunDir, 'network.sock');
const rolePidFile = path.join(roleRunDir, 'network.pid');
const roleState = path.join(stateDir, 'telepath-e2e-hostile');
const roleJournal = path.join(roleState, 'journal/network-role');
const wsResolvConf = path.join(stateDir, 'ws/resolv.conf');
/** Where a daemon's port-forward to the manager would listen: a socket of the served user. */
const forwardDir = '/tmp/telepath-e2e-hostile-forward';
const forwardSocket = path.join(forwardDir, 'manager.sock');
const USER = 65534;

/** `telepath network-role` as root in the workstation namespace, serving uid 65534. */
function asRoot(args: string[]): RunResult {
  return ws(['env', '-u', 'KUBECONFIG', 'HOME=/nonexistent', `TELEPATH_STATE_DIR=${roleState}`, `TELEPATH_NETWORK_SOCKET=${roleSocket}`, 'node', '--', telepath, ...args], {
    timeoutMs: 60_000,
  });
}

/** What must not change: the routes of both families, the links, and resolv.conf's bytes. */
function workstation(): { routes4: string; routes6: string; links: string; resolvConf: Buffer } {
  return {
    routes4: ws(['ip', 'route', 'show']).stdout,
    routes6: ws(['ip', '-6', 'route', 'show']).stdout,
    links: ws(['ip', '-o', 'link', 'show']).stdout.split('\n').map((l) => l.split(':')[1]?.trim() ?? '').join(' '),
    resolvConf: readFileSync(wsResolvConf),
  };
}

const cluster = { serviceSubnets: ['10.96.0.0/16'], podSubnets: ['10.244.0.0/24'], dnsIp: '10.96.0.10', clusterDomain: 'cluster.local' };
function startParams(networks: Record<string, unknown>): Record<string, unknown> {
  return { managerAddress: `unix:${forwardSocket}`, sessionId: 'hostile-session', joinSecret: '0f'.repeat(32), networks: { ...cluster, ...networks }, connectedNamespace: 'samples', namespaces: ['samples', 'default'] };
}

let before0: ReturnType<typeof workstation>;
let forward: net.Server | undefined;
let client: MessageConnection | undefined;
let rolePid = 0;

/** Sends `network/start` and returns the refusal it must end with. */
async function refusedStart(networks: Record<string, unknown>): Promise<ResponseError<unknown>> {
  try {
    await client!.sendRequest('network/start', startParams(networks));
  } catch (err) {
    assert.ok(err instanceof ResponseError, `not a JSON-RPC error: ${String(err)}`);
    return err;
  }
  assert.fail('the network role accepted the networks');
}

function assertUntouched(): void {
  const now = workstation();
  assert.equal(now.routes4, before0.routes4, 'the IPv4 routes are as before');
  assert.equal(now.routes6, before0.routes6, 'the IPv6 routes are as before');
  assert.equal(now.links, before0.links, 'no TUN device was made');
  assert.ok(now.resolvConf.equals(before0.resolvConf), 'resolv.conf is as before, byte for byte');
  assert.deepEqual(existsSync(roleJournal) ? readdirSync(roleJournal) : [], [], 'no journal entry');
}

before(async () => {
  ensureCluster();
  buildBundles('telepath');
  rmSync(roleState, { recursive: true, force: true });
  rmSync(forwardDir, { recursive: true, force: true });
  mkdirSync(forwardDir, { recursive: true });
  forward = net.createServer((s) => s.destroy());
  await new Promise<void>((resolve) => forward!.listen(forwardSocket, resolve));
  chownSync(forwardDir, USER, USER);
  chownSync(forwardSocket, USER, USER);
  before0 = workstation();
});

after(() => {
  client?.dispose();
  forward?.close();
  if (rolePid && processAlive(rolePid)) process.kill(rolePid, 'SIGTERM');
  rmSync(forwardDir, { recursive: true, force: true });
  rmSync(roleRunDir, { recursive: true, force: true });
});

describe('the network role refuses what a hostile manager sends', () => {
  test('started as root, it takes a hand-written client as its daemon', async () => {
    const r = asRoot(['network-role', '--user', String(USER)]);
    assert.equal(r.code, 0, r.stderr);
    rolePid = Number(readFileSync(rolePidFile, 'utf8').trim());
    // A path socket is reached from any network namespace; root may open the user's socket.
    const socket = net.connect(roleSocket);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    client = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
    client.listen();
    const hello = await client.sendRequest('network/hello', { version: PRODUCT_VERSION });
    assert.deepEqual(hello, { version: PRODUCT_VERSION, pid: rolePid });
  });

  test('0.0.0.0/1 (and 128.0.0.0/1) is refused: wider than /8; nothing is written', async () => {
    const err = await refusedStart({ podSubnets: ['0.0.0.0/1', '128.0.0.0/1'] });
    assert.equal(err.code, ErrorCodes.InvalidParams);
    assert.match(err.message, /^refused network\/start: pod subnet "0\.0\.0\.0\/1" is wider than \/8, the widest IPv4 subnet routed unless allowed .*--allow-wide-subnets/);
    assert.match(err.message, /pod subnet "128\.0\.0\.0\/1" is wider than \/8/);
    assert.match(err.message, /Nothing was changed\.$/);
    assertUntouched();
  });

  test('a cluster domain with a newline is refused: it is not a DNS name; resolv.conf is untouched', async () => {
    const err = await refusedStart({ clusterDomain: 'cluster.local\nnameserver 192.0.2.66' });
    assert.equal(err.code, ErrorCodes.InvalidParams);
    assert.match(err.message, /the cluster domain "cluster\.local\\nnameserver 192\.0\.2\.66" is not a DNS name for a cluster: contains white space or a line break/);
    assertUntouched();
  });

  test('both at once: one refusal names both', async () => {
    const err = await refusedStart({ podSubnets: ['0.0.0.0/1'], clusterDomain: 'cluster.local\nsearch .' });
    assert.match(err.message, /pod subnet "0\.0\.0\.0\/1" is wider than \/8.*; the cluster domain "cluster\.local\\nsearch \." is not a DNS name/);
    assertUntouched();
  });

  test("a subnet over the workstation's own link (10.250.0.0/30 on tpw0) is refused, naming it", async () => {
    const err = await refusedStart({ podSubnets: ['10.250.0.0/24'] });
    assert.equal(err.code, ErrorCodes.InvalidParams);
    assert.match(err.message, /pod subnet "10\.250\.0\.0\/24" overlaps the (address 10\.250\.0\.2 of tpw0|network 10\.250\.0\.0\/30 of tpw0)/);
    assertUntouched();
  });

  test('a DNS server outside the service subnets is refused: the resolver never points at the LAN', async () => {
    const err = await refusedStart({ dnsIp: '10.250.0.1' });
    assert.match(err.message, /the DNS server "10\.250\.0\.1" is not inside the service subnets \(10\.96\.0\.0\/16\)/);
    assertUntouched();
  });

  test('the role still runs, says so in its log, and ends with its client, leaving everything as it was', async () => {
    assert.ok(processAlive(rolePid), 'a refusal does not end the role');
    const log = readFileSync(path.join(roleState, 'logs/network-role.log'), 'utf8');
    assert.match(log, /refused network\/start: pod subnet "0\.0\.0\.0\/1" is wider than \/8/);
    client!.dispose();
    client = undefined;
    await until('the network role to end', 15_000, () => !processAlive(rolePid));
    assertUntouched();
  });
});
