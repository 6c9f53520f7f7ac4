/**
 * The link against a small daemon on a real unix socket (the protocol's own handshake answers),
 * so starting, following notifications and reconnecting after a restart run as they would.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createMessageConnection, ResponseError, SocketMessageReader, SocketMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import { answerInitialize, daemonNotifications, daemonRequests, ErrorCode, toResponseError, type DaemonStatus } from '../../../protocol/src/daemon';
import { DaemonConnection } from './daemonConnection.js';
import { DaemonLink, type LinkState } from './daemonLink.js';
import { silentLogger } from './logger.js';

class FakeDaemon {
  private server?: net.Server;
  readonly clients = new Set<MessageConnection>();
  status: DaemonStatus = { state: 'disconnected', routedSubnets: [], intercepts: [] };
  protocolVersion?: string;

  constructor(readonly socketPath: string) {}

  async start(): Promise<void> {
    this.server = net.createServer((socket) => {
      const conn = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
      this.clients.add(conn);
      conn.onClose(() => this.clients.delete(conn));
      conn.onRequest(daemonRequests.initialize.type, (p) => {
        try {
          return answerInitialize(this.protocolVersion ? { ...p, protocolVersion: this.protocolVersion } : p);
        } catch (e) {
          return toResponseError(e);
        }
      });
      conn.onRequest(daemonRequests.status.type, () => this.status);
      socket.on('error', () => undefined);
      conn.listen();
    });
    await new Promise<void>((resolve) => this.server!.listen(this.socketPath, resolve));
  }

  notify(status: DaemonStatus): void {
    this.status = status;
    for (const c of this.clients) void c.sendNotification(daemonNotifications.statusChanged.type, status);
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.dispose();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
    fs.rmSync(this.socketPath, { force: true });
  }
}

function waitFor(link: DaemonLink, want: (l: DaemonLink) => boolean, ms = 5000): Promise<void> {
  if (want(link)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.dispose();
      reject(new Error(`timed out in state ${link.state}`));
    }, ms);
    const sub = link.onDidChange(() => {
      if (!want(link)) return;
      clearTimeout(timer);
      sub.dispose();
      resolve();
    });
  });
}

describe('the link to the daemon', () => {
  let dir: string;
  let daemon: FakeDaemon;
  let link: DaemonLink | undefined;
  let launches: number;
  const states: LinkState[] = [];

  const makeLink = (): DaemonLink => {
    link = new DaemonLink({
      socketPath: daemon.socketPath,
      clientName: 'test',
      clientVersion: '0.0.0',
      log: silentLogger,
      reconnect: { initialMs: 20, maxMs: 50, giveUpAfterMs: 400, idleRetryMs: 50 },
      launch: async () => {
        launches += 1;
        await daemon.start();
        return DaemonConnection.open(daemon.socketPath);
      },
    });
    link.onDidChange(() => {
      if (states.at(-1) !== link!.state) states.push(link!.state);
    });
    return link;
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'telepath-link-'));
    daemon = new FakeDaemon(path.join(dir, 'daemon.sock'));
    launches = 0;
    states.length = 0;
  });

  afterEach(async () => {
    link?.dispose();
    link = undefined;
    await daemon.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('starts the daemon when none runs, and shakes hands', async () => {
    const l = makeLink();
    await l.ensureUp();
    assert.equal(launches, 1);
    assert.equal(l.state, 'up');
    assert.deepEqual(l.status, daemon.status);
    assert.equal(l.supports('intercept'), true);
    assert.deepEqual(states, ['starting', 'up']);
    // Asked again, the same connection: nothing is started twice.
    await Promise.all([l.ensureUp(), l.ensureUp()]);
    assert.equal(launches, 1);
  });

  test('uses a daemon that runs; attach never starts one', async () => {
    const l = makeLink();
    assert.equal(await l.attach(), false);
    assert.equal(l.state, 'down');
    assert.equal(launches, 0);
    await daemon.start();
    // While down it looks now and then, and finds the daemon the CLI started.
    await waitFor(l, (x) => x.state === 'up');
    assert.equal(launches, 0);
  });

  test('follows statusChanged', async () => {
    const l = makeLink();
    await l.ensureUp();
    const connected: DaemonStatus = { state: 'connected', context: 'local', namespace: 'samples', routedSubnets: [], intercepts: [] };
    daemon.notify(connected);
    await waitFor(l, (x) => x.status?.state === 'connected');
    assert.deepEqual(l.status, connected);
  });

  test('reconnects when the daemon restarts, and sees its new status', async () => {
    const l = makeLink();
    await l.ensureUp();
    daemon.notify({ state: 'connected', context: 'local', namespace: 'samples', routedSubnets: [], intercepts: [] });
    await waitFor(l, (x) => x.status?.state === 'connected');
    await daemon.stop();
    await waitFor(l, (x) => x.state === 'lost');
    daemon.status = { state: 'disconnected', routedSubnets: [], intercepts: [] };
    await daemon.start();
    await waitFor(l, (x) => x.state === 'up');
    assert.equal(l.status?.state, 'disconnected');
    assert.equal(launches, 1, 'reconnecting does not start a daemon');
    assert.deepEqual(states, ['starting', 'up', 'lost', 'up']);
  });

  test('a daemon gone for long is "down"; the next action starts it again', async () => {
    const l = makeLink();
    await l.ensureUp();
    await daemon.stop();
    await waitFor(l, (x) => x.state === 'down');
    await l.ensureUp();
    assert.equal(l.state, 'up');
    assert.equal(launches, 2);
  });

  test('a daemon of another protocol: failed, with the daemon\'s reason', async () => {
    daemon.protocolVersion = '9.0.0';
    await daemon.start();
    const l = makeLink();
    await assert.rejects(l.ensureUp(), (e: unknown) => e instanceof ResponseError && e.code === ErrorCode.IncompatibleProtocol);
    assert.equal(l.state, 'failed');
    assert.match((l.failure as Error).message, /speaks Telepath protocol 9\.0\.0/);
  });

  test('requests go through the link, starting the daemon first', async () => {
    const l = makeLink();
    const status = await l.request(daemonRequests.status, {});
    assert.equal(status.state, 'disconnected');
    assert.equal(launches, 1);
  });
});
