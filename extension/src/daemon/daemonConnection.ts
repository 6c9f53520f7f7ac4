/**
 * One JSON-RPC connection to the daemon over its unix socket: typed requests that take a
 * cancellation token (sent on as $/cancelRequest), the two notifications, and a close event so
 * that the link can reconnect. The CLI's DaemonClient has neither tokens nor a close event, so
 * the extension keeps this small one on the same protocol module.
 */
import net from 'node:net';
import {
  createMessageConnection,
  SocketMessageReader,
  SocketMessageWriter,
  type CancellationToken,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import {
  daemonNotifications,
  daemonRequests,
  type DaemonStatus,
  type InitializeResult,
  type ProgressParams,
  type RequestDefinition,
} from '../../../protocol/src/daemon';
import { PROTOCOL_VERSION } from '../../../protocol/src/version.js';
import { CancelledError } from '../util/cancellation.js';
import type { Disposable } from '../util/disposables.js';
import { Emitter, type Event } from '../util/emitter.js';

export class DaemonConnection implements Disposable {
  private readonly statusChanged = new Emitter<DaemonStatus>();
  private readonly progress = new Emitter<ProgressParams>();
  private readonly closed = new Emitter<void>();
  private isClosed = false;

  readonly onStatusChanged: Event<DaemonStatus> = this.statusChanged.event;
  readonly onProgress: Event<ProgressParams> = this.progress.event;
  /** Fires once, when the daemon goes away or the connection is disposed. */
  readonly onClose: Event<void> = this.closed.event;

  private constructor(
    private readonly conn: MessageConnection,
    private readonly socket: net.Socket,
  ) {
    conn.onNotification(daemonNotifications.statusChanged.type, (s) => this.statusChanged.fire(s));
    conn.onNotification(daemonNotifications.progress.type, (p) => this.progress.fire(p));
    conn.onClose(() => this.markClosed());
    socket.on('close', () => this.markClosed());
    conn.listen();
  }

  /** Connects to the socket; rejects (ENOENT, ECONNREFUSED, EACCES) when no daemon of ours listens. */
  static open(socketPath: string, token?: CancellationToken): Promise<DaemonConnection> {
    return new Promise((resolve, reject) => {
      if (token?.isCancellationRequested) return reject(new CancelledError());
      const socket = net.connect(socketPath);
      const sub = token?.onCancellationRequested(() => {
        socket.destroy();
        reject(new CancelledError());
      });
      socket.once('error', (e) => {
        sub?.dispose();
        reject(e);
      });
      socket.once('connect', () => {
        sub?.dispose();
        socket.removeAllListeners('error');
        // Errors after connecting show up as close.
        socket.on('error', () => undefined);
        const conn = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
        resolve(new DaemonConnection(conn, socket));
      });
    });
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  initialize(clientName: string, clientVersion: string, token?: CancellationToken): Promise<InitializeResult> {
    return this.request(
      daemonRequests.initialize,
      { clientName, clientVersion, protocolVersion: PROTOCOL_VERSION, capabilities: { progress: true } },
      token,
    );
  }

  request<P, R>(def: RequestDefinition<P, R>, params: P, token?: CancellationToken): Promise<R> {
    return token ? this.conn.sendRequest(def.type, params, token) : this.conn.sendRequest(def.type, params);
  }

  dispose(): void {
    this.markClosed();
  }

  private markClosed(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    // Rejects the requests still waiting for an answer, which would otherwise wait forever.
    this.conn.dispose();
    this.socket.destroy();
    this.closed.fire();
    this.statusChanged.dispose();
    this.progress.dispose();
    this.closed.dispose();
  }
}
