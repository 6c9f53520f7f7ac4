/**
 * The userspace TCP/UDP stack behind the TUN device. Local programs send packets to cluster
 * addresses; the kernel routes them into the TUN, the daemon hands them to `input`/`inputBatch`,
 * and the stack terminates TCP and UDP here, reporting each flow to the daemon (which carries its
 * bytes through a tunnel stream) and writing answers back through `handler.output`.
 *
 * Pure code: no sockets, no timers. The clock is injected; the daemon arms one timer for
 * `nextTimeout()` after each call and calls `onTimer()` when it fires.
 *
 * Connection set-up order. A SYN from a local program is held unanswered while the daemon dials
 * the cluster (`tcpConnect` event); the daemon then calls `accept` (SYN-ACK goes out) or `refuse`
 * (RST: "connection refused", or ICMP: "no route to host"). Telepresence does it the other way
 * round (its gVisor forwarder completes the local handshake first and dials afterwards), which
 * makes every connection look successful and turns a closed cluster port into an accepted
 * connection that is reset later — after the client may already have sent its request, with an
 * error ("connection reset by peer") that looks like a server crash. Holding the SYN gives local
 * programs the truth at connect time, exactly as in the cluster. The cost is that connect()
 * includes the tunnel dial (one round trip to the manager); if that takes over a second the kernel
 * retransmits the SYN, which is absorbed here.
 *
 * Events are queued while a packet (or timer, or call) is processed and delivered right after, in
 * order, so the daemon may call back into the stack from any handler. Pure ACKs are deferred to the
 * end of a batch: one ACK answers a whole burst, and a reply written from `tcpData` carries it.
 */
import { ipFromBytes, ipToBytes } from '../../../../protocol/src/ipAddress.js';
import { pseudoHeaderSum, sumWords } from './checksum.js';
import { buildDestinationUnreachable } from './icmp.js';
import { isSpecialAddress, parseIpPacket, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP, type IpPacket } from './ipPacket.js';
import { PacketArena } from './packetArena.js';
import { PacketWriter, type PacketAllocator } from './packetWriter.js';
import type { SendBuffer } from './sendBuffer.js';
import { seqAdd, seqGt } from './seq.js';
import { parseTcp, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type TcpHeaderFields, type TcpOptions, type TcpSegment } from './tcp.js';
import { DEFAULT_TCP_TUNING, TcpConnection, type TcpConnectionHooks, type TcpConnectionStats, type TcpState, type TcpTuning } from './tcpConnection.js';
import { TimerQueue, type TimerOwner } from './timerQueue.js';
import { silentLogger, type Endpoint, type FlowId, type NetLogger, type RefuseReason, type TcpCloseReason } from './types.js';
import { parseUdp, UDP_HEADER_LENGTH } from './udp.js';

/** Why a UDP flow ended: idle timeout, refused by the daemon, or closed by it. */
export type UdpCloseReason = 'idle' | 'refused' | 'unreachable' | 'closed';

/** What the stack tells the daemon. Handlers may call back into the stack. */
export interface NetStackHandler {
  /** Packets for the TUN device, in order: one call per stack call that produced any. */
  output(packets: Buffer[]): void;
  /** A local program opened a connection: dial `dst` and answer `accept` or `refuse`. */
  tcpConnect(flowId: FlowId, src: Endpoint, dst: Endpoint): void;
  /** Bytes from the local program. A view into the input packet (or a copy for reassembled
   * data): forward or copy it before the handler returns. Call `consumed` once the tunnel has
   * taken it, or the window closes. */
  tcpData(flowId: FlowId, data: Buffer): void;
  /** The local program will send no more (FIN); it may still read. */
  tcpEnd(flowId: FlowId): void;
  /** `tcpWrite` returned false earlier and the send buffer has room again. */
  tcpDrain(flowId: FlowId): void;
  /** The flow is over; its id will not be used again. Exactly once per `tcpConnect` or `tcpDial`. */
  tcpClosed(flowId: FlowId, reason: TcpCloseReason): void;
  /** The handshake completed (accepted or dialled flows). Optional. */
  tcpEstablished?(flowId: FlowId): void;
  /** A datagram from a local program; the first one of a flow creates it. `data` is a view into
   * the input packet, like `tcpData`. */
  udpDatagram(flowId: FlowId, src: Endpoint, dst: Endpoint, data: Buffer): void;
  /** A UDP flow ended (idle timeout, or after `udpRefuse`/`udpClose`). */
  udpClosed(flowId: FlowId, reason: UdpCloseReason): void;
}

export interface NetStackOptions {
  /** Monotonic milliseconds (e.g. `performance.now`). */
  clock: () => number;
  logger?: NetLogger;
  /** MTU of the TUN device: sets the MSS we advertise. Default 1500. */
  mtu?: number;
  /** TCP tuning; `mss` defaults from the MTU per address family. */
  tcp?: Partial<TcpTuning>;
  /** How long a SYN waits for `accept`/`refuse` before it is answered "unreachable". Default 30 s. */
  connectTimeoutMs?: number;
  /** A UDP flow with no datagram either way for this long is closed. Default 60 s. */
  udpIdleTimeoutMs?: number;
  /** TCP connections (pending ones included) plus UDP flows. Default 65536. */
  maxFlows?: number;
  /** Verify IPv4 header and TCP/UDP checksums of input. Default true. */
  verifyChecksums?: boolean;
  /** The device does TCP/UDP checksums (TunDevice.checksumOffload): input may carry partial
   * checksums, so they are never verified, and output leaves them for the device. Default false. */
  checksumOffload?: boolean;
  /** Uniform unsigned 32-bit random numbers for initial sequence numbers. */
  random?: () => number;
  /**
   * The output handler is done with the packets when it returns (it writes them to the device at
   * once and keeps no reference): flows then build their packets in memory the stack reuses after
   * each output, rather than in a new Buffer per packet. Default false.
   */
  reuseOutputMemory?: boolean;
}

export interface NetStackStats {
  packetsIn: number;
  packetsOut: number;
  dropped: number;
  /** Drop counts by reason ("ipv4: fragment", "tcp: bad checksum", …). */
  readonly dropReasons: Map<string, number>;
}

const DEFAULT_MTU = 1500;
const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
const DEFAULT_UDP_IDLE_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_FLOWS = 65536;
const EMPTY = Buffer.alloc(0);
/** The drop reason for a packet whose processing threw. */
export const INTERNAL_ERROR = 'internal error';

function defaultRandom(): number {
  return (Math.random() * 0x100000000) >>> 0;
}

/** The flow key of a packet: protocol, source and destination address, source and destination
 * port, as a short latin1 string (cheap to hash, no per-packet formatting). */
function keyOf(proto: string, src: Uint8Array, dst: Uint8Array, srcPort: number, dstPort: number): string {
  const b = Buffer.allocUnsafe(src.length + dst.length + 4);
  b.set(src, 0);
  b.set(dst, src.length);
  b.writeUInt16BE(srcPort, src.length + dst.length);
  b.writeUInt16BE(dstPort, src.length + dst.length + 2);
  return proto + b.toString('latin1');
}

function packetKey(proto: string, packet: Buffer, ip: IpPacket): string {
  // Source and destination addresses are adjacent in both IP headers, and so are the ports.
  const addrs = ip.version === 4 ? packet.toString('latin1', 12, 20) : packet.toString('latin1', 8, 40);
  return proto + addrs + packet.toString('latin1', ip.headerLength, ip.headerLength + 4);
}

interface PendingSyn {
  seq: number;
  window: number;
  options: TcpOptions;
  /** The SYN's IP and TCP headers, for an ICMP error quoting it. */
  quote: Buffer;
  deadline: number;
}

type Flow = TcpFlow | UdpFlow;

export class NetStack {
  readonly stats: NetStackStats = { packetsIn: 0, packetsOut: 0, dropped: 0, dropReasons: new Map() };

  private readonly clock: () => number;
  private readonly logger: NetLogger;
  private readonly random: () => number;
  private readonly verify: boolean;
  /** Verify TCP/UDP checksums of input (not with checksum offload). */
  private readonly verifyL4: boolean;
  private readonly deviceChecksums: boolean;
  private readonly connectTimeoutMs: number;
  private readonly udpIdleTimeoutMs: number;
  private readonly maxFlows: number;
  private readonly tuning4: TcpTuning;
  private readonly tuning6: TcpTuning;
  private readonly arena: PacketArena | undefined;
  /** How flows' writers get packet memory: from the arena, or new Buffers. */
  private readonly alloc: PacketAllocator | undefined;

  private readonly byKey = new Map<string, Flow>();
  private readonly byId = new Map<FlowId, Flow>();
  private readonly timers = new TimerQueue<Flow>();
  private nextId = 1;

  private events: Array<() => void> = [];
  private outbox: Buffer[] = [];
  private dirty: TcpFlow[] = [];
  private depth = 0;

  constructor(
    private readonly handler: NetStackHandler,
    options: NetStackOptions,
  ) {
    this.clock = options.clock;
    this.logger = options.logger ?? silentLogger;
    this.random = options.random ?? defaultRandom;
    this.verify = options.verifyChecksums ?? true;
    this.deviceChecksums = options.checksumOffload ?? false;
    this.verifyL4 = this.verify && !this.deviceChecksums;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.udpIdleTimeoutMs = options.udpIdleTimeoutMs ?? DEFAULT_UDP_IDLE_TIMEOUT_MS;
    this.maxFlows = options.maxFlows ?? DEFAULT_MAX_FLOWS;
    const mtu = options.mtu ?? DEFAULT_MTU;
    if (!Number.isInteger(mtu) || mtu < 1280 || mtu > 65535) throw new RangeError(`MTU must be 1280..65535, not ${mtu}`);
    this.tuning4 = { ...DEFAULT_TCP_TUNING, mss: mtu - 40, ...options.tcp };
    this.tuning6 = { ...DEFAULT_TCP_TUNING, mss: mtu - 60, ...options.tcp };
    if (options.reuseOutputMemory) {
      const arena = new PacketArena();
      this.arena = arena;
      this.alloc = (size) => arena.alloc(size);
    }
  }

  // ---------------------------------------------------------------- packets in

  /** Processes one packet from the TUN device. */
  input(packet: Buffer): void {
    this.enter();
    try {
      this.inputGuarded(packet);
    } finally {
      this.leave();
    }
  }

  /** Processes a batch read from the TUN device; ACKs and events follow the whole batch. The
   * stack keeps no reference to the packets after it returns. */
  inputBatch(packets: readonly Buffer[]): void {
    this.enter();
    try {
      for (const p of packets) this.inputGuarded(p);
    } finally {
      this.leave();
    }
  }

  /** A bug met by one packet must not take the batch, or the daemon, down with it; the fuzz
   * test holds the count of these at zero. */
  private inputGuarded(packet: Buffer): void {
    try {
      this.inputOne(packet);
    } catch (err) {
      this.drop(INTERNAL_ERROR);
      this.logger.warn(`packet processing failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }

  private inputOne(packet: Buffer): void {
    this.stats.packetsIn++;
    const ip = parseIpPacket(packet, this.verify);
    if (!ip.ok) return this.drop(ip.reason);
    if (isSpecialAddress(ip.src) || isSpecialAddress(ip.dst)) return this.drop('ip: multicast, broadcast or unspecified address');
    switch (ip.protocol) {
      case PROTO_TCP:
        return this.tcpInput(packet, ip);
      case PROTO_UDP:
        return this.udpInput(packet, ip);
      case PROTO_ICMP:
      case PROTO_ICMPV6:
        return this.drop('icmp: not handled');
      default:
        return this.drop(`ip: protocol ${ip.protocol} not handled`);
    }
  }

  private drop(reason: string): void {
    this.stats.dropped++;
    this.stats.dropReasons.set(reason, (this.stats.dropReasons.get(reason) ?? 0) + 1);
    this.logger.debug(`dropped a packet: ${reason}`);
  }

  private checksumOk(ip: IpPacket, protocol: number): boolean {
    const l4 = ip.payload;
    return sumWords(l4, 0, l4.length, pseudoHeaderSum(ip.src, ip.dst, protocol, l4.length)) === 0xffff;
  }

  private tcpInput(packet: Buffer, ip: IpPacket): void {
    const seg = parseTcp(ip.payload);
    if (!seg.ok) return this.drop(seg.reason);
    if (this.verifyL4 && !this.checksumOk(ip, PROTO_TCP)) return this.drop('tcp: bad checksum');
    if (seg.srcPort === 0 || seg.dstPort === 0) return this.drop('tcp: port 0');
    const key = packetKey('t', packet, ip);
    const flow = this.byKey.get(key);
    if (flow instanceof TcpFlow) {
      const conn = flow.conn;
      if (!conn) return this.pendingInput(flow, seg);
      // A new SYN beyond what the old connection saw may reuse a 4-tuple in TIME_WAIT (RFC 9293
      // §3.6.1): the old one goes and the SYN is handled as new.
      if (conn.state === 'TIME_WAIT' && (seg.flags & (TCP_SYN | TCP_ACK | TCP_RST)) === TCP_SYN && seqGt(seg.seq, conn.receiveNext)) {
        this.removeFlow(flow);
      } else {
        conn.input(seg);
        this.markDirty(flow);
        return;
      }
    }
    if (seg.flags & TCP_RST) return this.drop('tcp: RST for no connection');
    if ((seg.flags & (TCP_SYN | TCP_ACK | TCP_FIN)) === TCP_SYN) return this.newSyn(packet, ip, seg, key);
    // No connection: answer with a RST so the local program learns at once (RFC 9293 §3.10.7.1),
    // e.g. after the daemon restarted.
    this.drop('tcp: no connection');
    const writer = new PacketWriter(ip.dst, ip.src, 0, undefined, this.deviceChecksums);
    const rst: TcpHeaderFields =
      seg.flags & TCP_ACK
        ? { srcPort: seg.dstPort, dstPort: seg.srcPort, seq: seg.ack, ack: 0, flags: TCP_RST, window: 0 }
        : {
            srcPort: seg.dstPort,
            dstPort: seg.srcPort,
            seq: 0,
            ack: seqAdd(seg.seq, seg.payload.length + (seg.flags & TCP_SYN ? 1 : 0) + (seg.flags & TCP_FIN ? 1 : 0)),
            flags: TCP_RST | TCP_ACK,
            window: 0,
          };
    this.send(writer.tcp(rst));
  }

  private newSyn(packet: Buffer, ip: IpPacket, seg: TcpSegment, key: string): void {
    const writer = new PacketWriter(Buffer.from(ip.dst), Buffer.from(ip.src), this.random(), this.alloc, this.deviceChecksums);
    if (this.byId.size >= this.maxFlows) {
      this.drop('tcp: flow table full');
      this.send(writer.tcp({ srcPort: seg.dstPort, dstPort: seg.srcPort, seq: 0, ack: seqAdd(seg.seq, 1), flags: TCP_RST | TCP_ACK, window: 0 }));
      return;
    }
    const src: Endpoint = { address: ipFromBytes(ip.src), port: seg.srcPort };
    const dst: Endpoint = { address: ipFromBytes(ip.dst), port: seg.dstPort };
    const flow = new TcpFlow(this.host, this.nextId++, key, src, dst, writer, ip.version);
    flow.pending = {
      seq: seg.seq,
      window: seg.window,
      options: seg.options,
      quote: Buffer.from(packet.subarray(0, ip.headerLength + seg.headerLength)),
      deadline: this.clock() + this.connectTimeoutMs,
    };
    this.addFlow(flow);
    const id = flow.id;
    this.events.push(() => this.handler.tcpConnect(id, src, dst));
  }

  private pendingInput(flow: TcpFlow, seg: TcpSegment): void {
    const pending = flow.pending!;
    if (seg.flags & TCP_RST) {
      if (seg.seq === seqAdd(pending.seq, 1)) this.finish(flow, 'reset');
      return;
    }
    if ((seg.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN) {
      // A retransmitted SYN while the daemon dials; a new sequence number means the client
      // started over on the same port, so answer that one.
      if (seg.seq !== pending.seq) {
        pending.seq = seg.seq;
        pending.window = seg.window;
        pending.options = seg.options;
      }
      return this.drop('tcp: SYN while connecting');
    }
    this.drop('tcp: segment before accept');
  }

  private udpInput(packet: Buffer, ip: IpPacket): void {
    const d = parseUdp(ip.payload);
    if (!d.ok) return this.drop(d.reason);
    if (this.verifyL4) {
      if (d.checksum === 0) {
        if (ip.version === 6) return this.drop('udp: missing checksum');
      } else if (sumWords(ip.payload, 0, d.length, pseudoHeaderSum(ip.src, ip.dst, PROTO_UDP, d.length)) !== 0xffff) {
        return this.drop('udp: bad checksum');
      }
    }
    if (d.srcPort === 0 || d.dstPort === 0) return this.drop('udp: port 0');
    const key = packetKey('u', packet, ip);
    let flow = this.byKey.get(key);
    const now = this.clock();
    if (!(flow instanceof UdpFlow)) {
      if (this.byId.size >= this.maxFlows) return this.drop('udp: flow table full');
      const src: Endpoint = { address: ipFromBytes(ip.src), port: d.srcPort };
      const dst: Endpoint = { address: ipFromBytes(ip.dst), port: d.dstPort };
      const writer = new PacketWriter(Buffer.from(ip.dst), Buffer.from(ip.src), this.random(), this.alloc, this.deviceChecksums);
      const quote = Buffer.from(packet.subarray(0, ip.headerLength + UDP_HEADER_LENGTH));
      flow = new UdpFlow(this.nextId++, key, src, dst, writer, quote, now, this.udpIdleTimeoutMs);
      this.addFlow(flow);
    }
    flow.lastActive = now;
    const f = flow;
    const data = d.payload;
    this.events.push(() => this.handler.udpDatagram(f.id, f.src, f.dst, data));
  }

  // ---------------------------------------------------------------- daemon calls: TCP

  /** Completes the local handshake of a connection reported by `tcpConnect`. */
  accept(flowId: FlowId): void {
    const flow = this.tcpFlow(flowId);
    const pending = flow?.pending;
    if (!flow || !pending) return; // gone meanwhile (RST, timeout): tcpClosed tells the daemon
    this.enter();
    try {
      const syn: TcpSegment = {
        ok: true,
        srcPort: flow.src.port,
        dstPort: flow.dst.port,
        seq: pending.seq,
        ack: 0,
        flags: TCP_SYN,
        window: pending.window,
        checksum: 0,
        urgentPointer: 0,
        headerLength: 20,
        options: pending.options,
        payload: EMPTY,
      };
      flow.pending = undefined;
      flow.conn = TcpConnection.accept(syn, flow, flow.version === 4 ? this.tuning4 : this.tuning6, {
        localPort: flow.dst.port,
        remotePort: flow.src.port,
        iss: this.random(),
        tsOffset: this.random(),
        defaultPeerMss: flow.version === 4 ? 536 : 1220,
      });
      this.markDirty(flow);
    } finally {
      this.leave();
    }
  }

  /** Turns a connection attempt down: RST (`refused`) or ICMP unreachable (`unreachable`). On
   * an accepted connection it resets it. */
  refuse(flowId: FlowId, reason: RefuseReason): void {
    const flow = this.tcpFlow(flowId);
    if (!flow) return;
    this.enter();
    try {
      if (flow.conn) {
        flow.conn.abort();
        this.markDirty(flow);
        return;
      }
      this.refusePending(flow, reason);
      this.finish(flow, reason);
    } finally {
      this.leave();
    }
  }

  private refusePending(flow: TcpFlow, reason: RefuseReason): void {
    const pending = flow.pending!;
    if (reason === 'refused') {
      const ack = seqAdd(pending.seq, 1);
      this.send(flow.writer.tcp({ srcPort: flow.dst.port, dstPort: flow.src.port, seq: 0, ack, flags: TCP_RST | TCP_ACK, window: 0 }));
    } else {
      const icmp = buildDestinationUnreachable(pending.quote, 'host');
      if (icmp) this.send(icmp);
    }
  }

  /**
   * Opens a connection from this stack (active open): `local` is the address and port we send
   * from, `remote` the peer. Events follow as for accepted connections (`tcpEstablished` when the
   * handshake completes). The daemon does not need this for cluster access; tests use it as a
   * peer.
   */
  tcpDial(local: Endpoint, remote: Endpoint): FlowId {
    const localBytes = Buffer.from(ipToBytes(local.address));
    const remoteBytes = Buffer.from(ipToBytes(remote.address));
    if (localBytes.length !== remoteBytes.length) throw new TypeError('tcpDial: local and remote address families differ');
    const key = keyOf('t', remoteBytes, localBytes, remote.port, local.port);
    if (this.byKey.has(key)) throw new Error(`tcpDial: ${local.address}:${local.port} → ${remote.address}:${remote.port} is in use`);
    this.enter();
    try {
      const version = localBytes.length === 4 ? 4 : 6;
      // Seen from the peer: it is the "source" of what we receive.
      const flow = new TcpFlow(this.host, this.nextId++, key, remote, local, new PacketWriter(localBytes, remoteBytes, this.random(), this.alloc, this.deviceChecksums), version);
      this.addFlow(flow);
      flow.conn = TcpConnection.connect(flow, version === 4 ? this.tuning4 : this.tuning6, {
        localPort: local.port,
        remotePort: remote.port,
        iss: this.random(),
        tsOffset: this.random(),
        defaultPeerMss: version === 4 ? 536 : 1220,
      });
      this.markDirty(flow);
      return flow.id;
    } finally {
      this.leave();
    }
  }

  /**
   * Queues bytes for the local program. The stack keeps `data` (no copy): do not reuse it.
   * Returns false when the send buffer is full: wait for `tcpDrain`. False also when the flow is
   * gone (its `tcpClosed` is on the way). Throws after `tcpShutdown` or before `accept`.
   */
  tcpWrite(flowId: FlowId, data: Buffer): boolean {
    const flow = this.tcpFlow(flowId);
    if (!flow) return false;
    if (!flow.conn) throw new Error(`tcpWrite on flow ${flowId} before accept`);
    this.enter();
    try {
      const ok = flow.conn.write(data);
      this.markDirty(flow);
      return ok;
    } finally {
      this.leave();
    }
  }

  /** Sends FIN after the queued data: the tunnel's remote side finished sending. */
  tcpShutdown(flowId: FlowId): void {
    this.withConnection(flowId, (c) => c.shutdown());
  }

  /** Resets the connection (RST to the local program); `tcpClosed(aborted)` follows. */
  tcpAbort(flowId: FlowId): void {
    const flow = this.tcpFlow(flowId);
    if (flow?.pending) {
      this.enter();
      try {
        this.refusePending(flow, 'refused');
        this.finish(flow, 'aborted');
      } finally {
        this.leave();
      }
      return;
    }
    this.withConnection(flowId, (c) => c.abort());
  }

  /** The tunnel has taken `n` bytes of this flow's `tcpData`: reopens the receive window. */
  consumed(flowId: FlowId, n: number): void {
    this.withConnection(flowId, (c) => c.consumed(n));
  }

  /** Diagnostics for one TCP flow. */
  tcpInfo(flowId: FlowId): { state: TcpState | 'CONNECTING'; bufferedAmount: number; stats: TcpConnectionStats | undefined } | undefined {
    const flow = this.tcpFlow(flowId);
    if (!flow) return undefined;
    const c = flow.conn;
    return c ? { state: c.state, bufferedAmount: c.bufferedAmount, stats: c.stats } : { state: 'CONNECTING', bufferedAmount: 0, stats: undefined };
  }

  /** The connection object, for tests and diagnostics. */
  tcpConnection(flowId: FlowId): TcpConnection | undefined {
    return this.tcpFlow(flowId)?.conn;
  }

  private withConnection(flowId: FlowId, f: (c: TcpConnection) => void): void {
    const flow = this.tcpFlow(flowId);
    if (!flow?.conn) return;
    this.enter();
    try {
      f(flow.conn);
      this.markDirty(flow);
    } finally {
      this.leave();
    }
  }

  private tcpFlow(flowId: FlowId): TcpFlow | undefined {
    const f = this.byId.get(flowId);
    return f instanceof TcpFlow ? f : undefined;
  }

  // ---------------------------------------------------------------- daemon calls: UDP

  /** Sends a datagram back to the local program of a flow (from the address it wrote to). */
  udpSend(flowId: FlowId, data: Uint8Array): void {
    const flow = this.byId.get(flowId);
    if (!(flow instanceof UdpFlow)) return;
    this.enter();
    try {
      flow.lastActive = this.clock();
      this.send(flow.writer.udp(flow.dst.port, flow.src.port, data));
    } finally {
      this.leave();
    }
  }

  /** Sends a datagram from any address to any address (both of one family). */
  udpSendTo(src: Endpoint, dst: Endpoint, data: Uint8Array): void {
    const writer = new PacketWriter(ipToBytes(src.address), ipToBytes(dst.address));
    this.enter();
    try {
      this.send(writer.udp(src.port, dst.port, data));
    } finally {
      this.leave();
    }
  }

  /** Tells the local program nobody listens (ICMP port unreachable, or host unreachable) and
   * ends the flow. */
  udpRefuse(flowId: FlowId, reason: RefuseReason = 'refused'): void {
    const flow = this.byId.get(flowId);
    if (!(flow instanceof UdpFlow)) return;
    this.enter();
    try {
      const icmp = buildDestinationUnreachable(flow.quote, reason === 'refused' ? 'port' : 'host');
      if (icmp) this.send(icmp);
      this.finishUdp(flow, reason);
    } finally {
      this.leave();
    }
  }

  /** Forgets a UDP flow (its next datagram starts a new one). */
  udpClose(flowId: FlowId): void {
    const flow = this.byId.get(flowId);
    if (!(flow instanceof UdpFlow)) return;
    this.enter();
    try {
      this.finishUdp(flow, 'closed');
    } finally {
      this.leave();
    }
  }

  // ---------------------------------------------------------------- time

  /** When `onTimer` must run next (absolute, on the injected clock), or undefined if never. */
  nextTimeout(): number | undefined {
    return this.timers.peek();
  }

  /** Runs everything due at `now`. */
  onTimer(now: number = this.clock()): void {
    this.enter();
    try {
      // Each owner moves its deadlines past `now` when it runs; the bound guards against a bug
      // turning into a hang.
      for (let budget = this.byId.size * 4 + 16; budget > 0; budget--) {
        const flow = this.timers.popDue(now);
        if (!flow) break;
        if (flow instanceof TcpFlow) {
          flow.onTimer(now);
          this.markDirty(flow);
        } else if (flow.nextDeadline() <= now) {
          this.finishUdp(flow, 'idle');
        } else {
          this.timers.update(flow);
        }
      }
    } finally {
      this.leave();
    }
  }

  /** Counts of live flows. */
  get flowCount(): { tcp: number; udp: number } {
    let tcp = 0;
    for (const f of this.byId.values()) if (f instanceof TcpFlow) tcp++;
    return { tcp, udp: this.byId.size - tcp };
  }

  /** Resets every TCP connection and forgets every flow (the daemon is shutting down). */
  close(): void {
    this.enter();
    try {
      for (const flow of [...this.byId.values()]) {
        if (flow instanceof UdpFlow) this.finishUdp(flow, 'closed');
        else if (flow.conn) {
          flow.conn.abort();
          this.markDirty(flow);
        } else {
          this.refusePending(flow, 'refused');
          this.finish(flow, 'aborted');
        }
      }
    } finally {
      this.leave();
    }
  }

  // ---------------------------------------------------------------- internals

  /** The narrow view of the stack a TCP flow needs (kept out of the public surface). */
  private readonly host: FlowHost = {
    clock: () => this.clock(),
    send: (packet) => this.send(packet),
    event: (e) => this.events.push(e),
    handler: () => this.handler,
  };

  private send(packet: Buffer): void {
    this.stats.packetsOut++;
    this.outbox.push(packet);
  }

  private addFlow(flow: Flow): void {
    this.byKey.set(flow.key, flow);
    this.byId.set(flow.id, flow);
    this.timers.update(flow);
  }

  private removeFlow(flow: Flow): void {
    if (this.byKey.get(flow.key) === flow) this.byKey.delete(flow.key);
    this.byId.delete(flow.id);
    this.timers.remove(flow);
  }

  /** Ends a pending TCP flow and reports it. */
  private finish(flow: TcpFlow, reason: TcpCloseReason): void {
    this.removeFlow(flow);
    const id = flow.id;
    this.events.push(() => this.handler.tcpClosed(id, reason));
  }

  /** Ends a UDP flow and reports it. */
  private finishUdp(flow: UdpFlow, reason: UdpCloseReason): void {
    if (this.byId.get(flow.id) !== flow) return;
    this.removeFlow(flow);
    const id = flow.id;
    this.events.push(() => this.handler.udpClosed(id, reason));
  }

  private markDirty(flow: TcpFlow): void {
    if (flow.dirty) return;
    flow.dirty = true;
    this.dirty.push(flow);
  }

  /** After a call: owed ACKs go out, timers are re-queued, closed connections are forgotten. */
  private flushDirty(): void {
    while (this.dirty.length > 0) {
      const list = this.dirty;
      this.dirty = [];
      for (const flow of list) {
        flow.dirty = false;
        const conn = flow.conn;
        if (conn) conn.flush();
        if (this.byId.get(flow.id) !== flow) continue;
        // A connection that reached CLOSED, or a pending flow that timed out, is gone.
        if (conn ? conn.isClosed() : !flow.pending) this.removeFlow(flow);
        else this.timers.update(flow);
      }
    }
  }

  private enter(): void {
    this.depth++;
  }

  /** Leaving the outermost call delivers what it produced: events first (their handlers may
   * call back in, and a reply written from tcpData carries the ACK it owes), then owed ACKs and
   * timer updates, then the packets. */
  private leave(): void {
    if (this.depth > 1) {
      this.depth--;
      return;
    }
    let failure: unknown;
    try {
      for (;;) {
        if (this.events.length > 0) {
          const events = this.events;
          this.events = [];
          for (const e of events) {
            try {
              e();
            } catch (err) {
              // Keep delivering: a lost event would wedge its flow. The first error is rethrown.
              failure ??= err;
              this.logger.warn(`a stack event handler threw: ${String(err)}`);
            }
          }
          continue;
        }
        if (this.dirty.length > 0) {
          this.flushDirty();
          continue;
        }
        if (this.outbox.length > 0) {
          const out = this.outbox;
          this.outbox = [];
          this.handler.output(out);
          // Packets the handler made meanwhile (by calling back in) still live in the arena.
          if (this.outbox.length === 0) this.arena?.reset();
          continue;
        }
        break;
      }
    } finally {
      this.depth--;
    }
    if (failure !== undefined) throw failure;
  }
}

interface FlowHost {
  clock(): number;
  send(packet: Buffer): void;
  event(e: () => void): void;
  handler(): NetStackHandler;
}

/** A TCP flow: pending (SYN held while the daemon dials) or with its connection. */
class TcpFlow implements TimerOwner, TcpConnectionHooks {
  wakeAt = Infinity;
  dirty = false;
  pending: PendingSyn | undefined;
  conn: TcpConnection | undefined;

  constructor(
    private readonly host: FlowHost,
    readonly id: FlowId,
    readonly key: string,
    /** The local program's end (or, for a dialled flow, the remote peer). */
    readonly src: Endpoint,
    /** The cluster address it connected to (or, for a dialled flow, our own end). */
    readonly dst: Endpoint,
    readonly writer: PacketWriter,
    readonly version: 4 | 6,
  ) {}

  nextDeadline(): number {
    if (this.pending) return this.pending.deadline;
    return this.conn ? this.conn.nextDeadline() : Infinity;
  }

  onTimer(now: number): void {
    const pending = this.pending;
    if (pending) {
      if (pending.deadline > now) return;
      // The daemon never answered: tell the client "unreachable" rather than let its SYN
      // retransmissions start the dial over and over.
      const icmp = buildDestinationUnreachable(pending.quote, 'host');
      if (icmp) this.host.send(icmp);
      this.pending = undefined;
      this.closed('connectTimeout');
      return;
    }
    this.conn?.onTimer(now);
  }

  // TcpConnectionHooks
  clock(): number {
    return this.host.clock();
  }

  send(header: TcpHeaderFields, payload: SendBuffer | undefined, offset: number, length: number): void {
    this.host.send(this.writer.tcp(header, payload, offset, length));
  }

  data(bytes: Buffer): void {
    const h = this.host.handler();
    this.host.event(() => h.tcpData(this.id, bytes));
  }

  end(): void {
    const h = this.host.handler();
    this.host.event(() => h.tcpEnd(this.id));
  }

  drain(): void {
    const h = this.host.handler();
    this.host.event(() => h.tcpDrain(this.id));
  }

  established(): void {
    const h = this.host.handler();
    if (h.tcpEstablished) this.host.event(() => h.tcpEstablished?.(this.id));
  }

  closed(reason: TcpCloseReason): void {
    const h = this.host.handler();
    this.host.event(() => h.tcpClosed(this.id, reason));
  }
}

/** A UDP flow: one local socket talking to one cluster address and port. */
class UdpFlow implements TimerOwner {
  wakeAt = Infinity;

  constructor(
    readonly id: FlowId,
    readonly key: string,
    readonly src: Endpoint,
    readonly dst: Endpoint,
    readonly writer: PacketWriter,
    /** The first datagram's IP and UDP headers, quoted by ICMP errors. */
    readonly quote: Buffer,
    public lastActive: number,
    private readonly idleTimeoutMs: number,
  ) {}

  nextDeadline(): number {
    return this.lastActive + this.idleTimeoutMs;
  }
}
