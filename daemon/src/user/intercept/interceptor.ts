/**
 * The daemon's intercepts on one cluster session. The daemon owns them: the manager only keeps a
 * copy in memory, so after the manager restarts (or forgets the session) the daemon arrives again
 * and re-creates every intercept here, and agents pick them up through their watch. While any
 * intercept exists the daemon watches its dials (the manager routes an intercept only while its
 * holder watches) and takes each announced connection to the intercept's local port.
 */
import { Metadata, type ClientReadableStream, type ServiceError, status as GrpcStatus } from '@grpc/grpc-js';
import type { DialRequest, InterceptInfo, InterceptSpec } from '../../../../protocol/src/gen/telepath/manager/v1/manager.js';
import type { ManagerClient } from '../../../../protocol/src/manager/managerService.js';
import type { Logger } from '../../../../common/src/log/fileLogger.js';
import { acceptDial, type AcceptTarget, type DialStats } from './dialAcceptor.js';

export interface HeldIntercept {
  spec: InterceptSpec;
  target: AcceptTarget;
  /** The manager's id; changes when the intercept is re-created after a manager restart. */
  id: string;
  /** False while the link to the manager is being restored. */
  active: boolean;
  /** The public key its volume mount logs in with (AuthorizeVolumes); handed over again after a restore. */
  volumeKey?: string;
}

export interface InterceptorLink {
  client(): ManagerClient;
  sessionId(): string;
  /** The manager ended an intercept by itself (its holder lost the right to it); it is no longer held. */
  onEnded?(name: string, reason: string): void;
}

export class Interceptor {
  private readonly held = new Map<string, HeldIntercept>();
  private dials: ClientReadableStream<DialRequest> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  readonly stats: DialStats = { accepted: 0, refused: 0, active: 0 };

  constructor(
    private readonly link: InterceptorLink,
    private readonly log: Logger,
  ) {}

  list(): HeldIntercept[] {
    return [...this.held.values()].sort((a, b) => a.spec.name.localeCompare(b.spec.name));
  }

  get(name: string): HeldIntercept | undefined {
    return this.held.get(name);
  }

  /** Creates the intercept at the manager (which may refuse it) and starts taking its connections. */
  async add(spec: InterceptSpec, target: AcceptTarget): Promise<HeldIntercept> {
    this.ensureDials();
    const info = await this.create(spec);
    const h: HeldIntercept = { spec, target, id: info.id, active: true };
    this.held.set(spec.name, h);
    return h;
  }

  async remove(name: string): Promise<boolean> {
    const h = this.held.get(name);
    if (!h) return false;
    this.held.delete(name);
    try {
      await unary((cb) => this.link.client().removeIntercept({ session: { sessionId: this.link.sessionId() }, name }, cb));
    } catch (e) {
      // A manager that forgot the session forgot the intercept too.
      if ((e as ServiceError).code !== GrpcStatus.NOT_FOUND) throw e;
    }
    if (this.held.size === 0) this.stopDials();
    return true;
  }

  /**
   * Lets the agents of `name`'s workload accept `publicKey` for its volumes; the manager refuses
   * without the volumes right in the namespace (PERMISSION_DENIED).
   */
  async authorizeVolumes(name: string, publicKey: string): Promise<void> {
    const h = this.held.get(name);
    if (!h) throw new Error(`no intercept named ${name}`);
    await unary((cb) => this.link.client().authorizeVolumes({ session: { sessionId: this.link.sessionId() }, interceptName: name, publicKey }, cb));
    h.volumeKey = publicKey;
  }

  /** The session link broke: intercepts wait until the daemon has arrived again. */
  suspend(): void {
    for (const h of this.held.values()) h.active = false;
    this.stopDials();
  }

  /** Arrived again (possibly at a new manager): re-create every intercept under the new session. */
  async resume(): Promise<void> {
    if (this.held.size === 0 || this.closed) return;
    this.ensureDials();
    for (const h of [...this.held.values()]) {
      try {
        const info = await this.create(h.spec);
        h.id = info.id;
        h.active = true;
        this.log.info(`intercept ${h.spec.name} restored`);
      } catch (e) {
        const err = e as ServiceError;
        if (err.code === GrpcStatus.PERMISSION_DENIED || err.code === GrpcStatus.FAILED_PRECONDITION) {
          // The cluster no longer lets this user hold it, or the manager removed the workload's
          // agent as idle while this daemon was away: it ends here too, and the user is told.
          this.held.delete(h.spec.name);
          this.log.warn(`intercept ${h.spec.name} could not be restored: ${err.details}`);
          this.link.onEnded?.(h.spec.name, err.details);
        } else {
          this.log.error(`intercept ${h.spec.name} could not be restored: ${err.details ?? (e as Error).message}`);
        }
        continue;
      }
      // A manager that restarted knows no keys: the mount's sshfs gets in again once it does.
      if (h.volumeKey) {
        await this.authorizeVolumes(h.spec.name, h.volumeKey).catch((e: unknown) =>
          this.log.warn(`the volumes of ${h.spec.name} could not be restored: ${(e as ServiceError).details ?? (e as Error).message}`),
        );
      }
    }
    if (this.held.size === 0) this.stopDials();
  }

  /** Ends the watch; the manager drops the intercepts with the session (Depart) or its stream. */
  close(): void {
    this.closed = true;
    this.held.clear();
    this.stopDials();
  }

  private create(spec: InterceptSpec): Promise<InterceptInfo> {
    return unary<{ intercept?: InterceptInfo }>((cb) =>
      this.link.client().createIntercept({ session: { sessionId: this.link.sessionId() }, spec }, cb),
    ).then((r) => {
      if (!r.intercept) throw new Error('the manager returned no intercept');
      return r.intercept;
    });
  }

  private ensureDials(): void {
    if (this.dials || this.closed) return;
    clearTimeout(this.retryTimer);
    const sessionId = this.link.sessionId();
    const client = this.link.client();
    const call = client.watchDials({ session: { sessionId } }, new Metadata());
    this.dials = call;
    call.on('data', (d: DialRequest) => {
      if (d.ended) {
        const h = this.held.get(d.ended.name);
        if (!h || (d.interceptId && d.interceptId !== h.id)) return;
        this.held.delete(d.ended.name);
        this.log.warn(`the traffic-manager ended intercept ${d.ended.name}: ${d.ended.reason}`);
        if (this.held.size === 0) this.stopDials();
        this.link.onEnded?.(d.ended.name, d.ended.reason);
        return;
      }
      const h = this.held.get(d.interceptName);
      if (!h) {
        this.log.debug(`a connection for unknown intercept ${d.interceptName}; ignoring`);
        return;
      }
      acceptDial(client, sessionId, d, h.target, this.log, this.stats).catch((e: unknown) =>
        this.log.warn(`intercept ${d.interceptName}: taking a connection failed: ${(e as Error).message}`),
      );
    });
    const ended = (why: string): void => {
      if (this.dials !== call) return;
      this.dials = undefined;
      if (this.closed || this.held.size === 0) return;
      this.log.debug(`the dial watch ended (${why}); watching again`);
      // The manager drops intercepts whose holder stopped watching for a while, so watching again
      // comes with re-creating them (creating the same intercept again is a no-op). When the
      // session itself is gone, the session's reconnect calls suspend/resume instead.
      this.retryTimer = setTimeout(() => void this.resume(), 1_000);
      this.retryTimer.unref();
    };
    call.on('error', (e: ServiceError) => ended(e.details || e.message));
    call.on('end', () => ended('ended'));
  }

  private stopDials(): void {
    clearTimeout(this.retryTimer);
    const d = this.dials;
    this.dials = undefined;
    d?.cancel();
  }
}

function unary<R>(start: (cb: (err: ServiceError | null, res?: R) => void) => unknown): Promise<R> {
  return new Promise((resolve, reject) => start((err, res) => (err ? reject(err) : resolve(res as R))));
}
