/**
 * One TCP connection as a pure state machine (RFC 9293): segments and application calls in,
 * segments and events out through `TcpConnectionHooks`, time from an injected clock and deadlines
 * the owner polls (`nextDeadline` / `onTimer`). No sockets, no timers of its own.
 *
 * What it implements, and where from:
 * - passive open (the stack answers SYNs local programs send to cluster addresses) and, because it
 *   costs little, active open (`connect`), which the tests use as their peer;
 * - MSS, window scaling and timestamps (RFC 7323; timestamps give an RTT sample per ACK);
 * - a receive window that is what the application has not consumed yet, so a slow tunnel slows
 *   the local sender down (backpressure); window updates when `consumed()` reopens it;
 * - retransmission with RFC 6298 timers, Karn's rule, exponential backoff and a retry limit after
 *   which the connection is reset; go-back-N after a timeout;
 * - Reno congestion control with NewReno fast retransmit/recovery (RFC 5681, RFC 6582);
 * - out-of-order reassembly, duplicate suppression, zero-window probing, half-close both ways,
 *   RST both ways, RFC 5961 challenge ACKs.
 * - SACK blocks in our ACKs when data is missing (receiver side of RFC 2018).
 * Not implemented: using the peer's SACK blocks when we retransmit, PAWS, urgent data,
 * keepalives, simultaneous open.
 */
import { ReassemblyQueue } from './reassemblyQueue.js';
import { SendBuffer } from './sendBuffer.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt } from './seq.js';
import {
  MAX_WINDOW_SCALE,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  type SackBlock,
  type TcpHeaderFields,
  type TcpOptions,
  type TcpSegment,
} from './tcp.js';
import type { TimerOwner } from './timerQueue.js';
import type { TcpCloseReason } from './types.js';

export type TcpState =
  | 'SYN_SENT'
  | 'SYN_RECEIVED'
  | 'ESTABLISHED'
  | 'FIN_WAIT_1'
  | 'FIN_WAIT_2'
  | 'CLOSE_WAIT'
  | 'CLOSING'
  | 'LAST_ACK'
  | 'TIME_WAIT'
  | 'CLOSED';

export interface TcpTuning {
  /** The largest payload we accept per segment (the MSS we advertise): MTU minus IP and TCP headers. */
  mss: number;
  /** Bytes delivered to the application and not yet `consumed()` at which the window closes. */
  receiveWindow: number;
  /** `write()` returns false once this many bytes are queued; `drain` fires at half of it. */
  sendBufferSize: number;
  /** Writes that push the queue past this abort the connection (`overflow`): backpressure ignored. */
  sendBufferHardLimit: number;
  initialRtoMs: number;
  minRtoMs: number;
  maxRtoMs: number;
  /** Retransmissions of one segment (or unanswered zero-window probes) before giving up with RST. */
  maxRetries: number;
  /** Retransmissions of a SYN or SYN-ACK before giving up. */
  maxSynRetries: number;
  /**
   * How long an ACK for a lone segment may wait for a second segment or for reply data. 0 (the
   * default) ACKs at the end of each input batch: the TUN batch already coalesces ACKs under
   * load, and a delayed ACK would stall a local client whose Nagle algorithm holds its next
   * small write until this one is acknowledged (the classic 40 ms request latency).
   */
  delayedAckMs: number;
  /** How long a connection that closed first lingers to re-ACK a retransmitted FIN (2×MSL). A TUN
   * has no stray old segments, so this is far below the RFC's minutes. */
  timeWaitMs: number;
  windowScaling: boolean;
  timestamps: boolean;
  /** Send SACK blocks (RFC 2018) to peers that allow them, so a Linux sender repairs a burst of
   * losses (e.g. a full TUN queue) in one round trip. Received SACK blocks are not used. */
  sack: boolean;
  initialCwndSegments: number;
}

export const DEFAULT_TCP_TUNING: TcpTuning = {
  mss: 1460,
  receiveWindow: 1 << 20,
  sendBufferSize: 1 << 20,
  sendBufferHardLimit: 4 << 20,
  initialRtoMs: 1000,
  minRtoMs: 200,
  maxRtoMs: 60_000,
  maxRetries: 8,
  maxSynRetries: 5,
  delayedAckMs: 0,
  timeWaitMs: 5_000,
  windowScaling: true,
  timestamps: true,
  sack: true,
  initialCwndSegments: 10,
};

/** What a connection needs from its owner. Events are called synchronously, in order. */
export interface TcpConnectionHooks {
  /** Monotonic milliseconds. */
  clock(): number;
  /** One outgoing segment; `payload` supplies `length` bytes starting `offset` bytes into it. */
  send(header: TcpHeaderFields, payload: SendBuffer | undefined, offset: number, length: number): void;
  /** In-order data. A view into the received packet, or a copy for reassembled data. */
  data(bytes: Buffer): void;
  /** The peer sent FIN: no more data will come. */
  end(): void;
  /** The send queue fell to half its limit after `write()` had returned false. */
  drain(): void;
  /** The handshake completed. */
  established(): void;
  /** The connection is over for the application (reported once; TIME_WAIT may linger after). */
  closed(reason: TcpCloseReason): void;
}

export interface TcpEndpointParams {
  localPort: number;
  remotePort: number;
  /** Initial send sequence number (random per connection). */
  iss: number;
  /** Random offset of our timestamp clock, so TSval does not leak uptime. */
  tsOffset: number;
  /** The MSS to assume if the peer's SYN has none (RFC 9293: 536 for IPv4, RFC 8200: 1220 for IPv6). */
  defaultPeerMss: number;
}

/** Counters for tests and diagnostics. */
export interface TcpConnectionStats {
  segmentsSent: number;
  segmentsReceived: number;
  retransmits: number;
  fastRetransmits: number;
  timeouts: number;
  zeroWindowProbes: number;
  outOfOrderSegments: number;
  duplicateSegments: number;
  /** The largest send window (bytes, after scaling) the peer offered. */
  maxSendWindow: number;
  /** The most bytes we had in flight at once. */
  maxInFlight: number;
}

const TS_OPTION_LENGTH = 12;
/** How far behind rcvNxt a segment may start and still have its ACK considered. */
const MAX_BEHIND = 1 << 30;
const MIN_MSS = 48;
const EMPTY = Buffer.alloc(0);

/** Smallest shift that lets `window` be expressed in the 16-bit field. */
function scaleFor(window: number): number {
  let s = 0;
  while (s < MAX_WINDOW_SCALE && window >>> s > 0xffff) s++;
  return s;
}

export class TcpConnection implements TimerOwner {
  state: TcpState = 'CLOSED';
  wakeAt = Infinity;
  readonly stats: TcpConnectionStats = {
    segmentsSent: 0,
    segmentsReceived: 0,
    retransmits: 0,
    fastRetransmits: 0,
    timeouts: 0,
    zeroWindowProbes: 0,
    outOfOrderSegments: 0,
    duplicateSegments: 0,
    maxSendWindow: 0,
    maxInFlight: 0,
  };

  readonly localPort: number;
  readonly remotePort: number;

  // Send side (RFC 9293 names).
  private readonly iss: number;
  private sndUna: number;
  private sndNxt: number;
  /** Highest sequence number sent so far (sndNxt moves back on a timeout). */
  private sndMax: number;
  private sndWnd = 0;
  private sndWl1 = 0;
  private sndWl2 = 0;
  private maxSndWnd = 0;
  private sndWscale = 0;
  /** Payload bytes per segment we send (peer's MSS minus our option overhead). */
  private sndMss = 536;
  private readonly defaultPeerMss: number;
  private readonly sendBuffer = new SendBuffer();
  /** Sequence number of the first byte in sendBuffer. */
  private bufSeq: number;
  private finQueued = false;
  private finSeq = 0;
  private needDrain = false;

  // Receive side.
  private irs = 0;
  private rcvNxt = 0;
  private rcvWscale = 0;
  /** The right edge of the window we have advertised; it never moves left. */
  private rcvAdvEdge = 0;
  /** Delivered but not consumed by the application. */
  private rcvUnconsumed = 0;
  private rcvWindow: number;
  private readonly reassembly = new ReassemblyQueue();
  private oooFinSeq: number | undefined;

  // Options.
  /** Both SYNs carry a window scale option (so both directions scale, possibly by 0). */
  private wscaleAgreed = false;
  private offeredWscale: number | undefined;
  private offeredTs = false;
  private tsEnabled = false;
  /** The peer accepts SACK blocks from us. */
  private sackEnabled = false;
  /** Start of the latest out-of-order segment: its block goes first (RFC 2018 §4). */
  private lastOooSeq = 0;
  private tsRecent = 0;
  private lastAckSent = 0;
  private readonly tsOffset: number;

  // Timers (absolute ms, Infinity when off).
  private rtoDeadline = Infinity;
  private persistDeadline = Infinity;
  private delAckDeadline = Infinity;
  private timeWaitDeadline = Infinity;
  private rto: number;
  private srtt: number | undefined;
  private rttvar = 0;
  private retries = 0;
  private persistBackoff = 0;
  private probesUnanswered = 0;
  /** Karn: one timed segment at a time (without timestamps); ACKs at or past rttSeq sample it. */
  private rttSeq: number | undefined;
  private rttTime = 0;

  // Congestion control.
  private cwnd = 0;
  private ssthresh = Number.MAX_SAFE_INTEGER;
  private dupAcks = 0;
  private inRecovery = false;
  private recover = 0;

  // ACK scheduling.
  private ackNow = false;
  private segsSinceAck = 0;
  private closedReported = false;

  private constructor(
    private readonly hooks: TcpConnectionHooks,
    private readonly tuning: TcpTuning,
    params: TcpEndpointParams,
  ) {
    this.localPort = params.localPort;
    this.remotePort = params.remotePort;
    this.iss = params.iss >>> 0;
    this.sndUna = this.iss;
    this.sndNxt = this.iss;
    this.sndMax = this.iss;
    this.bufSeq = seqAdd(this.iss, 1);
    this.tsOffset = params.tsOffset >>> 0;
    this.rto = tuning.initialRtoMs;
    this.rcvWindow = tuning.receiveWindow;
    this.defaultPeerMss = params.defaultPeerMss;
    this.sndMss = Math.max(MIN_MSS, Math.min(params.defaultPeerMss, tuning.mss));
  }

  /** Answers `syn` (a segment with SYN and without ACK) with a SYN-ACK: the connection starts in
   * SYN_RECEIVED. */
  static accept(syn: TcpSegment, hooks: TcpConnectionHooks, tuning: TcpTuning, params: TcpEndpointParams): TcpConnection {
    const c = new TcpConnection(hooks, tuning, params);
    const o = syn.options;
    c.irs = syn.seq;
    c.rcvNxt = seqAdd(syn.seq, 1);
    if (tuning.windowScaling && o.windowScale !== undefined) {
      c.wscaleAgreed = true;
      c.sndWscale = o.windowScale;
      c.rcvWscale = scaleFor(tuning.receiveWindow);
    }
    c.tsEnabled = tuning.timestamps && o.tsValue !== undefined;
    if (c.tsEnabled) c.tsRecent = o.tsValue!;
    c.sackEnabled = tuning.sack && o.sackPermitted === true;
    c.negotiated(o.mss ?? params.defaultPeerMss);
    c.sndWnd = syn.window; // never scaled in a SYN
    c.maxSndWnd = c.sndWnd;
    c.sndWl1 = syn.seq;
    c.sndWl2 = c.iss;
    c.state = 'SYN_RECEIVED';
    c.sendSynAck();
    return c;
  }

  /** Active open: sends a SYN; the connection starts in SYN_SENT. */
  static connect(hooks: TcpConnectionHooks, tuning: TcpTuning, params: TcpEndpointParams): TcpConnection {
    const c = new TcpConnection(hooks, tuning, params);
    c.offeredWscale = tuning.windowScaling ? scaleFor(tuning.receiveWindow) : undefined;
    c.offeredTs = tuning.timestamps;
    c.state = 'SYN_SENT';
    c.sendSyn();
    return c;
  }

  private negotiated(peerMss: number): void {
    const overhead = this.tsEnabled ? TS_OPTION_LENGTH : 0;
    this.sndMss = Math.max(MIN_MSS, Math.min(peerMss, this.tuning.mss)) - overhead;
    // Without scaling the window field caps what we can offer.
    if (this.rcvWscale === 0) this.rcvWindow = Math.min(this.tuning.receiveWindow, 0xffff);
    else this.rcvWindow = Math.min(this.tuning.receiveWindow, 0xffff << this.rcvWscale);
    this.cwnd = this.sndMss * this.tuning.initialCwndSegments;
  }

  /** Bytes written and not yet acknowledged. */
  get bufferedAmount(): number {
    return this.sendBuffer.length;
  }

  /** The send window the peer offers now (bytes). */
  get sendWindow(): number {
    return this.sndWnd;
  }

  /** The window we would advertise now (bytes). */
  get receiveWindowAvailable(): number {
    return Math.max(0, seqDiff(this.rcvAdvEdge, this.rcvNxt));
  }

  get sendMss(): number {
    return this.sndMss;
  }

  get windowScales(): { send: number; receive: number } {
    return { send: this.sndWscale, receive: this.rcvWscale };
  }

  get timestampsEnabled(): boolean {
    return this.tsEnabled;
  }

  /** The sequence number the peer must exceed for a new connection on this 4-tuple in TIME_WAIT. */
  get receiveNext(): number {
    return this.rcvNxt;
  }

  // ---------------------------------------------------------------- application side

  /**
   * Queues `data` for sending (the connection keeps the Buffer: do not modify it afterwards).
   * Returns false when the queue is at its limit; `drain` follows when it has room again.
   */
  write(data: Buffer): boolean {
    if (this.finQueued) throw new Error('TCP write after shutdown');
    if (!this.canQueue()) return false;
    this.sendBuffer.push(data);
    if (this.sendBuffer.length > this.tuning.sendBufferHardLimit) {
      this.abortWith('overflow');
      return false;
    }
    this.trySend();
    if (this.sendBuffer.length < this.tuning.sendBufferSize) return true;
    this.needDrain = true;
    return false;
  }

  /** Sends FIN after the queued data (half-close); reading continues until the peer's FIN. */
  shutdown(): void {
    if (this.finQueued || !this.canQueue()) return;
    this.finQueued = true;
    this.finSeq = seqAdd(this.bufSeq, this.sendBuffer.length);
    if (this.state === 'ESTABLISHED') this.state = 'FIN_WAIT_1';
    else if (this.state === 'CLOSE_WAIT') this.state = 'LAST_ACK';
    // SYN_SENT / SYN_RECEIVED move on when the handshake completes.
    this.trySend();
  }

  /** Resets the connection (RST to the peer) and reports `aborted`. */
  abort(): void {
    this.abortWith('aborted');
  }

  /** The application took `n` bytes of delivered data off our hands: the window may reopen. */
  consumed(n: number): void {
    if (n <= 0 || this.state === 'CLOSED') return;
    const before = this.receiveWindowAvailable;
    this.rcvUnconsumed = Math.max(0, this.rcvUnconsumed - n);
    if (!this.canReceive()) return;
    // Update only if the window at least doubles and grows by a useful amount: smaller increases
    // ride on the next ACK anyway, and tiny ones would invite tiny segments (silly window).
    const free = this.rcvWindow - this.rcvUnconsumed;
    const threshold = Math.min(this.rcvWindow >> 1, this.tuning.mss);
    if (free >= 2 * before && free - before >= threshold) this.sendAck();
  }

  /** A method, not a field test, so TypeScript does not narrow `state` across hook calls that
   * may close the connection. */
  isClosed(): boolean {
    return this.state === 'CLOSED';
  }

  private canQueue(): boolean {
    const s = this.state;
    return s === 'ESTABLISHED' || s === 'CLOSE_WAIT' || s === 'SYN_RECEIVED' || s === 'SYN_SENT';
  }

  private canReceive(): boolean {
    const s = this.state;
    return s === 'ESTABLISHED' || s === 'FIN_WAIT_1' || s === 'FIN_WAIT_2';
  }

  // ---------------------------------------------------------------- timers

  nextDeadline(): number {
    return Math.min(this.rtoDeadline, this.persistDeadline, this.delAckDeadline, this.timeWaitDeadline);
  }

  onTimer(now: number): void {
    if (this.state === 'CLOSED') return;
    if (this.timeWaitDeadline <= now) {
      this.close('normal');
      return;
    }
    if (this.delAckDeadline <= now) {
      this.delAckDeadline = Infinity;
      this.ackNow = true;
    }
    if (this.rtoDeadline <= now) this.onRetransmitTimeout(now);
    if (this.isClosed()) return;
    if (this.persistDeadline <= now) this.onPersistTimeout(now);
    this.flush();
  }

  private onRetransmitTimeout(now: number): void {
    this.rtoDeadline = Infinity;
    if (this.sndNxt === this.sndUna) return; // nothing in flight
    this.retries++;
    const synState = this.state === 'SYN_SENT' || this.state === 'SYN_RECEIVED';
    if (this.retries > (synState ? this.tuning.maxSynRetries : this.tuning.maxRetries)) {
      this.abortWith('timeout');
      return;
    }
    this.stats.timeouts++;
    this.rto = Math.min(this.rto * 2, this.tuning.maxRtoMs);
    this.rttSeq = undefined; // Karn: never time a retransmitted segment
    if (this.state === 'SYN_RECEIVED') {
      this.sendSynAck();
      return;
    }
    if (this.state === 'SYN_SENT') {
      this.sendSyn();
      return;
    }
    // RFC 5681 §3.1 on a timeout: one segment of window, slow start, and resend from the oldest
    // unacknowledged byte (everything after it is presumed lost).
    const flight = seqDiff(this.sndMax, this.sndUna);
    this.ssthresh = Math.max(flight >> 1, 2 * this.sndMss);
    this.cwnd = this.sndMss;
    this.inRecovery = false;
    this.dupAcks = 0;
    this.sndNxt = this.sndUna;
    this.trySend();
    if (this.sndNxt !== this.sndUna && this.rtoDeadline === Infinity) this.rtoDeadline = now + this.rto;
  }

  private onPersistTimeout(now: number): void {
    this.persistDeadline = Infinity;
    if (this.sndWnd > 0 || this.sndNxt !== this.sndUna || !this.hasUnsent()) {
      this.persistBackoff = 0;
      this.trySend();
      return;
    }
    if (++this.probesUnanswered > this.tuning.maxRetries) {
      this.abortWith('timeout');
      return;
    }
    // The probe is an old sequence number with no data: the peer must answer it with an ACK that
    // carries its current window (as Linux's tcp_xmit_probe_skb does).
    this.stats.zeroWindowProbes++;
    this.emit(TCP_ACK, seqAdd(this.sndUna, -1), undefined, 0, 0);
    this.persistBackoff++;
    this.persistDeadline = now + this.persistInterval();
  }

  private persistInterval(): number {
    return Math.min(Math.max(this.rto, this.tuning.minRtoMs) * 2 ** Math.min(this.persistBackoff, 16), this.tuning.maxRtoMs);
  }

  private hasUnsent(): boolean {
    return seqLt(this.sndNxt, seqAdd(this.bufSeq, this.sendBuffer.length)) || (this.finQueued && this.sndNxt === this.finSeq);
  }

  // ---------------------------------------------------------------- segments in

  /** Processes one segment addressed to this connection. Call `flush()` after a batch of them. */
  input(seg: TcpSegment): void {
    this.stats.segmentsReceived++;
    if (this.state === 'CLOSED') return;
    if (this.state === 'SYN_SENT') {
      this.inputSynSent(seg);
      return;
    }
    const flags = seg.flags;
    const dataLength = seg.payload.length;
    if (this.state === 'SYN_RECEIVED' && (flags & (TCP_SYN | TCP_ACK | TCP_RST)) === TCP_SYN && seg.seq === this.irs) {
      // The peer did not get our SYN-ACK yet and retransmitted its SYN.
      this.sendSynAck();
      return;
    }
    const segLength = dataLength + (flags & TCP_SYN ? 1 : 0) + (flags & TCP_FIN ? 1 : 0);

    // 1. Acceptability. Past the window: acknowledge and drop. Old segments are not dropped
    // whole, as BSD does it ("keep on processing for RST or ACK"): a peer that resends after a
    // timeout (BSD rewinds snd_nxt) still carries a valid ACK, and ignoring it can deadlock two
    // senders that each wait for the other's ACK. receive() drops their stale data.
    const window = Math.max(0, seqDiff(this.rcvAdvEdge, this.rcvNxt));
    if (seqGt(seg.seq, seqAdd(this.rcvNxt, window)) || seqLt(seqAdd(seg.seq, segLength), seqAdd(this.rcvNxt, -MAX_BEHIND))) {
      if (!(flags & TCP_RST)) {
        this.stats.duplicateSegments++;
        this.ackNow = true;
      }
      return;
    }

    // 2. RST: only an exact match resets; anything else in the window gets a challenge ACK
    // (RFC 5961 §3), so a stray RST cannot kill the connection.
    if (flags & TCP_RST) {
      if (seg.seq === this.rcvNxt) this.close('reset');
      else if (seqGt(seg.seq, this.rcvNxt) && seqLt(seg.seq, seqAdd(this.rcvNxt, Math.max(window, 1)))) this.ackNow = true;
      return;
    }

    // An empty segment from before rcvNxt is a zero-window or keepalive probe (Linux sends
    // snd_una - 1): it must be answered, and its ACK still counts.
    if (segLength === 0 && seqLt(seg.seq, this.rcvNxt)) this.ackNow = true;

    // 4. A SYN in a synchronized state: challenge ACK (RFC 5961 §4).
    if (flags & TCP_SYN) {
      this.ackNow = true;
      return;
    }

    // 5. ACK.
    if (!(flags & TCP_ACK)) return;
    if (this.state === 'SYN_RECEIVED') {
      if (seqLt(this.sndUna, seg.ack) && seqLe(seg.ack, this.sndMax)) {
        this.state = this.finQueued ? 'FIN_WAIT_1' : 'ESTABLISHED';
        this.retries = 0;
        this.hooks.established();
      } else {
        this.emitRst(seg.ack, 0, false);
        return;
      }
    }
    if (!this.processAck(seg)) return;

    // 7. Data and FIN.
    if (dataLength > 0 || flags & TCP_FIN) {
      if (this.canReceive()) this.receive(seg);
      else {
        // After the peer's FIN: a retransmission (our ACK was lost), or nonsense.
        this.ackNow = true;
        if (this.state === 'TIME_WAIT' && flags & TCP_FIN) this.timeWaitDeadline = this.hooks.clock() + this.tuning.timeWaitMs;
      }
    }
  }

  private inputSynSent(seg: TcpSegment): void {
    const flags = seg.flags;
    if (flags & TCP_ACK && seg.ack !== seqAdd(this.iss, 1)) {
      if (!(flags & TCP_RST)) this.emitRst(seg.ack, 0, false);
      return;
    }
    if (flags & TCP_RST) {
      if (flags & TCP_ACK) this.close('refused');
      return;
    }
    if ((flags & (TCP_SYN | TCP_ACK)) !== (TCP_SYN | TCP_ACK)) return; // simultaneous open: unsupported
    const o = seg.options;
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    if (this.offeredWscale !== undefined && o.windowScale !== undefined) {
      this.wscaleAgreed = true;
      this.sndWscale = o.windowScale;
      this.rcvWscale = this.offeredWscale;
    }
    this.tsEnabled = this.offeredTs && o.tsValue !== undefined;
    if (this.tsEnabled) this.tsRecent = o.tsValue!;
    this.sackEnabled = this.tuning.sack && o.sackPermitted === true;
    const synWindow = Math.min(this.tuning.receiveWindow, 0xffff);
    this.negotiated(o.mss ?? this.defaultPeerMss);
    this.rcvAdvEdge = seqAdd(this.rcvNxt, synWindow);
    if (this.rttSeq !== undefined) this.sampleRtt(this.hooks.clock() - this.rttTime);
    this.rttSeq = undefined;
    this.sndUna = seg.ack;
    this.sndWnd = seg.window;
    this.maxSndWnd = this.sndWnd;
    this.sndWl1 = seg.seq;
    this.sndWl2 = seg.ack;
    this.rtoDeadline = Infinity;
    this.retries = 0;
    this.state = this.finQueued ? 'FIN_WAIT_1' : 'ESTABLISHED';
    this.ackNow = true;
    this.hooks.established();
    this.trySend();
  }

  /** Returns false if the rest of the segment must be ignored. */
  private processAck(seg: TcpSegment): boolean {
    const ack = seg.ack;
    if (seqGt(ack, this.sndMax)) {
      this.ackNow = true; // acknowledges something never sent
      return false;
    }
    const now = this.hooks.clock();
    const o = seg.options;
    if (this.tsEnabled && o.tsValue !== undefined && seqLe(seg.seq, this.lastAckSent) && seqGe(o.tsValue, this.tsRecent)) {
      this.tsRecent = o.tsValue; // RFC 7323 §4.3
    }
    let windowChanged = false;
    if (seqLt(this.sndWl1, seg.seq) || (this.sndWl1 === seg.seq && seqLe(this.sndWl2, ack))) {
      const wnd = seg.window << this.sndWscale;
      windowChanged = wnd !== this.sndWnd;
      this.sndWnd = wnd;
      this.sndWl1 = seg.seq;
      this.sndWl2 = ack;
      if (wnd > this.maxSndWnd) this.maxSndWnd = wnd;
      if (wnd > this.stats.maxSendWindow) this.stats.maxSendWindow = wnd;
    }
    this.probesUnanswered = 0;

    if (seqGt(ack, this.sndUna)) {
      const acked = seqDiff(ack, this.sndUna);
      if (this.tsEnabled && o.tsEcho !== undefined && o.tsEcho !== 0) {
        const sample = (this.tsNow() - o.tsEcho) >>> 0;
        if (sample < 0x7fffffff) this.sampleRtt(sample);
      } else if (this.rttSeq !== undefined && seqGe(ack, this.rttSeq)) {
        this.sampleRtt(now - this.rttTime);
        this.rttSeq = undefined;
      }
      const dataEnd = seqAdd(this.bufSeq, this.sendBuffer.length);
      const dataAcked = seqDiff(seqLt(ack, dataEnd) ? ack : dataEnd, this.bufSeq);
      if (dataAcked > 0) {
        this.sendBuffer.consume(dataAcked);
        this.bufSeq = seqAdd(this.bufSeq, dataAcked);
      }
      this.sndUna = ack;
      if (seqLt(this.sndNxt, ack)) this.sndNxt = ack; // after a go-back-N rewind
      this.retries = 0;
      this.dupAcks = 0;
      this.growCwnd(acked);
      this.rtoDeadline = this.sndNxt === this.sndUna ? Infinity : now + this.rto;
      if (this.needDrain && this.sendBuffer.length <= this.tuning.sendBufferSize >> 1) {
        this.needDrain = false;
        this.hooks.drain();
      }
      if (this.finQueued && seqGt(ack, this.finSeq)) {
        if (this.state === 'FIN_WAIT_1') this.state = 'FIN_WAIT_2';
        else if (this.state === 'CLOSING') this.enterTimeWait(now);
        else if (this.state === 'LAST_ACK') {
          this.close('normal');
          return false;
        }
      }
    } else if (
      ack === this.sndUna &&
      seg.payload.length === 0 &&
      !(seg.flags & (TCP_SYN | TCP_FIN)) &&
      !windowChanged &&
      this.sndNxt !== this.sndUna
    ) {
      this.onDuplicateAck();
    }
    if (this.sndWnd > 0 && this.persistDeadline !== Infinity) {
      this.persistDeadline = Infinity;
      this.persistBackoff = 0;
    }
    this.trySend();
    return true;
  }

  private growCwnd(acked: number): void {
    if (this.inRecovery) {
      if (seqGe(this.sndUna, this.recover)) {
        this.inRecovery = false; // full ACK: leave recovery with the reduced window
        this.cwnd = this.ssthresh;
      } else {
        // NewReno partial ACK: the next hole is lost too; resend it at once.
        this.retransmitOldest();
        this.cwnd = Math.max(this.cwnd - acked + this.sndMss, this.sndMss);
      }
      return;
    }
    if (this.cwnd < this.ssthresh) this.cwnd += Math.min(acked, this.sndMss);
    else this.cwnd += Math.max(1, Math.floor((this.sndMss * this.sndMss) / this.cwnd));
    if (this.cwnd > 1 << 30) this.cwnd = 1 << 30;
  }

  private onDuplicateAck(): void {
    this.dupAcks++;
    if (this.dupAcks === 3 && !this.inRecovery) {
      const flight = seqDiff(this.sndMax, this.sndUna);
      this.ssthresh = Math.max(flight >> 1, 2 * this.sndMss);
      this.cwnd = this.ssthresh + 3 * this.sndMss;
      this.inRecovery = true;
      this.recover = this.sndMax;
      this.stats.fastRetransmits++;
      this.retransmitOldest();
    } else if (this.dupAcks > 3 && this.inRecovery) {
      this.cwnd += this.sndMss; // each dup ACK means a segment left the network
    }
  }

  /** Resends the segment at sndUna without moving sndNxt. */
  private retransmitOldest(): void {
    this.rttSeq = undefined;
    const dataEnd = seqAdd(this.bufSeq, this.sendBuffer.length);
    const len = Math.min(this.sndMss, Math.max(0, seqDiff(dataEnd, this.sndUna)));
    const fin = this.finQueued && seqAdd(this.sndUna, len) === this.finSeq && seqGt(this.sndMax, this.finSeq);
    if (len === 0 && !fin) return;
    this.sendData(this.sndUna, len, fin);
  }

  private sampleRtt(r: number): void {
    if (this.srtt === undefined) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.rto = Math.min(Math.max(this.srtt + Math.max(1, 4 * this.rttvar), this.tuning.minRtoMs), this.tuning.maxRtoMs);
  }

  /** Smoothed RTT in ms, once measured. */
  get smoothedRtt(): number | undefined {
    return this.srtt;
  }

  get retransmissionTimeout(): number {
    return this.rto;
  }

  private receive(seg: TcpSegment): void {
    let seq = seg.seq;
    let data = seg.payload;
    let fin = (seg.flags & TCP_FIN) !== 0;
    const behind = seqDiff(this.rcvNxt, seq);
    if (behind > 0) {
      if (behind > data.length || (behind === data.length && !fin)) {
        this.stats.duplicateSegments++;
        this.ackNow = true;
        return;
      }
      data = behind === data.length ? EMPTY : data.subarray(behind);
      seq = this.rcvNxt;
    }
    const room = seqDiff(this.rcvAdvEdge, seq);
    if (data.length > room) {
      data = room > 0 ? data.subarray(0, room) : EMPTY;
      fin = false;
      this.ackNow = true;
    }
    if (seq !== this.rcvNxt) {
      this.stats.outOfOrderSegments++;
      if (data.length > 0 && !this.reassembly.insert(seq, data, this.rcvNxt)) this.stats.duplicateSegments++;
      if (fin) this.oooFinSeq = seqAdd(seq, data.length);
      this.lastOooSeq = seq;
      // One duplicate ACK per out-of-order segment, at once, not coalesced with the batch: the
      // sender counts them to fast-retransmit (RFC 5681 §4.2).
      this.sendAck();
      return;
    }
    if (data.length > 0) this.deliver(data);
    if (!this.reassembly.isEmpty) {
      let more: Buffer | undefined;
      while ((more = this.reassembly.shift(this.rcvNxt)) !== undefined) this.deliver(more);
      this.ackNow = true; // a hole filled: tell the peer at once (RFC 5681 §4.2)
    }
    if (this.isClosed()) return;
    if (fin || (this.oooFinSeq !== undefined && this.oooFinSeq === this.rcvNxt)) {
      this.receiveFin();
      return;
    }
    if (data.length > 0) {
      if (++this.segsSinceAck >= 2 || this.tuning.delayedAckMs === 0) this.ackNow = true;
      else if (this.delAckDeadline === Infinity) this.delAckDeadline = this.hooks.clock() + this.tuning.delayedAckMs;
    }
  }

  private deliver(data: Buffer): void {
    this.rcvNxt = seqAdd(this.rcvNxt, data.length);
    this.rcvUnconsumed += data.length;
    this.hooks.data(data);
  }

  private receiveFin(): void {
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.oooFinSeq = undefined;
    this.reassembly.clear();
    this.ackNow = true;
    this.hooks.end();
    switch (this.state) {
      case 'ESTABLISHED':
        this.state = 'CLOSE_WAIT';
        break;
      case 'FIN_WAIT_1':
        this.state = 'CLOSING';
        break;
      case 'FIN_WAIT_2':
        this.enterTimeWait(this.hooks.clock());
        break;
      default:
        break;
    }
  }

  private enterTimeWait(now: number): void {
    this.state = 'TIME_WAIT';
    this.release();
    this.timeWaitDeadline = now + this.tuning.timeWaitMs;
    this.report('normal');
  }

  // ---------------------------------------------------------------- segments out

  /** Sends what the windows allow: new data, then FIN. */
  private trySend(): void {
    const s = this.state;
    if (s !== 'ESTABLISHED' && s !== 'CLOSE_WAIT' && s !== 'FIN_WAIT_1' && s !== 'CLOSING' && s !== 'LAST_ACK') return;
    for (;;) {
      const dataEnd = seqAdd(this.bufSeq, this.sendBuffer.length);
      const unsent = seqDiff(dataEnd, this.sndNxt);
      if (unsent > 0) {
        const inFlight = seqDiff(this.sndNxt, this.sndUna);
        const room = Math.min(this.sndWnd, this.cwnd) - inFlight;
        if (room <= 0) {
          if (this.sndWnd === 0 && inFlight === 0) this.armPersist();
          return;
        }
        const len = Math.min(unsent, this.sndMss, room);
        // Sender-side silly window avoidance (RFC 9293 §3.8.6.2.1): hold back a runt segment while
        // data is in flight and the window is small; an ACK will open it.
        if (len < this.sndMss && len < unsent && inFlight > 0 && len < this.maxSndWnd >> 1) return;
        const fin = this.finQueued && seqAdd(this.sndNxt, len) === this.finSeq;
        this.sendData(this.sndNxt, len, fin);
        this.sndNxt = seqAdd(this.sndNxt, len + (fin ? 1 : 0));
        continue;
      }
      // FIN takes no window (as in Linux): it never waits behind a closed window.
      if (this.finQueued && this.sndNxt === this.finSeq) {
        this.sendData(this.finSeq, 0, true);
        this.sndNxt = seqAdd(this.finSeq, 1);
      }
      return;
    }
  }

  private armPersist(): void {
    if (this.persistDeadline === Infinity) this.persistDeadline = this.hooks.clock() + this.persistInterval();
  }

  private sendData(seq: number, len: number, fin: boolean): void {
    const end = seqAdd(seq, len + (fin ? 1 : 0));
    const dataEnd = seqAdd(this.bufSeq, this.sendBuffer.length);
    let flags = TCP_ACK;
    if (len > 0 && seqAdd(seq, len) === dataEnd) flags |= TCP_PSH;
    if (fin) flags |= TCP_FIN;
    const now = this.hooks.clock();
    const isNew = seqGe(seq, this.sndMax);
    if (!isNew) this.stats.retransmits++;
    this.emit(flags, seq, len > 0 ? this.sendBuffer : undefined, seqDiff(seq, this.bufSeq), len);
    if (isNew && !this.tsEnabled && this.rttSeq === undefined) {
      this.rttSeq = end;
      this.rttTime = now;
    }
    if (seqGt(end, this.sndMax)) this.sndMax = end;
    if (this.rtoDeadline === Infinity) this.rtoDeadline = now + this.rto;
    const inFlight = seqDiff(seqGt(end, this.sndNxt) ? end : this.sndNxt, this.sndUna);
    if (inFlight > this.stats.maxInFlight) this.stats.maxInFlight = inFlight;
  }

  /** Sends a pure ACK if one is due. The owner calls this after a batch of `input()` calls, so
   * one ACK answers many segments and a reply written meanwhile carries it instead. */
  flush(): void {
    if (this.ackNow && this.state !== 'CLOSED' && this.state !== 'SYN_SENT') this.sendAck();
  }

  private sendAck(): void {
    if (this.state === 'SYN_RECEIVED') {
      this.sendSynAck();
      return;
    }
    // Not sndNxt: after a timeout rewound it, a pure ACK still names the first unsent byte (as
    // BSD's tcp_output does), so the peer never finds it wholly old.
    this.emit(TCP_ACK, this.sndMax, undefined, 0, 0);
  }

  private sendSyn(): void {
    const options: TcpOptions = { mss: this.tuning.mss };
    if (this.offeredWscale !== undefined) options.windowScale = this.offeredWscale;
    if (this.offeredTs) {
      options.tsValue = this.tsNow();
      options.tsEcho = 0;
    }
    if (this.tuning.sack) options.sackPermitted = true;
    this.emitSyn(TCP_SYN, options);
  }

  private sendSynAck(): void {
    const options: TcpOptions = { mss: this.tuning.mss };
    if (this.wscaleAgreed) options.windowScale = this.rcvWscale;
    if (this.tsEnabled) {
      options.tsValue = this.tsNow();
      options.tsEcho = this.tsRecent;
    }
    if (this.sackEnabled) options.sackPermitted = true;
    this.emitSyn(TCP_SYN | TCP_ACK, options);
  }

  private emitSyn(flags: number, options: TcpOptions): void {
    const now = this.hooks.clock();
    const window = Math.min(this.tuning.receiveWindow, 0xffff);
    if (flags & TCP_ACK) {
      this.rcvAdvEdge = seqAdd(this.rcvNxt, window);
      this.lastAckSent = this.rcvNxt;
        this.ackNow = false;
    }
    this.stats.segmentsSent++;
    this.hooks.send(
      { srcPort: this.localPort, dstPort: this.remotePort, seq: this.iss, ack: flags & TCP_ACK ? this.rcvNxt : 0, flags, window, options },
      undefined,
      0,
      0,
    );
    this.sndNxt = seqAdd(this.iss, 1);
    if (seqGt(this.sndNxt, this.sndMax)) this.sndMax = this.sndNxt;
    if (this.retries === 0 && this.rttSeq === undefined && !this.tsEnabled) {
      this.rttSeq = this.sndNxt;
      this.rttTime = now;
    }
    if (this.rtoDeadline === Infinity) this.rtoDeadline = now + this.rto;
  }

  /** Every non-SYN segment goes out here: it carries the current ACK, window and timestamps. */
  private emit(flags: number, seq: number, payload: SendBuffer | undefined, offset: number, length: number): void {
    let options: TcpOptions | undefined = this.tsEnabled ? { tsValue: this.tsNow(), tsEcho: this.tsRecent } : undefined;
    if (this.sackEnabled && !this.reassembly.isEmpty) (options ??= {}).sack = this.sackBlocks();
    const window = this.windowField();
    this.lastAckSent = this.rcvNxt;
    this.ackNow = false;
    this.segsSinceAck = 0;
    this.delAckDeadline = Infinity;
    this.stats.segmentsSent++;
    this.hooks.send(
      { srcPort: this.localPort, dstPort: this.remotePort, seq, ack: this.rcvNxt, flags, window, options },
      payload,
      offset,
      length,
    );
  }

  /** What we hold beyond the hole, the block with the latest arrival first. */
  private sackBlocks(): SackBlock[] {
    const blocks = this.reassembly.ranges();
    const latest = blocks.findIndex((b) => seqGe(this.lastOooSeq, b.left) && seqLt(this.lastOooSeq, b.right));
    if (latest > 0) blocks.unshift(blocks.splice(latest, 1)[0]!);
    return blocks;
  }

  /**
   * The window field for a segment we send, and the right edge it promises. The edge follows
   * what the application has consumed, moves only by useful amounts (receiver-side silly window
   * avoidance, RFC 9293 §3.8.6.2.2) and never moves left, except by rounding to the scale unit.
   */
  private windowField(): number {
    const free = Math.max(0, this.rcvWindow - this.rcvUnconsumed);
    const target = seqAdd(this.rcvNxt, free);
    const threshold = Math.min(this.rcvWindow >> 1, this.tuning.mss);
    const edge = seqDiff(target, this.rcvAdvEdge) >= threshold ? target : this.rcvAdvEdge;
    const available = Math.max(0, seqDiff(edge, this.rcvNxt));
    const field = Math.min(available >>> this.rcvWscale, 0xffff);
    const advertised = seqAdd(this.rcvNxt, field << this.rcvWscale);
    if (seqGt(advertised, this.rcvAdvEdge)) this.rcvAdvEdge = advertised;
    return field;
  }

  private tsNow(): number {
    return (Math.floor(this.hooks.clock()) + this.tsOffset) >>> 0;
  }

  private emitRst(seq: number, ack: number, withAck: boolean): void {
    this.stats.segmentsSent++;
    this.hooks.send(
      { srcPort: this.localPort, dstPort: this.remotePort, seq, ack, flags: withAck ? TCP_RST | TCP_ACK : TCP_RST, window: 0 },
      undefined,
      0,
      0,
    );
  }

  // ---------------------------------------------------------------- endings

  private abortWith(reason: TcpCloseReason): void {
    if (this.state === 'CLOSED') return;
    if (this.state !== 'TIME_WAIT') {
      if (this.state === 'SYN_SENT') this.emitRst(this.sndNxt, 0, false);
      else this.emitRst(this.sndMax, this.rcvNxt, true);
    }
    this.close(reason);
  }

  private close(reason: TcpCloseReason): void {
    this.state = 'CLOSED';
    this.ackNow = false;
    this.release();
    this.timeWaitDeadline = Infinity;
    this.report(reason);
  }

  private report(reason: TcpCloseReason): void {
    if (this.closedReported) return;
    this.closedReported = true;
    this.hooks.closed(reason);
  }

  private release(): void {
    this.sendBuffer.clear();
    this.reassembly.clear();
    this.rtoDeadline = Infinity;
    this.persistDeadline = Infinity;
    this.delAckDeadline = Infinity;
    this.needDrain = false;
  }
}
