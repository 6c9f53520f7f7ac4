/**
 * Intercepted connections: an agent opens a Tunnel whose Open names an intercept; the manager
 * asks the intercept's client for a stream (a DialRequest on its WatchDials), the client answers
 * with a Tunnel that starts with Accept, and from then on the manager relays every message
 * between the two calls unchanged (the sequence is in tunnel.proto). Backpressure: a call whose
 * write buffer is full pauses the other one until it drains.
 *
 * A workstation that has gone silent (its heartbeats stopped: a closed lid, a lost network) is
 * away: its connections are reset and new ones refused at once, so the agent answers its callers
 * (503) instead of letting them wait on a link that is not there. It is back as soon as it is heard.
 */
import { randomUUID } from 'node:crypto';
import { status, type ServerDuplexStream, type ServerWritableStream } from '@grpc/grpc-js';
import type { DialRequest, WatchDialsRequest } from '../../../protocol/src/gen/telepath/manager/v1/manager.js';
import {
  DialOutcome,
  DisconnectReason,
  type TunnelAccept,
  type TunnelMessage,
  type TunnelOpen,
} from '../../../protocol/src/gen/telepath/tunnel/v1/tunnel.js';
import type { Logger } from '../../../common/src/log/jsonLogger.js';
import type { ClientSession, SessionKind } from '../sessions.js';
import type { InterceptRegistry } from './interceptRegistry.js';

type TunnelCall = ServerDuplexStream<TunnelMessage, TunnelMessage>;
type DialsCall = ServerWritableStream<WatchDialsRequest, DialRequest>;

export interface InterceptRelayOptions {
  registry: InterceptRegistry;
  /** The session, when `peer` (the connection asking) may use it (SessionRegistry.get). */
  lookupSession(id: string, kind: SessionKind, peer?: string): ClientSession | undefined;
  logger: Logger;
  /** How long a client may take to accept a connection before the agent hears TIMEOUT. */
  acceptTimeoutMs?: number;
  /** Whether clients are there (SessionRegistry); without it every client counts as there. */
  presence?: ClientPresence;
}

export interface ClientPresence {
  /** The client of session `id` sent something. */
  heard(id: string): void;
  /** How long the client has been silent, once it counts as away; undefined while it is there. */
  silentFor(session: ClientSession): number | undefined;
}

interface PendingDial {
  readonly agentCall: TunnelCall;
  readonly open: TunnelOpen;
  readonly clientSession: ClientSession;
  readonly timer: NodeJS.Timeout;
}

interface Relayed {
  readonly clientSession: ClientSession;
  reset(why: string): void;
}

export class InterceptRelay {
  private readonly dialStreams = new Map<string, Set<DialsCall>>();
  private readonly pending = new Map<string, PendingDial>();
  private readonly relays = new Set<Relayed>();
  private readonly acceptTimeoutMs: number;

  constructor(private readonly options: InterceptRelayOptions) {
    // A workstation that is there takes a connection in about one round trip through its
    // port-forward; one that went away (a lid, a lost network) must not hold the caller for long:
    // its agent answers 503 at once, and the pod takes over when the manager drops the intercept.
    this.acceptTimeoutMs = options.acceptTimeoutMs ?? 3_000;
  }

  get activeCount(): number {
    return this.relays.size;
  }

  /** A client's WatchDials call: it stays open until the client cancels it or its session ends. */
  watchDials(call: DialsCall, session: ClientSession): void {
    let set = this.dialStreams.get(session.id);
    if (!set) this.dialStreams.set(session.id, (set = new Set()));
    set.add(call);
    const unwatch = this.options.registry.watchDials(session);
    const onSessionEnd = (): void => {
      if (!call.writableEnded && !call.destroyed) call.emit('error', { code: status.NOT_FOUND, details: `session ${session.id} ended` });
    };
    session.signal.addEventListener('abort', onSessionEnd, { once: true });
    const cleanup = (): void => {
      set.delete(call);
      if (set.size === 0 && this.dialStreams.get(session.id) === set) this.dialStreams.delete(session.id);
      session.signal.removeEventListener('abort', onSessionEnd);
      unwatch();
    };
    call.on('cancelled', cleanup);
    call.on('finish', cleanup);
    call.on('error', cleanup);
    call.on('close', cleanup);
  }

  /** An agent's Tunnel whose Open carries an intercept id. */
  fromAgent(call: TunnelCall, open: TunnelOpen): void {
    const { registry, logger } = this.options;
    const agent = registry.agent(open.sessionId);
    if (!agent || !this.options.lookupSession(open.sessionId, 'agent')) {
      return fail(call, status.NOT_FOUND, `unknown or expired agent session ${JSON.stringify(open.sessionId)}`);
    }
    const intercept = registry.get(open.interceptId);
    const refuse = (message: string): void => {
      writeMessage(call, { $case: 'dialResult', value: { outcome: DialOutcome.FAILED, message } });
      endCall(call);
    };
    if (!intercept) return refuse(`intercept ${open.interceptId} has ended`);
    if (intercept.spec.namespace !== agent.info.namespace || intercept.spec.workloadName !== agent.info.workloadName) {
      return fail(call, status.PERMISSION_DENIED, `intercept ${open.interceptId} is not on this agent's workload`);
    }
    const watchers = this.dialStreams.get(intercept.session.id);
    const watcher = watchers && [...watchers].find((w) => !w.writableEnded && !w.destroyed);
    if (!watcher) return refuse(`the client of intercept ${intercept.spec.name} is not connected`);
    const silent = this.options.presence?.silentFor(intercept.session);
    if (silent !== undefined) {
      writeMessage(call, { $case: 'dialResult', value: { outcome: DialOutcome.TIMEOUT, message: awayMessage(silent) } });
      return endCall(call);
    }

    const dialId = randomUUID();
    const timer = setTimeout(() => {
      if (!this.pending.delete(dialId)) return;
      logger.warn('client did not accept an intercepted connection in time', { intercept: intercept.spec.name, dialId });
      writeMessage(call, { $case: 'dialResult', value: { outcome: DialOutcome.TIMEOUT, message: 'the workstation did not answer in time' } });
      endCall(call);
    }, this.acceptTimeoutMs);
    this.pending.set(dialId, { agentCall: call, open, clientSession: intercept.session, timer });
    const forget = (): void => {
      const p = this.pending.get(dialId);
      if (p?.agentCall !== call) return;
      clearTimeout(p.timer);
      this.pending.delete(dialId);
    };
    call.on('cancelled', forget);
    call.on('error', forget);
    call.on('end', forget);
    watcher.write({
      dialId,
      interceptId: intercept.id,
      interceptName: intercept.spec.name,
      sourceIp: open.sourceIp,
      sourcePort: open.sourcePort,
    });
  }

  /** Tells the holder's dial streams that the manager ended its intercept `name` (a notice, not a connection). */
  interceptEnded(sessionId: string, interceptId: string, name: string, reason: string): void {
    for (const w of this.dialStreams.get(sessionId) ?? []) {
      if (w.writableEnded || w.destroyed) continue;
      w.write({ dialId: '', interceptId, interceptName: name, sourceIp: new Uint8Array(0), sourcePort: 0, ended: { name, reason } });
    }
  }

  /** A client's Tunnel that starts with Accept. */
  accept(call: TunnelCall, accept: TunnelAccept): void {
    const p = this.pending.get(accept.dialId);
    if (!p) return fail(call, status.NOT_FOUND, `no pending connection ${JSON.stringify(accept.dialId)} (it timed out or the agent gave up)`);
    if (p.clientSession.id !== accept.sessionId || !this.options.lookupSession(accept.sessionId, 'client', call.getPeer())) {
      return fail(call, status.PERMISSION_DENIED, 'that connection belongs to another session');
    }
    clearTimeout(p.timer);
    this.pending.delete(accept.dialId);
    if (p.agentCall.destroyed || p.agentCall.writableEnded) return fail(call, status.CANCELLED, 'the agent gave up on that connection');
    writeMessage(call, { $case: 'open', value: p.open });
    this.splice(p.agentCall, call, p.clientSession);
  }

  /** Ends every relayed connection (manager shutdown). */
  disconnectAll(detail: string): void {
    for (const r of [...this.relays]) r.reset(detail);
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      fail(p.agentCall, status.UNAVAILABLE, detail);
      this.pending.delete(id);
    }
  }

  /**
   * Resets the connections of workstations that are away and answers their pending dials, so
   * that a request already sent into such a connection gets its answer from the agent too.
   * Returns how many connections it reset.
   */
  resetAway(): number {
    const presence = this.options.presence;
    if (!presence) return 0;
    const silence = new Map<string, number | undefined>();
    const silentFor = (session: ClientSession): number | undefined => {
      if (!silence.has(session.id)) silence.set(session.id, presence.silentFor(session));
      return silence.get(session.id);
    };
    let n = 0;
    for (const r of [...this.relays]) {
      const silent = silentFor(r.clientSession);
      if (silent === undefined) continue;
      r.reset(awayMessage(silent));
      n++;
    }
    for (const [id, p] of this.pending) {
      const silent = silentFor(p.clientSession);
      if (silent === undefined) continue;
      clearTimeout(p.timer);
      this.pending.delete(id);
      writeMessage(p.agentCall, { $case: 'dialResult', value: { outcome: DialOutcome.TIMEOUT, message: awayMessage(silent) } });
      endCall(p.agentCall);
    }
    if (n > 0) this.options.logger.info('reset the connections of workstations that are away', { connections: n });
    return n;
  }

  /** Calls resetAway() every `intervalMs` until the returned function is called. */
  startAwayChecks(intervalMs = 1_000): () => void {
    const timer = setInterval(() => this.resetAway(), intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  private splice(agent: TunnelCall, client: TunnelCall, clientSession: ClientSession): void {
    let done = false;
    const ended = { agent: false, client: false };
    const relayed: Relayed = {
      clientSession,
      reset: (why) => {
        reset(agent, why);
        reset(client, why);
        finish();
      },
    };
    const finish = (): void => {
      if (done) return;
      done = true;
      this.relays.delete(relayed);
    };
    this.relays.add(relayed);
    const presence = this.options.presence;
    const pipe = (from: TunnelCall, to: TunnelCall, side: 'agent' | 'client'): void => {
      from.on('data', (m: TunnelMessage) => {
        // Bytes from the workstation show it is there as well as a heartbeat does (a long upload
        // may hold its heartbeats up behind them).
        if (side === 'client') presence?.heard(clientSession.id);
        if (!m.message || to.writableEnded || to.destroyed) return;
        if (!to.write(m)) {
          from.pause();
          to.once('drain', () => from.resume());
        }
      });
      // The sender ended its half: it has nothing more to say, so the other call ends too.
      from.on('end', () => {
        ended[side] = true;
        endCall(to);
        if (ended.agent && ended.client) finish();
      });
      const broken = (): void => {
        if (done) return;
        reset(to, `the ${side} went away`);
        finish();
      };
      from.on('cancelled', broken);
      from.on('error', broken);
    };
    pipe(agent, client, 'agent');
    pipe(client, agent, 'client');
  }
}

function writeMessage(call: TunnelCall, message: NonNullable<TunnelMessage['message']>): void {
  if (!call.writableEnded && !call.destroyed) call.write({ message });
}

function endCall(call: TunnelCall): void {
  if (!call.writableEnded && !call.destroyed) call.end();
}

function reset(call: TunnelCall, error: string): void {
  writeMessage(call, { $case: 'disconnect', value: { reason: DisconnectReason.RESET, error } });
  endCall(call);
}

function fail(call: TunnelCall, code: status, details: string): void {
  if (!call.writableEnded && !call.destroyed) call.emit('error', { code, details });
}

function awayMessage(silentMs: number): string {
  return `the workstation is away: nothing heard from it for ${(silentMs / 1000).toFixed(1)} s`;
}
