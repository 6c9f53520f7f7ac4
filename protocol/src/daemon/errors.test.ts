import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResponseError } from 'vscode-jsonrpc';
import { categoryOf, daemonError, ErrorCode, ERRORS, toResponseError } from './errors.js';

test('error codes are unique and Telepath codes stay out of the JSON-RPC reserved range', () => {
  const codes = Object.values(ERRORS).map((e) => e.code);
  assert.equal(new Set(codes).size, codes.length);
  const reserved = new Set([-32700, -32600, -32601, -32602, -32603, -32800]);
  for (const code of codes) {
    assert.ok(reserved.has(code) || code < -32768 || code > -32000, `code ${code} is in the reserved range`);
  }
});

test('daemonError carries code, message and category', () => {
  const e = daemonError(ErrorCode.ContextNotFound, 'No context "kind-x" in ~/.kube/config: pick one of kind-dev');
  assert.ok(e instanceof ResponseError);
  assert.equal(e.code, 2002);
  assert.deepEqual(e.data, { category: 'config' });
  assert.deepEqual(e.toJson(), { code: 2002, message: e.message, data: { category: 'config' } });
});

test('categoryOf prefers the category on the wire and falls back to the code table', () => {
  assert.equal(categoryOf({ code: ErrorCode.Forbidden, data: { category: 'cluster' } }), 'cluster');
  assert.equal(categoryOf({ code: ErrorCode.NotConnected }), 'user');
  assert.equal(categoryOf({ code: ErrorCode.MethodNotFound, data: 'junk' }), 'internal');
  assert.equal(categoryOf({ code: 77 }), 'internal');
});

test('toResponseError keeps daemon errors and wraps everything else as Internal', () => {
  const mine = daemonError(ErrorCode.NotConnected, 'Not connected: run "telepath connect" first.');
  assert.equal(toResponseError(mine), mine);
  const wrapped = toResponseError(new Error('boom'));
  assert.equal(wrapped.code, ErrorCode.Internal);
  assert.equal(wrapped.message, 'boom');
  assert.deepEqual(wrapped.data, { category: 'internal' });
  const bare = toResponseError(new ResponseError(ErrorCode.InvalidParams, 'bad'));
  assert.deepEqual(bare.data, { category: 'internal' });
});
