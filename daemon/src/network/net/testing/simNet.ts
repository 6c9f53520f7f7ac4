/**
 * Two stacks joined by a simulated link with a virtual clock, for tests and the benchmark.
 *
 * `a` plays the daemon's stack (it answers SYNs to "cluster" addresses); `b` plays the local
 * kernel: its applications dial with `tcpDial` (the same TCP code, actively opening). The link
 * can delay, drop, duplicate and reorder packets per direction, and every packet can be tapped.
 * Time only moves when nothing is left to deliver, straight to the next packet or timer, so
 * long timeouts cost nothing and runs are reproducible.
 */
import { NetStack, type NetStackHandler, type NetStackOptions, type UdpCloseReason } from '../stack.js';
import type { Endpoint, FlowId, TcpCloseReason } from '../types.js';

export interface LinkOptions {
  /** One-way delay. Default 1 ms. */
  latencyMs?: number;
  /** Drop every Nth packet (counting from the first packet on this direction). */
  dropEvery?: number;
  /** Deliver every Nth packet twice. */
  duplicateEvery?: number;
  /** Hold every Nth packet back behind the next ones. */
  reorderEvery?: number;
  /** Return false to drop a packet. */
  filter?: (packet: Buffer) => boolean;
  /** Sees every packet put on the link (before impairments). */
  tap?: (packet: Buffer) => void;
}

export interface LinkCounters {
  packets: number;
  bytes: number;
  dropped: number;
  duplicated: number;
  reordered: number;
}

/** A recording application on one stack; behaviour is adjustable per test. */
export class SimApp implements NetStackHandler {
  stack!: NetStack;
  readonly connects: Array<{ id: FlowId; src: Endpoint; dst: Endpoint }> = [];
  readonly received = new Map<FlowId, Buffer[]>();
  readonly receivedBytes = new Map<FlowId, number>();
  readonly established = new Set<FlowId>();
  readonly ended = new Set<FlowId>();
  readonly closed = new Map<FlowId, TcpCloseReason>();
  readonly drains: FlowId[] = [];
  readonly udp: Array<{ id: FlowId; src: Endpoint; dst: Endpoint; data: Buffer }> = [];
  readonly udpEnded = new Map<FlowId, UdpCloseReason>();
  /** What to do with a new connection; default: accept. */
  onConnect: (id: FlowId, src: Endpoint, dst: Endpoint) => void = (id) => this.stack.accept(id);
  /** Called for every delivered chunk, after recording. */
  onData: ((id: FlowId, data: Buffer) => void) | undefined;
  /** Consume delivered data at once (a fast tunnel). */
  autoConsume = true;
  /** Keep the bytes (tests that compare streams); off for the benchmark. */
  keepData = true;
  /** Unconsumed delivered bytes per flow when autoConsume is off. */
  readonly unconsumed = new Map<FlowId, number>();

  constructor(private readonly transmit: (packets: Buffer[]) => void) {}

  output(packets: Buffer[]): void {
    this.transmit(packets);
  }

  tcpConnect(id: FlowId, src: Endpoint, dst: Endpoint): void {
    this.connects.push({ id, src, dst });
    this.onConnect(id, src, dst);
  }

  tcpEstablished(id: FlowId): void {
    this.established.add(id);
  }

  tcpData(id: FlowId, data: Buffer): void {
    if (this.keepData) {
      let list = this.received.get(id);
      if (!list) this.received.set(id, (list = []));
      list.push(Buffer.from(data)); // the packet is the stack's; keep a copy
    }
    this.receivedBytes.set(id, (this.receivedBytes.get(id) ?? 0) + data.length);
    if (this.autoConsume) this.stack.consumed(id, data.length);
    else this.unconsumed.set(id, (this.unconsumed.get(id) ?? 0) + data.length);
    this.onData?.(id, data);
  }

  /** Consumes everything held back so far. */
  consumeAll(id: FlowId): void {
    const n = this.unconsumed.get(id) ?? 0;
    this.unconsumed.set(id, 0);
    this.stack.consumed(id, n);
  }

  tcpEnd(id: FlowId): void {
    this.ended.add(id);
  }

  tcpDrain(id: FlowId): void {
    this.drains.push(id);
  }

  tcpClosed(id: FlowId, reason: TcpCloseReason): void {
    if (this.closed.has(id)) throw new Error(`tcpClosed twice for flow ${id}`);
    this.closed.set(id, reason);
  }

  udpDatagram(id: FlowId, src: Endpoint, dst: Endpoint, data: Buffer): void {
    this.udp.push({ id, src, dst, data: Buffer.from(data) });
  }

  udpClosed(id: FlowId, reason: UdpCloseReason): void {
    this.udpEnded.set(id, reason);
  }

  /** Everything received on a flow, joined. */
  stream(id: FlowId): Buffer {
    return Buffer.concat(this.received.get(id) ?? []);
  }
}

interface InFlight {
  at: number;
  order: number;
  to: 'a' | 'b';
  packet: Buffer;
}

export interface SimNetOptions {
  a?: Partial<NetStackOptions>;
  b?: Partial<NetStackOptions>;
  /** The link from b (local programs) to a (the daemon's stack). */
  toA?: LinkOptions;
  /** The link from a to b. */
  toB?: LinkOptions;
}

export class SimNet {
  now = 0;
  readonly a: SimApp;
  readonly b: SimApp;
  readonly counters: { toA: LinkCounters; toB: LinkCounters } = {
    toA: { packets: 0, bytes: 0, dropped: 0, duplicated: 0, reordered: 0 },
    toB: { packets: 0, bytes: 0, dropped: 0, duplicated: 0, reordered: 0 },
  };
  private queue: InFlight[] = [];
  private order = 0;
  readonly clock = (): number => this.now;

  constructor(readonly options: SimNetOptions = {}) {
    this.a = new SimApp((packets) => this.transmit('a', packets));
    this.b = new SimApp((packets) => this.transmit('b', packets));
    this.a.stack = new NetStack(this.a, { clock: this.clock, ...options.a });
    this.b.stack = new NetStack(this.b, { clock: this.clock, ...options.b });
  }

  private transmit(from: 'a' | 'b', packets: Buffer[]): void {
    const to = from === 'a' ? 'b' : 'a';
    const link = (to === 'a' ? this.options.toA : this.options.toB) ?? {};
    const c = to === 'a' ? this.counters.toA : this.counters.toB;
    const latency = link.latencyMs ?? 1;
    // A stack that reuses its output memory needs the packets taken before output returns; the
    // link holds them for a while, so it keeps copies (as a device does).
    const copy = (from === 'a' ? this.options.a : this.options.b)?.reuseOutputMemory === true;
    for (const sent of packets) {
      const packet = copy ? Buffer.from(sent) : sent;
      const n = ++c.packets;
      c.bytes += packet.length;
      link.tap?.(packet);
      if ((link.dropEvery && n % link.dropEvery === 0) || (link.filter && !link.filter(packet))) {
        c.dropped++;
        continue;
      }
      let at = this.now + latency;
      if (link.reorderEvery && n % link.reorderEvery === 0) {
        at += latency / 2 + 0.001; // lands behind packets sent shortly after it
        c.reordered++;
      }
      this.enqueue({ at, order: this.order++, to, packet });
      if (link.duplicateEvery && n % link.duplicateEvery === 0) {
        c.duplicated++;
        this.enqueue({ at: at + 0.0005, order: this.order++, to, packet });
      }
    }
  }

  private enqueue(p: InFlight): void {
    const q = this.queue;
    let i = q.length;
    while (i > 0 && (q[i - 1]!.at > p.at || (q[i - 1]!.at === p.at && q[i - 1]!.order > p.order))) i--;
    if (i === q.length) q.push(p);
    else q.splice(i, 0, p);
  }

  /** Injects a raw packet into a stack at the current time (bypassing the link). */
  inject(to: 'a' | 'b', packet: Buffer): void {
    (to === 'a' ? this.a : this.b).stack.input(packet);
  }

  /**
   * Runs until `until()` holds (returns true) or nothing is left to happen or virtual time passes
   * `limitMs` (returns false). Packets due at the same moment for one stack go in one batch.
   */
  run(until: () => boolean = () => false, limitMs = 600_000): boolean {
    for (;;) {
      if (until()) return true;
      const q = this.queue;
      if (q.length > 0 && q[0]!.at <= this.now) {
        const to = q[0]!.to;
        let n = 0;
        while (n < q.length && q[n]!.at <= this.now && q[n]!.to === to) n++;
        const batch = q.splice(0, n).map((p) => p.packet);
        (to === 'a' ? this.a : this.b).stack.inputBatch(batch);
        continue;
      }
      const ta = this.a.stack.nextTimeout();
      const tb = this.b.stack.nextTimeout();
      let next = q.length > 0 ? q[0]!.at : Infinity;
      if (ta !== undefined && ta < next) next = ta;
      if (tb !== undefined && tb < next) next = tb;
      if (next === Infinity) return until();
      if (next > limitMs) return false;
      if (next > this.now) this.now = next;
      if (ta !== undefined && ta <= this.now) this.a.stack.onTimer(this.now);
      if (tb !== undefined && tb <= this.now) this.b.stack.onTimer(this.now);
    }
  }

  /** Runs for `ms` of virtual time. */
  advance(ms: number): void {
    const end = this.now + ms;
    this.run(() => false, end);
    this.now = Math.max(this.now, end);
  }
}

/** The usual addresses: a local program on 10.0.0.2 talking to a Service at 10.96.0.10. */
export const LOCAL4: Endpoint = { address: '10.0.0.2', port: 40000 };
export const SERVICE4: Endpoint = { address: '10.96.0.10', port: 80 };
export const LOCAL6: Endpoint = { address: 'fd00::2', port: 40000 };
export const SERVICE6: Endpoint = { address: 'fd00:96::10', port: 80 };
