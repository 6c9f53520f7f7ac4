/**
 * The network role as a separate root process: serves one user daemon on a unix socket that
 * only that user (and root) may open, and runs routes and DNS (NetworkRole) for it. It reaches
 * the manager through the daemon's own port-forward listener (an address on this machine), with
 * the session id the daemon gives it, so it never holds a kubeconfig or cluster credentials.
 * When its daemon goes away — quit, crash or kill -9 — it restores the resolver, removes the
 * device and ends.
 */
import fs from 'node:fs';
import net from 'node:net';
import { credentials } from '@grpc/grpc-js';
import { createMessageConnection, ErrorCodes, ResponseError, SocketMessageReader, SocketMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import { ManagerClient } from '../../../protocol/src/manager/managerService.js';
import { PRODUCT_VERSION } from '../../../protocol/src/version.js';
import type { Logger } from '../../../common/src/log/fileLogger.js';
import { listenOwnerOnly } from './unixSocket.js';
import type { ClusterNetworks } from './clusterNetworks.js';
import { lookupDns, managerChannelOptions, SessionJoiner } from './managerChannel.js';
import { NetworkRole } from './networkRole.js';
import { checkStartParams, checkUpdateParams, managerSocketPath, RefusedInput } from './networkInput.js';
import { mountAt, READ_AHEAD_KB, readAheadRefusal, setReadAhead } from './readAhead.js';
import { networkRoleRequests, type NetworkState } from './networkRoleProtocol.js';

export interface NetworkRoleHostOptions {
  socketPath: string;
  /** Who may use the socket besides root (the user who ran sudo). */
  ownerUid: number;
  journalDir: string;
  log: Logger;
  /** Route subnets wider than networkInput.ts's WIDEST_PREFIX (`--allow-wide-subnets`). */
  allowWideSubnets?: boolean;
  /** The daemon it served went away: the process should end. */
  onDone(reason: string): void;
}

export class NetworkRoleHost {
  private readonly server: net.Server;
  private daemon?: MessageConnection;
  private served?: { role: NetworkRole; manager: ManagerClient; joiner: SessionJoiner; networks: ClusterNetworks; namespaces: string[] };
  private sessionId = '';
  private joinSecret = '';
  /** Requests run one at a time: start, update and stop change the same routes and resolver. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: NetworkRoleHostOptions) {
    this.server = net.createServer((socket) => this.accept(socket));
  }

  async listen(): Promise<void> {
    const socketPath = this.opts.socketPath;
    // Created owner-only, then handed to the user: nobody else may connect in between.
    await listenOwnerOnly(this.server, socketPath, `a Telepath network role is already running on ${socketPath}`);
    fs.chownSync(socketPath, this.opts.ownerUid, -1);
    this.opts.log.info(`listening on ${socketPath} for uid ${this.opts.ownerUid}`);
  }

  /** Restores everything and stops listening. */
  async close(): Promise<void> {
    await this.serialized(() => this.stopRole());
    this.daemon?.dispose();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    fs.rmSync(this.opts.socketPath, { force: true });
  }

  private accept(socket: net.Socket): void {
    const conn = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
    const log = this.opts.log;
    // A connection becomes this role's daemon with `hello`; a probe that only connects does not.
    const mine = () => {
      if (this.daemon !== conn) throw new Error('send network/hello first');
    };
    conn.onRequest(networkRoleRequests.hello, () => {
      if (this.daemon && this.daemon !== conn) throw new Error('this network role already serves another daemon');
      if (!this.daemon) log.info('a daemon attached');
      this.daemon = conn;
      return { version: PRODUCT_VERSION, pid: process.pid };
    });
    // What the daemon sends is checked before anything is written; a refusal is InvalidParams
    // with the message that says what and why (networkInput.ts).
    const refusal = (err: unknown): never => {
      if (!(err instanceof RefusedInput)) throw err;
      log.warn(err.message);
      throw new ResponseError(ErrorCodes.InvalidParams, err.message);
    };
    conn.onRequest(networkRoleRequests.start, (p: unknown) => (mine(), this.serialized(() => this.start(p)).catch(refusal)));
    conn.onRequest(networkRoleRequests.update, (p: unknown) => (mine(), this.serialized(() => this.update(p)).catch(refusal)));
    conn.onRequest(networkRoleRequests.stop, () => (mine(), this.serialized(() => this.stopRole())));
    conn.onRequest(networkRoleRequests.readAhead, (p) => (mine(), this.readAhead(p.mountPoint)));
    conn.onClose(() => {
      if (this.daemon !== conn) return;
      log.info('the daemon went away; restoring routes and DNS');
      void this.serialized(() => this.stopRole()).finally(() => this.opts.onDone('its daemon went away'));
    });
    conn.listen();
  }

  private async start(raw: unknown): Promise<NetworkState> {
    const allowWideSubnets = !!this.opts.allowWideSubnets;
    const p = checkStartParams(raw, { allowWideSubnets });
    this.checkManagerSocket(p.managerAddress);
    // Checked while what runs is still running: a refused start leaves it as it is.
    await NetworkRole.check(p, allowWideSubnets, this.served?.role.footprint());
    await this.stopRole();
    const manager = new ManagerClient(p.managerAddress, credentials.createInsecure(), managerChannelOptions());
    this.sessionId = p.sessionId;
    this.joinSecret = p.joinSecret;
    // This process's connection is not the daemon's: the manager lets it use the session once joined.
    const joiner = new SessionJoiner(manager, () => ({ sessionId: this.sessionId, joinSecret: this.joinSecret }), (m) => this.opts.log.warn(m));
    try {
      const role = await NetworkRole.start({
        client: manager,
        sessionId: () => this.sessionId,
        lookupCluster: (name, qtype, signal) => lookupDns(manager, { sessionId: this.sessionId }, name, qtype, signal),
        networks: p.networks,
        connectedNamespace: p.connectedNamespace,
        namespaces: p.namespaces,
        journalDir: this.opts.journalDir,
        log: this.opts.log,
        allowWideSubnets,
      });
      this.served = { role, manager, joiner, networks: p.networks, namespaces: p.namespaces };
      return role.status();
    } catch (err) {
      joiner.close();
      manager.close();
      this.opts.log.error('starting routes and DNS failed', err);
      throw err;
    }
  }

  /**
   * The root process dials the manager address: it must be a unix socket of the user this role
   * serves (the daemon's own port-forward listener), not some other program's socket on this
   * machine that root can reach and the user cannot.
   */
  private checkManagerSocket(managerAddress: string): void {
    const socketPath = managerSocketPath(managerAddress);
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(socketPath);
    } catch {
      st = undefined;
    }
    const owner = this.opts.ownerUid;
    if (!st?.isSocket() || (owner !== 0 && st.uid !== owner)) {
      throw new RefusedInput(
        `refused network/start: the manager address ${managerAddress} is not a unix socket of uid ${owner}, the user this network role serves ` +
          '(the daemon\'s port-forward to the traffic-manager is one). Nothing was changed.',
      );
    }
  }

  /** Only for a FUSE mount that the user this role serves made: nothing else on the machine. */
  private readAhead(mountPoint: unknown): { readAheadKb: number } {
    const dir = typeof mountPoint === 'string' ? mountPoint : '';
    const entry = mountAt(dir);
    const refusal = readAheadRefusal(entry, dir, this.opts.ownerUid);
    if (refusal) {
      this.opts.log.warn(`not raising the read-ahead: ${refusal}`);
      throw new Error(refusal);
    }
    const file = setReadAhead(entry!);
    this.opts.log.info(`read-ahead of ${dir} set to ${READ_AHEAD_KB} KiB (${file})`);
    return { readAheadKb: READ_AHEAD_KB };
  }

  private async update(raw: unknown): Promise<NetworkState> {
    const p = checkUpdateParams(raw, { allowWideSubnets: !!this.opts.allowWideSubnets });
    const s = this.served;
    if (!s) throw new Error('routes and DNS are not started');
    // NetworkRole.update checks against the workstation before it changes anything; a refusal
    // keeps what is applied (and this request's other fields unapplied).
    if (p.networks || p.namespaces) {
      const networks = p.networks ?? s.networks;
      const namespaces = p.namespaces ?? s.namespaces;
      await s.role.update(networks, namespaces);
      s.networks = networks;
      s.namespaces = namespaces;
    }
    if (p.sessionId && p.joinSecret) {
      this.sessionId = p.sessionId;
      this.joinSecret = p.joinSecret;
      await s.joiner.join();
    }
    if (p.shortNameNamespace) await s.role.setShortNameNamespace(p.shortNameNamespace);
    return s.role.status();
  }

  private async stopRole(): Promise<void> {
    const s = this.served;
    this.served = undefined;
    if (!s) return;
    try {
      await s.role.stop();
    } finally {
      s.joiner.close();
      s.manager.close();
    }
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
