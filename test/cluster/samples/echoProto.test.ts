import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEchoReply, decodeEchoRequest, encodeEchoReply, encodeEchoRequest } from './echoProto.js';

test('EchoRequest and EchoReply round-trip through the inlined .proto', () => {
  assert.deepEqual(decodeEchoRequest(encodeEchoRequest({ message: 'héllo' })), { message: 'héllo' });
  const reply = { message: 'm', pod: 'p', greeting: 'g', secret: 's', config: 'c', metadata: { a: '1', 'x-b': '2' } };
  assert.deepEqual(decodeEchoReply(encodeEchoReply(reply)), reply);
});

test('EchoRequest.message is field 1, a string (wire bytes 0x0a len ...)', () => {
  assert.deepEqual([...encodeEchoRequest({ message: 'hi' })], [0x0a, 2, 0x68, 0x69]);
});

test('empty messages decode to defaults', () => {
  assert.deepEqual(decodeEchoReply(Buffer.alloc(0)), { message: '', pod: '', greeting: '', secret: '', config: '', metadata: {} });
});
