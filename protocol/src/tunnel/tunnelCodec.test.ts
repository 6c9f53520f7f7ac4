import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DialOutcome, DisconnectReason, Protocol, TunnelMessage } from '../gen/telepath/tunnel/v1/tunnel.js';
import { decodeTunnelMessage, encodeTunnelMessage } from './tunnelCodec.js';

const every: TunnelMessage[] = [
  {
    message: {
      $case: 'open',
      value: {
        protocol: Protocol.TCP,
        destinationIp: Buffer.from([10, 96, 12, 7]),
        destinationPort: 8080,
        sourceIp: Buffer.from([100, 64, 0, 2]),
        sourcePort: 51234,
        sessionId: 'c0ffee',
        dialTimeoutMs: 5000,
        interceptId: '',
      },
    },
  },
  { message: { $case: 'dialResult', value: { outcome: DialOutcome.OK, message: '' } } },
  {
    message: {
      $case: 'dialResult',
      value: { outcome: DialOutcome.REFUSED, message: 'connect ECONNREFUSED 10.96.12.7:8080' },
    },
  },
  { message: { $case: 'data', value: Buffer.from('GET / HTTP/1.1\r\n\r\n') } },
  { message: { $case: 'closeSend', value: {} } },
  { message: { $case: 'disconnect', value: { reason: DisconnectReason.IDLE_TIMEOUT, error: 'idle for 60s' } } },
];

test('every tunnel message survives encode and decode', () => {
  for (const m of every) {
    const back = decodeTunnelMessage(encodeTunnelMessage(m));
    assert.deepEqual(TunnelMessage.toJSON(back), TunnelMessage.toJSON(m));
    assert.equal(back.message?.$case, m.message?.$case);
  }
});

test('the fast data encoder writes exactly what the generated encoder writes', () => {
  // Lengths around each varint boundary, and a chunk larger than any socket read.
  for (const n of [0, 1, 127, 128, 16383, 16384, 65536, 2_097_152]) {
    const payload = Buffer.alloc(n, n & 0xff);
    const m: TunnelMessage = { message: { $case: 'data', value: payload } };
    const fast = encodeTunnelMessage(m);
    const generated = TunnelMessage.encode(m).finish();
    assert.equal(Buffer.compare(fast, generated), 0, `payload of ${n} bytes`);
  }
});

test('a data message is small: tag, length and payload', () => {
  const m: TunnelMessage = { message: { $case: 'data', value: Buffer.alloc(1000) } };
  assert.equal(encodeTunnelMessage(m).length, 1000 + 3);
});

test('decoding a data message gives a view of the received buffer, not a copy', () => {
  const wire = encodeTunnelMessage({ message: { $case: 'data', value: Buffer.from('hello') } });
  const m = decodeTunnelMessage(wire);
  assert.equal(m.message?.$case, 'data');
  if (m.message?.$case !== 'data') return;
  assert.equal(Buffer.from(m.message.value).toString(), 'hello');
  assert.equal(m.message.value.buffer, wire.buffer);
});

test('a message from a newer peer with an unknown oneof member decodes as empty, not as an error', () => {
  // Field 15, length-delimited, 2 bytes: what a future TunnelMessage member would look like.
  const future = Uint8Array.of((15 << 3) | 2, 2, 0xaa, 0xbb);
  assert.deepEqual(decodeTunnelMessage(future), { message: undefined });
});
