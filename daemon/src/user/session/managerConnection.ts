/**
 * The daemon's link to the traffic-manager: a port-forward (through the API server, with the
 * user's credentials) to a ready manager pod, a gRPC channel over it, and a client session kept
 * alive with Remain. Each new forwarded connection picks a ready pod again, so a restarted
 * manager is found without reconnecting by hand.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { credentials, Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { ErrorCode, daemonError } from '../../../../protocol/src/daemon';
import type { ClusterInfo, LookupDNSResponse, SessionInfo } from '../../../../protocol/src/gen/telepath/manager/v1/manager.js';
import { ManagerClient } from '../../../../protocol/src/manager/managerService.js';
import { API_LEVEL, apiRange, MIN_API_LEVEL, PRODUCT_VERSION, type ApiRange } from '../../../../protocol/src/version.js';
import { GRPC_PORT, selectorLabels } from '../../../../common/src/install/managerManifests.js';
import { kubeError, type KubeAccess } from '../kube/kubeAccess.js';
import { PortForwardListener, type PodPort } from '../kube/portForward.js';
import { PortForwardError } from '../kube/portForwardError.js';
import { lookupDns, managerChannelOptions } from '../../network/managerChannel.js';
import type { Logger } from '../../../../common/src/log/fileLogger.js';


/**
 * How often the daemon calls Remain. Besides keeping the session, it tells the manager that this
 * workstation is there: after four missed ones the manager answers its intercepted connections
 * at once instead of letting callers wait on a link that is gone (see interceptRelay.ts).
 */
export const HEARTBEAT_MS = 1_500;
export class ManagerConnection {
  private constructor(
    readonly client: ManagerClient,
    private readonly listener: PortForwardListener,
    /** The gRPC target of the forwarded port, `unix:/…/manager.sock` (a network-role process dials it too). */
    readonly address: string,
    private readonly socketDir: string,
    /** The API server's refusal of a port-forward to the manager (401/403), once there was one. */
    readonly forwardRefusal: () => PortForwardError | undefined = () => undefined,
  ) {}

  /**
   * Opens the port-forward listener and a gRPC channel to it. The listener is a unix socket in a
   * private directory, not loopback TCP: every tunnelled byte crosses it twice (gRPC in, SPDY
   * out), and a unix socket costs less CPU per byte (docs/benchmarks.md); it also keeps other
   * local users from the manager's port. Directories that daemons killed with -9 left behind
   * are removed first.
   */
  static async open(access: KubeAccess, managerNamespace: string, log: Logger): Promise<ManagerConnection> {
    const core = access.kc.makeApiClient(CoreV1Api);
    const selector = Object.entries(selectorLabels())
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const resolveTarget = async (): Promise<PodPort> => {
      let pods;
      try {
        pods = await core.listNamespacedPod({ namespace: managerNamespace, labelSelector: selector });
      } catch (err) {
        throw kubeError(err, 'finding the traffic-manager pod', access, ErrorCode.ManagerUnreachable);
      }
      const ready = pods.items.find(
        (p) => !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      );
      if (!ready?.metadata?.name) {
        throw daemonError(ErrorCode.ManagerUnreachable, `no ready traffic-manager pod in namespace ${managerNamespace}`);
      }
      return { namespace: managerNamespace, pod: ready.metadata.name, port: GRPC_PORT };
    };
    let refused: PortForwardError | undefined;
    const listener = new PortForwardListener(access.kc, resolveTarget, (err) => {
      log.warn(`port-forward to the manager: ${err.message}`);
      // The API server's no to the port-forward itself is final: RBAC decides who may connect.
      if (err instanceof PortForwardError && (err.status === 401 || err.status === 403)) refused ??= err;
    });
    await removeStaleForwardDirs(os.tmpdir());
    const socketDir = await mkdtemp(path.join(os.tmpdir(), `${FORWARD_DIR_PREFIX}${process.pid}-`));
    const socketPath = path.join(socketDir, 'manager.sock');
    try {
      await listener.listenUnix(socketPath);
    } catch (err) {
      await rm(socketDir, { recursive: true, force: true });
      throw err;
    }
    const address = `unix:${socketPath}`;
    const client = new ManagerClient(address, credentials.createInsecure(), managerChannelOptions());
    return new ManagerConnection(client, listener, address, socketDir, () => refused);
  }

  /** The manager's version and API levels (an old manager's read as level 1). */
  version(deadlineMs = 15_000): Promise<{ version: string; api: ApiRange }> {
    return new Promise((resolve, reject) =>
      this.client.version({}, new Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) =>
        err ? reject(err) : resolve({ version: res!.version, api: apiRange(res!.apiLevel, res!.minApiLevel) }),
      ),
    );
  }

  arrive(namespace: string, deadlineMs = 15_000): Promise<{ session: SessionInfo; ttlMs: number; joinSecret: string }> {
    return new Promise((resolve, reject) =>
      this.client.arriveAsClient(
        { client: { name: clientName(), installId: installId(), namespace, version: PRODUCT_VERSION, heartbeatMs: HEARTBEAT_MS, apiLevel: API_LEVEL, minApiLevel: MIN_API_LEVEL } },
        new Metadata(),
        { deadline: Date.now() + deadlineMs },
        (err, res) => (err ? reject(err) : resolve({ session: res!.session!, ttlMs: res!.ttlMs, joinSecret: res!.joinSecret })),
      ),
    );
  }

  /** Binds this channel's current connection to a session it did not arrive on (NOT_FOUND: gone, or not ours). */
  join(session: SessionInfo, joinSecret: string, deadlineMs = 10_000): Promise<{ ttlMs: number }> {
    return new Promise((resolve, reject) =>
      this.client.joinSession({ session, joinSecret }, new Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) =>
        err ? reject(err) : resolve({ ttlMs: res!.ttlMs }),
      ),
    );
  }

  remain(session: SessionInfo, deadlineMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) =>
      this.client.remain({ session }, new Metadata(), { deadline: Date.now() + deadlineMs }, (err) => (err ? reject(err) : resolve())),
    );
  }

  depart(session: SessionInfo, deadlineMs = 3_000): Promise<void> {
    return new Promise((resolve) =>
      this.client.depart({ session }, new Metadata(), { deadline: Date.now() + deadlineMs }, () => resolve()),
    );
  }

  lookupDns(session: SessionInfo, name: string, qtype: number, signal: AbortSignal): Promise<LookupDNSResponse> {
    return lookupDns(this.client, session, name, qtype, signal);
  }

  /** Streams cluster info snapshots; calls onEnd once with the error that ended the stream. */
  watchClusterInfo(session: SessionInfo, onInfo: (info: ClusterInfo) => void, onEnd: (err: ServiceError | undefined) => void): () => void {
    const call = this.client.watchClusterInfo({ session });
    let ended = false;
    const end = (err: ServiceError | undefined) => {
      if (!ended) {
        ended = true;
        onEnd(err);
      }
    };
    call.on('data', onInfo);
    call.on('error', (err: ServiceError) => end(err));
    call.on('end', () => end(undefined));
    return () => call.cancel();
  }

  async close(): Promise<void> {
    this.client.close();
    await this.listener.close();
    await rm(this.socketDir, { recursive: true, force: true });
  }
}

const FORWARD_DIR_PREFIX = 'telepath-forward-';

/**
 * Removes the forward directories (`telepath-forward-<pid>-*`) of this user's daemons that are
 * gone: a daemon killed with -9 cannot remove its own. One whose pid still runs is kept (a reused
 * pid keeps a stale directory, never removes a live one).
 */
export async function removeStaleForwardDirs(parent: string): Promise<void> {
  const uid = process.getuid?.();
  for (const name of await readdir(parent).catch(() => [])) {
    const pid = Number(/^telepath-forward-(\d+)-/.exec(name)?.[1]);
    if (!pid || pidAlive(pid)) continue;
    const dir = path.join(parent, name);
    try {
      if (uid !== undefined && (await stat(dir)).uid !== uid) continue;
      await rm(dir, { recursive: true, force: true });
    } catch {
      // gone meanwhile, or not ours to remove
    }
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

export function isSessionLost(err: unknown): boolean {
  return (err as ServiceError)?.code === GrpcStatus.NOT_FOUND;
}

/** Who holds an intercept, as other developers see it in conflicts and listings: user@host. */
export function clientName(): string {
  let user = process.env.SUDO_USER || process.env.USER || '';
  try {
    user ||= os.userInfo().username;
  } catch {
    user ||= `uid${process.getuid?.() ?? ''}`;
  }
  return `${user}@${os.hostname()}`;
}

let cachedInstallId: string | undefined;
/** Identifies this daemon process's installation in the manager's logs. */
function installId(): string {
  return (cachedInstallId ??= randomUUID());
}
