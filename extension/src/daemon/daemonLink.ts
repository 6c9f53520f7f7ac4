/**
 * The extension's link to the daemon: finds it (or starts it), shakes hands, follows its
 * statusChanged notifications, and reconnects with a bounded backoff when the daemon goes away —
 * for a while quickly, then now and then, so a daemon restarted by the CLI is found again
 * without a retry storm. A user action (a command, the tree opening) starts the daemon again.
 */
import { CancellationTokenSource, ResponseError, type CancellationToken } from 'vscode-jsonrpc';
import {
  daemonRequests,
  ErrorCode,
  type DaemonStatus,
  type InitializeResult,
  type ProgressParams,
  type RequestDefinition,
} from '../../../protocol/src/daemon';
import { backoffDelays, CancelledError, delay } from '../util/cancellation.js';
import { DisposableList, type Disposable } from '../util/disposables.js';
import { Emitter, type Event } from '../util/emitter.js';
import { DaemonConnection } from './daemonConnection.js';
import type { Logger } from './logger.js';

/**
 * idle: not tried yet; starting: connecting or starting the daemon; up: initialized;
 * lost: the daemon went away and we are reconnecting; down: no daemon runs (we look now and then);
 * failed: the daemon could not be started or speaks another protocol (see `failure`).
 */
export type LinkState = 'idle' | 'starting' | 'up' | 'lost' | 'down' | 'failed';

export interface ReconnectPolicy {
  initialMs: number;
  maxMs: number;
  /** After this long without the daemon, `lost` becomes `down`. */
  giveUpAfterMs: number;
  /** How often to look for a daemon while `down`. */
  idleRetryMs: number;
}

export const DEFAULT_RECONNECT: ReconnectPolicy = { initialMs: 250, maxMs: 5_000, giveUpAfterMs: 30_000, idleRetryMs: 30_000 };

export interface DaemonLinkOptions {
  socketPath: string;
  clientName: string;
  clientVersion: string;
  /** Starts the daemon and connects to it. */
  launch(token: CancellationToken): Promise<DaemonConnection>;
  /** Connects to a running daemon; default DaemonConnection.open. */
  open?(socketPath: string, token: CancellationToken): Promise<DaemonConnection>;
  log: Logger;
  reconnect?: ReconnectPolicy;
}

export class DaemonLink implements Disposable {
  private conn?: DaemonConnection;
  private connSubscriptions = new DisposableList();
  private starting?: Promise<DaemonConnection>;
  private reconnectLoop?: CancellationTokenSource;
  private readonly lifetime = new CancellationTokenSource();
  private readonly changed = new Emitter<void>();
  private readonly progress = new Emitter<ProgressParams>();
  private currentState: LinkState = 'idle';
  private currentStatus?: DaemonStatus;
  private lastFailure?: unknown;
  private initResult?: InitializeResult;
  private disposed = false;

  /** Fires when `state` or `status` changed. */
  readonly onDidChange: Event<void> = this.changed.event;
  readonly onProgress: Event<ProgressParams> = this.progress.event;

  constructor(private readonly options: DaemonLinkOptions) {}

  get state(): LinkState {
    return this.currentState;
  }

  /** The daemon's last reported status; kept while reconnecting, so the UI can say what was. */
  get status(): DaemonStatus | undefined {
    return this.currentStatus;
  }

  get failure(): unknown {
    return this.lastFailure;
  }

  get daemonVersion(): string | undefined {
    return this.initResult?.daemonVersion;
  }

  /** Whether the daemon serves a method (newer methods are optional within a protocol minor). */
  supports(method: string): boolean {
    return this.initResult?.capabilities.methods.includes(method) ?? false;
  }

  /** Connects to a daemon that already runs, without starting one. */
  async attach(): Promise<boolean> {
    if (this.conn) return true;
    if (this.starting) return this.starting.then(() => true, () => false);
    const conn = await this.open(this.lifetime.token).catch(() => undefined);
    if (!conn) {
      if (this.currentState === 'idle') {
        this.setState('down');
        this.startReconnecting(true);
      }
      return false;
    }
    try {
      await this.adopt(conn, this.lifetime.token);
      return true;
    } catch (e) {
      this.fail(e);
      return false;
    }
  }

  /** The initialized connection, starting the daemon when none runs. */
  ensureUp(token?: CancellationToken): Promise<DaemonConnection> {
    if (this.disposed) return Promise.reject(new CancelledError('the extension is shutting down'));
    if (this.conn) return Promise.resolve(this.conn);
    if (!this.starting) {
      this.stopReconnecting();
      this.starting = this.start().finally(() => (this.starting = undefined));
    }
    const starting = this.starting;
    if (!token) return starting;
    return new Promise((resolve, reject) => {
      const sub = token.onCancellationRequested(() => reject(new CancelledError()));
      starting.then(resolve, reject).finally(() => sub.dispose());
    });
  }

  async request<P, R>(def: RequestDefinition<P, R>, params: P, token?: CancellationToken): Promise<R> {
    const conn = await this.ensureUp(token);
    return conn.request(def, params, token);
  }

  /** Stops the running daemon (quit needs no handshake) and starts ours: for a daemon of another protocol. */
  async restartDaemon(token?: CancellationToken): Promise<DaemonConnection> {
    const conn = this.conn ?? (await this.open(token ?? this.lifetime.token).catch(() => undefined));
    if (conn) {
      const gone = new Promise<void>((resolve) => conn.onClose(() => resolve()));
      await conn.request(daemonRequests.quit, {}, token).catch(() => undefined);
      await Promise.race([gone, delay(10_000, token)]);
      conn.dispose();
    }
    this.lastFailure = undefined;
    return this.ensureUp(token);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.lifetime.cancel();
    this.stopReconnecting();
    this.connSubscriptions.dispose();
    this.conn?.dispose();
    this.conn = undefined;
    this.changed.dispose();
    this.progress.dispose();
  }

  private async start(): Promise<DaemonConnection> {
    this.setState('starting');
    const token = this.lifetime.token;
    try {
      let conn = await this.open(token).catch(() => undefined);
      if (!conn) {
        this.options.log.info('no daemon answers; starting one');
        conn = await this.options.launch(token);
      }
      await this.adopt(conn, token);
      return conn;
    } catch (e) {
      this.fail(e);
      throw e;
    }
  }

  private open(token: CancellationToken): Promise<DaemonConnection> {
    return this.options.open ? this.options.open(this.options.socketPath, token) : DaemonConnection.open(this.options.socketPath, token);
  }

  /** Handshake, first status, and watching for the daemon to go away. */
  private async adopt(conn: DaemonConnection, token: CancellationToken): Promise<void> {
    const subs = new DisposableList();
    subs.add(conn.onStatusChanged((s) => {
      this.currentStatus = s;
      this.changed.fire();
    }));
    subs.add(conn.onProgress((p) => this.progress.fire(p)));
    try {
      this.initResult = await conn.initialize(this.options.clientName, this.options.clientVersion, token);
      const status = await conn.request(daemonRequests.status, {}, token);
      if (this.disposed) throw new CancelledError();
      subs.add(conn.onClose(() => this.lost(conn)));
      this.connSubscriptions.dispose();
      this.connSubscriptions = subs;
      this.conn = conn;
      this.currentStatus = status;
      this.lastFailure = undefined;
      this.options.log.info(`connected to the Telepath daemon ${this.initResult.daemonVersion} (protocol ${this.initResult.protocolVersion})`);
      this.setState('up');
    } catch (e) {
      subs.dispose();
      conn.dispose();
      throw e;
    }
  }

  private lost(conn: DaemonConnection): void {
    if (this.conn !== conn || this.disposed) return;
    this.options.log.warn('the connection to the Telepath daemon closed; reconnecting');
    this.conn = undefined;
    this.connSubscriptions.dispose();
    this.setState('lost');
    this.startReconnecting(false);
  }

  private fail(e: unknown): void {
    if (this.disposed || e instanceof CancelledError) return;
    this.lastFailure = e;
    const incompatible = e instanceof ResponseError && e.code === ErrorCode.IncompatibleProtocol;
    this.options.log.error(`the Telepath daemon is not usable${incompatible ? ' (another protocol version)' : ''}: ${(e as Error).message ?? String(e)}`);
    this.setState('failed');
  }

  /** Looks for the daemon again: quickly for a while after losing it, then every idleRetryMs. */
  private startReconnecting(idle: boolean): void {
    this.stopReconnecting();
    const source = new CancellationTokenSource();
    this.reconnectLoop = source;
    const policy = this.options.reconnect ?? DEFAULT_RECONNECT;
    const next = backoffDelays(policy.initialMs, policy.maxMs);
    const since = Date.now();
    void (async () => {
      try {
        for (;;) {
          const giveUp = idle || Date.now() - since > policy.giveUpAfterMs;
          if (giveUp && this.currentState === 'lost') {
            this.options.log.info('the Telepath daemon is not running; it starts again with the next Telepath action');
            this.setState('down');
          }
          await delay(giveUp ? policy.idleRetryMs : next(), source.token);
          const conn = await this.open(source.token).catch(() => undefined);
          if (!conn) continue;
          if (source.token.isCancellationRequested) {
            conn.dispose();
            return;
          }
          try {
            await this.adopt(conn, source.token);
            return;
          } catch (e) {
            if (e instanceof ResponseError) return this.fail(e);
          }
        }
      } catch {
        // Cancelled: a user action started the daemon, or the extension is going away.
      } finally {
        if (this.reconnectLoop === source) this.reconnectLoop = undefined;
        source.dispose();
      }
    })();
  }

  private stopReconnecting(): void {
    this.reconnectLoop?.cancel();
    this.reconnectLoop = undefined;
  }

  private setState(state: LinkState): void {
    if (this.disposed) return;
    this.currentState = state;
    this.changed.fire();
  }
}
