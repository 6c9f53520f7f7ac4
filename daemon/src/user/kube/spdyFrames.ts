/**
 * The part of SPDY/3.1 (the framing kubectl's port-forward speaks to the API server) that a
 * port-forward client needs: SYN_STREAM with a header block, DATA, PING answers, and a reader
 * that splits the server's bytes into frames. Pure: buffers in, buffers and frames out.
 *
 * Header blocks are zlib streams (with a preset dictionary the reader uses as history). This
 * writer sends its few header blocks as stored (uncompressed) deflate blocks, a valid zlib stream
 * any reader decodes; the server's header blocks are skipped unread, as a port-forward needs no
 * header the server sends.
 */

export const SPDY_VERSION = 3;
/** Control frame types (SPDY/3 section 2.6). */
export const ControlType = {
  SynStream: 1,
  SynReply: 2,
  RstStream: 3,
  Settings: 4,
  Ping: 6,
  GoAway: 7,
  Headers: 8,
  WindowUpdate: 9,
} as const;
export const FLAG_FIN = 0x01;
export const FRAME_HEADER_BYTES = 8;
/** A frame's length field has 24 bits. */
export const MAX_FRAME_PAYLOAD = 0xffffff;

export type SpdyFrame =
  /** Part of a DATA frame's payload, as it arrives; `fin` on the last part of a frame with FIN. */
  | { kind: 'data'; streamId: number; payload: Buffer; fin: boolean }
  | { kind: 'synReply'; streamId: number; fin: boolean }
  | { kind: 'headers'; streamId: number; fin: boolean }
  | { kind: 'rstStream'; streamId: number; status: number }
  | { kind: 'ping'; id: number }
  | { kind: 'goAway'; lastGoodStreamId: number; status: number }
  /** SETTINGS, WINDOW_UPDATE, a server SYN_STREAM, or an unknown type: nothing a client must act on. */
  | { kind: 'other'; type: number };

/** Builds the frames a port-forward client sends; owns the state of its header compression stream. */
export class SpdyWriter {
  private zlibHeaderSent = false;

  synStream(streamId: number, headers: [string, string][], fin = false): Buffer {
    const block = this.headerBlock(headers);
    const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 10 + block.length);
    controlHeader(frame, ControlType.SynStream, fin ? FLAG_FIN : 0, 10 + block.length);
    frame.writeUInt32BE(streamId & 0x7fffffff, 8);
    frame.writeUInt32BE(0, 12); // associated-to stream
    frame.writeUInt16BE(0, 16); // priority 0 (highest), slot 0
    block.copy(frame, 18);
    return frame;
  }

  /** The zlib bytes of one name/value block (names lower case), continuing this writer's stream. */
  private headerBlock(headers: [string, string][]): Buffer {
    const parts: Buffer[] = [u32(headers.length)];
    for (const [name, value] of headers) {
      const n = Buffer.from(name.toLowerCase(), 'utf8');
      const v = Buffer.from(value, 'utf8');
      parts.push(u32(n.length), n, u32(v.length), v);
    }
    const raw = Buffer.concat(parts);
    if (raw.length > 0xffff) throw new RangeError('SPDY header block too large');
    const out: Buffer[] = [];
    if (!this.zlibHeaderSent) {
      // CMF 0x78 (deflate, 32 KiB window), FLG 0x01: no preset dictionary, check bits valid.
      out.push(Buffer.from([0x78, 0x01]));
      this.zlibHeaderSent = true;
    }
    // A stored block, not final: 3 header bits (BFINAL 0, BTYPE 00) padded to a byte, LEN, NLEN;
    // then an empty one, as a sync flush ends: Go's inflater hands a block's bytes on only when
    // the next block begins, and the server reads each frame's block before the next frame comes.
    const stored = Buffer.allocUnsafe(5);
    stored[0] = 0;
    stored.writeUInt16LE(raw.length, 1);
    stored.writeUInt16LE(~raw.length & 0xffff, 3);
    out.push(stored, raw, SYNC_FLUSH);
    return Buffer.concat(out);
  }
}

/** A DATA frame: its 8-byte header followed by `payload`, in one buffer. */
export function dataFrame(streamId: number, payload: Uint8Array, fin = false): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  writeDataHeader(frame, 0, streamId, payload.length, fin);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/** Writes a DATA frame header at `at`. */
function writeDataHeader(target: Buffer, at: number, streamId: number, length: number, fin: boolean): void {
  if (length > MAX_FRAME_PAYLOAD) throw new RangeError(`a SPDY frame carries at most ${MAX_FRAME_PAYLOAD} bytes`);
  target.writeUInt32BE(streamId & 0x7fffffff, at);
  target.writeUInt32BE(((fin ? FLAG_FIN : 0) << 24) | length, at + 4);
}

export function pingFrame(id: number): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  controlHeader(frame, ControlType.Ping, 0, 4);
  frame.writeUInt32BE(id >>> 0, 8);
  return frame;
}

export function rstStreamFrame(streamId: number, status: number): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 8);
  controlHeader(frame, ControlType.RstStream, 0, 8);
  frame.writeUInt32BE(streamId & 0x7fffffff, 8);
  frame.writeUInt32BE(status >>> 0, 12);
  return frame;
}

function controlHeader(frame: Buffer, type: number, flags: number, length: number): void {
  frame.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  frame.writeUInt16BE(type, 2);
  frame.writeUInt32BE(((flags & 0xff) << 24) | length, 4);
}

const SYNC_FLUSH = Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]);

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n, 0);
  return b;
}

export class SpdyProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SpdyProtocolError';
  }
}

/**
 * Splits the bytes a server sends into frames. DATA payloads are handed on as they arrive, as
 * views into the pushed chunks, so a large frame is neither waited for nor copied; control
 * frames (small) are collected whole.
 */
export class SpdyReader {
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerBytes = 0;
  /** Payload bytes of the current frame still to come. */
  private left = 0;
  private data?: { streamId: number; fin: boolean };
  private control?: { type: number; flags: number; body: Buffer; filled: number };

  push(chunk: Buffer): SpdyFrame[] {
    const frames: SpdyFrame[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.headerBytes < FRAME_HEADER_BYTES) {
        const n = Math.min(FRAME_HEADER_BYTES - this.headerBytes, chunk.length - at);
        chunk.copy(this.header, this.headerBytes, at, at + n);
        this.headerBytes += n;
        at += n;
        if (this.headerBytes < FRAME_HEADER_BYTES) break;
        this.startFrame(frames);
        continue;
      }
      const n = Math.min(this.left, chunk.length - at);
      this.left -= n;
      if (this.data) {
        frames.push({ kind: 'data', streamId: this.data.streamId, payload: chunk.subarray(at, at + n), fin: this.left === 0 && this.data.fin });
      } else if (this.control && this.control.filled < this.control.body.length) {
        this.control.filled += chunk.copy(this.control.body, this.control.filled, at, at + n);
      }
      at += n;
      if (this.left === 0) this.endFrame(frames);
    }
    return frames;
  }

  private startFrame(frames: SpdyFrame[]): void {
    const h = this.header;
    const flags = h[4]!;
    this.left = h.readUInt32BE(4) & 0xffffff;
    if (h[0]! & 0x80) {
      const version = h.readUInt16BE(0) & 0x7fff;
      if (version !== SPDY_VERSION) throw new SpdyProtocolError(`SPDY version ${version} frame`);
      // Control payloads a client acts on are a few bytes; the rest (header blocks) are skipped.
      this.control = { type: h.readUInt16BE(2), flags, body: Buffer.alloc(Math.min(this.left, 16)), filled: 0 };
    } else {
      this.data = { streamId: h.readUInt32BE(0) & 0x7fffffff, fin: (flags & FLAG_FIN) !== 0 };
      // An empty DATA frame still carries its FIN.
      if (this.left === 0) frames.push({ kind: 'data', streamId: this.data.streamId, payload: Buffer.alloc(0), fin: this.data.fin });
    }
    if (this.left === 0) this.endFrame(frames);
  }

  private endFrame(frames: SpdyFrame[]): void {
    const c = this.control;
    this.headerBytes = 0;
    this.data = undefined;
    this.control = undefined;
    if (!c) return;
    const body = c.body;
    const fin = (c.flags & FLAG_FIN) !== 0;
    const word = (i: number) => (body.length >= i + 4 ? body.readUInt32BE(i) : 0);
    switch (c.type) {
      case ControlType.SynReply:
        frames.push({ kind: 'synReply', streamId: word(0) & 0x7fffffff, fin });
        return;
      case ControlType.Headers:
        frames.push({ kind: 'headers', streamId: word(0) & 0x7fffffff, fin });
        return;
      case ControlType.RstStream:
        frames.push({ kind: 'rstStream', streamId: word(0) & 0x7fffffff, status: word(4) });
        return;
      case ControlType.Ping:
        frames.push({ kind: 'ping', id: word(0) });
        return;
      case ControlType.GoAway:
        frames.push({ kind: 'goAway', lastGoodStreamId: word(0) & 0x7fffffff, status: word(4) });
        return;
      default:
        frames.push({ kind: 'other', type: c.type });
    }
  }
}
