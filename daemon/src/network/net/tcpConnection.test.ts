/**
 * The TCP state machine driven by scripted segments: each test plays the local kernel's side by
 * hand and checks the exact segments and events that come back.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seqAdd } from './seq.js';
import type { SendBuffer } from './sendBuffer.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, type TcpHeaderFields, type TcpOptions, type TcpSegment } from './tcp.js';
import { DEFAULT_TCP_TUNING, TcpConnection, type TcpTuning } from './tcpConnection.js';
import type { TcpCloseReason } from './types.js';

interface Sent {
  h: TcpHeaderFields;
  data: Buffer;
}

interface SegmentSpec {
  seq: number;
  ack?: number;
  flags?: number;
  window?: number;
  options?: TcpOptions;
  payload?: Buffer | string;
}

const ISS = 5000;
const IRS = 1000;
const TS_OFFSET = 7_000_000;

/** The connection under test plus a record of everything it did. */
class Harness {
  now = 0;
  sent: Sent[] = [];
  received: Buffer[] = [];
  ended = 0;
  drains = 0;
  established = 0;
  closed: TcpCloseReason[] = [];
  conn!: TcpConnection;
  /** Our view of the peer: its next sequence number and timestamp. */
  peerNxt = seqAdd(IRS, 1);
  peerTs = 100;
  /** The last timestamp we sent, which the peer echoes. */
  ourTs = TS_OFFSET;

  readonly hooks = {
    clock: () => this.now,
    send: (h: TcpHeaderFields, payload: SendBuffer | undefined, offset: number, length: number) => {
      if (h.options?.tsValue !== undefined) this.ourTs = h.options.tsValue;
      const data = Buffer.alloc(length);
      if (payload && length > 0) payload.copyOut(data, 0, offset, length);
      this.sent.push({ h, data });
    },
    data: (b: Buffer) => this.received.push(Buffer.from(b)),
    end: () => this.ended++,
    drain: () => this.drains++,
    established: () => this.established++,
    closed: (r: TcpCloseReason) => this.closed.push(r),
  };

  constructor(readonly tuning: TcpTuning = DEFAULT_TCP_TUNING) {}

  accept(options: TcpOptions = { mss: 1460, windowScale: 7, sackPermitted: true, tsValue: 100, tsEcho: 0 }, irs = IRS, iss = ISS): Sent {
    this.peerNxt = seqAdd(irs, 1);
    this.conn = TcpConnection.accept(segment({ seq: irs, flags: TCP_SYN, window: 65535, options }), this.hooks, this.tuning, {
      localPort: 80,
      remotePort: 40000,
      iss,
      tsOffset: TS_OFFSET,
      defaultPeerMss: 536,
    });
    return this.take()[0]!;
  }

  /** Accept and complete the handshake; the peer offers `window` (scaled by 7 if scaling is on). */
  establish(window = 512, options?: TcpOptions, irs = IRS, iss = ISS): void {
    const synAck = this.accept(options, irs, iss);
    this.input({ seq: this.peerNxt, ack: seqAdd(synAck.h.seq, 1), window });
    this.conn.flush();
    assert.equal(this.conn.state, 'ESTABLISHED');
    this.sent = [];
  }

  /** Feeds a segment from the peer (timestamps added if negotiated) and returns nothing. */
  input(spec: SegmentSpec): void {
    const options = spec.options ?? (this.conn.timestampsEnabled ? { tsValue: this.peerTs++, tsEcho: this.lastTsVal() } : {});
    this.conn.input(segment({ flags: TCP_ACK, ...spec, options }));
  }

  /** The peer sends `payload` in order. */
  data(payload: Buffer | string, ack: number, extraFlags = 0, window = 512): void {
    const len = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
    this.input({ seq: this.peerNxt, ack, payload, flags: TCP_ACK | extraFlags, window });
    this.peerNxt = seqAdd(this.peerNxt, len + (extraFlags & TCP_FIN ? 1 : 0));
  }

  lastTsVal(): number {
    return this.ourTs;
  }

  /** Segments sent since the last take, after a flush. */
  take(): Sent[] {
    this.conn?.flush();
    const s = this.sent;
    this.sent = [];
    return s;
  }

  /** Advances the clock to the connection's next deadline (must be ≤ limit) and runs it. */
  fire(limit = Infinity): number {
    const d = this.conn.nextDeadline();
    assert.ok(d <= limit, `next deadline ${d} is after ${limit}`);
    this.now = d;
    this.conn.onTimer(this.now);
    return d;
  }
}

function segment(spec: SegmentSpec): TcpSegment {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : (spec.payload ?? Buffer.alloc(0));
  return {
    ok: true,
    srcPort: 40000,
    dstPort: 80,
    seq: spec.seq >>> 0,
    ack: (spec.ack ?? 0) >>> 0,
    flags: spec.flags ?? TCP_ACK,
    window: spec.window ?? 512,
    checksum: 0,
    urgentPointer: 0,
    headerLength: 20,
    options: spec.options ?? {},
    payload,
  };
}

function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

test('accept answers with a SYN-ACK that negotiates MSS, window scale and timestamps', () => {
  const h = new Harness();
  const synAck = h.accept();
  assert.equal(synAck.h.flags, TCP_SYN | TCP_ACK);
  assert.equal(synAck.h.seq, ISS);
  assert.equal(synAck.h.ack, IRS + 1);
  assert.equal(synAck.h.window, 65535, 'the window in a SYN is never scaled');
  // 1 MiB of receive window needs a shift of 5.
  assert.deepEqual(synAck.h.options, { mss: 1460, windowScale: 5, sackPermitted: true, tsValue: TS_OFFSET, tsEcho: 100 });
  assert.equal(h.conn.state, 'SYN_RECEIVED');
  h.input({ seq: IRS + 1, ack: ISS + 1, window: 512 });
  assert.equal(h.conn.state, 'ESTABLISHED');
  assert.equal(h.established, 1);
  assert.equal(h.conn.sendWindow, 512 << 7, "the peer's window is scaled by its shift");
  assert.equal(h.conn.sendMss, 1460 - 12, 'timestamps take 12 bytes of every segment');
  assert.deepEqual(h.conn.windowScales, { send: 7, receive: 5 });
});

test('a SYN without options gets no scaling, no timestamps and the default MSS', () => {
  const h = new Harness();
  const synAck = h.accept({});
  assert.deepEqual(synAck.h.options, { mss: 1460 });
  h.input({ seq: IRS + 1, ack: ISS + 1, window: 65535, options: {} });
  assert.equal(h.conn.sendMss, 536);
  assert.equal(h.conn.timestampsEnabled, false);
  h.data(bytes(1000), ISS + 1);
  h.data(bytes(1000), ISS + 1);
  const [ack] = h.take();
  assert.equal(ack!.h.options, undefined);
  assert.equal(ack!.h.window, 65535 - 2000, 'unscaled: the window field is the free space');
});

test('by default every batch of data is ACKed once, when the batch ends', () => {
  const h = new Harness();
  h.establish();
  h.data('one', ISS + 1);
  h.data('two', ISS + 1);
  h.data('three', ISS + 1);
  const acks = h.take();
  assert.equal(acks.length, 1);
  assert.equal(acks[0]!.h.ack, IRS + 1 + 11);
  h.data('lone', ISS + 1);
  assert.equal(h.take().length, 1, 'a lone segment is not delayed (Nagle on the other side would stall)');
});

test('with a delayed-ACK timer: ACK every second segment, or when the timer fires', () => {
  const h = new Harness({ ...DEFAULT_TCP_TUNING, delayedAckMs: 40 });
  h.establish();
  h.data('first', ISS + 1);
  assert.deepEqual(h.received.map(String), ['first']);
  assert.deepEqual(h.take(), [], 'a lone segment waits for company');
  assert.equal(h.conn.nextDeadline(), h.now + 40);
  h.now += 10;
  h.data('second', ISS + 1);
  const [ack] = h.take();
  assert.equal(ack!.h.ack, IRS + 1 + 11);
  assert.equal(ack!.h.flags, TCP_ACK);
  h.data('third', ISS + 1);
  assert.deepEqual(h.take(), []);
  h.fire(h.now + 40);
  const [late] = h.take();
  assert.equal(late!.h.ack, IRS + 1 + 16);
});

test('the receive window is what the application has not consumed; consuming reopens it', () => {
  const h = new Harness({ ...DEFAULT_TCP_TUNING, receiveWindow: 8192 });
  h.establish(65535, {});
  const seg = bytes(1448);
  for (let i = 0; i < 4; i++) h.data(seg, ISS + 1);
  let acks = h.take();
  assert.equal(acks.at(-1)!.h.window, 8192 - 4 * 1448);
  h.data(bytes(8192 - 4 * 1448), ISS + 1);
  h.data(bytes(100), ISS + 1); // beyond the window: must not be delivered
  acks = h.take();
  assert.equal(acks.at(-1)!.h.window, 0);
  assert.equal(acks.at(-1)!.h.ack, IRS + 1 + 8192, 'the out-of-window bytes are not acknowledged');
  assert.equal(Buffer.concat(h.received).length, 8192);
  h.peerNxt = IRS + 1 + 8192;
  h.conn.consumed(1000);
  assert.deepEqual(h.take(), [], 'a small opening is not worth an update (silly window avoidance)');
  h.conn.consumed(3000);
  const [update] = h.take();
  assert.equal(update!.h.window, 4000, 'a window update follows a useful opening');
  assert.equal(update!.h.ack, IRS + 1 + 8192);
});

test('out-of-order data waits for the hole; duplicates are dropped; overlaps deliver only new bytes', () => {
  const h = new Harness();
  h.establish();
  const a = bytes(1000, 1);
  const b = bytes(1000, 2);
  h.input({ seq: IRS + 1 + 1000, ack: ISS + 1, payload: b });
  assert.equal(h.received.length, 0);
  const [dup] = h.take();
  assert.equal(dup!.h.ack, IRS + 1, 'an immediate duplicate ACK reports the hole');
  h.input({ seq: IRS + 1, ack: ISS + 1, payload: a });
  assert.deepEqual(Buffer.concat(h.received), Buffer.concat([a, b]));
  const [filled] = h.take();
  assert.equal(filled!.h.ack, IRS + 1 + 2000, 'filling a hole is acknowledged at once');
  h.input({ seq: IRS + 1, ack: ISS + 1, payload: a });
  assert.equal(h.received.length, 2, 'a duplicate delivers nothing');
  assert.equal(h.take()[0]!.h.ack, IRS + 1 + 2000, 'but is acknowledged');
  const c = bytes(200, 3);
  h.input({ seq: IRS + 1 + 1900, ack: ISS + 1, payload: c });
  assert.deepEqual(h.received.at(-1), c.subarray(100));
  assert.equal(h.conn.stats.outOfOrderSegments, 1);
});

test('each out-of-order segment gets its own duplicate ACK with SACK blocks, latest first', () => {
  const h = new Harness();
  h.establish();
  h.input({ seq: IRS + 1 + 1000, ack: ISS + 1, payload: bytes(100) });
  h.input({ seq: IRS + 1 + 3000, ack: ISS + 1, payload: bytes(100) });
  h.input({ seq: IRS + 1 + 1100, ack: ISS + 1, payload: bytes(100) });
  const acks = h.take();
  assert.equal(acks.length, 3, 'not coalesced: the sender counts them');
  assert.ok(acks.every((a) => a.h.ack === IRS + 1));
  assert.deepEqual(acks[0]!.h.options?.sack, [{ left: IRS + 1001, right: IRS + 1101 }]);
  assert.deepEqual(acks[1]!.h.options?.sack, [
    { left: IRS + 3001, right: IRS + 3101 },
    { left: IRS + 1001, right: IRS + 1101 },
  ]);
  assert.deepEqual(acks[2]!.h.options?.sack, [
    { left: IRS + 1001, right: IRS + 1201 },
    { left: IRS + 3001, right: IRS + 3101 },
  ]);
  h.input({ seq: IRS + 1, ack: ISS + 1, payload: bytes(1000) });
  const [after] = h.take();
  assert.equal(after!.h.ack, IRS + 1 + 1200);
  assert.deepEqual(after!.h.options?.sack, [{ left: IRS + 3001, right: IRS + 3101 }]);

  const plain = new Harness();
  plain.establish(512, { mss: 1460, tsValue: 1, tsEcho: 0 });
  plain.input({ seq: IRS + 1 + 1000, ack: ISS + 1, payload: bytes(100) });
  assert.equal(plain.take()[0]!.h.options?.sack, undefined, 'no SACK blocks unless the peer permitted them');
});

test('RST: an exact sequence number resets, others in the window get a challenge ACK', () => {
  const h = new Harness();
  h.establish();
  h.input({ seq: IRS + 1 + 10, flags: TCP_RST });
  assert.equal(h.conn.state, 'ESTABLISHED');
  const [challenge] = h.take();
  assert.equal(challenge!.h.flags, TCP_ACK);
  assert.equal(challenge!.h.ack, IRS + 1);
  h.input({ seq: IRS + 1 + 100_000_000, flags: TCP_RST });
  assert.deepEqual(h.take(), [], 'an RST far outside the window is ignored silently');
  h.input({ seq: IRS + 1, flags: TCP_RST });
  assert.equal(h.conn.state, 'CLOSED');
  assert.deepEqual(h.closed, ['reset']);
  assert.deepEqual(h.take(), []);
});

test('a SYN on an established connection gets a challenge ACK (RFC 5961)', () => {
  const h = new Harness();
  h.establish();
  h.input({ seq: IRS + 50, flags: TCP_SYN });
  assert.equal(h.conn.state, 'ESTABLISHED');
  assert.equal(h.take()[0]!.h.flags, TCP_ACK);
});

test('retransmits on timeout with exponential backoff, then resets the connection', () => {
  const h = new Harness({ ...DEFAULT_TCP_TUNING, maxRetries: 3 });
  h.establish();
  h.conn.write(bytes(1000));
  const [first] = h.take();
  assert.equal(first!.h.seq, ISS + 1);
  assert.equal(first!.h.flags, TCP_ACK | TCP_PSH);
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    times.push(h.fire());
    const [again] = h.take();
    assert.equal(again!.h.seq, ISS + 1);
    assert.deepEqual(again!.data, first!.data);
  }
  assert.deepEqual(times, [200, 600, 1400], 'RTO 200 ms (the floor), doubling each time');
  assert.equal(h.fire(), 3000);
  const [rst] = h.take();
  assert.equal(rst!.h.flags & TCP_RST, TCP_RST);
  assert.equal(rst!.h.seq, ISS + 1 + 1000);
  assert.deepEqual(h.closed, ['timeout']);
  assert.equal(h.conn.state, 'CLOSED');
});

test('an ACK of retransmitted data restarts the timer from the measured RTT (timestamps)', () => {
  const h = new Harness();
  h.accept();
  h.now = 100;
  h.input({ seq: IRS + 1, ack: ISS + 1, window: 512 }); // echoes the SYN-ACK sent at 0
  assert.equal(h.conn.smoothedRtt, 100);
  assert.equal(h.conn.retransmissionTimeout, 300, 'SRTT + 4 RTTVAR = 100 + 4·50');
  h.conn.write(bytes(10));
  h.take();
  assert.equal(h.conn.nextDeadline(), 100 + 300);
});

test("Karn's rule: an ACK for retransmitted data gives no RTT sample; the backed-off RTO stays", () => {
  const h = new Harness();
  h.accept({ mss: 1460 }); // no timestamps: RTT is measured by timing segments
  h.now = 10;
  h.input({ seq: IRS + 1, ack: ISS + 1, window: 65535 });
  assert.equal(h.conn.smoothedRtt, 10, 'the handshake was timed');
  h.conn.write(bytes(100));
  h.take();
  assert.equal(h.fire(), 10 + 200);
  h.take();
  assert.equal(h.conn.retransmissionTimeout, 400);
  h.now = 500; // the ACK may answer either copy: it must not be sampled
  h.input({ seq: IRS + 1, ack: ISS + 101, window: 65535 });
  assert.equal(h.conn.smoothedRtt, 10);
  assert.equal(h.conn.retransmissionTimeout, 400, 'RFC 6298 §5.7: keep the backed-off value until a new sample');
  h.conn.write(bytes(100));
  h.take();
  h.now = 530;
  h.input({ seq: IRS + 1, ack: ISS + 201, window: 65535 });
  assert.equal(h.conn.smoothedRtt, 0.875 * 10 + 0.125 * 30, 'a fresh segment is sampled');
  assert.equal(h.conn.retransmissionTimeout, 200);
});

test('a probe with an old sequence number and no data is answered (zero-window, keepalive)', () => {
  const h = new Harness();
  h.establish();
  h.input({ seq: IRS, ack: ISS + 1 }); // Linux's probe: snd_una - 1
  const [ack] = h.take();
  assert.equal(ack!.h.ack, IRS + 1);
  assert.equal(h.conn.state, 'ESTABLISHED');
});

test('three duplicate ACKs trigger a fast retransmit before any timer', () => {
  const h = new Harness();
  h.establish();
  const mss = h.conn.sendMss;
  h.conn.write(bytes(5 * mss));
  const sent = h.take();
  assert.equal(sent.length, 5);
  h.input({ seq: IRS + 1, ack: ISS + 1 + mss, window: 512 });
  assert.deepEqual(h.take(), []);
  for (let i = 0; i < 2; i++) {
    h.input({ seq: IRS + 1, ack: ISS + 1 + mss, window: 512 });
    assert.deepEqual(h.take(), [], `dup ACK ${i + 1} alone does nothing`);
  }
  h.input({ seq: IRS + 1, ack: ISS + 1 + mss, window: 512 });
  const [re] = h.take();
  assert.equal(re!.h.seq, ISS + 1 + mss, 'the segment after the acknowledged one is resent');
  assert.deepEqual(re!.data, sent[1]!.data);
  assert.equal(h.conn.stats.fastRetransmits, 1);
  // A partial ACK (NewReno) resends the next hole at once.
  h.input({ seq: IRS + 1, ack: ISS + 1 + 2 * mss, window: 512 });
  const [next] = h.take();
  assert.equal(next!.h.seq, ISS + 1 + 2 * mss);
  h.input({ seq: IRS + 1, ack: ISS + 1 + 5 * mss, window: 512 });
  assert.equal(h.conn.bufferedAmount, 0);
  assert.equal(h.conn.nextDeadline(), Infinity, 'everything acknowledged: no timer');
});

test('a zero window holds data back, probes it on the persist timer and sends when it opens', () => {
  const h = new Harness();
  h.establish();
  h.input({ seq: IRS + 1, ack: ISS + 1, window: 0 });
  h.conn.write(bytes(1000));
  assert.deepEqual(h.take(), [], 'nothing fits a zero window');
  const t1 = h.fire();
  const [probe] = h.take();
  assert.equal(probe!.h.seq, ISS, 'the probe carries an old sequence number');
  assert.equal(probe!.data.length, 0);
  h.input({ seq: IRS + 1, ack: ISS + 1, window: 0 }); // still closed
  const t2 = h.fire();
  assert.ok(t2 - t1 > t1, `the persist interval backs off (${t1}, then ${t2 - t1})`);
  assert.equal(h.take().length, 1);
  h.input({ seq: IRS + 1, ack: ISS + 1, window: 512 });
  const [data] = h.take();
  assert.equal(data!.data.length, 1000);
  assert.equal(data!.h.seq, ISS + 1);
  assert.equal(h.conn.stats.zeroWindowProbes, 2);
});

test('zero-window probes that nobody answers end in a reset', () => {
  const h = new Harness({ ...DEFAULT_TCP_TUNING, maxRetries: 2 });
  h.establish();
  h.input({ seq: IRS + 1, ack: ISS + 1, window: 0 });
  h.conn.write(bytes(10));
  for (let i = 0; i < 3; i++) h.fire();
  assert.deepEqual(h.closed, ['timeout']);
  assert.equal(h.take().at(-1)!.h.flags & TCP_RST, TCP_RST);
});

test('half-close by the peer: its FIN ends its side while ours keeps sending, then LAST_ACK', () => {
  const h = new Harness();
  h.establish();
  h.data('request', ISS + 1, TCP_FIN);
  assert.equal(h.ended, 1);
  assert.equal(h.conn.state, 'CLOSE_WAIT');
  const [ack] = h.take();
  assert.equal(ack!.h.ack, IRS + 1 + 7 + 1, 'the FIN takes a sequence number');
  assert.ok(h.conn.write(Buffer.from('response')));
  h.conn.shutdown();
  const out = h.take();
  assert.deepEqual(Buffer.concat(out.map((s) => s.data)).toString(), 'response');
  const fin = out.at(-1)!;
  assert.equal(fin.h.flags & TCP_FIN, TCP_FIN);
  assert.equal(h.conn.state, 'LAST_ACK');
  h.input({ seq: h.peerNxt, ack: ISS + 1 + 8 + 1 });
  assert.equal(h.conn.state, 'CLOSED');
  assert.deepEqual(h.closed, ['normal']);
});

test('active close: FIN_WAIT_1, FIN_WAIT_2, TIME_WAIT (re-ACKing a repeated FIN), CLOSED', () => {
  const h = new Harness();
  h.establish();
  h.conn.shutdown();
  const [fin] = h.take();
  assert.equal(fin!.h.flags, TCP_FIN | TCP_ACK);
  assert.equal(h.conn.state, 'FIN_WAIT_1');
  assert.throws(() => h.conn.write(Buffer.from('late')), /after shutdown/);
  h.input({ seq: IRS + 1, ack: ISS + 2 });
  assert.equal(h.conn.state, 'FIN_WAIT_2');
  h.data('still talking', ISS + 2);
  assert.equal(h.received.map(String).join(''), 'still talking', 'half-closed: we still receive');
  h.data('', ISS + 2, TCP_FIN);
  assert.equal(h.conn.state, 'TIME_WAIT');
  assert.deepEqual(h.closed, ['normal'], 'the application is told when TIME_WAIT starts');
  assert.equal(h.ended, 1);
  assert.equal(h.take()[0]!.h.ack, h.peerNxt);
  h.now += 1000;
  h.input({ seq: seqAdd(h.peerNxt, -1), ack: ISS + 2, flags: TCP_FIN | TCP_ACK });
  assert.equal(h.take()[0]!.h.ack, h.peerNxt, 'a retransmitted FIN is acknowledged again');
  assert.equal(h.fire(), 1000 + DEFAULT_TCP_TUNING.timeWaitMs);
  assert.equal(h.conn.state, 'CLOSED');
  assert.deepEqual(h.closed, ['normal'], 'reported once');
});

test('simultaneous close passes through CLOSING', () => {
  const h = new Harness();
  h.establish();
  h.conn.shutdown();
  h.take();
  h.data('', ISS + 1, TCP_FIN); // the peer's FIN does not yet acknowledge ours
  assert.equal(h.conn.state, 'CLOSING');
  h.input({ seq: h.peerNxt, ack: ISS + 2 });
  assert.equal(h.conn.state, 'TIME_WAIT');
});

test('sequence numbers wrap around 2^32 in both directions', () => {
  const h = new Harness();
  const irs = 0xffffff00;
  const iss = 0xffffff80;
  h.establish(512, undefined, irs, iss);
  const incoming = bytes(3000, 7);
  h.data(incoming.subarray(0, 1400), seqAdd(iss, 1));
  h.data(incoming.subarray(1400), seqAdd(iss, 1));
  assert.deepEqual(Buffer.concat(h.received), incoming);
  assert.equal(h.take().at(-1)!.h.ack, seqAdd(irs, 3001));
  const outgoing = bytes(3000, 9);
  h.conn.write(outgoing);
  const segs = h.take();
  assert.deepEqual(Buffer.concat(segs.map((s) => s.data)), outgoing);
  assert.equal(segs[0]!.h.seq, seqAdd(iss, 1));
  h.input({ seq: h.peerNxt, ack: seqAdd(iss, 3001) });
  assert.equal(h.conn.bufferedAmount, 0);
});

test('write backpressure: false at the limit, drain at half, overflow past the hard limit resets', () => {
  const h = new Harness({ ...DEFAULT_TCP_TUNING, sendBufferSize: 10_000, sendBufferHardLimit: 20_000 });
  h.establish();
  assert.equal(h.conn.write(bytes(6000)), true);
  assert.equal(h.conn.write(bytes(6000)), false);
  h.take();
  h.input({ seq: IRS + 1, ack: ISS + 1 + 4000 });
  assert.equal(h.drains, 0, '8000 buffered is above half the limit');
  h.input({ seq: IRS + 1, ack: ISS + 1 + 7000 });
  assert.equal(h.drains, 1);
  h.take();
  assert.equal(h.conn.write(bytes(25_000)), false);
  assert.deepEqual(h.closed, ['overflow']);
  assert.equal(h.take().at(-1)!.h.flags & TCP_RST, TCP_RST);
});

test('a lost SYN-ACK is retransmitted, also when the SYN is repeated, then the attempt times out', () => {
  const h = new Harness({ ...DEFAULT_TCP_TUNING, maxSynRetries: 2 });
  h.accept();
  h.conn.input(segment({ seq: IRS, flags: TCP_SYN, options: { mss: 1460 } }));
  assert.equal(h.take()[0]!.h.flags, TCP_SYN | TCP_ACK, 'a repeated SYN is answered at once');
  assert.equal(h.fire(), 1000, 'initial RTO is one second');
  assert.equal(h.take()[0]!.h.flags, TCP_SYN | TCP_ACK);
  assert.equal(h.fire(), 3000);
  h.take();
  h.fire();
  assert.deepEqual(h.closed, ['timeout']);
  assert.equal(h.take().at(-1)!.h.flags & TCP_RST, TCP_RST);
});

test('active open completes against a scripted SYN-ACK; an RST answer means refused', () => {
  const h = new Harness();
  h.conn = TcpConnection.connect(h.hooks, DEFAULT_TCP_TUNING, { localPort: 40000, remotePort: 80, iss: ISS, tsOffset: 0, defaultPeerMss: 536 });
  const [syn] = h.take();
  assert.equal(syn!.h.flags, TCP_SYN);
  assert.deepEqual(syn!.h.options, { mss: 1460, windowScale: 5, sackPermitted: true, tsValue: 0, tsEcho: 0 });
  h.conn.write(Buffer.from('early'));
  h.conn.input(segment({ seq: 9000, ack: ISS + 1, flags: TCP_SYN | TCP_ACK, window: 1000, options: { mss: 1200, windowScale: 2, tsValue: 55, tsEcho: 0 } }));
  assert.equal(h.conn.state, 'ESTABLISHED');
  const out = h.take();
  assert.equal(out[0]!.data.toString(), 'early', 'data written during the handshake goes out with the ACK');
  assert.equal(out[0]!.h.ack, 9001);
  assert.equal(h.conn.sendMss, 1200 - 12);

  const r = new Harness();
  r.conn = TcpConnection.connect(r.hooks, DEFAULT_TCP_TUNING, { localPort: 40001, remotePort: 81, iss: ISS, tsOffset: 0, defaultPeerMss: 536 });
  r.take();
  r.conn.input(segment({ seq: 0, ack: ISS + 1, flags: TCP_RST | TCP_ACK }));
  assert.deepEqual(r.closed, ['refused']);
});

test('abort sends RST and reports once; calls after closing are harmless', () => {
  const h = new Harness();
  h.establish();
  h.conn.abort();
  const [rst] = h.take();
  assert.equal(rst!.h.flags, TCP_RST | TCP_ACK);
  assert.deepEqual(h.closed, ['aborted']);
  h.conn.abort();
  h.conn.shutdown();
  h.conn.consumed(10);
  assert.equal(h.conn.write(Buffer.from('x')), false);
  h.input({ seq: IRS + 1, ack: ISS + 1, payload: 'x' });
  assert.deepEqual(h.take(), []);
  assert.deepEqual(h.closed, ['aborted']);
});
