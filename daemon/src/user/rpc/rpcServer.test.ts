import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ResponseError } from 'vscode-jsonrpc/node';
import { categoryOf, daemonRequests, ErrorCode } from '../../../../protocol/src/daemon';
import { PROTOCOL_VERSION } from '../../../../protocol/src/version.js';
import { main } from '../cli/cli.js';
import { Daemon } from '../daemon.js';
import { createLogger, type LogSink } from '../../../../common/src/log/fileLogger.js';
import { DaemonClient } from './daemonClient.js';
import { RpcServer } from './rpcServer.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'telepath-rpc-'));
const socket = path.join(dir, 'daemon.sock');
const sink: LogSink = { level: 'info', write: () => {} };
let quits = 0;
const daemon = new Daemon(createLogger(sink), sink, () => quits++);
const server = new RpcServer(socket, daemon, createLogger(sink));

before(() => server.listen());
after(async () => {
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<ResponseError<unknown>> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ResponseError, `not a ResponseError: ${String(err)}`);
    return err;
  }
  assert.fail('expected the request to fail');
}

test('version answers before initialize; other requests are refused until then', async () => {
  const c = await DaemonClient.connect(socket);
  try {
    const v = await c.request(daemonRequests.version, {});
    assert.equal(v.protocolVersion, PROTOCOL_VERSION);
    const err = await rejection(c.request(daemonRequests.status, {}));
    assert.equal(err.code, ErrorCode.NotInitialized);
  } finally {
    c.dispose();
  }
});

test('initialize, then status says disconnected, and that no process has the network role', async () => {
  const c = await DaemonClient.connect(socket);
  try {
    const init = await c.initialize('test');
    assert.ok(init.capabilities.methods.includes('connect') && init.capabilities.methods.includes('intercept'));
    assert.deepEqual(await c.request(daemonRequests.status, {}), {
      state: 'disconnected',
      routedSubnets: [],
      intercepts: [],
      networkRole: { process: 'none' },
    });
  } finally {
    c.dispose();
  }
});

test('connect with a kubeconfig that does not exist is a config error that names the file', async () => {
  const c = await DaemonClient.connect(socket);
  try {
    await c.initialize('test');
    const err = await rejection(c.request(daemonRequests.connect, { kubeconfig: path.join(dir, 'nope.yaml') }));
    assert.equal(err.code, ErrorCode.KubeconfigInvalid);
    assert.equal(categoryOf(err), 'config');
    assert.match(err.message, /nope\.yaml does not exist/);
  } finally {
    c.dispose();
  }
});

test('params are checked against the schema', async () => {
  const c = await DaemonClient.connect(socket);
  try {
    await c.initialize('test');
    const err = await rejection(c.request(daemonRequests.setLogLevel, { level: 'loud' as 'info' }));
    assert.equal(err.code, ErrorCode.InvalidParams);
  } finally {
    c.dispose();
  }
});

test('a second daemon on the same socket refuses to start', async () => {
  const other = new RpcServer(socket, daemon, createLogger(sink));
  await assert.rejects(other.listen(), /another Telepath daemon is running/);
});

test('the CLI: status and quit exit 5 without a daemon; status and quit work with one', async () => {
  const out: string[] = [];
  const io = { out: (s: string) => void out.push(s), err: (s: string) => void out.push(s) };
  const none = { socket: path.join(dir, 'none.sock'), logFile: path.join(dir, 'log'), journalDir: dir };
  assert.equal(await main(['status'], io, none), 5);
  assert.equal(await main(['status', '--output', 'json'], io, none), 5);
  assert.deepEqual(JSON.parse(out.at(-1)!), { daemon: 'not running', state: 'disconnected', routedSubnets: [] });

  const paths = { ...none, socket };
  out.length = 0;
  assert.equal(await main(['status', '-o', 'json'], io, paths), 0);
  assert.equal(JSON.parse(out.join('')).state, 'disconnected');
  assert.equal(await main(['quit'], io, paths), 0);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(quits, 1);
});

test('the CLI: usage errors exit 2 and say what was wrong', async () => {
  const err: string[] = [];
  const io = { out: () => {}, err: (s: string) => void err.push(s) };
  const paths = { socket, logFile: path.join(dir, 'log'), journalDir: dir };
  assert.equal(await main(['frobnicate'], io, paths), 2);
  assert.match(err.join(''), /unknown command "frobnicate"/);
  assert.equal(await main(['status', '--context', 'x'], io, paths), 2);
  assert.equal(await main(['uninstall'], io, paths), 2);
  assert.match(err.join(''), /--everything/);
});
