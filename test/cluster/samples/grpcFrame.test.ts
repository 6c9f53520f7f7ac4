import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeGrpcFrame, encodeGrpcMessage, GrpcFrameDecoder, GrpcFrameError } from './grpcFrame.js';

test('a frame is a 0/1 flag, a big-endian length and the message', () => {
  assert.deepEqual([...encodeGrpcFrame(Buffer.from('hi'))], [0, 0, 0, 0, 2, 0x68, 0x69]);
  assert.deepEqual([...encodeGrpcFrame(Buffer.alloc(0), true)], [1, 0, 0, 0, 0]);
});

test('the decoder finds frames whatever the chunk boundaries', () => {
  const messages = [Buffer.from('first'), Buffer.alloc(0), Buffer.alloc(300, 7)];
  const wire = Buffer.concat(messages.map((m) => encodeGrpcFrame(m)));
  for (const chunkSize of [1, 2, 5, 6, 64, wire.length]) {
    const decoder = new GrpcFrameDecoder();
    const got: Buffer[] = [];
    for (let i = 0; i < wire.length; i += chunkSize) {
      for (const f of decoder.push(wire.subarray(i, i + chunkSize))) {
        assert.equal(f.compressed, false);
        got.push(Buffer.from(f.message));
      }
    }
    decoder.finish();
    assert.deepEqual(got, messages, `chunk size ${chunkSize}`);
  }
});

test('the decoder reports the compressed flag', () => {
  const [frame] = new GrpcFrameDecoder().push(encodeGrpcFrame(Buffer.from('z'), true));
  assert.equal(frame?.compressed, true);
});

test('a bad flag, an oversized length and a truncated frame are errors', () => {
  assert.throws(() => new GrpcFrameDecoder().push(Buffer.from([2, 0, 0, 0, 0])), GrpcFrameError);
  assert.throws(() => new GrpcFrameDecoder(10).push(Buffer.from([0, 0, 0, 0, 11])), /exceeds the limit of 10/);
  const decoder = new GrpcFrameDecoder();
  assert.deepEqual(decoder.push(Buffer.from([0, 0, 0, 0, 3, 1])), []);
  assert.throws(() => decoder.finish(), /ended inside a frame \(6 bytes left\)/);
});

test('grpc-message percent-encodes non-printable bytes and "%"', () => {
  assert.equal(encodeGrpcMessage('plain text: ok'), 'plain text: ok');
  assert.equal(encodeGrpcMessage('100% \n é'), '100%25 %0A %C3%A9');
});
