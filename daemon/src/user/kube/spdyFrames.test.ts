import { test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { ControlType, dataFrame, FLAG_FIN, pingFrame, rstStreamFrame, SpdyReader, SpdyWriter, type SpdyFrame } from './spdyFrames.js';

/** Name/value pairs of an uncompressed SPDY/3 header block. */
function pairs(raw: Buffer): [string, string][] {
  const out: [string, string][] = [];
  let at = 4;
  for (let i = 0; i < raw.readUInt32BE(0); i++) {
    const nl = raw.readUInt32BE(at);
    const name = raw.subarray(at + 4, at + 4 + nl).toString();
    at += 4 + nl;
    const vl = raw.readUInt32BE(at);
    out.push([name, raw.subarray(at + 4, at + 4 + vl).toString()]);
    at += 4 + vl;
  }
  return out;
}

test('SYN_STREAM frames carry their headers in one zlib stream that a stock inflater reads frame by frame', () => {
  const w = new SpdyWriter();
  const a = w.synStream(1, [['streamType', 'error'], ['port', '8080'], ['requestid', '0']], true);
  const b = w.synStream(3, [['streamtype', 'data'], ['port', '8080'], ['requestid', '0']]);
  for (const [frame, id, fin] of [[a, 1, true], [b, 3, false]] as const) {
    assert.equal(frame.readUInt16BE(0), 0x8003, 'control bit and version 3');
    assert.equal(frame.readUInt16BE(2), ControlType.SynStream);
    assert.equal(frame[4], fin ? FLAG_FIN : 0);
    assert.equal(frame.readUInt32BE(4) & 0xffffff, frame.length - 8);
    assert.equal(frame.readUInt32BE(8), id);
    assert.equal(frame.readUInt32BE(12), 0);
  }
  // The server inflates each frame's block as it comes, on one stream: every block must end on
  // a block boundary, and the second continues the first (no second zlib header).
  const blockOf = (f: Buffer) => f.subarray(18);
  // Each block ends as a sync flush does (an empty stored block), so an inflater that hands bytes
  // on only at the next block boundary (Go's) has all of them without reading the next frame.
  for (const f of [a, b]) assert.deepEqual([...f.subarray(-5)], [0, 0, 0, 0xff, 0xff]);
  const first = zlib.inflateSync(blockOf(a), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  assert.deepEqual(pairs(first), [['streamtype', 'error'], ['port', '8080'], ['requestid', '0']]);
  const both = zlib.inflateSync(Buffer.concat([blockOf(a), blockOf(b)]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  assert.deepEqual(pairs(both.subarray(first.length)), [['streamtype', 'data'], ['port', '8080'], ['requestid', '0']]);
});

test('the reader gives the same frames however the bytes are cut', () => {
  const payload = Buffer.from('hello, pod');
  // A SYN_REPLY for stream 3 with a 20-byte header block the reader skips.
  const synReply = Buffer.alloc(8 + 4 + 20, 0xee);
  synReply.writeUInt16BE(0x8003, 0);
  synReply.writeUInt16BE(ControlType.SynReply, 2);
  synReply.writeUInt32BE(synReply.length - 8, 4);
  synReply.writeUInt32BE(3, 8);
  const settings = Buffer.from([0x80, 3, 0, ControlType.Settings, 0, 0, 0, 4, 0, 0, 0, 0]);
  const wire = Buffer.concat([
    synReply,
    settings,
    dataFrame(3, payload),
    dataFrame(1, Buffer.from('an error')),
    pingFrame(2),
    rstStreamFrame(5, 7),
    dataFrame(3, Buffer.alloc(0), true),
  ]);
  const summary = (frames: SpdyFrame[]) => {
    const out: unknown[] = [];
    for (const f of frames) {
      const last = out.at(-1) as { kind: string; streamId: number; text: string; fin: boolean } | undefined;
      // Parts of one DATA frame are joined; an empty part that only carries FIN is its own.
      if (f.kind === 'data' && last?.kind === 'data' && last.streamId === f.streamId && !last.fin && f.payload.length > 0) {
        last.text += f.payload.toString();
        last.fin = f.fin;
      } else if (f.kind === 'data') out.push({ kind: 'data', streamId: f.streamId, text: f.payload.toString(), fin: f.fin });
      else out.push(f);
    }
    return out;
  };
  const whole = summary(new SpdyReader().push(wire));
  assert.deepEqual(whole, [
    { kind: 'synReply', streamId: 3, fin: false },
    { kind: 'other', type: ControlType.Settings },
    { kind: 'data', streamId: 3, text: 'hello, pod', fin: false },
    { kind: 'data', streamId: 1, text: 'an error', fin: false },
    { kind: 'ping', id: 2 },
    { kind: 'rstStream', streamId: 5, status: 7 },
    { kind: 'data', streamId: 3, text: '', fin: true },
  ]);
  const r = new SpdyReader();
  const bytewise: SpdyFrame[] = [];
  for (let i = 0; i < wire.length; i++) bytewise.push(...r.push(wire.subarray(i, i + 1)));
  assert.deepEqual(summary(bytewise), whole);
});

test('a large DATA frame is handed on as it arrives, as views of the pushed chunks', () => {
  const payload = Buffer.alloc(100_000, 7);
  const wire = dataFrame(3, payload, true);
  const r = new SpdyReader();
  const first = r.push(wire.subarray(0, 50_008));
  assert.equal(first.length, 1);
  assert.equal(first[0]!.kind === 'data' && first[0]!.payload.length, 50_000);
  assert.equal(first[0]!.kind === 'data' && first[0]!.fin, false);
  const chunk = wire.subarray(50_008);
  const rest = r.push(chunk);
  assert.equal(rest[0]!.kind === 'data' && rest[0]!.payload.buffer, chunk.buffer, 'not copied');
  assert.equal(rest[0]!.kind === 'data' && rest[0]!.fin, true);
});

test('a frame of another SPDY version is refused', () => {
  assert.throws(() => new SpdyReader().push(Buffer.from([0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1])), /SPDY version 2/);
});
