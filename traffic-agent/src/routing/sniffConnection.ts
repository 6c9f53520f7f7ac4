/**
 * Reads a new connection's first bytes until classifyPrefix can tell what it speaks, then puts
 * them back (unshift), so that whoever takes the connection next sees it from its first byte.
 * Reading goes through 'readable' and read(n), never to the end: a client that sends its request
 * and half-closes at once must still be servable, and unshift is refused after 'end'.
 */
import type net from 'node:net';
import { classifyPrefix, type SniffVerdict } from './sniffProtocol.js';

export interface SniffTimeouts {
  /** Nothing arrived by then: a server-speaks-first protocol, so 'other'. */
  firstBytesMs: number;
  /** Bytes that look like the start of a request line may take this long to complete. */
  requestLineMs: number;
}

export const DEFAULT_SNIFF_TIMEOUTS: SniffTimeouts = { firstBytesMs: 500, requestLineMs: 5000 };

/** Resolves with the protocol; rejects when the connection fails or closes first. */
export function sniffConnection(socket: net.Socket, timeouts: SniffTimeouts): Promise<Exclude<SniffVerdict, 'incomplete'>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let timer = setTimeout(() => decide(true), timeouts.firstBytesMs);
    let extended = false;

    const decide = (eof: boolean): void => {
      const bytes = Buffer.concat(chunks, length);
      const verdict = classifyPrefix(bytes, eof);
      if (verdict === 'incomplete') {
        if (!extended && length > 0) {
          extended = true;
          clearTimeout(timer);
          timer = setTimeout(() => decide(true), timeouts.requestLineMs);
        }
        return;
      }
      cleanup();
      if (bytes.length) socket.unshift(bytes);
      resolve(verdict);
    };
    const onReadable = (): void => {
      const n = socket.readableLength;
      // A 'readable' with nothing buffered is the end of the stream.
      if (n === 0) return decide(true);
      const chunk = socket.read(n) as Buffer | null;
      if (chunk) {
        chunks.push(chunk);
        length += chunk.length;
      }
      decide(false);
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('connection closed before its protocol was known'));
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(e);
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('readable', onReadable);
      socket.off('close', onClose);
      socket.off('error', onError);
    };
    socket.on('readable', onReadable);
    socket.on('close', onClose);
    socket.on('error', onError);
  });
}
