/**
 * The daemon's DNS server: UDP and TCP on one address and port (53 in production: resolv.conf
 * and systemd-resolved cannot name another port). The answering is DnsQueryHandler's; this file
 * only moves messages. TCP follows RFC 7766: several queries per connection, answered as they
 * complete, idle connections closed after a while.
 *
 * Load limits keep a flood from a local process from growing memory without bound: beyond
 * `maxInflight` concurrent queries, UDP queries are dropped (the client retries) and TCP
 * connections stop being read until answers go out.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { DnsQueryHandler, type ForwardQuery, type LookupCluster } from './dnsQueryHandler.js';
import { type DnsLogger, errorText } from './dnsLogger.js';
import type { DnsRoutingConfig } from './dnsRouter.js';

export interface DnsServerOptions {
  /** Address to listen on, e.g. `127.0.0.1` or the TUN device's address. */
  host: string;
  /** 53 in production; 0 picks a free port (the same one for UDP and TCP). */
  port: number;
  routing: DnsRoutingConfig;
  lookupCluster: LookupCluster;
  forward: ForwardQuery;
  logger: DnsLogger;
  now?: () => number;
  lookupTimeoutMs?: number;
  forwardTimeoutMs?: number;
  maxTtlSeconds?: number;
  negativeTtlSeconds?: number;
  maxInflight?: number;
  tcpIdleTimeoutMs?: number;
}

const MAX_TCP_CONNECTIONS = 256;
/** Queries read from one TCP connection before it waits for their answers. */
const MAX_TCP_PIPELINE = 32;

export class DnsServer {
  private inflight = 0;
  private closed = false;
  private readonly connections = new Set<net.Socket>();

  private constructor(
    private readonly handler: DnsQueryHandler,
    private readonly udp: dgram.Socket,
    private readonly tcp: net.Server,
    readonly host: string,
    readonly port: number,
    private readonly options: DnsServerOptions,
  ) {}

  /** Binds UDP and TCP; rejects (having closed whatever it opened) when either cannot bind. */
  static async start(options: DnsServerOptions): Promise<DnsServer> {
    const handler = new DnsQueryHandler({
      routing: options.routing,
      lookupCluster: options.lookupCluster,
      forward: options.forward,
      logger: options.logger,
      now: options.now,
      lookupTimeoutMs: options.lookupTimeoutMs,
      forwardTimeoutMs: options.forwardTimeoutMs,
      maxTtlSeconds: options.maxTtlSeconds,
      negativeTtlSeconds: options.negativeTtlSeconds,
    });
    // With port 0 the UDP port is picked first; TCP may find it taken and the pair is retried.
    for (let attempt = 0; ; attempt++) {
      const udp = dgram.createSocket({ type: net.isIPv6(options.host) ? 'udp6' : 'udp4' });
      try {
        await bindUdp(udp, options.host, options.port);
      } catch (e) {
        udp.close();
        throw e;
      }
      const port = udp.address().port;
      // Half-open: a client may send its queries and shut its side before the answers come.
      const tcp = net.createServer({ allowHalfOpen: true });
      try {
        await listenTcp(tcp, options.host, port);
      } catch (e) {
        udp.close();
        if (options.port === 0 && attempt < 5 && (e as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
        throw e;
      }
      const server = new DnsServer(handler, udp, tcp, options.host, port, options);
      server.serve();
      options.logger.info('DNS server listening', { address: `${options.host}:${port}` });
      return server;
    }
  }

  /** New connected namespace, namespace list or subnets; takes effect for the next query. */
  updateRouting(routing: DnsRoutingConfig): void {
    this.handler.setRouting(routing);
  }

  /** Stops listening, closes TCP connections, aborts pending lookups. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.handler.dispose();
    for (const c of this.connections) c.destroy();
    await Promise.all([
      new Promise<void>((resolve) => this.udp.close(() => resolve())),
      new Promise<void>((resolve) => this.tcp.close(() => resolve())),
    ]);
  }

  private get maxInflight(): number {
    return this.options.maxInflight ?? 1024;
  }

  private serve(): void {
    const { logger } = this.options;
    this.udp.on('error', (e) => logger.warn('DNS UDP socket error', { error: errorText(e) }));
    this.udp.on('message', (msg, rinfo) => {
      if (this.closed) return;
      if (this.inflight >= this.maxInflight) {
        logger.debug('DNS server busy: UDP query dropped', { from: rinfo.address });
        return;
      }
      this.inflight++;
      void this.handler
        .handle(msg, 'udp')
        .then((response) => {
          if (response && !this.closed) {
            this.udp.send(response, rinfo.port, rinfo.address, (e) => {
              if (e) logger.debug('DNS UDP send failed', { to: rinfo.address, error: errorText(e) });
            });
          }
        })
        .finally(() => this.inflight--);
    });
    this.tcp.maxConnections = MAX_TCP_CONNECTIONS;
    this.tcp.on('error', (e) => logger.warn('DNS TCP server error', { error: errorText(e) }));
    this.tcp.on('connection', (socket) => this.serveTcp(socket));
  }

  private serveTcp(socket: net.Socket): void {
    const { logger } = this.options;
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.connections.add(socket);
    socket.setTimeout(this.options.tcpIdleTimeoutMs ?? 10_000, () => socket.destroy());
    socket.on('error', (e) => logger.debug('DNS TCP connection error', { error: errorText(e) }));
    socket.on('close', () => this.connections.delete(socket));
    let buffered: Buffer = Buffer.alloc(0);
    let pending = 0;
    let ended = false;
    const answer = (msg: Buffer): void => {
      pending++;
      this.inflight++;
      if (pending >= MAX_TCP_PIPELINE || this.inflight >= this.maxInflight) socket.pause();
      void this.handler
        .handle(msg, 'tcp')
        .then((response) => {
          if (!response || socket.destroyed || response.length > 0xffff) return;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(response.length);
          socket.write(Buffer.concat([len, response]));
        })
        .finally(() => {
          pending--;
          this.inflight--;
          if (ended && pending === 0) socket.end();
          else if (socket.isPaused() && pending < MAX_TCP_PIPELINE && this.inflight < this.maxInflight) socket.resume();
        });
    };
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2) {
        const n = buffered.readUInt16BE(0);
        if (buffered.length < 2 + n) break;
        const msg = Buffer.from(buffered.subarray(2, 2 + n));
        buffered = buffered.subarray(2 + n);
        answer(msg);
      }
    });
    // A client that half-closes after its last query still gets the answers (RFC 7766 6.2.4).
    socket.on('end', () => {
      ended = true;
      if (pending === 0) socket.end();
    });
  }
}

function bindUdp(socket: dgram.Socket, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    socket.once('error', onError);
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

function listenTcp(server: net.Server, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    server.once('error', onError);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
