/**
 * The stack through real packets: `a` is the daemon's stack, `b` stands in for the local kernel
 * (the same TCP code, dialling), joined by SimNet's impairable link on a virtual clock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { internetChecksum, pseudoHeaderSum } from './checksum.js';
import { parseIcmp } from './icmp.js';
import { parseIpPacket } from './ipPacket.js';
import { PacketWriter } from './packetWriter.js';
import { seqAdd } from './seq.js';
import { parseTcp, TCP_ACK, TCP_RST, TCP_SYN, type TcpSegment } from './tcp.js';
import { prng, randomBytes } from './testing/prng.js';
import { LOCAL4, LOCAL6, SERVICE4, SERVICE6, SimNet, type LinkOptions, type SimApp } from './testing/simNet.js';
import type { Endpoint, FlowId } from './types.js';
import { parseUdp } from './udp.js';

function tcpOf(packet: Buffer): TcpSegment | undefined {
  const ip = parseIpPacket(packet);
  if (!ip.ok || ip.protocol !== 6) return undefined;
  const seg = parseTcp(ip.payload);
  return seg.ok ? seg : undefined;
}

/** Dials from b and, with the default policy, gets accepted by a. Returns both flow ids. */
function connect(net: SimNet, local: Endpoint = LOCAL4, remote: Endpoint = SERVICE4): { b: FlowId; a: FlowId } {
  const b = net.b.stack.tcpDial(local, remote);
  assert.ok(net.run(() => net.b.established.has(b) || net.b.closed.has(b)), 'handshake finished');
  const a = net.a.connects.at(-1)!.id;
  return { a, b };
}

/** Writes `data` in 64 KiB chunks, honouring backpressure, then optionally shuts down. */
function pump(app: SimApp, id: FlowId, data: Buffer, shutdown = true): () => void {
  let offset = 0;
  let drains = app.drains.length;
  const step = (): void => {
    if (app.drains.length > drains) drains = app.drains.length;
    while (offset < data.length) {
      const chunk = data.subarray(offset, offset + 65536);
      offset += chunk.length;
      if (!app.stack.tcpWrite(id, chunk)) return;
    }
    if (shutdown && offset === data.length) {
      offset++;
      app.stack.tcpShutdown(id);
    }
  };
  step();
  // Resume on every drain.
  return () => {
    if (app.drains.length > drains) step();
  };
}

/** Sends `up` from the local program and `down` from the daemon at once; checks both streams. */
function exchange(net: SimNet, up: Buffer, down: Buffer, limitMs = 600_000): { a: FlowId; b: FlowId } {
  const ids = connect(net);
  const pa = pump(net.a, ids.a, down);
  const pb = pump(net.b, ids.b, up);
  const done = net.run(() => {
    pa();
    pb();
    return net.a.ended.has(ids.a) && net.b.ended.has(ids.b);
  }, limitMs);
  assert.ok(done, `transfer finished (a got ${net.a.receivedBytes.get(ids.a) ?? 0} of ${up.length}, b got ${net.b.receivedBytes.get(ids.b) ?? 0} of ${down.length})`);
  assert.ok(net.a.stream(ids.a).equals(up), 'every byte from the local program arrived, in order');
  assert.ok(net.b.stream(ids.b).equals(down), 'every byte from the daemon arrived, in order');
  return ids;
}

test('a SYN is held while the daemon dials; accept completes the handshake and data flows both ways', () => {
  const seen: TcpSegment[] = [];
  let accept: FlowId | undefined;
  const net = new SimNet({ toB: { tap: (p) => void (tcpOf(p) && seen.push(tcpOf(p)!)) } });
  net.a.onConnect = (id) => {
    accept = id;
  };
  const b = net.b.stack.tcpDial(LOCAL4, SERVICE4);
  net.advance(500);
  assert.equal(net.a.connects.length, 1);
  assert.deepEqual(net.a.connects[0]!.src, LOCAL4);
  assert.deepEqual(net.a.connects[0]!.dst, SERVICE4);
  assert.equal(seen.length, 0, 'no SYN-ACK before the daemon accepts');
  assert.equal(net.a.stack.tcpInfo(accept!)?.state, 'CONNECTING');
  net.a.stack.accept(accept!);
  assert.ok(net.run(() => net.b.established.has(b)));
  assert.equal(seen[0]!.flags, TCP_SYN | TCP_ACK);
  assert.equal(seen[0]!.options.mss, 1460);
  assert.ok(net.a.established.has(accept!) || net.run(() => net.a.established.has(accept!)));
  net.b.stack.tcpWrite(b, Buffer.from('GET / HTTP/1.1\r\n\r\n'));
  net.a.stack.tcpWrite(accept!, Buffer.from('HTTP/1.1 200 OK\r\n\r\n'));
  net.run(() => net.a.receivedBytes.get(accept!) === 18 && net.b.receivedBytes.get(b) === 19);
  assert.equal(net.a.stream(accept!).toString(), 'GET / HTTP/1.1\r\n\r\n');
  assert.equal(net.b.stream(b).toString(), 'HTTP/1.1 200 OK\r\n\r\n');
});

test('refuse(refused) answers the SYN with RST at once: the client sees "connection refused"', () => {
  const rsts: TcpSegment[] = [];
  let syn: TcpSegment | undefined;
  const net = new SimNet({
    toA: { tap: (p) => void (syn ??= tcpOf(p)) },
    toB: { tap: (p) => void (tcpOf(p) && rsts.push(tcpOf(p)!)) },
  });
  net.a.onConnect = (id) => net.a.stack.refuse(id, 'refused');
  const b = net.b.stack.tcpDial(LOCAL4, SERVICE4);
  assert.ok(net.run(() => net.b.closed.has(b)));
  assert.equal(net.b.closed.get(b), 'refused');
  assert.ok(net.now <= 2, `refused within one round trip (t=${net.now} ms)`);
  assert.equal(rsts.length, 1);
  assert.equal(rsts[0]!.flags, TCP_RST | TCP_ACK);
  assert.equal(rsts[0]!.ack, seqAdd(syn!.seq, 1));
  assert.equal(net.a.closed.get(net.a.connects[0]!.id), 'refused');
  assert.deepEqual(net.a.stack.flowCount, { tcp: 0, udp: 0 });
});

test('refuse(unreachable) answers with ICMP host unreachable quoting the SYN', () => {
  const icmps: Buffer[] = [];
  const net = new SimNet({ toB: { tap: (p) => void (parseIpPacket(p).ok && p[9] === 1 && icmps.push(p)) } });
  net.a.onConnect = (id) => net.a.stack.refuse(id, 'unreachable');
  net.b.stack.tcpDial(LOCAL4, SERVICE4);
  net.advance(100);
  assert.equal(icmps.length, 1);
  const ip = parseIpPacket(icmps[0]!);
  assert.ok(ip.ok);
  assert.equal(ip.src.join('.'), SERVICE4.address);
  assert.equal(ip.dst.join('.'), LOCAL4.address);
  const m = parseIcmp(ip.payload);
  assert.ok(m.ok);
  assert.deepEqual([m.type, m.code], [3, 1]);
  const quoted = m.body;
  assert.equal(quoted.readUInt16BE(20), LOCAL4.port, 'the quote carries the SYN ports');
  assert.equal(quoted.readUInt16BE(22), SERVICE4.port);
  assert.equal(net.a.closed.get(net.a.connects[0]!.id), 'unreachable');
});

test('10 MB each way at once with window scaling, byte for byte', () => {
  const rand = prng(10);
  const net = new SimNet();
  const ids = exchange(net, randomBytes(rand, 10_000_000), randomBytes(rand, 10_000_000));
  const b = net.b.stack.tcpConnection(ids.b)!;
  const a = net.a.stack.tcpConnection(ids.a)!;
  assert.ok(b.stats.maxSendWindow > 65535, `the daemon offered a scaled window (${b.stats.maxSendWindow})`);
  assert.ok(b.stats.maxInFlight > 65535, `more than 64 KiB was in flight (${b.stats.maxInFlight})`);
  assert.ok(a.stats.maxInFlight > 65535, `and the other way (${a.stats.maxInFlight})`);
  assert.equal(b.stats.retransmits + a.stats.retransmits, 0, 'a clean link needs no retransmission');
});

test('as the daemon runs it (reused output memory, no input checksum check, MTU 65000): lossy, reordering link, byte for byte', () => {
  const rand = prng(65);
  const daemon = { mtu: 65000, reuseOutputMemory: true, verifyChecksums: false };
  const link: LinkOptions = { dropEvery: 11, reorderEvery: 5, duplicateEvery: 7 };
  const net = new SimNet({ a: daemon, b: { mtu: 65000 }, toA: link, toB: link });
  const ids = exchange(net, randomBytes(rand, 3_000_000), randomBytes(rand, 3_000_000));
  const a = net.a.stack.tcpConnection(ids.a)!;
  assert.ok(a.stats.retransmits > 0, 'retransmissions were rebuilt in reused memory too');
  assert.equal(net.b.stack.stats.dropReasons.get('tcp: bad checksum'), undefined, 'no segment was damaged by reuse');
});

/** Where a TCP/UDP packet's checksum field is, with the sum of its pseudo-header; else undefined. */
function l4Checksum(packet: Buffer): { field: number; start: number; pseudo: number } | undefined {
  const ip = parseIpPacket(packet, false);
  if (!ip.ok || (ip.protocol !== 6 && ip.protocol !== 17)) return undefined;
  const start = packet.length - ip.payload.length;
  return { field: start + (ip.protocol === 6 ? 16 : 6), start, pseudo: pseudoHeaderSum(ip.src, ip.dst, ip.protocol, ip.payload.length) };
}

/** What the kernel hands an offloading device: only the pseudo-header sum in the field. */
function leavePartialSum(packet: Buffer): boolean {
  const c = l4Checksum(packet);
  if (c) packet.writeUInt16BE(c.pseudo, c.field);
  return c !== undefined;
}

test('checksum offload: partial sums in are taken, sums out are left to the device; data intact both ways', () => {
  // The links play the offloading TUN device: towards the daemon (a) the kernel leaves only the
  // pseudo-header sum in the field; from it, the device completes the sum (here, so that b, which
  // verifies, can check it).
  let fromDaemon = 0;
  let unsummed = 0;
  let partialIn = 0;
  const net = new SimNet({
    a: { mtu: 65000, reuseOutputMemory: true, checksumOffload: true },
    b: { mtu: 65000 },
    toB: {
      tap: (p) => {
        const c = l4Checksum(p);
        if (!c) return;
        fromDaemon++;
        if (p.readUInt16BE(c.field) === 0) unsummed++;
        p.writeUInt16BE(internetChecksum(p, c.start, p.length, c.pseudo), c.field);
      },
    },
    toA: { tap: (p) => void (leavePartialSum(p) && partialIn++) },
  });
  const rand = prng(77);
  exchange(net, randomBytes(rand, 1_000_000), randomBytes(rand, 1_000_000));
  assert.ok(fromDaemon >= 10 && unsummed === fromDaemon, `the daemon summed none of its ${fromDaemon} segments (${unsummed} left at 0)`);
  assert.ok(partialIn >= 10);
  assert.equal(net.a.stack.stats.dropReasons.get('tcp: bad checksum'), undefined, 'partial sums are not verified');
  assert.equal(net.b.stack.stats.dropReasons.get('tcp: bad checksum'), undefined, 'completed sums are right');

  // Without offload, the same partial sums are bad checksums.
  const plain = new SimNet({ toA: { tap: (p) => void leavePartialSum(p) } });
  plain.b.stack.tcpDial(LOCAL4, SERVICE4);
  plain.advance(10);
  assert.equal(plain.a.connects.length, 0);
  assert.ok((plain.a.stack.stats.dropReasons.get('tcp: bad checksum') ?? 0) > 0);
});

test('reused output memory: the segments of later outputs are built where earlier ones were', () => {
  const buffers = new Set<ArrayBufferLike>();
  let outputs = 0;
  const net = new SimNet({ a: { reuseOutputMemory: true } });
  const ids = connect(net);
  const output = net.a.output.bind(net.a);
  net.a.output = (packets) => {
    outputs++;
    for (const p of packets) buffers.add(p.buffer);
    output(packets);
  };
  const done = pump(net.a, ids.a, randomBytes(prng(1), 1_000_000));
  assert.ok(net.run(() => (done(), net.b.ended.has(ids.b))));
  assert.ok(outputs > 10, `${outputs} outputs`);
  assert.equal(buffers.size, 1, 'one slab for all of them');
});

test('loss of every 7th packet both ways is repaired by retransmission', () => {
  const rand = prng(7);
  const net = new SimNet({ toA: { dropEvery: 7 }, toB: { dropEvery: 7 } });
  const ids = exchange(net, randomBytes(rand, 2_000_000), randomBytes(rand, 1_000_000));
  const b = net.b.stack.tcpConnection(ids.b)!;
  const a = net.a.stack.tcpConnection(ids.a)!;
  assert.ok(net.counters.toA.dropped > 100);
  assert.ok(a.stats.retransmits > 0 && b.stats.retransmits > 0);
  assert.ok(a.stats.fastRetransmits + b.stats.fastRetransmits > 0, 'duplicate ACKs trigger fast retransmits');
});

test('duplicated and reordered packets do not corrupt either stream', () => {
  const rand = prng(3);
  const link: LinkOptions = { duplicateEvery: 5, reorderEvery: 3, latencyMs: 2 };
  const net = new SimNet({ toA: link, toB: link });
  const ids = exchange(net, randomBytes(rand, 2_000_000), randomBytes(rand, 2_000_000));
  const a = net.a.stack.tcpConnection(ids.a)!;
  assert.ok(net.counters.toA.duplicated > 100 && net.counters.toA.reordered > 100);
  assert.ok(a.stats.outOfOrderSegments > 0, 'reordering was seen');
  assert.ok(a.stats.duplicateSegments > 0, 'duplicates were dropped');
});

test('a slow tunnel closes the window: the local sender waits, probes, and resumes when consumed', () => {
  const rand = prng(11);
  const net = new SimNet({ a: { tcp: { receiveWindow: 256 * 1024 } } });
  net.a.autoConsume = false;
  const ids = connect(net);
  const data = randomBytes(rand, 1_000_000);
  const resume = pump(net.b, ids.b, data);
  net.run(() => (resume(), false), net.now + 10_000);
  const held = net.a.receivedBytes.get(ids.a) ?? 0;
  assert.ok(held <= 256 * 1024 + 32, `no more than the window was delivered (${held})`);
  assert.ok(held >= 256 * 1024 - 1460, `the window was used (${held})`);
  const sender = net.b.stack.tcpConnection(ids.b)!;
  assert.ok(sender.stats.zeroWindowProbes > 0, 'the local sender probed the zero window');
  assert.ok(sender.bufferedAmount > 0);
  // The tunnel catches up, bit by bit.
  assert.ok(
    net.run(() => {
      resume();
      net.a.consumeAll(ids.a);
      return net.a.ended.has(ids.a);
    }),
  );
  assert.ok(net.a.stream(ids.a).equals(data));
});

test('backpressure towards the daemon: tcpWrite returns false, then tcpDrain', () => {
  // The local program's window (32 KiB) is far below what the daemon writes.
  const net = new SimNet({ a: { tcp: { sendBufferSize: 100_000 } }, b: { tcp: { receiveWindow: 32 * 1024 } } });
  net.b.autoConsume = false;
  const ids = connect(net);
  let accepted = 0;
  let writes = 0;
  while (net.a.stack.tcpWrite(ids.a, Buffer.alloc(16_384, 1))) {
    accepted += 16_384;
    if (++writes > 1000) assert.fail('tcpWrite never pushed back');
  }
  net.advance(5_000);
  assert.equal(net.a.drains.length, 0, 'no drain while the local program reads nothing');
  assert.ok(net.run(() => {
    net.b.consumeAll(ids.b);
    return net.a.drains.includes(ids.a);
  }));
  assert.ok(accepted >= 16_384 * 6);
});

test('half-close both ways: the local program finishes first, the daemon keeps answering', () => {
  const net = new SimNet();
  const ids = connect(net);
  net.b.stack.tcpWrite(ids.b, Buffer.from('request'));
  net.b.stack.tcpShutdown(ids.b);
  assert.ok(net.run(() => net.a.ended.has(ids.a)));
  assert.equal(net.a.stream(ids.a).toString(), 'request');
  assert.equal(net.a.stack.tcpInfo(ids.a)?.state, 'CLOSE_WAIT');
  net.a.stack.tcpWrite(ids.a, Buffer.from('response'));
  net.a.stack.tcpShutdown(ids.a);
  assert.ok(net.run(() => net.a.closed.has(ids.a) && net.b.closed.has(ids.b)));
  assert.equal(net.b.stream(ids.b).toString(), 'response');
  assert.equal(net.a.closed.get(ids.a), 'normal');
  assert.equal(net.b.closed.get(ids.b), 'normal');
  net.advance(10_000);
  assert.deepEqual(net.a.stack.flowCount, { tcp: 0, udp: 0 }, 'TIME_WAIT and LAST_ACK flows are gone');
  assert.deepEqual(net.b.stack.flowCount, { tcp: 0, udp: 0 });
});

test('a reset from the local program is reported; tcpAbort resets the local program', () => {
  const net = new SimNet();
  const one = connect(net);
  net.b.stack.tcpAbort(one.b);
  assert.ok(net.run(() => net.a.closed.has(one.a)));
  assert.equal(net.a.closed.get(one.a), 'reset');
  const two = connect(net, { ...LOCAL4, port: 40001 });
  net.a.stack.tcpAbort(two.a);
  assert.ok(net.run(() => net.b.closed.has(two.b)));
  assert.equal(net.b.closed.get(two.b), 'reset');
  assert.equal(net.a.closed.get(two.a), 'aborted');
});

test('segments for unknown connections are answered with RST', () => {
  const out: TcpSegment[] = [];
  const net = new SimNet({ toB: { tap: (p) => void (tcpOf(p) && out.push(tcpOf(p)!)) } });
  const w = new PacketWriter(Buffer.from([10, 0, 0, 2]), Buffer.from([10, 96, 0, 10]));
  net.inject('a', w.tcp({ srcPort: 40000, dstPort: 80, seq: 1234, ack: 98765, flags: TCP_ACK, window: 100 }, Buffer.from('stale'), 0, 5));
  net.inject('a', w.tcp({ srcPort: 40000, dstPort: 80, seq: 1, ack: 0, flags: TCP_RST, window: 0 }));
  net.advance(10);
  assert.equal(out.length, 1, 'a RST is never answered');
  assert.equal(out[0]!.flags, TCP_RST);
  assert.equal(out[0]!.seq, 98765, 'the RST takes its sequence number from the ACK');
  assert.equal(net.a.connects.length, 0);
});

test('a SYN the daemon never answers times out with ICMP unreachable; its retransmissions dial once', () => {
  const icmps: Buffer[] = [];
  const net = new SimNet({ toB: { tap: (p) => void (p[9] === 1 && icmps.push(p)) } });
  net.a.onConnect = () => {};
  const b = net.b.stack.tcpDial(LOCAL4, SERVICE4);
  net.advance(29_000);
  assert.equal(net.a.connects.length, 1, 'retransmitted SYNs do not start new dials');
  assert.equal(icmps.length, 0);
  net.advance(2_000);
  assert.equal(net.a.closed.get(net.a.connects[0]!.id), 'connectTimeout');
  assert.equal(icmps.length, 1);
  assert.equal(net.b.closed.has(b), false, 'the simulated kernel ignores ICMP; a real one gives up at once');
});

test('UDP: datagrams become flows, replies go back, refusal is ICMP port unreachable, idle flows end', () => {
  const toB: Buffer[] = [];
  const net = new SimNet({ toB: { tap: (p) => void toB.push(p) }, a: { udpIdleTimeoutMs: 60_000 } });
  const dns: Endpoint = { address: '10.96.0.10', port: 53 };
  const local: Endpoint = { address: '10.0.0.2', port: 5353 };
  net.b.stack.udpSendTo(local, dns, Buffer.from('query-1'));
  net.b.stack.udpSendTo(local, dns, Buffer.from('query-2'));
  net.advance(5);
  assert.equal(net.a.udp.length, 2);
  const flow = net.a.udp[0]!.id;
  assert.equal(net.a.udp[1]!.id, flow, 'one flow per 5-tuple');
  assert.deepEqual(net.a.udp[0]!.src, local);
  assert.deepEqual(net.a.udp[0]!.dst, dns);
  assert.equal(net.a.udp[1]!.data.toString(), 'query-2');
  net.a.stack.udpSend(flow, Buffer.from('answer'));
  net.advance(5);
  const reply = parseIpPacket(toB.at(-1)!);
  assert.ok(reply.ok);
  const d = parseUdp(reply.payload);
  assert.ok(d.ok);
  assert.deepEqual([reply.src.join('.'), d.srcPort, reply.dst.join('.'), d.dstPort], ['10.96.0.10', 53, '10.0.0.2', 5353]);
  assert.equal(d.payload.toString(), 'answer');
  assert.equal(net.b.udp.at(-1)!.data.toString(), 'answer', 'the local side received it');

  net.b.stack.udpSendTo({ ...local, port: 5354 }, { ...dns, port: 9 }, Buffer.from('nobody home'));
  net.advance(5);
  const refusedFlow = net.a.udp.at(-1)!.id;
  net.a.stack.udpRefuse(refusedFlow);
  net.advance(5);
  const icmp = parseIpPacket(toB.at(-1)!);
  assert.ok(icmp.ok && icmp.protocol === 1);
  const m = parseIcmp(icmp.payload);
  assert.ok(m.ok);
  assert.deepEqual([m.type, m.code], [3, 3]);
  assert.equal(m.body.readUInt16BE(22), 9, 'the quote names the refused port');
  assert.equal(net.a.udpEnded.get(refusedFlow), 'refused');

  net.advance(59_000);
  assert.equal(net.a.udpEnded.has(flow), false, 'the reply kept the flow alive');
  net.advance(2_000);
  assert.equal(net.a.udpEnded.get(flow), 'idle');
  assert.equal(net.a.stack.flowCount.udp, 0);
});

test('IPv6: handshake, data both ways and close through the stack', () => {
  const rand = prng(6);
  const net = new SimNet();
  const ids = connect(net, LOCAL6, SERVICE6);
  assert.deepEqual(net.a.connects[0]!.src, LOCAL6);
  assert.deepEqual(net.a.connects[0]!.dst, SERVICE6);
  assert.equal(net.b.stack.tcpConnection(ids.b)!.sendMss, 1500 - 60 - 12, 'IPv6 MSS leaves room for the bigger header');
  const up = randomBytes(rand, 300_000);
  const down = randomBytes(rand, 300_000);
  const pa = pump(net.a, ids.a, down);
  const pb = pump(net.b, ids.b, up);
  assert.ok(net.run(() => (pa(), pb(), net.a.closed.has(ids.a) && net.b.closed.has(ids.b))));
  assert.ok(net.a.stream(ids.a).equals(up));
  assert.ok(net.b.stream(ids.b).equals(down));
});

test('a new SYN may reuse a 4-tuple in TIME_WAIT', () => {
  const net = new SimNet();
  const ids = connect(net);
  net.a.stack.tcpShutdown(ids.a); // the daemon closes first: a ends in TIME_WAIT
  assert.ok(net.run(() => net.b.ended.has(ids.b)));
  net.b.stack.tcpShutdown(ids.b);
  assert.ok(net.run(() => net.a.stack.tcpInfo(ids.a)?.state === 'TIME_WAIT'));
  const rcvNext = net.a.stack.tcpConnection(ids.a)!.receiveNext;
  const w = new PacketWriter(Buffer.from([10, 0, 0, 2]), Buffer.from([10, 96, 0, 10]));
  net.inject('a', w.tcp({ srcPort: LOCAL4.port, dstPort: SERVICE4.port, seq: seqAdd(rcvNext, 100_000), ack: 0, flags: TCP_SYN, window: 65535, options: { mss: 1460 } }));
  assert.equal(net.a.connects.length, 2, 'a new connection attempt');
  assert.equal(net.a.stack.tcpInfo(ids.a), undefined, 'the old connection is gone');
});

test('drops fragments, bad checksums, multicast and other protocols, with reasons', () => {
  const net = new SimNet();
  const w = new PacketWriter(Buffer.from([10, 0, 0, 2]), Buffer.from([10, 96, 0, 10]));
  const syn = w.tcp({ srcPort: 1, dstPort: 2, seq: 0, ack: 0, flags: TCP_SYN, window: 1 });
  const badSum = Buffer.from(syn);
  badSum[badSum.length - 1] ^= 0xff;
  net.inject('a', badSum);
  const frag = Buffer.from(syn);
  frag.writeUInt16BE(0x2000, 6);
  frag.writeUInt16BE(0, 10);
  frag.writeUInt16BE(~frag.subarray(0, 20).reduce((s, _, i, b) => (i % 2 ? s : s + b.readUInt16BE(i)), 0) & 0xffff, 10);
  net.inject('a', frag);
  net.inject('a', new PacketWriter(Buffer.from([10, 0, 0, 2]), Buffer.from([224, 0, 0, 251])).udp(5353, 5353, Buffer.from('mdns')));
  const icmpEcho = new PacketWriter(Buffer.from([10, 0, 0, 2]), Buffer.from([10, 96, 0, 10])).icmp(8, 0, 0, Buffer.alloc(8));
  net.inject('a', icmpEcho);
  net.inject('a', Buffer.from([0x45]));
  const reasons = net.a.stack.stats.dropReasons;
  assert.equal(reasons.get('tcp: bad checksum'), 1);
  assert.equal(reasons.get('ipv4: fragment'), 1, JSON.stringify([...reasons]));
  assert.equal(reasons.get('ip: multicast, broadcast or unspecified address'), 1);
  assert.equal(reasons.get('icmp: not handled'), 1);
  assert.equal(reasons.get('ipv4: truncated header'), 1);
  assert.equal(net.a.stack.stats.dropped, 5);
  assert.equal(net.a.connects.length + net.a.udp.length, 0);
  assert.equal(net.counters.toB.packets, 0, 'nothing was answered');
});

test('an echo server writing from inside tcpData: replies carry the ACKs', () => {
  const rand = prng(12);
  let pureAcks = 0;
  let dataSegments = 0;
  const net = new SimNet({
    toB: {
      tap: (p) => {
        const s = tcpOf(p);
        if (s && s.payload.length === 0 && s.flags === TCP_ACK) pureAcks++;
        else if (s && s.payload.length > 0) dataSegments++;
      },
    },
  });
  net.a.onData = (id, data) => net.a.stack.tcpWrite(id, Buffer.from(data));
  const ids = connect(net);
  const messages: Buffer[] = [];
  for (let i = 0; i < 200; i++) {
    const m = randomBytes(rand, 1 + (rand() % 1000));
    messages.push(m);
    net.b.stack.tcpWrite(ids.b, m);
    const expected = messages.reduce((n, x) => n + x.length, 0);
    assert.ok(net.run(() => net.b.receivedBytes.get(ids.b) === expected));
  }
  assert.ok(net.b.stream(ids.b).equals(Buffer.concat(messages)));
  assert.ok(pureAcks < dataSegments / 4, `${pureAcks} pure ACKs for ${dataSegments} echoed segments`);
});

test('close() resets every connection and forgets every flow', () => {
  const net = new SimNet();
  const one = connect(net);
  const two = connect(net, { ...LOCAL4, port: 40001 });
  net.b.stack.udpSendTo(LOCAL4, { ...SERVICE4, port: 53 }, Buffer.from('q'));
  net.advance(5);
  net.a.stack.close();
  assert.equal(net.a.closed.get(one.a), 'aborted');
  assert.equal(net.a.closed.get(two.a), 'aborted');
  assert.equal(net.a.udpEnded.size, 1);
  assert.ok(net.run(() => net.b.closed.has(one.b) && net.b.closed.has(two.b)));
  assert.equal(net.b.closed.get(one.b), 'reset');
  assert.deepEqual(net.a.stack.flowCount, { tcp: 0, udp: 0 });
});
