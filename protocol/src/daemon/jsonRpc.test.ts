/**
 * The daemon's JSON-RPC contract over an in-memory duplex pair: a client and a minimal endpoint
 * built only from protocol/ (the handshake, the param checks, the error helpers), as the daemon's
 * RPC layer is meant to use them.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import {
  createMessageConnection,
  type MessageConnection,
  ResponseError,
  StreamMessageReader,
  StreamMessageWriter,
} from 'vscode-jsonrpc/node';
import { PRODUCT_VERSION, PROTOCOL_VERSION } from '../version.js';
import { categoryOf, daemonError, type DaemonErrorData, ErrorCode, toResponseError } from './errors.js';
import { answerInitialize } from './handshake.js';
import {
  checkParams,
  type DaemonMethod,
  daemonNotifications,
  daemonRequests,
  HANDSHAKE_FREE_METHODS,
  type RequestDefinition,
} from './methods.js';
import type { DaemonStatus, ProgressParams } from './types.js';

const open: MessageConnection[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.dispose();
});

/** A client connection and a minimal daemon endpoint on a PassThrough pair. */
function connect(): MessageConnection {
  const toDaemon = new PassThrough();
  const toClient = new PassThrough();
  const client = createMessageConnection(new StreamMessageReader(toClient), new StreamMessageWriter(toDaemon));
  const daemon = createMessageConnection(new StreamMessageReader(toDaemon), new StreamMessageWriter(toClient));
  open.push(client, daemon);

  let initialized = false;
  let status: DaemonStatus = { state: 'disconnected', routedSubnets: [] };
  function serve<P, R>(name: DaemonMethod, def: RequestDefinition<P, R>, handle: (p: P) => R) {
    daemon.onRequest(def.type, (raw) => {
      try {
        if (!initialized && !HANDSHAKE_FREE_METHODS.includes(name)) {
          throw daemonError(ErrorCode.NotInitialized, `Call initialize before ${def.method}.`);
        }
        return handle(checkParams(def, raw));
      } catch (e) {
        return toResponseError(e);
      }
    });
  }
  serve('initialize', daemonRequests.initialize, (p) => {
    const result = answerInitialize(p);
    initialized = true;
    return result;
  });
  serve('status', daemonRequests.status, () => status);
  serve(
    'version',
    daemonRequests.version,
    () => ({ daemonVersion: PRODUCT_VERSION, protocolVersion: PROTOCOL_VERSION }),
  );
  serve('connect', daemonRequests.connect, (p) => {
    if (p.context === 'nope') {
      throw daemonError(ErrorCode.ContextNotFound, 'No context "nope" in the kubeconfig; pick one of: dev.');
    }
    void daemon.sendNotification(daemonNotifications.progress.type, {
      token: p.progressToken,
      kind: 'report',
      message: 'Installing traffic-manager 0.1.0',
    });
    status = {
      state: 'connected',
      context: p.context ?? 'dev',
      namespace: p.namespace ?? 'default',
      routedSubnets: ['10.96.0.0/12'],
    };
    void daemon.sendNotification(daemonNotifications.statusChanged.type, status);
    return status;
  });
  daemon.listen();
  client.listen();
  return client;
}

const hello = { clientName: 'test', protocolVersion: PROTOCOL_VERSION };

/** The ResponseError a request rejects with. */
async function replyError(p: Promise<unknown>): Promise<ResponseError<DaemonErrorData>> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ResponseError, `expected a ResponseError, got ${String(e)}`);
    return e as ResponseError<DaemonErrorData>;
  }
  assert.fail('the request succeeded');
}

test('initialize with the same protocol version succeeds and lists the methods', async () => {
  const client = connect();
  const result = await client.sendRequest(daemonRequests.initialize.type, hello);
  assert.equal(result.protocolVersion, PROTOCOL_VERSION);
  assert.equal(result.daemonVersion, PRODUCT_VERSION);
  assert.ok(result.capabilities.methods.includes('connect'));
  assert.deepEqual(result.capabilities.notifications, ['statusChanged', 'progress']);
});

test('initialize with another protocol major is refused with IncompatibleProtocol', async () => {
  const client = connect();
  for (const other of ['1.0.0', '0.2.0']) {
    const e = await replyError(
      client.sendRequest(daemonRequests.initialize.type, { ...hello, protocolVersion: other }),
    );
    assert.equal(e.code, ErrorCode.IncompatibleProtocol);
    assert.equal(e.data?.category, 'user');
    assert.deepEqual(e.data?.detail?.clientProtocolVersion, other);
    assert.match(e.message, /telepath quit/);
  }
  // Refused means not initialized.
  const e = await replyError(client.sendRequest(daemonRequests.status.type, {}));
  assert.equal(e.code, ErrorCode.NotInitialized);
});

test('before initialize only version and quit answer', async () => {
  const client = connect();
  const e = await replyError(client.sendRequest(daemonRequests.status.type, {}));
  assert.equal(e.code, ErrorCode.NotInitialized);
  assert.equal(categoryOf(e), 'internal');
  assert.equal((await client.sendRequest(daemonRequests.version.type, {})).protocolVersion, PROTOCOL_VERSION);
});

test('an error reply carries its code, message and category', async () => {
  const client = connect();
  await client.sendRequest(daemonRequests.initialize.type, hello);
  const e = await replyError(client.sendRequest(daemonRequests.connect.type, { context: 'nope' }));
  assert.equal(e.code, ErrorCode.ContextNotFound);
  assert.equal(e.data?.category, 'config');
  assert.match(e.message, /No context "nope"/);
});

test('params that do not match the schema are answered with InvalidParams naming the problem', async () => {
  const client = connect();
  const e = await replyError(client.sendRequest(daemonRequests.initialize.type, { clientName: 'test' } as never));
  assert.equal(e.code, ErrorCode.InvalidParams);
  assert.match(e.message, /params\.protocolVersion is required/);
});

test('connect reports progress and the new status as typed notifications', async () => {
  const client = connect();
  const progress: ProgressParams[] = [];
  const statuses: DaemonStatus[] = [];
  client.onNotification(daemonNotifications.progress.type, (p) => progress.push(p));
  const changed = new Promise<void>((resolve) =>
    client.onNotification(daemonNotifications.statusChanged.type, (s) => {
      statuses.push(s);
      resolve();
    })
  );
  await client.sendRequest(daemonRequests.initialize.type, hello);
  const status = await client.sendRequest(daemonRequests.connect.type, { namespace: 'shop', progressToken: 't1' });
  await changed;
  assert.deepEqual(status, { state: 'connected', context: 'dev', namespace: 'shop', routedSubnets: ['10.96.0.0/12'] });
  assert.deepEqual(statuses, [status]);
  assert.deepEqual(progress, [{ token: 't1', kind: 'report', message: 'Installing traffic-manager 0.1.0' }]);
});
