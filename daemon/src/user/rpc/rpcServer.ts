/**
 * The daemon's JSON-RPC endpoint: a unix socket, one vscode-jsonrpc connection per client. It
 * enforces the handshake (only `version` and `quit` before `initialize`), checks params against
 * the protocol's schemas, turns whatever a handler throws into a ResponseError with a category,
 * and fans status changes out to every initialized client.
 */
import fs from 'node:fs';
import net from 'node:net';
import {
  createMessageConnection,
  SocketMessageReader,
  SocketMessageWriter,
  type CancellationToken,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import {
  answerInitialize,
  daemonError,
  daemonNotifications,
  daemonRequests,
  ErrorCode,
  toResponseError,
  validate,
  type ConnectParams,
  type ContextsParams,
  type ContextsResult,
  type NamespacesResult,
  type DaemonStatus,
  type InterceptParams,
  type InterceptResult,
  type LeaveParams,
  type ListParams,
  type ListResult,
  type ProgressParams,
  type RequestDefinition,
  type SetLogLevelParams,
  type UninstallParams,
  type UninstallResult,
  type VersionResult,
} from '../../../../protocol/src/daemon';
import type { Logger } from '../../../../common/src/log/fileLogger.js';
import { listenOwnerOnly } from '../../network/unixSocket.js';

export type Progress = (kind: ProgressParams['kind'], message: string) => void;

/** What the daemon does; the RPC layer only adapts it to the wire. */
export interface DaemonApi {
  connect(params: ConnectParams, progress: Progress, token: CancellationToken): Promise<DaemonStatus>;
  disconnect(): Promise<void>;
  status(): DaemonStatus;
  version(): VersionResult;
  uninstall(params: UninstallParams, progress: Progress): Promise<UninstallResult>;
  intercept(params: InterceptParams, progress: Progress, token: CancellationToken): Promise<InterceptResult>;
  leave(params: LeaveParams): Promise<void>;
  list(params: ListParams): Promise<ListResult>;
  contexts(params: ContextsParams): ContextsResult;
  namespaces(): Promise<NamespacesResult>;
  setLogLevel(params: SetLogLevelParams): void;
  /** Called after the reply to `quit` went out. */
  quit(): void;
}

export class RpcServer {
  private readonly server: net.Server;
  private readonly clients = new Set<MessageConnection>();
  private readonly initialized = new WeakSet<MessageConnection>();

  constructor(
    private readonly socketPath: string,
    private readonly api: DaemonApi,
    private readonly log: Logger,
  ) {
    this.server = net.createServer((socket) => this.accept(socket));
  }

  /** Listens on the socket; refuses to start when another daemon answers there. */
  async listen(): Promise<void> {
    // The socket is the daemon's whole API: only its owner (and root) may use it.
    await listenOwnerOnly(this.server, this.socketPath, `another Telepath daemon is running on ${this.socketPath}; stop it with "telepath quit"`);
    this.log.info(`listening on ${this.socketPath}`);
  }

  notifyStatus(status: DaemonStatus): void {
    for (const c of this.clients) {
      if (this.initialized.has(c)) void c.sendNotification(daemonNotifications.statusChanged.type, status);
    }
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.dispose();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    fs.rmSync(this.socketPath, { force: true });
  }

  private accept(socket: net.Socket): void {
    const conn = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
    this.clients.add(conn);
    conn.onClose(() => this.clients.delete(conn));
    conn.onError(([err]) => this.log.debug(`client connection error: ${err.message}`));

    const handle = <P, R>(
      def: RequestDefinition<P, R>,
      fn: (params: P, token: CancellationToken) => R | Promise<R>,
      needsInit = true,
    ) => {
      conn.onRequest(def.type, async (params: P, token: CancellationToken) => {
        try {
          if (needsInit && !this.initialized.has(conn)) {
            throw daemonError(ErrorCode.NotInitialized, `call initialize before ${def.method}`);
          }
          const problems = validate(def.params, params ?? {});
          if (problems.length > 0) throw daemonError(ErrorCode.InvalidParams, problems.join('; '));
          return await fn((params ?? {}) as P, token);
        } catch (err) {
          const reply = toResponseError(err);
          if (reply.code === ErrorCode.Internal) this.log.error(`${def.method} failed`, err);
          else this.log.info(`${def.method}: ${reply.message}`);
          return reply;
        }
      });
    };
    const progressFor = (token?: string): Progress => (kind, message) => {
      const p: ProgressParams = { kind, message };
      if (token !== undefined) p.token = token;
      void conn.sendNotification(daemonNotifications.progress.type, p);
    };

    handle(daemonRequests.initialize, (params) => {
      const result = answerInitialize(params);
      this.initialized.add(conn);
      this.log.info(`client ${params.clientName} ${params.clientVersion ?? ''} initialized (protocol ${params.protocolVersion})`);
      return result;
    }, false);
    handle(daemonRequests.version, () => this.api.version(), false);
    handle(daemonRequests.quit, () => {
      setImmediate(() => this.api.quit());
      return {};
    }, false);
    handle(daemonRequests.connect, (params, token) => this.api.connect(params, progressFor(params.progressToken), token));
    handle(daemonRequests.disconnect, async () => {
      await this.api.disconnect();
      return {};
    });
    handle(daemonRequests.status, () => this.api.status());
    handle(daemonRequests.uninstall, (params) => this.api.uninstall(params, progressFor(params.progressToken)));
    handle(daemonRequests.intercept, (params, token) => this.api.intercept(params, progressFor(params.progressToken), token));
    handle(daemonRequests.leave, async (params) => {
      await this.api.leave(params);
      return {};
    });
    handle(daemonRequests.list, (params) => this.api.list(params));
    handle(daemonRequests.contexts, (params) => this.api.contexts(params));
    handle(daemonRequests.namespaces, () => this.api.namespaces());
    handle(daemonRequests.setLogLevel, (params) => {
      this.api.setLogLevel(params);
      return {};
    });
    conn.listen();
  }
}
