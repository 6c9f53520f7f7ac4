/**
 * gRPC length-prefixed message framing (PROTOCOL-HTTP2.md): 1 byte compressed flag, 4 bytes
 * big-endian length, then the message. Pure: buffers in, frames out.
 */
export interface GrpcFrame {
  compressed: boolean;
  message: Buffer;
}

export const GRPC_FRAME_HEADER_LENGTH = 5;
export const DEFAULT_MAX_MESSAGE_LENGTH = 4 * 1024 * 1024;

export function encodeGrpcFrame(message: Uint8Array, compressed = false): Buffer {
  const frame = Buffer.alloc(GRPC_FRAME_HEADER_LENGTH + message.length);
  frame.writeUInt8(compressed ? 1 : 0, 0);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, GRPC_FRAME_HEADER_LENGTH);
  return frame;
}

export class GrpcFrameError extends Error {}

/** Splits a byte stream into frames, whatever the chunk boundaries are. */
export class GrpcFrameDecoder {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly maxMessageLength = DEFAULT_MAX_MESSAGE_LENGTH) {}

  push(chunk: Uint8Array): GrpcFrame[] {
    this.pending = this.pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.pending, chunk]);
    const frames: GrpcFrame[] = [];
    while (this.pending.length >= GRPC_FRAME_HEADER_LENGTH) {
      const flag = this.pending.readUInt8(0);
      if (flag > 1) throw new GrpcFrameError(`invalid compressed flag ${flag}`);
      const length = this.pending.readUInt32BE(1);
      if (length > this.maxMessageLength) {
        throw new GrpcFrameError(`message of ${length} bytes exceeds the limit of ${this.maxMessageLength}`);
      }
      const end = GRPC_FRAME_HEADER_LENGTH + length;
      if (this.pending.length < end) break;
      frames.push({ compressed: flag === 1, message: this.pending.subarray(GRPC_FRAME_HEADER_LENGTH, end) });
      this.pending = this.pending.subarray(end);
    }
    return frames;
  }

  /** Call at end of stream: a partial frame left over is a protocol error. */
  finish(): void {
    if (this.pending.length > 0) {
      throw new GrpcFrameError(`stream ended inside a frame (${this.pending.length} bytes left)`);
    }
  }
}

/** grpc-message is percent-encoded: everything outside printable ASCII, and '%' itself. */
export function encodeGrpcMessage(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}
