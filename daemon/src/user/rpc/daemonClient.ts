/**
 * A client of the daemon's JSON-RPC API over its unix socket: what the CLI (and tests) use.
 * The VS Code extension has its own, built on the same protocol module.
 */
import net from 'node:net';
import {
  createMessageConnection,
  SocketMessageReader,
  SocketMessageWriter,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import {
  daemonNotifications,
  daemonRequests,
  type DaemonStatus,
  type InitializeResult,
  type ProgressParams,
  type RequestDefinition,
} from '../../../../protocol/src/daemon';
import { PRODUCT_VERSION, PROTOCOL_VERSION } from '../../../../protocol/src/version.js';

export class DaemonClient {
  private constructor(
    private readonly conn: MessageConnection,
    private readonly socket: net.Socket,
  ) {}

  /** Connects to the socket; rejects (ENOENT / ECONNREFUSED) when no daemon listens. */
  static connect(socketPath: string): Promise<DaemonClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(socketPath);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        const conn = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
        conn.listen();
        resolve(new DaemonClient(conn, socket));
      });
    });
  }

  initialize(clientName: string): Promise<InitializeResult> {
    return this.request(daemonRequests.initialize, {
      clientName,
      clientVersion: PRODUCT_VERSION,
      protocolVersion: PROTOCOL_VERSION,
      capabilities: { progress: true },
    });
  }

  request<P, R>(def: RequestDefinition<P, R>, params: P): Promise<R> {
    return this.conn.sendRequest(def.type, params);
  }

  onProgress(listener: (p: ProgressParams) => void): void {
    this.conn.onNotification(daemonNotifications.progress.type, listener);
  }

  onStatusChanged(listener: (s: DaemonStatus) => void): void {
    this.conn.onNotification(daemonNotifications.statusChanged.type, listener);
  }

  /** Resolves when the daemon closes the connection (for example after quit). */
  closed(): Promise<void> {
    return new Promise((resolve) => this.conn.onClose(() => resolve()));
  }

  dispose(): void {
    this.conn.dispose();
    this.socket.destroy();
  }
}
