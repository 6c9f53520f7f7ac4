/**
 * One connection to one cluster: the manager install, the port-forwarded gRPC channel, the client
 * session and its keep-alive, and the cluster's networks as the manager reports them. When the
 * port-forward or the manager drops, the session reconnects by itself with a bounded backoff and
 * says so through onState; a manager that forgot the session (restart) is arrived at again.
 */
import { CoreV1Api } from '@kubernetes/client-node';
import type { ServiceError } from '@grpc/grpc-js';
import { categoryOfCode, daemonError, ErrorCode, type DaemonStatus } from '../../../../protocol/src/daemon';
import type { ClusterInfo, LookupDNSResponse, SessionInfo } from '../../../../protocol/src/gen/telepath/manager/v1/manager.js';
import type { ManagerClient } from '../../../../protocol/src/manager/managerService.js';
import { ipFromBytes, subnetToCidr } from '../../../../protocol/src/ipAddress.js';
import { OWN_API, PRODUCT_VERSION, type ApiRange } from '../../../../protocol/src/version.js';
import { sessionHandle } from '../../../../common/src/sessionIdentity.js';
import { isNotFound, kubeError, type KubeAccess } from '../kube/kubeAccess.js';
import type { Logger } from '../../../../common/src/log/fileLogger.js';
import type { Progress } from '../rpc/rpcServer.js';
import { clientName, HEARTBEAT_MS, ManagerConnection, isSessionLost } from './managerConnection.js';
import { proveSession } from './sessionProof.js';
import type { ClusterNetworks } from '../../network/clusterNetworks.js';

export type { ClusterNetworks };
import { ensureManager, findManagerBundle, type ManagerChoice } from './managerInstaller.js';
import { managerRefusal } from './installDecision.js';

export type SessionState = 'connecting' | 'connected' | 'reconnecting';


export interface SessionEvents {
  onState(state: SessionState, error?: DaemonStatus['error']): void;
  onClusterInfo(info: ClusterNetworks): void;
  /** The session is being restored: what depends on it (intercepts) waits. */
  onLinkLost?(): void;
  /** Arrived again after onLinkLost, possibly at a restarted manager with a new session. */
  onRearrived?(): void;
}

const BACKOFF_MS = [200, 500, 1000, 2000, 5000];

export class ClusterSession {
  private conn?: ManagerConnection;
  private session?: SessionInfo;
  private secret = '';
  private remainTimer?: NodeJS.Timeout;
  private stopWatch?: () => void;
  private closed = false;
  private reconnecting = false;
  /** The manager's version and API levels, as it last answered Version. */
  managerVersion?: string;
  managerApi?: ApiRange;
  /** What connect found in the cluster and did with it. */
  managerChoice?: ManagerChoice;
  networks?: ClusterNetworks;

  constructor(
    readonly access: KubeAccess,
    readonly managerNamespace: string,
    private readonly events: SessionEvents,
    private readonly log: Logger,
  ) {}

  /** Connects; rejects with a daemon error naming what failed and what to do. */
  async start(progress: Progress, signal: AbortSignal): Promise<void> {
    await this.checkNamespace();
    this.managerChoice = await ensureManager(
      this.access,
      { namespace: this.managerNamespace, version: PRODUCT_VERSION, bundle: findManagerBundle() },
      progress,
      this.log.child('install'),
      signal,
    );
    progress('report', 'Connecting to the traffic-manager');
    this.conn = await ManagerConnection.open(this.access, this.managerNamespace, this.log.child('manager'));
    await this.establish(signal);
  }

  /** The manager's gRPC client (valid after start). */
  get client(): ManagerClient {
    return this.conn!.client;
  }

  /** The gRPC target of the manager's forwarded port on this machine (a network-role process dials it too). */
  get managerAddress(): string {
    return this.conn!.address;
  }

  /** The current session id; it changes when the daemon arrives again after a manager restart. */
  get sessionId(): string {
    return this.session?.sessionId ?? '';
  }

  /** What another connection (the network role's) needs to use the session: the manager binds it to connections. */
  get joinSecret(): string {
    return this.secret;
  }

  lookupDns(name: string, qtype: number, signal: AbortSignal): Promise<LookupDNSResponse> {
    return this.conn!.lookupDns(this.session!, name, qtype, signal);
  }

  /** Every namespace the user may list; just the connected one when listing is forbidden. */
  async namespaces(): Promise<string[]> {
    try {
      const list = await this.access.kc.makeApiClient(CoreV1Api).listNamespace();
      return list.items.map((n) => n.metadata!.name!).sort();
    } catch (err) {
      this.log.info(`cannot list namespaces (${(err as Error).message}); only ${this.access.namespace} resolves as svc.ns`);
      return [this.access.namespace];
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.remainTimer);
    this.stopWatch?.();
    if (this.conn && this.session) await this.conn.depart(this.session);
    await this.conn?.close();
  }

  private async checkNamespace(): Promise<void> {
    const core = this.access.kc.makeApiClient(CoreV1Api);
    try {
      await core.readNamespace({ name: this.access.namespace });
    } catch (err) {
      if (isNotFound(err)) {
        throw daemonError(
          ErrorCode.NamespaceNotFound,
          `namespace "${this.access.namespace}" does not exist in context "${this.access.context}"; pass --namespace`,
        );
      }
      throw kubeError(err, `reading namespace ${this.access.namespace}`, this.access);
    }
  }

  /** Version check, arrival, keep-alive and the cluster-info watch, retried while the pod starts. */
  private async establish(signal?: AbortSignal): Promise<void> {
    const conn = this.conn!;
    let lastErr: unknown;
    for (let attempt = 0; attempt < 20 && !this.closed; attempt++) {
      if (signal?.aborted) throw daemonError(ErrorCode.Interrupted, 'connect was interrupted');
      try {
        // Every time: another client may have replaced the manager while this one was away.
        const manager = await conn.version();
        const refusal = managerRefusal(manager, { version: PRODUCT_VERSION, api: OWN_API });
        if (refusal?.action === 'refuse') throw new Refusal(daemonError(refusal.code, refusal.message));
        if (this.managerVersion && manager.version !== this.managerVersion) {
          this.log.warn(`the traffic-manager is now ${manager.version} (was ${this.managerVersion})`);
        }
        this.managerVersion = manager.version;
        this.managerApi = manager.api;
        // Back after the port-forward broke: the session may live on, bound to the old connection.
        // Joining it from this one keeps it, and the intercepts it holds.
        if (this.session && (await this.rejoin(this.session))) return;
        const { session, ttlMs, joinSecret } = await conn.arrive(this.access.namespace);
        this.session = session;
        this.secret = joinSecret;
        // Before anything else uses the session: the manager grants it nothing in a namespace
        // until it knows whose it is. A refusal here is the cluster's answer, not a manager
        // still starting, so it ends the connect at once.
        const user = await proveSession(this.access, this.managerNamespace, session.sessionId, clientName()).catch((e: unknown) => {
          throw new Refusal(e);
        });
        this.log.info(`arrived as client ${user.username}, session ${sessionHandle(session.sessionId)} (ttl ${ttlMs} ms)`);
        this.scheduleRemain(remainEvery(ttlMs));
        await this.watch();
        return;
      } catch (err) {
        if (err instanceof Refusal) throw err.cause;
        lastErr = err;
        // Not a manager still starting: the cluster does not let this user reach it. Say so now.
        const refusal = conn.forwardRefusal();
        if (refusal) {
          throw daemonError(
            ErrorCode.Forbidden,
            `the cluster does not let the user of context "${this.access.context}" port-forward to the traffic-manager in namespace ` +
              `${this.managerNamespace}, which connecting needs (${refusal.message}); ask a cluster admin for the "may connect" role ` +
              `of docs/security.md`,
          );
        }
        this.log.debug(`manager not answering yet: ${(err as Error).message}`);
        await sleep(BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)]!);
      }
    }
    throw daemonError(
      ErrorCode.ManagerUnreachable,
      `the traffic-manager in namespace ${this.managerNamespace} does not answer: ${(lastErr as Error)?.message ?? 'closed'}`,
    );
  }

  /** Joins `session` on the current connection and resumes its keep-alive and watch; false when the manager no longer has it. */
  private async rejoin(session: SessionInfo): Promise<boolean> {
    let ttlMs: number;
    try {
      ({ ttlMs } = await this.conn!.join(session, this.secret));
    } catch (err) {
      if (isSessionLost(err)) return false;
      throw err;
    }
    this.log.info(`joined session ${sessionHandle(session.sessionId)} again on a new connection`);
    this.scheduleRemain(remainEvery(ttlMs));
    await this.watch();
    return true;
  }

  /** Resolves with the first cluster-info snapshot; later ones go to onClusterInfo. */
  private watch(): Promise<void> {
    return new Promise((resolve, reject) => {
      let first = true;
      this.stopWatch = this.conn!.watchClusterInfo(
        this.session!,
        (info) => {
          this.networks = toNetworks(info);
          this.events.onClusterInfo(this.networks);
          if (first) {
            first = false;
            resolve();
          }
        },
        (err) => {
          if (first) {
            first = false;
            reject(err ?? new Error('the manager ended the cluster-info stream'));
          } else if (!this.closed) {
            this.lost(err);
          }
        },
      );
    });
  }

  private scheduleRemain(everyMs: number): void {
    clearTimeout(this.remainTimer);
    this.remainTimer = setTimeout(async () => {
      if (this.closed || this.reconnecting) return;
      try {
        await this.conn!.remain(this.session!);
        this.scheduleRemain(everyMs);
      } catch (err) {
        this.lost(err as ServiceError);
      }
    }, everyMs);
    this.remainTimer.unref();
  }

  /** The link or the session broke: say so, then reconnect until it works or the session closes. */
  private lost(err: ServiceError | undefined): void {
    if (this.closed || this.reconnecting) return;
    this.reconnecting = true;
    clearTimeout(this.remainTimer);
    this.stopWatch?.();
    const why = isSessionLost(err) ? 'the traffic-manager forgot this session (restarted?)' : `lost the traffic-manager: ${err?.message ?? 'stream ended'}`;
    this.log.warn(`${why}; reconnecting`);
    this.events.onState('reconnecting', { code: ErrorCode.ManagerUnreachable, category: 'cluster', message: why });
    this.events.onLinkLost?.();
    void (async () => {
      for (let attempt = 0; !this.closed; attempt++) {
        try {
          await this.establish();
          this.reconnecting = false;
          this.log.info('reconnected to the traffic-manager');
          this.events.onState('connected');
          this.events.onRearrived?.();
          return;
        } catch (e) {
          this.log.debug(`reconnect attempt ${attempt} failed: ${(e as Error).message}`);
          // A manager that no longer serves this client: say so where the user looks, and keep
          // trying (whoever replaced it may put back one that does).
          const code = (e as { code?: number }).code;
          if (code === ErrorCode.ClientTooOld || code === ErrorCode.ManagerTooOld) {
            this.events.onState('reconnecting', { code, category: categoryOfCode(code), message: (e as Error).message });
          }
          await sleep(BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)]!);
        }
      }
    })();
  }
}

function toNetworks(info: ClusterInfo): ClusterNetworks {
  return {
    serviceSubnets: info.serviceSubnets.map((s) => subnetToCidr({ ip: s.ip, prefixLength: s.prefixLength })),
    podSubnets: info.podSubnets.map((s) => subnetToCidr({ ip: s.ip, prefixLength: s.prefixLength })),
    dnsIp: info.dnsIp.length ? ipFromBytes(info.dnsIp) : '',
    clusterDomain: info.clusterDomain,
  };
}

/** An error that ends establish() at once instead of being retried. */
class Refusal {
  constructor(readonly cause: unknown) {}
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/** Remain as a heartbeat, and never so rarely that the session's TTL runs out in between. */
function remainEvery(ttlMs: number): number {
  return Math.max(500, Math.min(HEARTBEAT_MS, Math.floor(ttlMs / 3)));
}
