/**
 * A tiny authoritative DNS server for tests: the "original resolver" that the daemon forwards to.
 * It answers from a fixed table over UDP and TCP on one port and records what it was asked, and
 * can misbehave on purpose (truncate over UDP, ignore the first queries, send a spoofed answer
 * first) so the forwarder's handling of each case can be seen to work.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';

export interface FakeNameserverOptions {
  host: string;
  port?: number;
  /** Records by owner name (lower case, no trailing dot). */
  records: Record<string, dnsPacket.Answer[]>;
  /** Answer UDP with TC set and no records, so the client must come back over TCP. */
  truncateUdp?: boolean;
  /** Ignore this many UDP queries before answering. */
  ignoreUdp?: number;
  /** Before the real answer, send one with another id and a wrong address. */
  spoofFirst?: boolean;
  /** Told of every query as it arrives (besides `seen`). */
  onQuery?: (query: SeenQuery) => void;
}

export interface SeenQuery {
  id: number;
  name: string;
  type: string;
  transport: 'udp' | 'tcp';
}

export class FakeNameserver {
  readonly seen: SeenQuery[] = [];
  private ignored = 0;

  private constructor(
    private readonly options: FakeNameserverOptions,
    private readonly udp: dgram.Socket,
    private readonly tcp: net.Server,
    readonly port: number,
  ) {}

  /**
   * UDP and TCP on one port. A free UDP port may be taken for TCP by another test running at the
   * same time; without a fixed port, another is tried then.
   */
  static async start(options: FakeNameserverOptions): Promise<FakeNameserver> {
    for (let attempt = 0; ; attempt++) {
      const udp = dgram.createSocket(net.isIPv6(options.host) ? 'udp6' : 'udp4');
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(options.port ?? 0, options.host, () => resolve());
      });
      const port = udp.address().port;
      const tcp = net.createServer();
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen(port, options.host, () => resolve());
        });
      } catch (e) {
        udp.close();
        if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || options.port !== undefined || attempt >= 20) throw e;
        continue;
      }
      const server = new FakeNameserver(options, udp, tcp, port);
      server.serve();
      return server;
    }
  }

  async close(): Promise<void> {
    await Promise.all([new Promise<void>((r) => this.udp.close(() => r())), new Promise<void>((r) => this.tcp.close(() => r()))]);
  }

  private serve(): void {
    this.udp.on('message', (msg, rinfo) => {
      const q = this.decode(msg, 'udp');
      if (!q) return;
      if (this.ignored < (this.options.ignoreUdp ?? 0)) {
        this.ignored++;
        return;
      }
      if (this.options.spoofFirst) {
        const fake = this.answer(q, false);
        fake.writeUInt16BE((q.id! + 1) & 0xffff, 0);
        this.udp.send(fake, rinfo.port, rinfo.address);
      }
      this.udp.send(this.answer(q, !!this.options.truncateUdp), rinfo.port, rinfo.address);
    });
    this.tcp.on('connection', (socket) => {
      socket.on('error', () => {});
      let buf: Buffer = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
          buf = buf.subarray(2 + msg.length);
          const q = this.decode(msg, 'tcp');
          if (!q) continue;
          const out = this.answer(q, false);
          const len = Buffer.alloc(2);
          len.writeUInt16BE(out.length);
          socket.write(Buffer.concat([len, out]));
        }
      });
    });
  }

  private decode(msg: Buffer, transport: 'udp' | 'tcp'): dnsPacket.DecodedPacket | undefined {
    try {
      const q = dnsPacket.decode(msg);
      const question = q.questions?.[0];
      if (!question) return undefined;
      const seen: SeenQuery = { id: q.id ?? 0, name: question.name, type: question.type, transport };
      this.seen.push(seen);
      this.options.onQuery?.(seen);
      return q;
    } catch {
      return undefined;
    }
  }

  private answer(q: dnsPacket.DecodedPacket, truncate: boolean): Buffer {
    const question = q.questions![0]!;
    const records = this.options.records[question.name.toLowerCase()];
    const answers = (records ?? []).filter((r) => r.type === question.type || r.type === 'CNAME');
    return dnsPacket.encode({
      type: 'response',
      id: q.id,
      flags: dnsPacket.RECURSION_AVAILABLE | (q.flags ?? 0) & dnsPacket.RECURSION_DESIRED | (truncate ? dnsPacket.TRUNCATED_RESPONSE : 0) | (records ? 0 : 3),
      questions: [question],
      answers: truncate ? [] : answers,
    });
  }
}
