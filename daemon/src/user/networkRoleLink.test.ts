import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { createMessageConnection, SocketMessageReader, SocketMessageWriter } from 'vscode-jsonrpc/node';
import { PRODUCT_VERSION } from '../../../protocol/src/version.js';
import { silentLogger } from '../../../common/src/log/fileLogger.js';
import { NetworkRoleLink } from './networkRoleLink.js';
import { networkRoleRequests } from '../network/networkRoleProtocol.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-netrole-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A socket that answers `hello` as a network role of `version` would; the rest of the role is not needed here. */
async function role(socketPath: string, version: string): Promise<net.Server> {
  const server = net.createServer((socket) => {
    const conn = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
    conn.onRequest(networkRoleRequests.hello, () => ({ version, pid: 4242 }));
    conn.listen();
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return server;
}

function waitFor<T>(f: (done: (v: T) => void) => void): Promise<T> {
  return new Promise((resolve) => f(resolve));
}

test('attaches when the role appears after the daemon started', async () => {
  const socketPath = path.join(dir, 'a.sock');
  const link = new NetworkRoleLink(socketPath, silentLogger);
  link.watch();
  assert.equal(link.attached, false);
  assert.match(link.inactiveMessage(), /needs the network role, which runs as root: run "sudo telepath network-role"/);
  const attached = waitFor<void>((done) => link.onAttached(() => done()));
  const server = await role(socketPath, PRODUCT_VERSION);
  await attached;
  assert.equal(link.attached, true);
  assert.equal(link.pid, 4242);
  link.close();
  assert.equal(link.attached, false);
  server.close();
});

test('a role of another version is refused with what to do, and not retried until it restarts', async () => {
  const socketPath = path.join(dir, 'b.sock');
  const server = await role(socketPath, '9.9.9');
  const link = new NetworkRoleLink(socketPath, silentLogger);
  link.watch();
  for (let i = 0; i < 50 && !link.problem; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(link.attached, false);
  assert.match(link.problem ?? '', /network role \(pid 4242\) is telepath 9\.9\.9, this daemon .*sudo kill 4242/);
  assert.equal(link.inactiveMessage(), link.problem);
  link.close();
  server.close();
});

test('a role that closes the link is reported as stopped', async () => {
  const socketPath = path.join(dir, 'c.sock');
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    const conn = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
    conn.onRequest(networkRoleRequests.hello, () => ({ version: PRODUCT_VERSION, pid: 77 }));
    conn.listen();
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  const link = new NetworkRoleLink(socketPath, silentLogger);
  const attached = waitFor<void>((done) => link.onAttached(() => done()));
  link.watch();
  await attached;
  const detached = waitFor<string>((done) => link.onDetached(done));
  for (const s of sockets) s.destroy();
  const why = await detached;
  assert.match(why, /network role \(pid 77\) stopped; routes and DNS are off until "sudo telepath network-role" runs again/);
  assert.equal(link.attached, false);
  assert.equal(link.pid, undefined);
  link.close();
  server.close();
});
