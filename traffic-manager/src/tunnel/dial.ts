/**
 * Dialing the destination of a tunnel: a TCP connect with a deadline, or a connected UDP socket.
 * A failure carries the DialOutcome the client needs to answer its local socket correctly.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { DialOutcome } from '../../../protocol/src/gen/telepath/tunnel/v1/tunnel.js';
import { dialOutcomeOf } from './dialOutcome.js';

export class DialError extends Error {
  constructor(
    readonly outcome: DialOutcome,
    message: string,
  ) {
    super(message);
    this.name = 'DialError';
  }
}

/** Read buffers grow from 64 KiB (Node's own read size) to this while reads keep filling them. */
const MAX_READ_BYTES = 512 * 1024;

/**
 * Connects with allowHalfOpen, so that a FIN from the destination does not end our side while the
 * client may still send (the tunnel carries half-closes both ways).
 *
 * Reads go into buffers of our own size ('data' events as usual): while a read fills its buffer,
 * the next one is twice as large, so a bulk download arrives in reads of up to 512 KiB, each one
 * tunnel message — fewer messages carry the same bytes, and every message costs both gRPC ends a
 * round of work. A read that does not fill its buffer drops back to 64 KiB.
 */
export function dialTcp(host: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    let size = 64 * 1024;
    let filled = false;
    const socket: net.Socket = net.connect({
      host,
      port,
      allowHalfOpen: true,
      onread: {
        buffer: () => {
          size = filled ? Math.min(size * 2, MAX_READ_BYTES) : 64 * 1024;
          return Buffer.allocUnsafe(size);
        },
        callback: (n: number, buf: Uint8Array) => {
          filled = n === buf.byteLength;
          socket.emit('data', Buffer.from(buf.buffer, buf.byteOffset, n));
          return true; // pausing is socket.pause()'s job
        },
      },
    });
    const settle = (error?: unknown): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.removeListener('connect', onConnect);
      socket.removeListener('error', onError);
      if (error === undefined) return resolve(socket);
      socket.destroy();
      reject(error);
    };
    const onConnect = (): void => settle();
    const onError = (e: Error): void => settle(new DialError(dialOutcomeOf(e), e.message));
    const onAbort = (): void => settle(signal.reason ?? new Error('dial aborted'));
    const timer = setTimeout(
      () => settle(new DialError(DialOutcome.TIMEOUT, `connect ETIMEDOUT ${hostPort(host, port)}: no answer in ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.once('connect', onConnect);
    socket.once('error', onError);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** A UDP socket connected to the destination, so only its datagrams come back. */
export function dialUdp(host: string, port: number, signal: AbortSignal): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    const settle = (error?: unknown): void => {
      signal.removeEventListener('abort', onAbort);
      socket.removeListener('error', onError);
      if (error === undefined) return resolve(socket);
      try {
        socket.close();
      } catch {
        // already closed
      }
      reject(error);
    };
    const onError = (e: Error): void => settle(new DialError(dialOutcomeOf(e), e.message));
    const onAbort = (): void => settle(signal.reason ?? new Error('dial aborted'));
    socket.once('error', onError);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    socket.connect(port, host, () => settle());
  });
}

export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
