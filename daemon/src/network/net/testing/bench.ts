/**
 * In-memory throughput of the stack: a local program (stack b, dialling) uploads to the daemon's
 * stack (a) through SimNet, both stacks doing everything they do on the packet path (parse,
 * verify checksums, reassemble, ACK, build and checksum every segment). Wall-clock time, so it
 * measures CPU cost per byte. Run: node --import tsx daemon/src/network/net/testing/bench.ts [MB] [MTU]
 */
import { LOCAL4, SERVICE4, SimNet } from './simNet.js';

function transfer(megabytes: number, mtu: number): { mbPerSec: number; packets: number; acks: number; ms: number } {
  const net = new SimNet({ a: { mtu }, b: { mtu } });
  net.a.keepData = false;
  const id = net.b.stack.tcpDial(LOCAL4, SERVICE4);
  net.run(() => net.b.established.has(id));
  const aid = net.a.connects[0]!.id;
  const total = megabytes * 1_000_000;
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  let sent = 0;
  const pump = (): void => {
    while (sent < total) {
      const n = Math.min(chunk.length, total - sent);
      sent += n;
      if (!net.b.stack.tcpWrite(id, n === chunk.length ? chunk : chunk.subarray(0, n))) return;
    }
  };
  const drains = net.b.drains;
  const t0 = performance.now();
  pump();
  let seenDrains = 0;
  net.run(() => {
    if (drains.length > seenDrains) {
      seenDrains = drains.length;
      pump();
    }
    return (net.a.receivedBytes.get(aid) ?? 0) >= total;
  }, 1e9);
  const ms = performance.now() - t0;
  if (net.a.receivedBytes.get(aid) !== total) throw new Error('transfer incomplete');
  return { mbPerSec: total / 1e6 / (ms / 1000), packets: net.counters.toA.packets, acks: net.counters.toB.packets, ms };
}

const mb = Number(process.argv[2] ?? 100);
const mtu = Number(process.argv[3] ?? 1500);
transfer(5, mtu); // warm up the JIT
const r = transfer(mb, mtu);
process.stdout.write(`${mb} MB at MTU ${mtu}: ${r.ms.toFixed(0)} ms, ${r.mbPerSec.toFixed(0)} MB/s (${((r.mbPerSec * 8) / 1000).toFixed(2)} Gbit/s), ${r.packets} data packets, ${r.acks} ACKs\n`);
