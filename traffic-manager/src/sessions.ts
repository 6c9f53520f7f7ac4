/**
 * Sessions: a daemon (or an agent) arrives, keeps its session with Remain within the TTL, and
 * departs. A session that is not kept expires; ending a session aborts its signal, which closes
 * the tunnels and watches opened under it. Time comes from an injected clock so tests can move it.
 *
 * Every session is of one kind, a client's or an agent's, and is found only under its kind: the
 * two arrive on different listeners (managerServer.ts), so an agent's session id must not open a
 * client's tunnel, nor a client's session id act as an agent.
 *
 * A client's session is bound to the connections it may be used on: the one it arrived on, and
 * those that joined it with its join secret (returned once, by ArriveAsClient). A session id used
 * on any other connection is unknown, so an id that leaked (a log, a screen) is worth nothing
 * without the secret. A connection is named by its peer address (each port-forward stream is its
 * own TCP connection from the pod's loopback); when it closes, its name is unbound.
 */
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../../common/src/log/jsonLogger.js';
import { sessionHandle } from '../../common/src/sessionIdentity.js';

export interface Clock {
  /** Milliseconds, monotonic enough for TTLs. */
  now(): number;
}

export const systemClock: Clock = { now: () => performance.now() };

export type SessionEndReason = 'departed' | 'expired' | 'replaced' | 'shutdown';

/** Who holds a session: a workstation's daemon, or a traffic-agent whose identity was verified. */
export type SessionKind = 'client' | 'agent';

export interface ClientDescription {
  name: string;
  installId: string;
  namespace: string;
  version: string;
  /** How often the client calls Remain; 0: it sends no heartbeats (an older client, an agent). */
  heartbeatMs?: number;
}

/** A client that sends heartbeats is away once it has missed this many in a row. */
const MISSED_HEARTBEATS_AWAY = 4;
/** Heartbeats a client may ask for: not so often that it loads the manager, nor so rarely that "away" means nothing. */
const HEARTBEAT_MS_RANGE = { min: 500, max: 10_000 } as const;

export interface ClientSession {
  readonly id: string;
  readonly kind: SessionKind;
  readonly client: ClientDescription;
  readonly arrivedAt: number;
  /** Aborted with a SessionEndReason when the session ends. */
  readonly signal: AbortSignal;
}

interface SessionEntry extends ClientSession {
  expiresAt: number;
  /** When the client last showed it is there: arrival, join, Remain, a message on a relayed tunnel. */
  lastHeardAt: number;
  readonly controller: AbortController;
  /** Client sessions: the connections (peer addresses) it may be used on, oldest first. */
  readonly peers: Set<string>;
  readonly joinSecret: string;
}

/** A session bound to more connections than this forgets the oldest. */
export const MAX_PEERS_PER_SESSION = 16;

export interface SessionRegistryOptions {
  ttlMs: number;
  clock?: Clock;
  logger: Logger;
  newId?: () => string;
}

export class SessionRegistry {
  readonly ttlMs: number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly newId: () => string;
  private readonly sessions = new Map<string, SessionEntry>();

  constructor(options: SessionRegistryOptions) {
    this.ttlMs = options.ttlMs;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    this.newId = options.newId ?? randomUUID;
  }

  /**
   * Opens a session. A daemon that restarts arrives again with the same install id; its old
   * session is then ended at once, so its orphaned tunnels do not linger until the TTL. Only a
   * session of the same kind is replaced: a client cannot end an agent's session by naming its id.
   */
  arrive(client: ClientDescription, kind: SessionKind = 'client', peer?: string): ClientSession & { joinSecret: string } {
    if (client.installId) {
      for (const s of this.sessions.values()) {
        if (s.kind === kind && s.client.installId === client.installId) this.end(s, 'replaced');
      }
    }
    const controller = new AbortController();
    const now = this.clock.now();
    const entry: SessionEntry = {
      id: this.newId(),
      kind,
      client: { ...client, heartbeatMs: heartbeatOf(client.heartbeatMs) },
      arrivedAt: now,
      expiresAt: now + this.ttlMs,
      lastHeardAt: now,
      signal: controller.signal,
      controller,
      peers: new Set(peer === undefined ? [] : [peer]),
      joinSecret: randomBytes(32).toString('hex'),
    };
    this.sessions.set(entry.id, entry);
    this.logger.info('arrived', { kind, session: sessionHandle(entry.id), client: client.name, namespace: client.namespace, version: client.version });
    return entry;
  }

  /**
   * The live session of this kind with this id; an expired one is ended here rather than
   * returned. A session of the other kind is not found, nor a session bound to connections when
   * asked from another `peer`.
   */
  get(id: string, kind: SessionKind, peer?: string): ClientSession | undefined {
    return this.live(id, kind, peer);
  }

  /**
   * Binds connection `peer` to a client session whose join secret it knows; the session, or
   * undefined when the id or the secret is wrong (the two are not told apart).
   */
  join(id: string, secret: string, peer: string): ClientSession | undefined {
    const s = this.live(id, 'client');
    if (!s || !sameSecret(s.joinSecret, secret)) return undefined;
    s.peers.delete(peer);
    s.peers.add(peer);
    while (s.peers.size > MAX_PEERS_PER_SESSION) s.peers.delete(s.peers.values().next().value!);
    s.lastHeardAt = this.clock.now();
    return s;
  }

  /** The client of session `id` was just heard from (a message of its own on a relayed tunnel). */
  heard(id: string): void {
    const s = this.sessions.get(id);
    if (s) s.lastHeardAt = this.clock.now();
  }

  /**
   * How long a client that sends heartbeats has been silent, when that is long enough to call it
   * away (a closed lid, a lost network); undefined while it is there, or when it sends none.
   */
  silentFor(session: ClientSession): number | undefined {
    const s = this.sessions.get(session.id);
    const every = s?.client.heartbeatMs ?? 0;
    if (!s || every === 0) return undefined;
    const silent = this.clock.now() - s.lastHeardAt;
    return silent > every * MISSED_HEARTBEATS_AWAY ? silent : undefined;
  }

  /** A connection closed: no session may be used on its peer address any more. */
  connectionClosed(peer: string): void {
    for (const s of this.sessions.values()) s.peers.delete(peer);
  }

  /** Extends the session by a full TTL; false when it is unknown, of the other kind or expired. */
  remain(id: string, kind: SessionKind, peer?: string): boolean {
    const s = this.live(id, kind, peer);
    if (!s) return false;
    s.expiresAt = this.clock.now() + this.ttlMs;
    s.lastHeardAt = this.clock.now();
    return true;
  }

  depart(id: string, kind: SessionKind, peer?: string): boolean {
    const s = this.live(id, kind, peer);
    if (!s) return false;
    this.end(s, 'departed');
    return true;
  }

  private live(id: string, kind: SessionKind, peer?: string): SessionEntry | undefined {
    const s = this.sessions.get(id);
    if (!s || s.kind !== kind) return undefined;
    if (peer !== undefined && kind === 'client' && !s.peers.has(peer)) return undefined;
    if (this.clock.now() >= s.expiresAt) {
      this.end(s, 'expired');
      return undefined;
    }
    return s;
  }

  /** Ends every expired session; returns how many. */
  sweep(): number {
    const now = this.clock.now();
    let n = 0;
    for (const s of [...this.sessions.values()]) {
      if (now >= s.expiresAt) {
        this.end(s, 'expired');
        n++;
      }
    }
    return n;
  }

  /** Calls sweep() every `intervalMs` until the returned function is called. */
  startSweeping(intervalMs = Math.max(1000, Math.floor(this.ttlMs / 4))): () => void {
    const timer = setInterval(() => this.sweep(), intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** The ids of the live sessions of a kind. */
  ids(kind: SessionKind): string[] {
    const now = this.clock.now();
    return [...this.sessions.values()].filter((s) => s.kind === kind && now < s.expiresAt).map((s) => s.id);
  }

  endAll(reason: SessionEndReason): void {
    for (const s of [...this.sessions.values()]) this.end(s, reason);
  }

  get size(): number {
    return this.sessions.size;
  }

  private end(s: SessionEntry, reason: SessionEndReason): void {
    if (this.sessions.get(s.id) !== s) return;
    this.sessions.delete(s.id);
    this.logger.info('session ended', { session: sessionHandle(s.id), client: s.client.name, reason });
    s.controller.abort(reason);
  }
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Why a session's signal was aborted, for status messages. */
export function sessionEndReason(signal: AbortSignal): SessionEndReason | undefined {
  const r: unknown = signal.reason;
  return r === 'departed' || r === 'expired' || r === 'replaced' || r === 'shutdown' ? r : undefined;
}

/** A client's heartbeat interval, within HEARTBEAT_MS_RANGE; 0 when it sends none. */
function heartbeatOf(ms: number | undefined): number {
  if (!ms) return 0;
  return Math.min(HEARTBEAT_MS_RANGE.max, Math.max(HEARTBEAT_MS_RANGE.min, ms));
}
