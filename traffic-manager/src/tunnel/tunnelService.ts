/**
 * Manager.Tunnel: one gRPC bidi stream per TCP connection or UDP flow from the workstation. The
 * sequence is the one at the top of tunnel.proto: Open → DialResult → Data / CloseSend both ways
 * → the call ends with status OK; Disconnect aborts. Faults of the stream itself (no Open first,
 * a bad address, an unknown session) end the call with a gRPC status instead. A destination the
 * policy refuses (destinationPolicy.ts) is never dialed: it gets DialResult FAILED with the reason,
 * which the client answers as it would a failed dial.
 */
import { type ServerDuplexStream, status } from '@grpc/grpc-js';
import { ipFromBytes } from '../../../protocol/src/ipAddress.js';
import {
  DialOutcome,
  DisconnectReason,
  Protocol,
  type TunnelAccept,
  type TunnelMessage,
  type TunnelOpen,
} from '../../../protocol/src/gen/telepath/tunnel/v1/tunnel.js';
import type { Logger } from '../../../common/src/log/jsonLogger.js';
import { type ClientSession, type SessionKind, sessionEndReason } from '../sessions.js';
import { DialError, dialTcp, dialUdp, hostPort } from './dial.js';
import type { DestinationVerdict } from './destinationPolicy.js';
import { type ClientSide, disconnectMessage, type Flow, TcpFlow, UdpFlow } from './flows.js';
import { sessionHandle } from '../../../common/src/sessionIdentity.js';

export type TunnelCall = ServerDuplexStream<TunnelMessage, TunnelMessage>;

/**
 * Which listener a Tunnel call came in on. A client (the daemon) opens tunnels into the cluster
 * and takes intercepted connections (Accept); an agent only hands intercepted connections over
 * (Open with an intercept id). Each side is refused what belongs to the other.
 */
export type TunnelSide = SessionKind;

export interface TunnelServiceOptions {
  /** The session, when `peer` (the connection asking) may use it (SessionRegistry.get). */
  lookupSession(id: string, kind: SessionKind, peer?: string): ClientSession | undefined;
  /** Where a session may dial (DestinationGuard); a refusal is answered like a failed dial. */
  destinations: { judge(sessionId: string, ip: Uint8Array, port: number): DestinationVerdict };
  logger: Logger;
  /** When the client's Open asks for 0. */
  defaultDialTimeoutMs?: number;
  /** Upper bound on what a client may ask for. */
  maxDialTimeoutMs?: number;
  udpIdleTimeoutMs?: number;
  /** Takes the streams of intercepted connections (Open with an intercept id, or Accept). */
  intercepts?: {
    fromAgent(call: TunnelCall, open: TunnelOpen): void;
    accept(call: TunnelCall, accept: TunnelAccept): void;
  };
}

const DEFAULTS = { defaultDialTimeoutMs: 10_000, maxDialTimeoutMs: 60_000, udpIdleTimeoutMs: 60_000 };

export class TunnelService {
  private readonly streams = new Set<TunnelStream>();
  private readonly settings: typeof DEFAULTS;

  constructor(private readonly options: TunnelServiceOptions) {
    this.settings = {
      defaultDialTimeoutMs: options.defaultDialTimeoutMs ?? DEFAULTS.defaultDialTimeoutMs,
      maxDialTimeoutMs: options.maxDialTimeoutMs ?? DEFAULTS.maxDialTimeoutMs,
      udpIdleTimeoutMs: options.udpIdleTimeoutMs ?? DEFAULTS.udpIdleTimeoutMs,
    };
  }

  /** The gRPC handler of the listener for `side`. */
  readonly handle = (call: TunnelCall, side: TunnelSide): void => {
    const stream = new TunnelStream(call, side, this.options, this.settings, () => this.streams.delete(stream));
    this.streams.add(stream);
    stream.start();
  };

  get activeCount(): number {
    return this.streams.size;
  }

  /** Aborts every tunnel with a Disconnect (e.g. SHUTDOWN when the manager stops). */
  disconnectAll(reason: DisconnectReason, detail: string): void {
    for (const s of [...this.streams]) s.disconnect(reason, detail);
  }
}

type State = 'awaitOpen' | 'dialing' | 'open' | 'done';

class TunnelStream {
  private state: State = 'awaitOpen';
  private flow: Flow | undefined;
  private session: ClientSession | undefined;
  private readonly dialAbort = new AbortController();
  private clientClosedSend = false;
  private logger: Logger;
  private readonly onSessionEnd = (): void => {
    const reason = this.session ? sessionEndReason(this.session.signal) : undefined;
    this.disconnect(DisconnectReason.SHUTDOWN, `session ${reason ?? 'ended'}`, status.NOT_FOUND);
  };

  constructor(
    private readonly call: TunnelCall,
    private readonly side: TunnelSide,
    private readonly options: TunnelServiceOptions,
    private readonly settings: typeof DEFAULTS,
    private readonly onDone: () => void,
  ) {
    this.logger = options.logger;
  }

  private readonly handlers = {
    data: (m: TunnelMessage) => this.onMessage(m),
    end: () => this.onClientEnd(),
    cancelled: () => this.abandon('call cancelled'),
    error: (e: Error) => this.abandon(e.message),
  };

  start(): void {
    const { call, handlers } = this;
    call.on('data', handlers.data);
    call.on('end', handlers.end);
    call.on('cancelled', handlers.cancelled);
    call.on('error', handlers.error);
  }

  /**
   * Aborts the tunnel from our side: a Disconnect once it is open; before the dial result, the
   * call ends with `statusBeforeOpen` instead.
   */
  disconnect(reason: DisconnectReason, detail: string, statusBeforeOpen = status.UNAVAILABLE): void {
    switch (this.state) {
      case 'awaitOpen':
      case 'dialing':
        this.fail(statusBeforeOpen, detail);
        return;
      case 'open':
        this.logger.debug('disconnecting', { reason: DisconnectReason[reason], detail });
        this.flow?.abort(true);
        this.write(disconnectMessage(reason, detail));
        this.finish();
        return;
      case 'done':
        return;
    }
  }

  private onMessage(m: TunnelMessage): void {
    const msg = m.message;
    switch (this.state) {
      case 'awaitOpen': {
        const refusal = refusedOn(this.side, msg);
        if (refusal) return this.fail(status.PERMISSION_DENIED, refusal);
        if (msg?.$case === 'accept' || (msg?.$case === 'open' && msg.value.interceptId)) return this.handOver(msg);
        if (msg?.$case !== 'open') return this.fail(status.INVALID_ARGUMENT, `the first message must be Open, not ${msg?.$case ?? 'empty'}`);
        this.open(msg.value).catch((e: unknown) => this.fail(status.INTERNAL, e instanceof Error ? e.message : String(e)));
        return;
      }
      case 'dialing':
        return this.fail(status.FAILED_PRECONDITION, `${msg?.$case ?? 'empty message'} before the dial result`);
      case 'done':
        return;
      case 'open':
        break;
    }
    switch (msg?.$case) {
      case 'data':
        if (this.clientClosedSend) return this.protocolError('data after CloseSend');
        if (msg.value.byteLength > 0) this.flow?.fromClient(msg.value);
        return;
      case 'closeSend':
        if (this.clientClosedSend) return;
        this.clientClosedSend = true;
        this.flow?.clientCloseSend();
        return;
      case 'disconnect':
        this.logger.debug('client disconnected', { reason: DisconnectReason[msg.value.reason], error: msg.value.error });
        this.flow?.abort(true);
        this.finish();
        return;
      default:
        this.protocolError(`unexpected ${msg?.$case ?? 'empty message'}`);
    }
  }

  /** The stream belongs to an intercepted connection: the relay owns the call from here on. */
  private handOver(msg: { $case: 'accept'; value: TunnelAccept } | { $case: 'open'; value: TunnelOpen }): void {
    const relay = this.options.intercepts;
    if (!relay) return this.fail(status.UNIMPLEMENTED, 'this manager does not relay intercepted connections');
    const { call, handlers } = this;
    call.off('data', handlers.data);
    call.off('end', handlers.end);
    call.off('cancelled', handlers.cancelled);
    call.off('error', handlers.error);
    this.state = 'done';
    this.onDone();
    if (msg.$case === 'accept') relay.accept(this.call, msg.value);
    else relay.fromAgent(this.call, msg.value);
  }

  private async open(open: TunnelOpen): Promise<void> {
    const invalid = validateOpen(open);
    if (invalid) return this.fail(status.INVALID_ARGUMENT, invalid);
    const session = this.options.lookupSession(open.sessionId, 'client', this.call.getPeer());
    if (!session) return this.fail(status.NOT_FOUND, `unknown or expired session ${JSON.stringify(open.sessionId)}`);
    this.session = session;
    session.signal.addEventListener('abort', this.onSessionEnd, { once: true });

    const port = open.destinationPort;
    const tcp = open.protocol === Protocol.TCP;
    const verdict = this.options.destinations.judge(session.id, open.destinationIp, port);
    const host = verdict.allowed ? verdict.ip : ipFromBytes(open.destinationIp);
    this.logger = this.options.logger.child(`${tcp ? 'tcp' : 'udp'} ${hostPort(host, port)}`);
    if (!verdict.allowed) {
      this.logger.info('destination refused', { session: sessionHandle(session.id), client: session.client.name, reason: verdict.reason });
      return this.dialFailed(DialOutcome.FAILED, verdict.reason);
    }
    this.state = 'dialing';
    const timeoutMs = Math.min(open.dialTimeoutMs || this.settings.defaultDialTimeoutMs, this.settings.maxDialTimeoutMs);
    try {
      const client = this.clientSide();
      if (tcp) {
        const socket = await dialTcp(host, port, timeoutMs, this.dialAbort.signal);
        if (this.state !== 'dialing') return void socket.destroy();
        this.flow = new TcpFlow(socket, client, this.logger);
      } else {
        const socket = await dialUdp(host, port, this.dialAbort.signal);
        if (this.state !== 'dialing') return void socket.close();
        this.flow = new UdpFlow(socket, client, this.logger, this.settings.udpIdleTimeoutMs);
      }
    } catch (e) {
      if (this.state !== 'dialing') return;
      const outcome = e instanceof DialError ? e.outcome : DialOutcome.FAILED;
      const message = e instanceof Error ? e.message : String(e);
      this.logger.debug('dial failed', { outcome: DialOutcome[outcome], error: message, session: sessionHandle(session.id) });
      return this.dialFailed(outcome, message);
    }
    this.state = 'open';
    this.logger.debug('dialed', { session: sessionHandle(session.id), source: sourceOf(open), allowed: verdict.why });
    this.write({ $case: 'dialResult', value: { outcome: DialOutcome.OK, message: '' } });
  }

  /** The client turns a DialResult that is not OK into a TCP RST or an ICMP unreachable; the call then ends with OK. */
  private dialFailed(outcome: DialOutcome, message: string): void {
    this.write({ $case: 'dialResult', value: { outcome, message } });
    this.finish();
  }

  private clientSide(): ClientSide {
    return {
      write: (message) => this.write(message),
      onceDrain: (listener) => this.call.once('drain', listener),
      pause: () => this.call.pause(),
      resume: () => this.call.resume(),
      finish: () => this.finish(),
    };
  }

  /**
   * The client ended its half of the call. After a CloseSend that is the normal end; without one
   * it is a client that broke off, and a cancelled call looks exactly like that at first (grpc-js
   * reports the end of the stream before the cancellation). Either way the destination is reset:
   * a FIN would tell it that the data was complete.
   */
  private onClientEnd(): void {
    if (this.state === 'open' && !this.clientClosedSend) this.protocolError('the call ended without CloseSend or Disconnect');
    else if (this.state === 'awaitOpen') this.fail(status.INVALID_ARGUMENT, 'the call ended before Open');
    else if (this.state === 'dialing') this.fail(status.CANCELLED, 'the call ended before the dial result');
  }

  private protocolError(detail: string): void {
    this.logger.warn('protocol error from the client', { detail });
    this.flow?.abort(true);
    this.write(disconnectMessage(DisconnectReason.PROTOCOL_ERROR, detail));
    this.finish();
  }

  private write(message: NonNullable<TunnelMessage['message']>): boolean {
    if (this.state === 'done' || this.call.writableEnded || this.call.destroyed) return true;
    return this.call.write({ message });
  }

  /** Ends the call with status OK after what was written. */
  private finish(): void {
    if (this.state === 'done') return;
    this.release();
    if (this.flow) this.logger.debug('closed', { ...this.flow.stats });
    if (!this.call.writableEnded && !this.call.destroyed) this.call.end();
  }

  /** Ends the call with an error status. */
  private fail(code: status, details: string): void {
    if (this.state === 'done') return;
    this.logger.debug('tunnel refused', { code: status[code], details });
    this.release();
    if (!this.call.writableEnded && !this.call.destroyed) this.call.emit('error', { code, details });
  }

  /**
   * The call is gone (cancelled, or the connection to the client died): nothing can be sent. The
   * destination gets a reset, not a FIN: what the client still meant to send is lost.
   */
  private abandon(why: string): void {
    if (this.state === 'done') return;
    this.logger.debug('tunnel abandoned', { why });
    this.release();
  }

  private release(): void {
    this.state = 'done';
    this.dialAbort.abort(new Error('tunnel closed'));
    this.flow?.abort(true);
    this.session?.signal.removeEventListener('abort', this.onSessionEnd);
    this.onDone();
  }
}

/** Why the first message may not come in on this side's listener, if it may not. */
function refusedOn(side: TunnelSide, msg: TunnelMessage['message']): string | undefined {
  const handOver = msg?.$case === 'open' && !!msg.value.interceptId;
  if (side === 'agent' && !handOver) return "the agent port takes only an agent's intercepted connections (Open with an intercept id)";
  if (side === 'client' && handOver) return 'intercepted connections are handed over on the agent port';
  return undefined;
}

function validateOpen(open: TunnelOpen): string | undefined {
  if (open.protocol !== Protocol.TCP && open.protocol !== Protocol.UDP) return `unsupported protocol ${open.protocol}`;
  if (open.destinationIp.byteLength !== 4 && open.destinationIp.byteLength !== 16) {
    return `a destination IP has 4 or 16 bytes, not ${open.destinationIp.byteLength}`;
  }
  if (open.destinationPort < 1 || open.destinationPort > 65535) return `bad destination port ${open.destinationPort}`;
  return undefined;
}

function sourceOf(open: TunnelOpen): string | undefined {
  if (open.sourceIp.byteLength !== 4 && open.sourceIp.byteLength !== 16) return undefined;
  return hostPort(ipFromBytes(open.sourceIp), open.sourcePort);
}
