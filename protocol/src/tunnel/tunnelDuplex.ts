/**
 * A tunnel call in its data phase as a Node Duplex, for code that wants a socket-like stream (the
 * agent's HTTP router, the daemon's side of an intercepted connection). It keeps the rules of
 * tunnel.proto: writing ends with CloseSend (a FIN), a received CloseSend ends the readable side,
 * a Disconnect destroys the stream, and the gRPC call is ended once both sides have sent
 * CloseSend (or on a Disconnect). Destroying the Duplex with an error sends Disconnect(RESET).
 *
 * Works with a client call and with a server call alike: both are duplex object streams of
 * TunnelMessage with write/end/pause/resume.
 */
import { Duplex } from 'node:stream';
import type { ClientDuplexStream, ServerDuplexStream } from '@grpc/grpc-js';
import { DisconnectReason, type TunnelMessage } from '../gen/telepath/tunnel/v1/tunnel.js';

/** A grpc-js duplex call of TunnelMessages (client or server side); client calls can be cancelled. */
export type TunnelCallLike = ClientDuplexStream<TunnelMessage, TunnelMessage> | ServerDuplexStream<TunnelMessage, TunnelMessage>;

export class TunnelDuplex extends Duplex {
  private sentClose = false;
  private gotClose = false;
  private callEnded = false;
  private readonly onData = (m: TunnelMessage): void => this.onMessage(m);
  private readonly onEnd = (): void => {
    // The peer ended the call; without its CloseSend the data was not complete.
    if (!this.gotClose && !this.destroyed) this.destroy(new Error('the tunnel ended without closing'));
  };
  private readonly onError = (e: Error): void => {
    if (!this.destroyed) this.destroy(e);
  };

  constructor(private readonly call: TunnelCallLike) {
    super({ allowHalfOpen: true });
    call.on('data', this.onData);
    call.on('end', this.onEnd);
    call.on('error', this.onError);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.callEnded) return callback(new Error('the tunnel is closed'));
    if (this.call.write({ message: { $case: 'data', value: chunk } })) callback();
    else this.call.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.callEnded) this.call.write({ message: { $case: 'closeSend', value: {} } });
    this.sentClose = true;
    this.maybeEndCall();
    callback();
  }

  override _read(): void {
    this.call.resume();
  }

  override _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    this.call.off('data', this.onData);
    this.call.off('end', this.onEnd);
    // Keep a listener: a late call error must not become an uncaught exception.
    this.call.off('error', this.onError);
    this.call.on('error', () => undefined);
    if (!this.callEnded && !(this.sentClose && this.gotClose)) {
      if (!this.call.writableEnded && !this.call.destroyed) {
        this.call.write({
          message: { $case: 'disconnect', value: { reason: DisconnectReason.RESET, error: error?.message ?? 'closed' } },
        });
      }
    }
    this.endCall();
    callback(error);
  }

  private onMessage(m: TunnelMessage): void {
    const msg = m.message;
    switch (msg?.$case) {
      case 'data':
        if (!this.push(Buffer.from(msg.value.buffer, msg.value.byteOffset, msg.value.byteLength))) this.call.pause();
        return;
      case 'closeSend':
        if (this.gotClose) return;
        this.gotClose = true;
        this.push(null);
        this.maybeEndCall();
        return;
      case 'disconnect':
        this.callEnded = true;
        this.endCall();
        this.destroy(new TunnelResetError(msg.value.error || DisconnectReason[msg.value.reason] || 'reset'));
        return;
      default:
        this.destroy(new Error(`unexpected ${msg?.$case ?? 'empty'} message in the data phase`));
    }
  }

  private maybeEndCall(): void {
    if (this.sentClose && this.gotClose) this.endCall();
  }

  private endCall(): void {
    if (this.callEnded && this.call.writableEnded) return;
    this.callEnded = true;
    if (!this.call.writableEnded && !this.call.destroyed) this.call.end();
  }
}

/** The other side reset the connection (Disconnect). */
export class TunnelResetError extends Error {
  readonly code = 'ECONNRESET';
  constructor(detail: string) {
    super(`connection reset through the tunnel: ${detail}`);
    this.name = 'TunnelResetError';
  }
}

/**
 * Waits for the first message of the peer's answer. Resolves with it; rejects when the call ends
 * or fails first. Listeners are removed before it settles, so a TunnelDuplex can take over.
 */
export function firstMessage(call: TunnelCallLike, timeoutMs: number): Promise<TunnelMessage> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      clearTimeout(timer);
      call.off('data', onData);
      call.off('end', onEnd);
      call.off('error', onError);
    };
    const onData = (m: TunnelMessage): void => {
      cleanup();
      call.pause();
      resolve(m);
    };
    const onEnd = (): void => {
      cleanup();
      reject(new Error('the tunnel ended before it answered'));
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(e);
    };
    const timer = setTimeout(() => {
      cleanup();
      if ('cancel' in call) call.cancel();
      reject(new Error(`the tunnel did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    call.on('data', onData);
    call.on('end', onEnd);
    call.on('error', onError);
  });
}
