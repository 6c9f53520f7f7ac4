/**
 * The virtual interface: the TUN device, the userspace TCP/UDP stack behind it, and one tunnel
 * stream to the traffic-manager per TCP connection or UDP flow. DNS queries to the cluster DNS
 * address are answered inside the stack by the daemon's DNS handler, so nothing on the
 * workstation has to listen on that address.
 *
 * Backpressure: bytes from a local program are acknowledged to it only as the tunnel stream
 * takes them (`consumed` follows the gRPC write buffer), and the stream is paused while the
 * stack's send buffer to the local program is full.
 */
import { Metadata, type ClientDuplexStream } from '@grpc/grpc-js';
import { ipToBytes } from '../../../../protocol/src/ipAddress.js';
import {
  DialOutcome,
  DisconnectReason,
  Protocol,
  type TunnelMessage,
} from '../../../../protocol/src/gen/telepath/tunnel/v1/tunnel.js';
import type { ManagerClient } from '../../../../protocol/src/manager/managerService.js';
import type { DnsQueryHandler } from '../dns/dnsQueryHandler.js';
import type { Logger } from '../../../../common/src/log/fileLogger.js';
import { NetStack } from '../net/stack.js';
import type { Endpoint, FlowId } from '../net/types.js';
import { openTun } from '../tun/openTun.js';
import type { TunDevice } from '../tun/tunDevice.js';
import { readIpRoutes } from './localNetworks.js';
import { planRoutes, type ExistingRoute, type RoutePlan } from './routePlan.js';

type Call = ClientDuplexStream<TunnelMessage, TunnelMessage>;

export interface VifOptions {
  client: ManagerClient;
  /** The current manager session id (it changes when the daemon arrives again). */
  sessionId: () => string;
  log: Logger;
  name?: string;
  mtu?: number;
  dialTimeoutMs?: number;
}

interface TcpFlow {
  call?: Call;
  /** Bytes the local program sent that the stream has not yet taken. */
  unconsumed: number;
  sentCloseSend: boolean;
  gotCloseSend: boolean;
  closed: boolean;
  dns?: { pending: Buffer };
}

interface UdpFlow {
  call?: Call;
  ready: boolean;
  queue: Buffer[];
}

/** Payloads from this size on are passed to the tunnel as views into the TUN batch, not copied. */
const VIEW_MIN_BYTES = 16 * 1024;

/** UDP datagrams held per flow while its dial is pending. */
const UDP_QUEUE_LIMIT = 64;

export class Vif {
  private readonly stack: NetStack;
  private readonly tcp = new Map<FlowId, TcpFlow>();
  private readonly udp = new Map<FlowId, UdpFlow>();
  private timer?: NodeJS.Timeout;
  private timerAt = Infinity;
  private routed: string[] = [];
  private dns?: { ip: string; handler: DnsQueryHandler };
  private closed = false;

  private constructor(
    readonly tun: TunDevice,
    private readonly opts: VifOptions,
  ) {
    const log = opts.log;
    this.stack = new NetStack(
      {
        output: (packets) => this.write(packets),
        tcpConnect: (id, src, dst) => this.tcpConnect(id, src, dst),
        tcpData: (id, data) => this.tcpData(id, data),
        tcpEnd: (id) => this.tcpEnd(id),
        tcpDrain: (id) => this.tcp.get(id)?.call?.resume(),
        tcpClosed: (id, reason) => this.tcpClosed(id, reason),
        udpDatagram: (id, src, dst, data) => this.udpDatagram(id, src, dst, data),
        udpClosed: (id) => this.udpClosed(id),
      },
      {
        clock: () => performance.now(),
        mtu: tun.mtu,
        logger: { debug: (m) => log.trace(m), warn: (m) => log.debug(m) },
        // write() hands every packet to the device before it returns.
        reuseOutputMemory: true,
        // What the TUN device hands over the local kernel just built; there is no wire in between
        // to damage it, so summing it again is wasted work.
        verifyChecksums: false,
        // Nobody sums TCP/UDP payloads between the local sockets and the stack (tunDevice.ts).
        checksumOffload: tun.checksumOffload,
      },
    );
    tun.onPackets((packets) => this.withStack(() => this.stack.inputBatch(packets)));
    tun.onError((err) => log.error('TUN device read failed', err));
  }

  static async start(opts: VifOptions): Promise<Vif> {
    const tun = openTun({ name: opts.name ?? 'telepath%d', mtu: opts.mtu ?? 65000,
      // TELEPATH_TUN_OFFLOAD=off: the escape hatch should a kernel mishandle it (docs/connect.md).
      checksumOffload: process.env.TELEPATH_TUN_OFFLOAD !== 'off',
    });
    opts.log.info(`TUN device ${tun.name} up, MTU ${tun.mtu}, checksum offload ${tun.checksumOffload ? 'on' : 'off'}`);
    return new Vif(tun, opts);
  }

  /** Answer UDP and TCP port 53 at this address with the daemon's DNS handler. */
  setDns(ip: string, handler: DnsQueryHandler): void {
    this.dns = { ip, handler };
  }

  /**
   * Routes the cluster's subnets into the TUN device, except those the workstation reaches or
   * that conflict with a local route (reported in the plan). Called again when the manager
   * reports a change; routes no longer wanted are removed.
   */
  async setRoutes(subnets: string[]): Promise<RoutePlan> {
    const plan = planRoutes(subnets, await existingRoutes(), this.tun.name);
    for (const cidr of this.routed.filter((r) => !plan.route.includes(r))) {
      await this.tun.removeRoute(cidr).catch((err: Error) => this.opts.log.warn(`removing route ${cidr}: ${err.message}`));
    }
    for (const cidr of plan.route.filter((r) => !this.routed.includes(r))) await this.tun.addRoute(cidr);
    this.routed = plan.route;
    for (const u of plan.unrouted) this.opts.log.warn(`not routing ${u.subnet}: ${u.message}`);
    return plan;
  }

  /** Closes every flow and the device; the kernel removes its routes with it. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    for (const f of this.tcp.values()) f.call?.cancel();
    for (const f of this.udp.values()) f.call?.cancel();
    this.stack.close();
    this.tun.close();
  }

  // ---- stack plumbing ----

  private write(packets: Buffer[]): void {
    if (this.closed) return;
    try {
      this.tun.writeBatch(packets);
    } catch (err) {
      this.opts.log.debug(`TUN write: ${(err as Error).message}`);
    }
  }

  /** Every call into the stack from outside its own events goes through here, to re-arm its timer. */
  private withStack(fn: () => void): void {
    if (this.closed) return;
    fn();
    const at = this.stack.nextTimeout();
    if (at === undefined) return;
    if (this.timer && at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.withStack(() => this.stack.onTimer(performance.now()));
    }, Math.max(0, at - performance.now()));
  }

  private isDns(dst: Endpoint): boolean {
    return !!this.dns && dst.port === 53 && dst.address === this.dns.ip;
  }

  private openCall(protocol: Protocol, src: Endpoint, dst: Endpoint): Call {
    const call = this.opts.client.tunnel(new Metadata());
    call.write({
      message: {
        $case: 'open',
        value: {
          protocol,
          destinationIp: ipToBytes(dst.address),
          destinationPort: dst.port,
          sourceIp: ipToBytes(src.address),
          sourcePort: src.port,
          sessionId: this.opts.sessionId(),
          dialTimeoutMs: this.opts.dialTimeoutMs ?? 10_000,
          interceptId: '',
        },
      },
    });
    return call;
  }

  // ---- TCP ----

  private tcpConnect(id: FlowId, src: Endpoint, dst: Endpoint): void {
    const flow: TcpFlow = { unconsumed: 0, sentCloseSend: false, gotCloseSend: false, closed: false };
    this.tcp.set(id, flow);
    if (this.isDns(dst)) {
      flow.dns = { pending: Buffer.alloc(0) };
      this.stack.accept(id);
      return;
    }
    const call = this.openCall(Protocol.TCP, src, dst);
    flow.call = call;
    let dialed = false;
    call.on('data', (msg: TunnelMessage) =>
      this.withStack(() => {
        const m = msg.message;
        if (!m || flow.closed) return;
        switch (m.$case) {
          case 'dialResult':
            dialed = true;
            if (m.value.outcome === DialOutcome.OK) this.stack.accept(id);
            else {
              this.opts.log.debug(`dial ${dst.address}:${dst.port}: ${DialOutcome[m.value.outcome]} ${m.value.message}`);
              const unreachable = m.value.outcome === DialOutcome.UNREACHABLE || m.value.outcome === DialOutcome.TIMEOUT;
              this.stack.refuse(id, unreachable ? 'unreachable' : 'refused');
            }
            break;
          case 'data': {
            const v = m.value;
            if (!this.stack.tcpWrite(id, Buffer.from(v.buffer, v.byteOffset, v.byteLength))) call.pause();
            break;
          }
          case 'closeSend':
            flow.gotCloseSend = true;
            this.stack.tcpShutdown(id);
            this.maybeEnd(flow);
            break;
          case 'disconnect':
            this.stack.tcpAbort(id);
            break;
        }
      }),
    );
    call.on('drain', () => this.withStack(() => this.flushConsumed(id, flow)));
    const gone = (why: string) =>
      this.withStack(() => {
        if (flow.closed) return;
        this.opts.log.debug(`tunnel to ${dst.address}:${dst.port} ended: ${why}`);
        if (!dialed) this.stack.refuse(id, 'unreachable');
        else if (!flow.gotCloseSend) this.stack.tcpAbort(id);
      });
    call.on('error', (err: Error) => gone(err.message));
    call.on('end', () => gone('end'));
  }

  private tcpData(id: FlowId, data: Buffer): void {
    const flow = this.tcp.get(id);
    if (!flow) return;
    if (flow.dns) {
      this.stack.consumed(id, data.length);
      this.dnsOverTcp(id, flow, data);
      return;
    }
    const call = flow.call!;
    // The stack hands a view into the TUN batch (a fresh Buffer per read, never reused). The
    // gRPC call keeps it only until it serializes the message (a copy), usually at once, so a
    // large payload goes as it is; a small one is copied so it cannot keep a large batch alive.
    const ok = call.write({ message: { $case: 'data', value: data.length >= VIEW_MIN_BYTES ? data : Buffer.from(data) } });
    flow.unconsumed += data.length;
    if (ok) this.flushConsumed(id, flow);
  }

  private flushConsumed(id: FlowId, flow: TcpFlow): void {
    if (flow.unconsumed > 0 && !flow.closed) {
      const n = flow.unconsumed;
      flow.unconsumed = 0;
      this.stack.consumed(id, n);
    }
  }

  private tcpEnd(id: FlowId): void {
    const flow = this.tcp.get(id);
    if (!flow) return;
    if (flow.dns) {
      this.stack.tcpShutdown(id);
      return;
    }
    flow.sentCloseSend = true;
    flow.call!.write({ message: { $case: 'closeSend', value: {} } });
    this.maybeEnd(flow);
  }

  /** Both directions are finished: end our half of the call; the manager then ends it. */
  private maybeEnd(flow: TcpFlow): void {
    if (flow.sentCloseSend && flow.gotCloseSend) flow.call?.end();
  }

  private tcpClosed(id: FlowId, reason: string): void {
    const flow = this.tcp.get(id);
    this.tcp.delete(id);
    if (!flow) return;
    flow.closed = true;
    const call = flow.call;
    if (!call) return;
    if (reason === 'normal') {
      call.end();
    } else if (reason !== 'refused' && reason !== 'unreachable') {
      call.write({ message: { $case: 'disconnect', value: { reason: DisconnectReason.RESET, error: `local connection ${reason}` } } });
      call.end();
    } else {
      call.cancel();
    }
  }

  /** DNS over TCP to the cluster DNS address: 2-byte length-prefixed messages, answered locally. */
  private dnsOverTcp(id: FlowId, flow: TcpFlow, data: Buffer): void {
    const dns = this.dns!;
    let buf = Buffer.concat([flow.dns!.pending, data]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const msg = Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      buf = buf.subarray(2 + msg.length);
      void dns.handler.handle(msg, 'tcp').then((reply) =>
        this.withStack(() => {
          if (!reply || flow.closed) return;
          const framed = Buffer.allocUnsafe(reply.length + 2);
          framed.writeUInt16BE(reply.length, 0);
          reply.copy(framed, 2);
          this.stack.tcpWrite(id, framed);
        }),
      );
    }
    flow.dns!.pending = Buffer.from(buf);
  }

  // ---- UDP ----

  private udpDatagram(id: FlowId, src: Endpoint, dst: Endpoint, data: Buffer): void {
    if (this.isDns(dst)) {
      void this.dns!.handler.handle(Buffer.from(data), 'udp').then((reply) =>
        this.withStack(() => {
          if (reply) this.stack.udpSend(id, reply);
        }),
      );
      return;
    }
    let flow = this.udp.get(id);
    if (!flow) {
      flow = { ready: false, queue: [] };
      this.udp.set(id, flow);
      const f = flow;
      const call = this.openCall(Protocol.UDP, src, dst);
      f.call = call;
      call.on('data', (msg: TunnelMessage) =>
        this.withStack(() => {
          const m = msg.message;
          if (!m) return;
          if (m.$case === 'dialResult') {
            if (m.value.outcome !== DialOutcome.OK) {
              this.stack.udpRefuse(id);
              return;
            }
            f.ready = true;
            for (const d of f.queue) call.write({ message: { $case: 'data', value: d } });
            f.queue = [];
          } else if (m.$case === 'data') {
            this.stack.udpSend(id, Buffer.from(m.value));
          }
        }),
      );
      const gone = () => this.withStack(() => this.udp.has(id) && this.stack.udpClose(id));
      call.on('error', gone);
      call.on('end', gone);
    }
    const copy = Buffer.from(data);
    if (flow.ready) flow.call!.write({ message: { $case: 'data', value: copy } });
    else if (flow.queue.length < UDP_QUEUE_LIMIT) flow.queue.push(copy);
  }

  private udpClosed(id: FlowId): void {
    const flow = this.udp.get(id);
    this.udp.delete(id);
    flow?.call?.cancel();
  }
}

/** The workstation's routes (both families), as the route plan reads them. */
async function existingRoutes(): Promise<ExistingRoute[]> {
  return (await readIpRoutes()).map((r) => ({ dst: r.dst, dev: r.dev }));
}
