import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { DNSRecord } from '../../../../protocol/src/gen/telepath/manager/v1/manager.js';
import { ipToBytes } from '../../../../protocol/src/ipAddress.js';
import { QTYPE } from './dnsAnswer.js';
import type { DnsLogger } from './dnsLogger.js';
import { DnsQueryHandler, type LookupCluster } from './dnsQueryHandler.js';
import { DnsServer } from './dnsServer.js';

type Decoded = dnsPacket.DecodedPacket & { rcode: string };

const a = (name: string, ip: string): DNSRecord => ({ name, type: QTYPE.A, ttl: 5, data: { $case: 'ip', value: ipToBytes(ip) } });

const lookupCluster: LookupCluster = async (name, qtype) => {
  if (qtype !== QTYPE.A) return { rcode: 0, answers: [] };
  if (name === 'echo.samples.svc.cluster.local') return { rcode: 0, answers: [a(name, '10.96.0.20')] };
  if (name === 'web.samples.svc.cluster.local') return { rcode: 0, answers: Array.from({ length: 50 }, (_, i) => a(name, `10.244.0.${i + 1}`)) };
  return { rcode: 3, answers: [] };
};

/** The original resolver: answers example.test, NXDOMAIN otherwise. */
const forward = async (q: Buffer): Promise<Buffer> => {
  const p = dnsPacket.decode(q);
  const question = p.questions![0]!;
  const known = question.name.toLowerCase() === 'example.test';
  return dnsPacket.encode({
    type: 'response',
    id: p.id,
    flags: known ? 0 : 3,
    questions: [question],
    answers: known && question.type === 'A' ? [{ name: question.name, type: 'A', ttl: 60, data: '192.0.2.10' }] : [],
  });
};

/** Counts warnings: a query that reaches the handler's catch-all is a defect. */
function countingLogger(): DnsLogger & { warnings: string[] } {
  const warnings: string[] = [];
  return { debug: () => {}, info: () => {}, warn: (m, f) => warnings.push(`${m} ${JSON.stringify(f)}`), warnings };
}

const routing = { clusterDomain: 'cluster.local', connectedNamespace: 'samples', namespaces: ['samples'] };
const logger = countingLogger();
let server: DnsServer;

before(async () => {
  server = await DnsServer.start({ host: '127.0.0.1', port: 0, routing, lookupCluster, forward, logger });
});
after(() => server.close());

function query(name: string, type: dnsPacket.RecordType = 'A', id = 1000): Buffer {
  return dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type }] });
}

async function udpAsk(msg: Buffer, port = server.port, timeoutMs = 2000): Promise<Decoded> {
  const s = dgram.createSocket('udp4');
  try {
    return await new Promise<Decoded>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no UDP answer')), timeoutMs);
      s.on('message', (r) => {
        clearTimeout(timer);
        resolve(dnsPacket.decode(r) as Decoded);
      });
      s.send(msg, port, '127.0.0.1');
    });
  } finally {
    s.close();
  }
}

/** Sends the messages on one connection, half-closes, and collects every answer until the
 * server closes its side. */
async function tcpAsk(msgs: Buffer[], port = server.port): Promise<Decoded[]> {
  const socket = net.connect(port, '127.0.0.1');
  const out: Decoded[] = [];
  let buf: Buffer = Buffer.alloc(0);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('TCP answers did not all come')), 3000);
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))) as Decoded);
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
    });
    socket.on('end', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.on('connect', () => {
      socket.end(Buffer.concat(msgs.map((m) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m]))));
    });
  });
  return out;
}

const ips = (p: Decoded): string[] => (p.answers ?? []).filter((x) => x.type === 'A').map((x) => (x as dnsPacket.StringAnswer).data);

test('answers cluster and forwarded names over UDP', async () => {
  assert.deepEqual(ips(await udpAsk(query('echo.samples'))), ['10.96.0.20']);
  assert.deepEqual(ips(await udpAsk(query('echo'))), ['10.96.0.20']);
  assert.deepEqual(ips(await udpAsk(query('example.test'))), ['192.0.2.10']);
  const nx = await udpAsk(query('nope.samples'));
  assert.equal(nx.rcode, 'NXDOMAIN');
});

test('answers several pipelined queries on one TCP connection, also after the client half-closes', async () => {
  const answers = await tcpAsk([query('echo.samples', 'A', 1), query('example.test', 'A', 2), query('nope.samples', 'A', 3)]);
  assert.deepEqual(answers.map((p) => p.id).sort(), [1, 2, 3]);
  const byId = new Map(answers.map((p) => [p.id, p]));
  assert.deepEqual(ips(byId.get(1)!), ['10.96.0.20']);
  assert.deepEqual(ips(byId.get(2)!), ['192.0.2.10']);
  assert.equal(byId.get(3)!.rcode, 'NXDOMAIN');
});

test('a large answer is truncated over UDP and complete over TCP', async () => {
  const udp = await udpAsk(query('web.samples'));
  assert.ok(udp.flag_tc);
  const [tcp] = await tcpAsk([query('web.samples')]);
  assert.ok(!tcp!.flag_tc);
  assert.equal(ips(tcp!).length, 50);
});

test('routing can change while serving', async () => {
  server.updateRouting({ ...routing, connectedNamespace: 'elsewhere' });
  try {
    assert.equal((await udpAsk(query('echo'))).rcode, 'NXDOMAIN');
  } finally {
    server.updateRouting(routing);
  }
  assert.deepEqual(ips(await udpAsk(query('echo'))), ['10.96.0.20']);
});

test('a second server on the same port fails to start instead of sharing it', async () => {
  await assert.rejects(DnsServer.start({ host: '127.0.0.1', port: server.port, routing, lookupCluster, forward, logger }), /EADDRINUSE/);
});

/** A deterministic PRNG, so a failing fuzz case can be replayed. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

function mutations(count: number, seed: number): Buffer[] {
  const rnd = prng(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const seeds = [
    query('echo.samples'),
    query('echo', 'AAAA'),
    query('_http._tcp.echo.samples.svc.cluster.local', 'SRV'),
    query('example.test', 'MX'),
    dnsPacket.encode({
      type: 'query',
      id: 3,
      questions: [{ name: 'echo.samples', type: 'A' }],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
    }),
  ];
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const base = Buffer.from(seeds[int(seeds.length)]!);
    let m: Buffer;
    switch (int(6)) {
      case 0: // truncated
        m = base.subarray(0, int(base.length));
        break;
      case 1: {
        // random bytes flipped
        m = base;
        for (let k = 0; k < 1 + int(4); k++) m[int(m.length)] = int(256);
        break;
      }
      case 2: // pure noise
        m = Buffer.from(Array.from({ length: int(600) }, () => int(256)));
        break;
      case 3: {
        // absurd section counts
        m = base;
        m.writeUInt16BE(int(0x10000), 4 + 2 * int(4));
        break;
      }
      case 4: {
        // a compression pointer that loops onto itself
        m = Buffer.concat([base.subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
        break;
      }
      default: // trailing garbage
        m = Buffer.concat([base, Buffer.from(Array.from({ length: int(40) }, () => int(256)))]);
    }
    // Some mutants are queries again: clear QR so they reach the parser's deeper paths.
    if (m.length > 2 && rnd() < 0.7) m[2] = m[2]! & 0x7f;
    out.push(m);
  }
  return out;
}

test('fuzz: the handler answers every mutant with a well-formed response or with nothing, and never fails', async () => {
  const log = countingLogger();
  const handler = new DnsQueryHandler({ routing, lookupCluster, forward, logger: log });
  let answered = 0;
  for (const m of mutations(20_000, 0x5eed)) {
    const r = await handler.handle(m, answered % 2 ? 'udp' : 'tcp');
    if (!r) continue;
    answered++;
    assert.ok(r.length >= 12);
    assert.equal(r.readUInt16BE(0), m.readUInt16BE(0), 'the response keeps the query id');
    assert.ok(r.readUInt16BE(2) & 0x8000, 'QR is set');
    dnsPacket.decode(r); // well-formed
  }
  assert.ok(answered > 5_000, `only ${answered} answered`);
  assert.deepEqual(log.warnings, []);
});

test('fuzz: the server survives random datagrams and TCP streams, and still answers', async () => {
  const sock = dgram.createSocket('udp4');
  for (const m of mutations(3_000, 42)) {
    await new Promise<void>((r) => sock.send(m, server.port, '127.0.0.1', () => r()));
  }
  sock.close();
  const rnd = prng(7);
  await Promise.all(
    Array.from({ length: 20 }, async (_, i) => {
      const s = net.connect(server.port, '127.0.0.1');
      s.on('error', () => {});
      await new Promise<void>((r) => s.on('connect', () => r()));
      const noise = Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 3000) }, () => Math.floor(rnd() * 256)));
      // half of them claim a huge message and stop mid-way; the server must not wait forever on them
      if (i % 2) noise.writeUInt16BE(0xffff, 0);
      s.end(noise);
      await new Promise<void>((r) => s.on('close', () => r()).setTimeout(3000, () => (s.destroy(), r())));
    }),
  );
  assert.deepEqual(ips(await udpAsk(query('echo.samples', 'A', 4242))), ['10.96.0.20']);
  const [t] = await tcpAsk([query('example.test')]);
  assert.deepEqual(ips(t!), ['192.0.2.10']);
  assert.deepEqual(logger.warnings, []);
});

test('close() stops both listeners and pending work', async () => {
  let started = 0;
  const hang: LookupCluster = (_n, _t, signal) =>
    new Promise((_resolve, reject) => {
      started++;
      signal.addEventListener('abort', () => reject(new Error('aborted')));
    });
  const s = await DnsServer.start({ host: '127.0.0.1', port: 0, routing, lookupCluster: hang, forward, logger: countingLogger() });
  const port = s.port;
  const c = net.connect(port, '127.0.0.1');
  c.on('error', () => {});
  await new Promise<void>((r) => c.on('connect', () => r()));
  const m = query('echo.samples');
  c.write(Buffer.concat([Buffer.from([0, m.length]), m]));
  while (started === 0) await new Promise((r) => setTimeout(r, 5));
  const closedConn = new Promise<void>((r) => c.on('close', () => r()));
  await s.close();
  await closedConn;
  await assert.rejects(
    new Promise((resolve, reject) => {
      const c2 = net.connect(port, '127.0.0.1');
      c2.on('connect', () => resolve(c2.destroy()));
      c2.on('error', reject);
    }),
    /ECONNREFUSED/,
  );
});

test('a TCP client that stops mid-message is disconnected after the idle timeout', async () => {
  const s = await DnsServer.start({ host: '127.0.0.1', port: 0, routing, lookupCluster, forward, logger: countingLogger(), tcpIdleTimeoutMs: 150 });
  try {
    const c = net.connect(s.port, '127.0.0.1');
    c.on('error', () => {});
    await new Promise<void>((r) => c.on('connect', () => r()));
    const t0 = Date.now();
    c.write(Buffer.from([0, 40, 1, 2, 3])); // announces 40 bytes, sends 3
    await new Promise<void>((r) => c.on('close', () => r()));
    const took = Date.now() - t0;
    assert.ok(took >= 100 && took < 2000, `closed after ${took} ms`);
  } finally {
    await s.close();
  }
});
