/**
 * The serializer for TunnelMessage on the wire. It writes exactly the bytes the generated
 * TunnelMessage.encode writes (a test holds it to that), but a Data message, the one that carries
 * every byte of every tunnelled connection, is built with a single copy of the payload: the
 * generated path copies it three times (into the writer, out of it in finish(), and into the
 * Buffer grpc-js wants), which is four times slower for 16 KiB chunks.
 */
import { TunnelMessage } from '../gen/telepath/tunnel/v1/tunnel.js';

/** Field 3 (data), wire type 2 (length-delimited). */
const DATA_TAG = (3 << 3) | 2;

export function encodeTunnelMessage(message: TunnelMessage): Buffer {
  const m = message.message;
  if (m?.$case !== 'data') {
    const bytes = TunnelMessage.encode(message).finish();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  const payload = m.value;
  let len = payload.byteLength;
  let headerLength = 2;
  for (let v = len; v > 0x7f; v >>>= 7) headerLength++;
  const out = Buffer.allocUnsafe(headerLength + len);
  let pos = 0;
  out[pos++] = DATA_TAG;
  while (len > 0x7f) {
    out[pos++] = (len & 0x7f) | 0x80;
    len >>>= 7;
  }
  out[pos++] = len;
  out.set(payload, pos);
  return out;
}

/** The payload of a Data message is a view into `bytes`, not a copy. */
export function decodeTunnelMessage(bytes: Uint8Array): TunnelMessage {
  return TunnelMessage.decode(bytes);
}
