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
import { createMessageConnection, SocketMessageReader, SocketMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import { ManagerClient } from '../../../protocol/src/manager/managerService.js';
import { PRODUCT_VERSION } from '../../../protocol/src/version.js';
import type { Logger } from '../../../common/src/log/fileLogger.js';
import { listenOwnerOnly } from './unixSocket.js';
import type { ClusterNetworks } from './clusterNetworks.js';
import { lookupDns, managerChannelOptions } from './managerChannel.js';
import { NetworkRole } from './networkRole.js';
import { mountAt, READ_AHEAD_KB, readAheadRefusal, setReadAhead } from './readAhead.js';
import { networkRoleRequests, type NetworkStartParams, type NetworkState, type NetworkUpdateParams } from './networkRoleProtocol.js';

export interface NetworkRoleHostOptions {
  socketPath: string;
  /** Who may use the socket besides root (the user who ran sudo). */
  ownerUid: number;
  journalDir: string;
  log: Logger;
  /** The daemon it served went away: the process should end. */
  onDone(reason: string): void;
}

export class NetworkRoleHost {
  private readonly server: net.Server;
  private daemon?: MessageConnection;
  private served?: { role: NetworkRole; manager: ManagerClient; networks: ClusterNetworks; namespaces: string[] };
  private sessionId = '';
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
    conn.onRequest(networkRoleRequests.start, (p) => (mine(), this.serialized(() => this.start(p))));
    conn.onRequest(networkRoleRequests.update, (p) => (mine(), this.serialized(() => this.update(p))));
    conn.onRequest(networkRoleRequests.stop, () => (mine(), this.serialized(() => this.stopRole())));
    conn.onRequest(networkRoleRequests.readAhead, (p) => (mine(), this.readAhead(p.mountPoint)));
    conn.onClose(() => {
      if (this.daemon !== conn) return;
      log.info('the daemon went away; restoring routes and DNS');
      void this.serialized(() => this.stopRole()).finally(() => this.opts.onDone('its daemon went away'));
    });
    conn.listen();
  }

  private async start(p: NetworkStartParams): Promise<NetworkState> {
    await this.stopRole();
    const manager = new ManagerClient(p.managerAddress, credentials.createInsecure(), managerChannelOptions());
    this.sessionId = p.sessionId;
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
      });
      this.served = { role, manager, networks: p.networks, namespaces: p.namespaces };
      return role.status();
    } catch (err) {
      manager.close();
      this.opts.log.error('starting routes and DNS failed', err);
      throw err;
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

  private async update(p: NetworkUpdateParams): Promise<NetworkState> {
    const s = this.served;
    if (!s) throw new Error('routes and DNS are not started');
    if (p.sessionId) this.sessionId = p.sessionId;
    if (p.networks || p.namespaces) {
      s.networks = p.networks ?? s.networks;
      s.namespaces = p.namespaces ?? s.namespaces;
      await s.role.update(s.networks, s.namespaces);
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
      s.manager.close();
    }
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
