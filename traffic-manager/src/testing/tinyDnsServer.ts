/**
 * A small authoritative DNS server for tests, written with dns-packet (an implementation
 * independent of the manager's own codec), on 127.0.0.1, UDP and TCP on one port. It answers
 * from a fixed zone, sets TC when an answer does not fit the client's UDP size, and ignores the
 * names it is told to ignore (a server that never answers).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket, { type Answer, type Packet } from 'dns-packet';

export interface TinyDnsServer {
  port: number;
  /** Questions seen, as "udp NAME TYPE" / "tcp NAME TYPE". */
  log: string[];
  close(): Promise<void>;
}

export interface ZoneOptions {
  answers: Answer[];
  /** Names that exist with no records of some types (they answer no-data, not NXDOMAIN). */
  silentNames?: string[];
}

const NXDOMAIN = 3;

export async function startTinyDnsServer(zone: ZoneOptions): Promise<TinyDnsServer> {
  const log: string[] = [];
  const respond = (query: Packet, maxSize: number | undefined): Buffer | undefined => {
    const q = query.questions?.[0];
    if (!q) return undefined;
    const name = q.name.toLowerCase();
    if (zone.silentNames?.includes(name)) return undefined;
    const answers = resolve(zone.answers, name, q.type);
    const exists = zone.answers.some((a) => a.name.toLowerCase() === name);
    const soa: Answer = {
      type: 'SOA',
      name: 'cluster.local',
      ttl: 30,
      data: { mname: 'ns.dns.cluster.local', rname: 'hostmaster.cluster.local', serial: 1, refresh: 7200, retry: 1800, expire: 86400, minimum: 30 },
    };
    const response: Packet = {
      type: 'response',
      id: query.id ?? 0,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_DESIRED | (exists ? 0 : NXDOMAIN),
      questions: [q],
      answers,
      authorities: answers.length === 0 ? [soa] : [],
    };
    const full = dnsPacket.encode(response);
    if (maxSize === undefined || full.length <= maxSize) return full;
    return dnsPacket.encode({ ...response, flags: (response.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE, answers: [], authorities: [] });
  };

  const onUdp = (udp: dgram.Socket) => (msg: Buffer, rinfo: dgram.RemoteInfo) => {
    const query = dnsPacket.decode(msg);
    const q = query.questions?.[0];
    log.push(`udp ${q?.name} ${q?.type}`);
    const opt = query.additionals?.find((a) => a.type === 'OPT');
    const size = opt && 'udpPayloadSize' in opt ? opt.udpPayloadSize : 512;
    const out = respond(query, size);
    if (out) udp.send(out, rinfo.port, rinfo.address);
  };
  const onTcp = (socket: net.Socket) => {
    let pending = Buffer.alloc(0);
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const len = pending.readUInt16BE(0);
        const query = dnsPacket.decode(pending.subarray(2, 2 + len));
        pending = pending.subarray(2 + len);
        const q = query.questions?.[0];
        log.push(`tcp ${q?.name} ${q?.type}`);
        const out = respond(query, undefined);
        if (!out) continue;
        const prefix = Buffer.alloc(2);
        prefix.writeUInt16BE(out.length);
        socket.write(Buffer.concat([prefix, out]));
      }
    });
  };

  // UDP picks a free port; TCP then needs the same number, which another test may hold: retry.
  let udp!: dgram.Socket;
  let tcp!: net.Server;
  let port = 0;
  for (let attempt = 0; ; attempt++) {
    udp = dgram.createSocket('udp4');
    udp.on('message', onUdp(udp));
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    port = udp.address().port;
    tcp = net.createServer(onTcp);
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(port, '127.0.0.1', () => resolve());
      });
      break;
    } catch (err) {
      udp.close();
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 20) throw err;
    }
  }

  return {
    port,
    log,
    close: () =>
      new Promise((resolve) => {
        udp.close();
        tcp.close(() => resolve());
      }),
  };
}

/** The records for (name, type), following CNAMEs within the zone, CNAMEs first. */
function resolve(zone: Answer[], name: string, type: string): Answer[] {
  const out: Answer[] = [];
  let current = name;
  for (let hops = 0; hops < 8; hops++) {
    const here = zone.filter((a) => a.name.toLowerCase() === current);
    const exact = here.filter((a) => a.type === type);
    if (exact.length > 0 || type === 'CNAME') return [...out, ...exact];
    const cname = here.find((a) => a.type === 'CNAME');
    const target = cname && 'data' in cname ? cname.data : undefined;
    if (!cname || typeof target !== 'string') return out;
    out.push(cname);
    current = target.toLowerCase();
  }
  return out;
}
