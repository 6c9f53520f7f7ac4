import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { daemonError, ErrorCode } from '../../../protocol/src/daemon';
import { ResponseError } from 'vscode-jsonrpc';
import { CancelledError, DeadlineError } from '../util/cancellation.js';
import { presentError } from './errorPresentation.js';

describe('error messages by category', () => {
  test('user: the daemon\'s message, which says what to do, as a warning', () => {
    const p = presentError(daemonError(ErrorCode.InterceptConflict, 'bob@laptop holds a global intercept on echo:http/8080'), 'Cannot intercept echo');
    assert.deepEqual(p, { message: 'Cannot intercept echo: bob@laptop holds a global intercept on echo:http/8080.', category: 'user', severity: 'warning', offerLog: false, offerRestart: false });
  });

  test('config and cluster: an error, without the log', () => {
    assert.deepEqual(presentError(daemonError(ErrorCode.ContextNotFound, 'no context "prod" in /home/a/.kube/config')), {
      message: 'No context "prod" in /home/a/.kube/config.', category: 'config', severity: 'error', offerLog: false, offerRestart: false,
    });
    assert.equal(presentError(daemonError(ErrorCode.Forbidden, 'forbidden for the user of context local; Nothing was changed.')).category, 'cluster');
  });

  test('internal: "See the Telepath log", with the log offered', () => {
    const p = presentError(daemonError(ErrorCode.Internal, 'kaboom'), 'Cannot connect');
    assert.equal(p.message, 'Cannot connect: kaboom. See the Telepath log.');
    assert.equal(p.offerLog, true);
    // A reply without data (vscode-jsonrpc's own) is categorised by its code.
    assert.equal(presentError(new ResponseError(-32601, 'Unhandled method foo')).category, 'internal');
    // Anything that is not a daemon error is internal too.
    assert.equal(presentError(new Error('spawn EACCES')).message, 'Spawn EACCES. See the Telepath log.');
    assert.equal(presentError(new DeadlineError('list samples', 30_000)).offerLog, true);
  });

  test('another protocol: offer to restart the daemon', () => {
    assert.equal(presentError(daemonError(ErrorCode.IncompatibleProtocol, 'vscode speaks Telepath protocol 0.2.0, but the daemon speaks 0.1.1')).offerRestart, true);
  });

  test('cancelled: nothing to say', () => {
    assert.equal(presentError(new CancelledError()).message, undefined);
    assert.equal(presentError(new ResponseError(ErrorCode.RequestCancelled, 'cancelled')).message, undefined);
  });
});
