/**
 * The user daemon's side of a separate network role: watches for its socket (it may be started
 * before or after `telepath connect`), attaches when it appears, and drives it for the session.
 * The role serves this daemon until the link closes, so `quit` or a crash of the daemon ends it.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import { createMessageConnection, SocketMessageReader, SocketMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import { PRODUCT_VERSION } from '../../../protocol/src/version.js';
import type { Logger } from '../../../common/src/log/fileLogger.js';
import { within } from './within.js';
import type { ClusterNetworks } from './session/clusterSession.js';
import { networkRoleRequests, START_NETWORK_ROLE, type NetworkStartParams, type NetworkState } from '../network/networkRoleProtocol.js';

const POLL_MS = 1000;
/** A mount is not held up longer than this by a network role that does not answer. */
const READ_AHEAD_TIMEOUT_MS = 5000;

export class NetworkRoleLink {
  private conn?: MessageConnection;
  private timer?: NodeJS.Timeout;
  /** The socket file (inode and time) of the last attempt that failed: tried again once it changes. */
  private failedOn?: string;
  private closed = false;
  private readonly events = new EventEmitter();
  /** The network role's process id, while attached. */
  pid?: number;
  /** Why the daemon is not attached although a network role may be running. */
  problem?: string;

  constructor(
    private readonly socketPath: string,
    private readonly log: Logger,
  ) {}

  /** Attaches now if the role runs, and whenever it (re)appears. */
  watch(): void {
    const tick = async () => {
      if (this.closed) return;
      if (!this.conn) await this.tryAttach();
      if (!this.closed) this.timer = setTimeout(tick, POLL_MS).unref();
    };
    void tick();
  }

  get attached(): boolean {
    return this.conn !== undefined;
  }

  onAttached(listener: () => void): void {
    this.events.on('attached', listener);
  }

  onDetached(listener: (why: string) => void): void {
    this.events.on('detached', listener);
  }

  /** What to tell the user while outbound access is off. */
  inactiveMessage(): string {
    return (
      this.problem ??
      `outbound cluster access (routes and DNS) needs the network role, which runs as root: run "${START_NETWORK_ROLE}"; intercepts work without it`
    );
  }

  /** Routes and DNS for a session, through the role. */
  async start(params: NetworkStartParams): Promise<RemoteNetwork> {
    const conn = this.connection();
    const state = await conn.sendRequest(networkRoleRequests.start, params);
    return new RemoteNetwork(conn, state);
  }

  /** Has the role raise the read-ahead of a volume mount this daemon made (it must be root to). */
  async raiseReadAhead(mountPoint: string): Promise<void> {
    const conn = this.connection();
    const request = conn.sendRequest(networkRoleRequests.readAhead, { mountPoint });
    await within(request, READ_AHEAD_TIMEOUT_MS, `the network role did not answer within ${READ_AHEAD_TIMEOUT_MS} ms`);
  }

  /** Ends the link, and with it the network role. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.conn?.dispose();
    this.conn = undefined;
  }

  private connection(): MessageConnection {
    if (!this.conn) throw new Error(this.inactiveMessage());
    return this.conn;
  }

  private async tryAttach(): Promise<void> {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(this.socketPath);
    } catch {
      this.problem = undefined;
      return; // not running
    }
    const key = `${stat.ino}:${stat.mtimeMs}`;
    if (key === this.failedOn) return;
    let socket: net.Socket;
    try {
      socket = await connectUnix(this.socketPath);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ECONNREFUSED' || code === 'ENOENT') return; // a stale file; the next role replaces it
      this.failedOn = key;
      this.problem =
        code === 'EACCES'
          ? `the network role on ${this.socketPath} was started for another user; start it for yourself with "${START_NETWORK_ROLE}"`
          : `cannot reach the network role on ${this.socketPath}: ${(err as Error).message}`;
      this.log.warn(this.problem);
      return;
    }
    const conn = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
    conn.listen();
    try {
      const hello = await conn.sendRequest(networkRoleRequests.hello, { version: PRODUCT_VERSION });
      if (hello.version !== PRODUCT_VERSION) {
        throw new Error(
          `the network role (pid ${hello.pid}) is telepath ${hello.version}, this daemon ${PRODUCT_VERSION}: stop it (sudo kill ${hello.pid}) and run "${START_NETWORK_ROLE}" again`,
        );
      }
      this.pid = hello.pid;
    } catch (err) {
      conn.dispose();
      this.failedOn = key;
      this.problem = (err as Error).message;
      this.log.warn(`not attaching to the network role: ${this.problem}`);
      return;
    }
    this.conn = conn;
    this.problem = undefined;
    this.log.info(`attached to the network role (pid ${this.pid})`);
    conn.onClose(() => {
      if (this.conn !== conn) return;
      this.conn = undefined;
      const why = `the network role (pid ${this.pid}) stopped; routes and DNS are off until "${START_NETWORK_ROLE}" runs again`;
      this.pid = undefined;
      if (!this.closed) this.log.warn(why);
      this.events.emit('detached', why);
    });
    this.events.emit('attached');
  }
}

/** Routes and DNS of one session, run by the network role; the shape of the in-process NetworkRole. */
export class RemoteNetwork {
  constructor(
    private readonly conn: MessageConnection,
    private state: NetworkState,
  ) {}

  status(): NetworkState {
    return structuredClone(this.state);
  }

  async update(networks: ClusterNetworks, namespaces: string[]): Promise<void> {
    this.state = await this.conn.sendRequest(networkRoleRequests.update, { networks, namespaces });
  }

  async setShortNameNamespace(namespace: string): Promise<void> {
    this.state = await this.conn.sendRequest(networkRoleRequests.update, { shortNameNamespace: namespace });
  }

  async sessionChanged(sessionId: string, joinSecret: string): Promise<void> {
    this.state = await this.conn.sendRequest(networkRoleRequests.update, { sessionId, joinSecret });
  }

  /** Nothing to stop when the role is gone: it restored everything as its daemon link closed. */
  async stop(): Promise<void> {
    await this.conn.sendRequest(networkRoleRequests.stop, {}).catch((err: Error) => {
      if (!/disposed|closed/i.test(err.message)) throw err;
    });
  }
}

function connectUnix(socketPath: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    s.once('error', reject);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
  });
}
