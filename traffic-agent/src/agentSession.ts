/**
 * The agent's link to the traffic-manager: an agent session (ArriveAsAgent, kept with Remain), the
 * intercepts of its workload (WatchAgentIntercepts), and one Tunnel per intercepted connection.
 * It talks to the manager's agent port, and proves which pod it runs in with its pod's token for
 * the manager, read afresh at each arrival (the kubelet renews it).
 *
 * Whenever the link is down the agent routes everything to the app: `onIntercepts([])` is called
 * at once, so a vanished manager never leaves the workload's traffic hanging. It then arrives again
 * with a bounded backoff; a restarted manager learns the agent's intercepts from the daemons,
 * which re-create them, and tells the agent through the new watch.
 */
import { credentials, Metadata, type ClientReadableStream, type ServiceError, status } from '@grpc/grpc-js';
import type { Duplex } from 'node:stream';
import type { AgentInfo, AgentIntercepts, InterceptInfo } from '../../protocol/src/gen/telepath/manager/v1/manager.js';
import { DialOutcome, Protocol } from '../../protocol/src/gen/telepath/tunnel/v1/tunnel.js';
import { ipToBytes } from '../../protocol/src/ipAddress.js';
import { ManagerClient } from '../../protocol/src/manager/managerService.js';
import { firstMessage, TunnelDuplex } from '../../protocol/src/tunnel/tunnelDuplex.js';
import type { Logger } from '../../common/src/log/jsonLogger.js';

export interface AgentSessionOptions {
  /** host:port of the manager's agent port. */
  address: string;
  info: AgentInfo;
  /** The pod's token for the manager (AGENT_TOKEN_DIR); throws when it cannot be read. */
  readToken(): string;
  logger: Logger;
  /**
   * The active intercepts of this workload, and the public keys that may mount its volumes; []
   * (and no keys: the last ones stay) whenever the manager is out of reach.
   */
  onIntercepts(intercepts: InterceptInfo[], volumeKeys?: string[]): void;
  /** How long a client may take to answer an intercepted connection. */
  dialTimeoutMs?: number;
}

const MIN_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 5_000;

export class AgentSession {
  private readonly client: ManagerClient;
  private sessionId = '';
  private stopped = false;
  private watch: ClientReadableStream<AgentIntercepts> | undefined;
  private remainTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private backoffMs = MIN_BACKOFF_MS;

  constructor(private readonly options: AgentSessionOptions) {
    this.client = new ManagerClient(options.address, credentials.createInsecure(), {
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.initial_reconnect_backoff_ms': 250,
      'grpc.max_reconnect_backoff_ms': 5_000,
      'grpc-node.flow_control_window': 8 * 1024 * 1024,
    });
  }

  start(): void {
    void this.connect();
  }

  /**
   * A stream to the client of `interceptId` for one intercepted connection: resolves once the
   * client has dialed its local port, rejects when it cannot.
   */
  async openInterceptTunnel(interceptId: string, source: { address: string; port: number }, destination: { address: string; port: number }): Promise<Duplex> {
    if (!this.sessionId) throw new Error('the traffic-manager is out of reach');
    const call = this.client.tunnel(new Metadata());
    call.on('error', () => undefined);
    call.write({
      message: {
        $case: 'open',
        value: {
          protocol: Protocol.TCP,
          destinationIp: ipBytesOrEmpty(destination.address),
          destinationPort: destination.port,
          sourceIp: ipBytesOrEmpty(source.address),
          sourcePort: source.port,
          sessionId: this.sessionId,
          dialTimeoutMs: 0,
          interceptId,
        },
      },
    });
    const first = await firstMessage(call, this.options.dialTimeoutMs ?? 15_000);
    const m = first.message;
    if (m?.$case !== 'dialResult') {
      call.cancel();
      throw new Error(`the manager answered ${m?.$case ?? 'nothing'} instead of a dial result`);
    }
    if (m.value.outcome !== DialOutcome.OK) {
      call.end();
      throw new Error(`the workstation could not take the connection: ${m.value.message || DialOutcome[m.value.outcome]}`);
    }
    return new TunnelDuplex(call);
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.remainTimer);
    this.watch?.cancel();
    if (this.sessionId) {
      const session = { sessionId: this.sessionId };
      await new Promise<void>((resolve) => this.client.depart({ session }, new Metadata(), { deadline: Date.now() + 2_000 }, () => resolve()));
    }
    this.client.close();
  }

  private async connect(): Promise<void> {
    const { logger } = this.options;
    const metadata = new Metadata();
    try {
      metadata.set('authorization', `Bearer ${this.options.readToken()}`);
    } catch (e) {
      return this.lost(`cannot read this pod's token for the traffic-manager: ${(e as Error).message}`, true);
    }
    try {
      const res = await new Promise<{ sessionId: string; ttlMs: number }>((resolve, reject) =>
        this.client.arriveAsAgent({ agent: this.options.info }, metadata, { deadline: Date.now() + 10_000 }, (err, r) =>
          err || !r?.session ? reject(err ?? new Error('no session')) : resolve({ sessionId: r.session.sessionId, ttlMs: r.ttlMs }),
        ),
      );
      if (this.stopped) return;
      this.sessionId = res.sessionId;
      logger.info('arrived at the traffic-manager', { session: res.sessionId });
      this.remainTimer = setInterval(() => this.remain(), Math.max(1_000, Math.floor(res.ttlMs / 3)));
      this.remainTimer.unref();
      this.watchIntercepts();
    } catch (e) {
      const code = (e as Partial<ServiceError>).code;
      // FAILED_PRECONDITION: the manager serves no API level this agent speaks (docs/upgrades.md).
      const refused = code === status.UNAUTHENTICATED || code === status.PERMISSION_DENIED || code === status.FAILED_PRECONDITION;
      this.lost(
        refused
          ? `the traffic-manager refused this agent: ${(e as ServiceError).details}`
          : `cannot reach the traffic-manager at ${this.options.address}: ${(e as Error).message}`,
        refused,
      );
    }
  }

  private watchIntercepts(): void {
    const call = this.client.watchAgentIntercepts({ session: { sessionId: this.sessionId } });
    this.watch = call;
    call.on('data', (m: AgentIntercepts) => {
      this.backoffMs = MIN_BACKOFF_MS;
      this.options.onIntercepts(m.intercepts, m.volumeKeys);
    });
    call.on('error', (e: ServiceError) => {
      if (this.watch === call) this.lost(`the intercept watch failed: ${e.details || e.message}`);
    });
    call.on('end', () => {
      if (this.watch === call) this.lost('the intercept watch ended');
    });
  }

  private remain(): void {
    const id = this.sessionId;
    if (!id) return;
    this.client.remain({ session: { sessionId: id } }, new Metadata(), { deadline: Date.now() + 5_000 }, (err) => {
      if (err && this.sessionId === id) this.lost(`Remain failed: ${err.details || err.message}`);
    });
  }

  /**
   * Back to "everything to the app", then arrive again after a backoff. Logged as a warning when
   * a session was lost or `refused` (something to fix), else as info (the manager is starting).
   */
  private lost(why: string, refused = false): void {
    if (this.stopped) return;
    const warn = !!this.sessionId || refused;
    this.sessionId = '';
    this.watch?.cancel();
    this.watch = undefined;
    clearInterval(this.remainTimer);
    this.options.onIntercepts([]);
    (warn ? this.options.logger.warn : this.options.logger.info).call(this.options.logger, `${why}; retrying`, { inMs: this.backoffMs });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect(), this.backoffMs);
    this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs * 2);
  }
}

function ipBytesOrEmpty(address: string): Uint8Array {
  try {
    return ipToBytes(address.replace(/^::ffff:/, ''));
  } catch {
    return new Uint8Array(0);
  }
}
