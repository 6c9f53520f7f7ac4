/**
 * DNS answer latency as a program on the workstation sees it, for the scale benchmark
 * (scaleBench.ts): A queries over UDP to the first nameserver of /etc/resolv.conf — the resolver
 * the connected daemon set up — one at a time, each name twice in a row: the first query (the
 * daemon asks the manager, which asks the cluster DNS) and at once the same again (the daemon's
 * answer cache). Run in the workstation namespace:
 *   test/cluster/ws node --import tsx test/bench/scaleDns.ts '<plan JSON>'
 * The plan: { warmup: string[], batches: string[][], pauseMs, timeoutMs }. The warm-up names are
 * asked once each and not counted; between batches it waits pauseMs, so that names asked again in
 * a later batch are no longer cached anywhere.
 * Stdout, one JSON line: { server, firstMs: number[], repeatMs: number[], failures: {count, examples} }
 * with the times of the queries answered with an A record; every other outcome (timeout, an rcode
 * other than NOERROR, no A record) is a failure and has no time.
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import dnsPacket from 'dns-packet';

export interface DnsPlan {
  warmup: string[];
  batches: string[][];
  pauseMs: number;
  timeoutMs: number;
}

export interface DnsProbeResult {
  server: string;
  firstMs: number[];
  repeatMs: number[];
  failures: { count: number; examples: string[] };
}

function nameserver(): string {
  const conf = readFileSync('/etc/resolv.conf', 'utf8');
  const server = /^\s*nameserver\s+(\S+)/m.exec(conf)?.[1];
  if (!server) throw new Error(`/etc/resolv.conf names no nameserver:\n${conf}`);
  return server;
}

class Querier {
  private nextId = 1;
  private pending?: { id: number; done: (answer: dnsPacket.Packet) => void };

  constructor(
    private readonly socket: dgram.Socket,
    private readonly server: string,
  ) {
    socket.on('message', (msg) => {
      let answer: dnsPacket.Packet;
      try {
        answer = dnsPacket.decode(msg);
      } catch {
        return;
      }
      if (this.pending && answer.id === this.pending.id) this.pending.done(answer);
    });
  }

  /** Milliseconds to an A answer, or the reason there was none. */
  ask(name: string, timeoutMs: number): Promise<number | string> {
    const id = this.nextId;
    this.nextId = (this.nextId % 65535) + 1;
    const query = dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', class: 'IN', name }] });
    return new Promise((resolve) => {
      const t0 = performance.now();
      const timer = setTimeout(() => {
        this.pending = undefined;
        resolve(`${name}: no answer in ${timeoutMs} ms`);
      }, timeoutMs);
      this.pending = {
        id,
        done: (answer) => {
          const ms = performance.now() - t0;
          clearTimeout(timer);
          this.pending = undefined;
          const rcode = (answer as { rcode?: string }).rcode ?? 'NOERROR';
          if (rcode !== 'NOERROR') resolve(`${name}: ${rcode}`);
          else if (!(answer.answers ?? []).some((a) => a.type === 'A')) resolve(`${name}: NOERROR without an A record`);
          else resolve(ms);
        },
      };
      this.socket.send(query, 53, this.server);
    });
  }
}

async function probe(plan: DnsPlan): Promise<DnsProbeResult> {
  const server = nameserver();
  const socket = dgram.createSocket(net.isIPv6(server) ? 'udp6' : 'udp4');
  const querier = new Querier(socket, server);
  const result: DnsProbeResult = { server, firstMs: [], repeatMs: [], failures: { count: 0, examples: [] } };
  const record = (outcome: number | string, into: number[]): void => {
    if (typeof outcome === 'number') {
      into.push(outcome);
    } else {
      result.failures.count++;
      if (result.failures.examples.length < 5) result.failures.examples.push(outcome);
    }
  };
  try {
    for (const name of plan.warmup) await querier.ask(name, plan.timeoutMs);
    for (const [i, batch] of plan.batches.entries()) {
      if (i > 0) await new Promise((r) => setTimeout(r, plan.pauseMs));
      for (const name of batch) {
        record(await querier.ask(name, plan.timeoutMs), result.firstMs);
        record(await querier.ask(name, plan.timeoutMs), result.repeatMs);
      }
    }
  } finally {
    socket.close();
  }
  return result;
}

// A script, not a library: scaleBench.ts imports its types only (import type loads nothing).
const plan = JSON.parse(process.argv[2] ?? '{}') as Partial<DnsPlan>;
if (!Array.isArray(plan.batches) || !Array.isArray(plan.warmup) || !(Number(plan.timeoutMs) > 0)) {
  process.stderr.write(`usage: scaleDns.ts '{"warmup": [NAME…], "batches": [[NAME…]…], "pauseMs": MS, "timeoutMs": MS}'\n`);
  process.exit(2);
}
probe(plan as DnsPlan).then(
  (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
  (err: unknown) => {
    process.stderr.write(`scale dns: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
