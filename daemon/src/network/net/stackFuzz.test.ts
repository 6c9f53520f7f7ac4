/**
 * Hostile input for the stack: random bytes, truncated and mutated packets (with checksums fixed
 * up so they get past verification), and plausible-but-wrong TCP segments on a few 4-tuples that
 * drive connections through every state. Seeded, so a failure reproduces. The stack must never
 * throw, and everything it emits must make sense: valid packets only, events only for flows
 * that exist, one tcpClosed per connection.
 */
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { test } from 'node:test';
import { finishChecksum, pseudoHeaderSum, sumWords } from './checksum.js';
import { parseIcmp } from './icmp.js';
import { parseIpPacket } from './ipPacket.js';
import { PacketWriter } from './packetWriter.js';
import { seqAdd } from './seq.js';
import { INTERNAL_ERROR, NetStack, type NetStackHandler } from './stack.js';
import { parseTcp, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, type TcpOptions } from './tcp.js';
import { prng, randomBytes } from './testing/prng.js';
import { SYN4_FULL, SYN6_FULL, DATA4_FULL, DATA6_FULL, UDP4_FULL, UDP6_FULL } from './testing/vectors.js';
import type { Endpoint, FlowId } from './types.js';
import { parseUdp } from './udp.js';

const CLOSE_REASONS = new Set(['normal', 'reset', 'timeout', 'aborted', 'refused', 'unreachable', 'connectTimeout', 'overflow']);

/** Checks every packet the stack writes. */
function assertValidOutput(packet: Buffer): void {
  const ip = parseIpPacket(packet, true);
  assert.ok(ip.ok, `output does not parse: ${!ip.ok && ip.reason}`);
  assert.equal(ip.payload.length + ip.headerLength, packet.length, 'no trailing bytes');
  const l4 = ip.payload;
  if (ip.protocol === 6) {
    const seg = parseTcp(l4);
    assert.ok(seg.ok);
    assert.ok(seg.srcPort !== 0 && seg.dstPort !== 0);
    assert.equal(sumWords(l4, 0, l4.length, pseudoHeaderSum(ip.src, ip.dst, 6, l4.length)), 0xffff, 'TCP checksum');
  } else if (ip.protocol === 17) {
    const d = parseUdp(l4);
    assert.ok(d.ok);
    assert.equal(sumWords(l4, 0, l4.length, pseudoHeaderSum(ip.src, ip.dst, 17, l4.length)), 0xffff, 'UDP checksum');
  } else if (ip.protocol === 1 || ip.protocol === 58) {
    const m = parseIcmp(l4);
    assert.ok(m.ok);
    assert.equal(ip.protocol === 1 ? ip.version : 6, ip.version);
    assert.equal(m.type, ip.version === 4 ? 3 : 1, 'only destination unreachable');
    const initial = ip.version === 4 ? 0 : pseudoHeaderSum(ip.src, ip.dst, 58, l4.length);
    assert.equal(sumWords(l4, 0, l4.length, initial), 0xffff, 'ICMP checksum');
  } else {
    assert.fail(`unexpected protocol ${ip.protocol}`);
  }
}

function assertEndpoint(e: Endpoint): void {
  assert.ok(isIP(e.address) !== 0, e.address);
  assert.ok(Number.isInteger(e.port) && e.port > 0 && e.port < 65536);
}

/** A handler that validates and randomly reacts, like a daemon with a flaky cluster. */
class FuzzDaemon implements NetStackHandler {
  stack!: NetStack;
  readonly live = new Set<FlowId>();
  readonly closed = new Set<FlowId>();
  readonly udpLive = new Set<FlowId>();
  outputs = 0;
  events = 0;
  /** What the stack last said per "version:srcPort>dstPort" (as the peer sees it): the end of
   * what it sent and what it acknowledged, so the fuzzer can send segments it will accept. */
  readonly seen = new Map<string, { nxt: number; ack: number }>();

  constructor(private readonly rand: () => number) {}

  output(packets: Buffer[]): void {
    for (const p of packets) {
      assertValidOutput(p);
      this.outputs++;
      const ip = parseIpPacket(p);
      if (ip.ok && ip.protocol === 6) {
        const seg = parseTcp(ip.payload);
        if (!seg.ok || seg.flags & TCP_RST) continue;
        const key = `${ip.version}:${seg.dstPort}>${seg.srcPort}`;
        const end = seqAdd(seg.seq, seg.payload.length + (seg.flags & TCP_SYN ? 1 : 0) + (seg.flags & TCP_FIN ? 1 : 0));
        const prev = this.seen.get(key);
        if (seg.flags & TCP_SYN || !prev) this.seen.set(key, { nxt: end, ack: seg.ack });
        else {
          if (((end - prev.nxt) | 0) > 0) prev.nxt = end;
          prev.ack = seg.ack;
        }
      }
    }
  }

  tcpConnect(id: FlowId, src: Endpoint, dst: Endpoint): void {
    this.events++;
    assert.ok(!this.live.has(id) && !this.closed.has(id), 'fresh flow id');
    assertEndpoint(src);
    assertEndpoint(dst);
    this.live.add(id);
    const r = this.rand() % 10;
    if (r < 6) this.stack.accept(id);
    else if (r === 6) this.stack.refuse(id, 'refused');
    else if (r === 7) this.stack.refuse(id, 'unreachable');
    // else: leave it pending (answered later, or timing out)
    if (r < 3) this.stack.tcpWrite(id, Buffer.alloc(1 + (this.rand() % 5000), 0x61));
  }

  tcpEstablished(id: FlowId): void {
    assert.ok(this.live.has(id));
  }

  tcpData(id: FlowId, data: Buffer): void {
    this.events++;
    this.dataEvents++;
    assert.ok(this.live.has(id), 'data for a live flow');
    assert.ok(data.length > 0);
    const r = this.rand() % 8;
    if (r < 6) this.stack.consumed(id, data.length);
    if (r === 0 && !this.shut.has(id)) this.stack.tcpWrite(id, Buffer.from(data));
    if (r === 7 && this.rand() % 4 === 0) this.shutdown(id);
  }

  /** Flows the daemon has shut down (writing to them would be its bug). */
  readonly shut = new Set<FlowId>();

  private shutdown(id: FlowId): void {
    this.shut.add(id);
    this.stack.tcpShutdown(id);
  }

  tcpEnd(id: FlowId): void {
    this.events++;
    assert.ok(this.live.has(id));
    if (this.rand() % 2 === 0) this.shutdown(id);
  }

  tcpDrain(id: FlowId): void {
    assert.ok(this.live.has(id));
  }

  readonly reasons = new Set<string>();
  dataEvents = 0;

  tcpClosed(id: FlowId, reason: string): void {
    this.events++;
    this.reasons.add(reason);
    assert.ok(this.live.has(id), `tcpClosed(${id}) for a live flow`);
    assert.ok(CLOSE_REASONS.has(reason), reason);
    this.live.delete(id);
    this.closed.add(id);
  }

  udpDatagram(id: FlowId, src: Endpoint, dst: Endpoint, data: Buffer): void {
    this.events++;
    assertEndpoint(src);
    assertEndpoint(dst);
    assert.ok(Buffer.isBuffer(data));
    this.udpLive.add(id);
    const r = this.rand() % 6;
    if (r === 0) this.stack.udpSend(id, Buffer.from('reply'));
    else if (r === 1) this.stack.udpRefuse(id);
    else if (r === 2) this.stack.udpClose(id);
  }

  udpClosed(id: FlowId): void {
    assert.ok(this.udpLive.has(id), 'udpClosed for a known flow');
    this.udpLive.delete(id);
  }
}

/** Recomputes the IPv4 header and TCP/UDP checksums of a (mutated) packet where it can. */
function fixChecksums(p: Buffer): void {
  const version = p[0]! >> 4;
  let l4Start: number;
  let proto: number;
  let src: Buffer;
  let dst: Buffer;
  if (version === 4 && p.length >= 20) {
    const hl = (p[0]! & 15) * 4;
    if (hl < 20 || hl > p.length) return;
    p.writeUInt16BE(0, 10);
    p.writeUInt16BE(finishChecksum(sumWords(p, 0, hl)), 10);
    l4Start = hl;
    proto = p[9]!;
    src = p.subarray(12, 16);
    dst = p.subarray(16, 20);
    const total = p.readUInt16BE(2);
    if (total > p.length || total < hl) return;
    p = p.subarray(0, total);
  } else if (version === 6 && p.length >= 40) {
    l4Start = 40;
    proto = p[6]!;
    src = p.subarray(8, 24);
    dst = p.subarray(24, 40);
    const end = 40 + p.readUInt16BE(4);
    if (end > p.length) return;
    p = p.subarray(0, end);
  } else {
    return;
  }
  const l4 = p.subarray(l4Start);
  const at = proto === 6 ? 16 : proto === 17 ? 6 : -1;
  if (at < 0 || l4.length < at + 2) return;
  l4.writeUInt16BE(0, at);
  l4.writeUInt16BE(finishChecksum(sumWords(l4, 0, l4.length, pseudoHeaderSum(src, dst, proto, l4.length))), at);
}

/** The stack as the tests configure it by default, and as the daemon runs it (no checksum check
 * of what the local kernel sends, segments built in reused memory). */
const CONFIGS = [
  { name: 'verifying checksums', verifyChecksums: true, reuseOutputMemory: false },
  { name: 'as the daemon runs it', verifyChecksums: false, reuseOutputMemory: true },
];

for (const config of CONFIGS) {
  test(`thousands of random, truncated, mutated and plausible packets: no throw, no garbage (${config.name})`, () => fuzzHostileInput(config));
}

function fuzzHostileInput(config: (typeof CONFIGS)[number]): void {
  const rand = prng(20240601);
  let now = 0;
  const daemon = new FuzzDaemon(rand);
  const stack = new NetStack(daemon, {
    clock: () => now,
    random: rand,
    verifyChecksums: config.verifyChecksums,
    reuseOutputMemory: config.reuseOutputMemory,
    udpIdleTimeoutMs: 5_000,
    connectTimeoutMs: 3_000,
    tcp: { timeWaitMs: 2_000, maxRetries: 3, receiveWindow: 64 * 1024, sendBufferSize: 16 * 1024, sendBufferHardLimit: 64 * 1024 },
  });
  daemon.stack = stack;

  const local4 = Buffer.from([10, 0, 0, 2]);
  const cluster4 = Buffer.from([10, 96, 0, 10]);
  const local6 = Buffer.from('fd000000000000000000000000000002', 'hex');
  const cluster6 = Buffer.from('fd000096000000000000000000000010', 'hex');
  const writers = [new PacketWriter(local4, cluster4), new PacketWriter(local6, cluster6)];
  const corpus = [SYN4_FULL, SYN6_FULL, DATA4_FULL, DATA6_FULL, UDP4_FULL, UDP6_FULL];
  const plausibleTcp = (): Buffer => {
    const v = rand() % 2;
    const w = writers[v]!;
    const srcPort = 40000 + (rand() % 4);
    const dstPort = 80 + (rand() % 2);
    const seen = daemon.seen.get(`${v === 0 ? 4 : 6}:${srcPort}>${dstPort}`);
    const r = rand() % 16;
    let flags: number;
    if (r < 3) flags = TCP_SYN;
    else if (r < 11) flags = TCP_ACK | (rand() % 3 === 0 ? TCP_PSH : 0);
    else if (r < 13) flags = TCP_FIN | TCP_ACK;
    else if (r < 14) flags = TCP_RST;
    else flags = rand() & 0x1ff;
    // Mostly exactly what the stack expects, sometimes a little off, sometimes anything.
    const jitter = (): number => (rand() % 3 === 0 ? (rand() % 20_000) - 10_000 : 0);
    const seq = flags === TCP_SYN || !seen || rand() % 8 === 0 ? rand() : seqAdd(seen.ack, jitter());
    const ack = !seen || rand() % 8 === 0 ? rand() : seqAdd(seen.nxt, jitter());
    const payload = flags & (TCP_SYN | TCP_RST) || rand() % 3 === 0 ? Buffer.alloc(0) : randomBytes(rand, rand() % 1400);
    const options: TcpOptions = {};
    if (flags & TCP_SYN) {
      if (rand() % 2) options.mss = rand() % 70000 & 0xffff;
      if (rand() % 2) options.windowScale = rand() % 20;
      if (rand() % 2) options.sackPermitted = true;
    }
    if (rand() % 2) {
      options.tsValue = rand();
      options.tsEcho = rand();
    }
    if (rand() % 8 === 0) options.sack = [{ left: rand(), right: rand() }];
    const window = rand() % 4 === 0 ? 0 : rand() & 0xffff;
    return w.tcp({ srcPort, dstPort, seq, ack, flags, window, options }, payload, 0, payload.length);
  };

  const plausibleUdp = (): Buffer => {
    const w = writers[rand() % 2]!;
    return w.udp(5000 + (rand() % 3), 53, randomBytes(rand, rand() % 600));
  };

  let thrown = 0;
  const N = 30_000;
  for (let i = 0; i < N; i++) {
    const kind = rand() % 10;
    let packet: Buffer;
    if (kind === 0) {
      packet = randomBytes(rand, rand() % 1600);
      if (packet.length > 0 && rand() % 2) packet[0] = (rand() % 2 ? 0x45 : 0x60) | (packet[0]! & 0x0f);
    } else if (kind === 1) {
      const base = corpus[rand() % corpus.length]!;
      packet = Buffer.from(base.subarray(0, rand() % (base.length + 1)));
    } else if (kind <= 3) {
      const base = rand() % 2 ? corpus[rand() % corpus.length]! : plausibleTcp();
      packet = Buffer.from(base);
      for (let m = 1 + (rand() % 4); m > 0; m--) packet[rand() % packet.length] ^= 1 << (rand() % 8);
      if (rand() % 4 !== 0) fixChecksums(packet);
    } else if (kind <= 8) {
      packet = plausibleTcp();
    } else {
      packet = plausibleUdp();
    }
    try {
      if (rand() % 8 === 0) stack.inputBatch([packet, plausibleTcp(), packet]);
      else stack.input(packet);
      now += rand() % 50;
      const due = stack.nextTimeout();
      if (due !== undefined && due <= now) stack.onTimer(now);
    } catch (e) {
      thrown++;
      throw e;
    }
  }
  assert.equal(thrown, 0);
  assert.equal(stack.stats.dropReasons.get(INTERNAL_ERROR), undefined, 'no packet hit a bug');
  assert.ok(daemon.events > 2000, `the fuzz reached the daemon (${daemon.events} events)`);
  assert.ok(daemon.closed.size > 100, `connections came and went (${daemon.closed.size})`);
  for (const reason of ['normal', 'reset', 'refused', 'unreachable']) assert.ok(daemon.reasons.has(reason), `some connections ended ${reason}`);
  assert.ok(daemon.dataEvents > 500, `data flowed (${daemon.dataEvents} tcpData events)`);
  assert.ok(stack.stats.dropped > 1000, 'most hostile packets were dropped');
  assert.ok(daemon.outputs > 1000);
  // Once the peer falls silent, time ends everything that waits for it (retransmissions,
  // pending SYNs, TIME_WAIT, UDP); what remains are idle connections with nothing owed.
  for (let t = 0; t < 500 && stack.nextTimeout() !== undefined; t++) {
    now = Math.max(now + 1000, stack.nextTimeout()!);
    stack.onTimer(now);
  }
  assert.equal(stack.nextTimeout(), undefined);
  assert.equal(stack.flowCount.udp, 0, 'idle UDP flows expired');
  for (const id of daemon.live) {
    const info = stack.tcpInfo(id);
    assert.ok(info && ['ESTABLISHED', 'CLOSE_WAIT', 'FIN_WAIT_2'].includes(info.state), `flow ${id} idles in ${info?.state}`);
    assert.equal(info.bufferedAmount, 0);
  }
  stack.close();
  assert.deepEqual(stack.flowCount, { tcp: 0, udp: 0 }, 'nothing is left behind');
  assert.equal(daemon.live.size, 0, 'every tcpConnect got its tcpClosed');
}

test('random bytes straight into a stack that does not verify checksums: no throw', () => {
  const rand = prng(99);
  const daemon = new FuzzDaemon(rand);
  const stack = new NetStack(daemon, { clock: () => 0, verifyChecksums: false, random: rand });
  daemon.stack = stack;
  for (let i = 0; i < 20_000; i++) {
    const p = randomBytes(rand, rand() % 200);
    if (p.length > 0) p[0] = (rand() % 2 ? 0x45 : 0x60) | (rand() & 0x0f);
    if (p.length > 9 && rand() % 2) p[9] = rand() % 2 ? 6 : 17;
    if (p.length > 6 && rand() % 2) p[6] = rand() % 2 ? 6 : 17;
    stack.input(p);
  }
  assert.ok(stack.stats.dropped > 10_000);
  assert.equal(stack.stats.dropReasons.get(INTERNAL_ERROR), undefined, 'no packet hit a bug');
});
