/**
 * The data phase of a tunnel, once the destination is dialed: bytes both ways with backpressure,
 * half-closes (TCP), idle timeout (UDP) and resets. A flow talks to the client through
 * ClientSide, so the gRPC call stays in TunnelStream.
 */
import type dgram from 'node:dgram';
import type net from 'node:net';
import { DisconnectReason, type TunnelMessage } from '../../../protocol/src/gen/telepath/tunnel/v1/tunnel.js';
import type { Logger } from '../../../common/src/log/jsonLogger.js';

export interface ClientSide {
  /** Sends one message to the client; false when the call's buffer is full (wait for drain). */
  write(message: NonNullable<TunnelMessage['message']>): boolean;
  onceDrain(listener: () => void): void;
  /** Stop / restart reading the client's messages (HTTP/2 flow control then holds the client). */
  pause(): void;
  resume(): void;
  /** The flow is over: end the call with status OK and release the stream. */
  finish(): void;
}

export interface Flow {
  /** A Data message from the client. */
  fromClient(data: Uint8Array): void;
  /** The client sent CloseSend. */
  clientCloseSend(): void;
  /** Tear down the socket without telling the client; `reset` sends a TCP RST. */
  abort(reset: boolean): void;
  readonly stats: FlowStats;
}

export interface FlowStats {
  bytesToDestination: number;
  bytesFromDestination: number;
}

export function disconnectMessage(reason: DisconnectReason, error: string): NonNullable<TunnelMessage['message']> {
  return { $case: 'disconnect', value: { reason, error } };
}

export class TcpFlow implements Flow {
  readonly stats: FlowStats = { bytesToDestination: 0, bytesFromDestination: 0 };
  private done = false;
  private waitingForClient = false;
  private waitingForSocket = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly client: ClientSide,
    private readonly logger: Logger,
  ) {
    // The workstation's TCP stack already coalesces; Nagle here would only add latency.
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    socket.on('data', (chunk: Buffer) => this.onSocketData(chunk));
    socket.on('end', () => {
      if (!this.done) this.client.write({ $case: 'closeSend', value: {} });
    });
    socket.on('error', (e) => {
      if (this.done) return;
      this.done = true;
      this.logger.debug('destination socket failed', { error: e.message });
      this.client.write(disconnectMessage(DisconnectReason.RESET, e.message));
      this.client.finish();
    });
    // With allowHalfOpen, 'close' without an error comes once both directions have ended.
    socket.on('close', () => {
      if (this.done) return;
      this.done = true;
      this.client.finish();
    });
  }

  fromClient(data: Uint8Array): void {
    if (this.done) return;
    this.stats.bytesToDestination += data.byteLength;
    if (this.socket.write(data) || this.waitingForSocket) return;
    this.waitingForSocket = true;
    this.client.pause();
    this.socket.once('drain', () => {
      this.waitingForSocket = false;
      if (!this.done) this.client.resume();
    });
  }

  clientCloseSend(): void {
    if (!this.done) this.socket.end();
  }

  abort(reset: boolean): void {
    if (this.done) return;
    this.done = true;
    if (reset && !this.socket.destroyed) this.socket.resetAndDestroy();
    else this.socket.destroy();
  }

  private onSocketData(chunk: Buffer): void {
    if (this.done) return;
    this.stats.bytesFromDestination += chunk.byteLength;
    if (this.client.write({ $case: 'data', value: chunk }) || this.waitingForClient) return;
    this.waitingForClient = true;
    this.socket.pause();
    this.client.onceDrain(() => {
      this.waitingForClient = false;
      if (!this.done) this.socket.resume();
    });
  }
}

export class UdpFlow implements Flow {
  readonly stats: FlowStats = { bytesToDestination: 0, bytesFromDestination: 0 };
  private done = false;
  private waitingForClient = false;
  private dropped = 0;
  private readonly idleTimer: NodeJS.Timeout;

  constructor(
    private readonly socket: dgram.Socket,
    private readonly client: ClientSide,
    private readonly logger: Logger,
    idleTimeoutMs: number,
  ) {
    this.idleTimer = setTimeout(() => this.end(DisconnectReason.IDLE_TIMEOUT, `idle for ${idleTimeoutMs} ms`), idleTimeoutMs);
    socket.on('message', (msg: Buffer) => this.onDatagram(msg));
    // On a connected UDP socket an ICMP port unreachable surfaces as ECONNREFUSED.
    socket.on('error', (e) => this.end(DisconnectReason.RESET, e.message));
  }

  fromClient(data: Uint8Array): void {
    if (this.done) return;
    this.idleTimer.refresh();
    this.stats.bytesToDestination += data.byteLength;
    this.socket.send(data, (e) => {
      if (e) this.end(DisconnectReason.RESET, e.message);
    });
  }

  /** UDP has no half-close: the client is done with the flow, so it ends both ways. */
  clientCloseSend(): void {
    if (this.done) return;
    this.client.write({ $case: 'closeSend', value: {} });
    this.close();
    this.client.finish();
  }

  abort(): void {
    this.close();
  }

  private onDatagram(msg: Buffer): void {
    if (this.done) return;
    this.idleTimer.refresh();
    // A datagram the client cannot take now is dropped, as a full socket buffer would drop it.
    if (this.waitingForClient) {
      this.dropped++;
      return;
    }
    this.stats.bytesFromDestination += msg.byteLength;
    if (this.client.write({ $case: 'data', value: msg })) return;
    this.waitingForClient = true;
    this.client.onceDrain(() => {
      this.waitingForClient = false;
    });
  }

  private end(reason: DisconnectReason, error: string): void {
    if (this.done) return;
    this.logger.debug('udp flow ended', { reason: DisconnectReason[reason], error, dropped: this.dropped });
    this.client.write(disconnectMessage(reason, error));
    this.close();
    this.client.finish();
  }

  private close(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.idleTimer);
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}
