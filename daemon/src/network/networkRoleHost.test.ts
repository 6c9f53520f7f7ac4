/**
 * The network role's socket refuses what breaks networkInput.ts's rules before anything is
 * written: a client that speaks the protocol by hand (not our daemon's link, which an attacker
 * would not use) gets InvalidParams with the refusal's message, and no journal appears.
 * Refusals come before the TUN device is opened, so this runs without root and without a cluster.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createMessageConnection, ErrorCodes, ResponseError, SocketMessageReader, SocketMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import { silentLogger } from '../../../common/src/log/fileLogger.js';
import { PRODUCT_VERSION } from '../../../protocol/src/version.js';
import { NetworkRoleHost } from './networkRoleHost.js';
import { readLocalNetworks } from './vif/localNetworks.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-rolehost-'));
const socketPath = path.join(dir, 'network.sock');
const journalDir = path.join(dir, 'journal');
/** Stands in for the daemon's port-forward listener: a unix socket of the served user. */
const managerSocket = path.join(dir, 'manager.sock');
const uid = process.getuid?.() ?? 0;
let host: NetworkRoleHost;
let manager: net.Server;
let client: MessageConnection;

const networks = { serviceSubnets: ['10.96.0.0/16'], podSubnets: ['10.244.0.0/24'], dnsIp: '10.96.0.10', clusterDomain: 'cluster.local' };
const start = (over: Record<string, unknown> = {}) => ({
  managerAddress: `unix:${managerSocket}`,
  sessionId: 'session-1',
  joinSecret: '5e'.repeat(32),
  networks,
  connectedNamespace: 'samples',
  namespaces: ['samples'],
  ...over,
});

/** The error a request ends with (it must end with one). */
async function rejection(method: string, params: unknown): Promise<ResponseError<unknown>> {
  try {
    await client.sendRequest(method, params);
  } catch (err) {
    assert.ok(err instanceof ResponseError, String(err));
    return err;
  }
  assert.fail(`${method} was accepted`);
}

function nothingWritten(): void {
  assert.deepEqual(fs.existsSync(journalDir) ? fs.readdirSync(journalDir) : [], [], 'no journal entry');
}

before(async () => {
  manager = net.createServer();
  await new Promise<void>((resolve) => manager.listen(managerSocket, resolve));
  host = new NetworkRoleHost({ socketPath, ownerUid: uid, journalDir, log: silentLogger, onDone: () => {} });
  await host.listen();
  const socket = net.connect(socketPath);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  client = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
  client.listen();
  const hello = await client.sendRequest('network/hello', { version: PRODUCT_VERSION });
  assert.deepEqual(hello, { version: PRODUCT_VERSION, pid: process.pid });
});

after(async () => {
  client.dispose();
  await host.close();
  manager.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a /1 subnet and a cluster domain with a newline: InvalidParams that says what and why, nothing written', async () => {
  const err = await rejection('network/start', start({ networks: { ...networks, podSubnets: ['0.0.0.0/1', '128.0.0.0/1'], clusterDomain: 'cluster.local\nnameserver 6.6.6.6' } }));
  assert.equal(err.code, ErrorCodes.InvalidParams);
  assert.match(err.message, /^refused network\/start: pod subnet "0\.0\.0\.0\/1" is wider than \/8/);
  assert.match(err.message, /pod subnet "128\.0\.0\.0\/1" is wider than \/8/);
  assert.match(err.message, /the cluster domain "cluster\.local\\nnameserver 6\.6\.6\.6" is not a DNS name for a cluster: contains white space or a line break/);
  assert.match(err.message, /Nothing was changed\.$/);
  nothingWritten();
});

test('params of the wrong shape are refused the same way', async () => {
  for (const params of [null, 'start', start({ networks: undefined }), start({ namespaces: ['a b'] }), start({ sessionId: 7 })]) {
    const err = await rejection('network/start', params);
    assert.equal(err.code, ErrorCodes.InvalidParams, `${JSON.stringify(params)}: ${err.message}`);
    assert.match(err.message, /^refused network\/start: /);
  }
  nothingWritten();
});

test("a manager address that is not the served user's socket is refused: root does not dial other programs' sockets", async () => {
  const err = await rejection('network/start', start({ managerAddress: `unix:${path.join(dir, 'nothing-here.sock')}` }));
  assert.equal(err.code, ErrorCodes.InvalidParams);
  assert.match(err.message, /the manager address unix:.*nothing-here\.sock is not a unix socket of uid \d+, the user this network role serves/);
  nothingWritten();
});

test("a subnet over one of this machine's own networks is refused after reading them", async (t) => {
  const own = (await readLocalNetworks().catch(() => [])).find((o) => !o.cidr.includes(':') && !/^(127|169\.254)\./.test(o.cidr));
  if (!own) {
    t.skip('this machine has no IPv4 network besides loopback');
    return;
  }
  const err = await rejection('network/start', start({ networks: { ...networks, podSubnets: [own.cidr.replace(/\/\d+$/, '/32')] } }));
  assert.equal(err.code, ErrorCodes.InvalidParams);
  assert.match(err.message, /overlaps .*: routing it would take part of this workstation's own network into the cluster/);
  nothingWritten();
});

test('network/update refuses bad values before it looks at anything else', async () => {
  const err = await rejection('network/update', { namespaces: ['dev', 'evil\nnameserver 6.6.6.6'] });
  assert.equal(err.code, ErrorCodes.InvalidParams);
  assert.match(err.message, /^refused network\/update: the namespace "evil\\nnameserver 6\.6\.6\.6" is not a DNS label/);
  const notStarted = await rejection('network/update', { namespaces: ['dev'] });
  assert.match(notStarted.message, /routes and DNS are not started/);
  nothingWritten();
});
