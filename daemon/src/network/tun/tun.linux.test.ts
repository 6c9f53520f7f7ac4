/**
 * The Linux TUN device against the real kernel, in a network namespace of its own
 * (tp-tuntest-<pid>, deleted at the end): a child process (tunTestChild.ts) holds the device in the
 * namespace and relays what it sees; the checks are made here. Needs root and the built addon.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { findTunAddon } from './tunAddon.js';
import {
  IPPROTO_ICMP,
  icmpEchoPacket,
  inetChecksum,
  parseIpv4,
  pseudoHeaderSum,
  parseUdp,
  udpPacket,
  type ParsedIpv4,
} from './tunTestPackets.js';

const NS = `tp-tuntest-${process.pid}`;
const DEV = 'tptest0';
const LOCAL = '10.99.0.1';
const PEER = '10.99.0.2';
const REPO = path.resolve(__dirname, '..', '..', '..', '..');
const CHILD = path.join(__dirname, 'tunTestChild.ts');

function whySkip(): string | false {
  if (process.platform !== 'linux') return 'TUN tests run on Linux only';
  if (process.getuid?.() !== 0) return 'TUN tests need root (they create a network namespace and a TUN device)';
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing (modprobe tun)';
  if (!findTunAddon()) return 'the TUN addon is not built: run daemon/native/build.sh';
  if (spawnSync('ip', ['-V']).status !== 0) return 'iproute2 (ip) is not installed';
  return false;
}

function ip(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function deleteNamespace(): void {
  if (ip('netns', 'list').out.split('\n').some((l) => l.split(' ')[0] === NS)) ip('netns', 'del', NS);
}

interface ChildEvent {
  event: string;
  packets?: string[];
  port?: number;
  from?: string;
  data?: string;
  message?: string;
}

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
  code?: string;
  written?: number;
}

/** The device-holding process in the namespace, driven one command at a time. */
class NamespaceChild {
  readonly events: ChildEvent[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly replies = new Map<number, (r: Reply) => void>();
  private readonly watchers = new Set<() => void>();
  private nextId = 1;

  constructor() {
    this.proc = spawn('ip', ['netns', 'exec', NS, process.execPath, '--import', 'tsx', CHILD], { cwd: REPO });
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => resolve({ code, signal })));
    this.proc.stderr.on('data', (d: Buffer) => this.stderr.push(d.toString()));
    createInterface({ input: this.proc.stdout }).on('line', (line) => {
      const msg = JSON.parse(line) as Reply & ChildEvent;
      if (msg.event) {
        this.events.push(msg);
        for (const w of this.watchers) w();
      } else {
        this.replies.get(msg.id)?.(msg);
        this.replies.delete(msg.id);
      }
    });
  }

  /** Runs a command; resolves with its reply (ok or not), rejects only on timeout. */
  request(op: string, args: object = {}, timeoutMs = 5000): Promise<Reply> {
    const id = this.nextId++;
    this.proc.stdin.write(JSON.stringify({ id, op, ...args }) + '\n');
    return this.withDeadline(
      new Promise<Reply>((resolve) => this.replies.set(id, resolve)),
      timeoutMs,
      `no reply to ${op}`,
    );
  }

  /** Runs a command that must succeed. */
  async call(op: string, args: object = {}): Promise<unknown> {
    const r = await this.request(op, args);
    assert.ok(r.ok, `${op} failed: ${r.error}`);
    return r.result;
  }

  /** Waits until `pick` finds something in the events so far. */
  async waitFor<T>(what: string, pick: (events: ChildEvent[]) => T | undefined, timeoutMs = 3000): Promise<T> {
    let check: (() => void) | undefined;
    const found = new Promise<T>((resolve) => {
      check = () => {
        const v = pick(this.events);
        if (v !== undefined) resolve(v);
      };
      this.watchers.add(check);
      check();
    });
    try {
      return await this.withDeadline(found, timeoutMs, `timed out waiting for ${what}`);
    } finally {
      if (check) this.watchers.delete(check);
    }
  }

  /** IPv4 packets the device has delivered so far, in order. */
  ipv4Packets(): ParsedIpv4[] {
    return this.events
      .flatMap((e) => (e.event === 'packets' ? (e.packets ?? []) : []))
      .map((hex) => parseIpv4(Buffer.from(hex, 'hex')))
      .filter((p): p is ParsedIpv4 => p !== undefined);
  }

  udpMessages(port: number): ChildEvent[] {
    return this.events.filter((e) => e.event === 'udp' && e.port === port);
  }

  /** Stops the child however it is; never throws. */
  async dispose(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.stdin.end();
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
      await this.exited;
      clearTimeout(t);
    }
  }

  private async withDeadline<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${message} (child stderr: ${this.stderr.join('')})`)), ms);
    });
    try {
      return await Promise.race([p, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Starts a child with the device open at 10.99.0.1/24 and reading. */
async function startDevice(mtu = 1400, offload?: boolean): Promise<NamespaceChild> {
  const c = new NamespaceChild();
  try {
    await c.waitFor('the child to start', (ev) => (ev.some((e) => e.event === 'ready') ? true : undefined), 15_000);
    const opened = (await c.call('open', { name: DEV, mtu, offload })) as { name: string; mtu: number };
    assert.deepEqual(opened, offload === undefined ? { name: DEV, mtu } : { name: DEV, mtu, offload });
    await c.call('addAddress', { cidr: `${LOCAL}/24` });
    await c.call('read');
    return c;
  } catch (e) {
    await c.dispose(); // the child would otherwise hold the runner open
    throw e;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const skip = whySkip();

// Each test is skipped on its own (not the suite) so the runner's summary counts them as skipped.
describe('Linux TUN device in a network namespace', () => {
  before(() => {
    if (skip) return;
    deleteNamespace();
    const r = ip('netns', 'add', NS);
    assert.equal(r.status, 0, r.out);
    ip('-n', NS, 'link', 'set', 'lo', 'up');
    // If the runner dies between before() and after(), do not leave the namespace behind.
    process.once('exit', deleteNamespace);
  });
  after(() => {
    if (skip) return;
    deleteNamespace();
    assert.ok(!ip('netns', 'list').out.includes(NS), 'namespace still there');
  });

  test('the device comes up with its name, MTU and address', { skip }, async () => {
    const c = await startDevice(1400);
    try {
      const link = ip('-n', NS, '-o', 'link', 'show', 'dev', DEV);
      assert.equal(link.status, 0, link.out);
      assert.match(link.out, /mtu 1400 /);
      assert.match(link.out, /[<,]UP[,>]/);
      assert.match(link.out, /POINTOPOINT/);
      assert.match(ip('-n', NS, '-o', 'addr', 'show', 'dev', DEV).out, /inet 10\.99\.0\.1\/24 /);
    } finally {
      await c.dispose();
    }
  });

  test('a UDP datagram the kernel routes into the device arrives in JS intact', { skip }, async () => {
    const c = await startDevice();
    try {
      const payload = Buffer.from('telepath probe 1');
      const sent = (await c.call('udpSend', { address: PEER, port: 9, hex: payload.toString('hex') })) as {
        port: number;
      };
      const packet = await c.waitFor('the UDP packet', () =>
        c.ipv4Packets().find((p) => p.protocol === 17 && p.dst === PEER),
      );
      assert.equal(packet.headerLength, 20);
      assert.equal(packet.totalLength, 20 + 8 + payload.length);
      assert.equal(packet.ttl, 64);
      assert.equal(packet.src, LOCAL);
      assert.ok(packet.headerChecksumOk, 'IPv4 header checksum');
      const udp = parseUdp(packet);
      assert.ok(udp);
      assert.equal(udp.srcPort, sent.port);
      assert.equal(udp.dstPort, 9);
      assert.equal(udp.length, 8 + payload.length);
      assert.ok(udp.checksumOk, 'UDP checksum (no offloads: the kernel fills it in)');
      assert.deepEqual(udp.data, payload);
    } finally {
      await c.dispose();
    }
  });

  test('addRoute routes a subnet into the device and removeRoute takes it away', { skip }, async () => {
    const c = await startDevice();
    try {
      await c.call('addRoute', { cidr: '10.98.0.0/16' });
      assert.match(ip('-n', NS, 'route', 'show', '10.98.0.0/16').out, new RegExp(`dev ${DEV}`));
      await c.call('udpSend', { address: '10.98.7.8', port: 53, hex: '01' });
      await c.waitFor('the routed packet', () => c.ipv4Packets().find((p) => p.dst === '10.98.7.8'));

      const dup = await c.request('addRoute', { cidr: '10.98.0.0/16' });
      assert.equal(dup.ok, false, 'adding the same route twice is an error');
      assert.match(String(dup.error), /File exists/);

      await c.call('removeRoute', { cidr: '10.98.0.0/16' });
      assert.equal(ip('-n', NS, 'route', 'show', '10.98.0.0/16').out.trim(), '');
      const r = await c.request('udpSend', { address: '10.98.7.8', port: 53, hex: '02' });
      assert.equal(r.code, 'ENETUNREACH', 'no route once removed (the namespace has no default route)');
    } finally {
      await c.dispose();
    }
  });

  test('a UDP packet written into the device reaches a kernel socket; a bad checksum does not', { skip }, async () => {
    const c = await startDevice();
    try {
      await c.call('udpBind', { address: LOCAL, port: 5000 });
      const to = { src: PEER, dst: LOCAL, srcPort: 7777, dstPort: 5000 };
      const bad = udpPacket(to, Buffer.from('bad checksum'));
      bad[27] ^= 0xff; // low byte of the UDP checksum
      await c.call('write', { hex: bad.toString('hex') });
      await c.call('write', { hex: udpPacket(to, Buffer.from('reply 1')).toString('hex') });
      await c.call('writeBatch', {
        hexes: ['reply 2', 'reply 3', 'reply 4'].map((s) => udpPacket(to, Buffer.from(s)).toString('hex')),
      });
      const got = await c.waitFor('four datagrams', () => {
        const m = c.udpMessages(5000);
        return m.length >= 4 ? m : undefined;
      });
      await sleep(100);
      assert.deepEqual(
        c.udpMessages(5000).map((m) => [m.from, Buffer.from(String(m.data), 'hex').toString()]),
        [
          [`${PEER}:7777`, 'reply 1'],
          [`${PEER}:7777`, 'reply 2'],
          [`${PEER}:7777`, 'reply 3'],
          [`${PEER}:7777`, 'reply 4'],
        ],
        'the corrupted datagram is dropped by the kernel, the rest arrive in order',
      );
      assert.equal(got.length, 4);
    } finally {
      await c.dispose();
    }
  });

  test('checksum offload: the kernel leaves TCP/UDP sums to the device both ways; ICMP is untouched', { skip }, async () => {
    const c = await startDevice(1400, true);
    try {
      // Read: a datagram from a local socket arrives with only the pseudo-header sum in its
      // checksum field — the kernel did not sum the payload.
      const payload = Buffer.from('offloaded probe');
      const sent = (await c.call('udpSend', { address: PEER, port: 9, hex: payload.toString('hex') })) as { port: number };
      const packet = await c.waitFor('the UDP packet', () => c.ipv4Packets().find((p) => p.protocol === 17 && p.dst === PEER));
      assert.ok(packet.headerChecksumOk, 'the IPv4 header is still summed');
      const udp = parseUdp(packet);
      assert.ok(udp);
      assert.equal(udp.srcPort, sent.port);
      assert.deepEqual(udp.data, payload, 'no virtio header left in front of the packet');
      assert.equal(udp.checksumOk, false, 'the payload was not summed');
      const stored = packet.payload.readUInt16BE(6);
      const pseudo = pseudoHeaderSum(LOCAL, PEER, 17, udp.length);
      assert.equal(stored, pseudo, 'the field holds the pseudo-header sum');

      // Write: datagrams with a zero and with a garbage checksum field reach the socket (the
      // device fills the field in); an ICMP echo request still gets its answer.
      await c.call('udpBind', { address: LOCAL, port: 5000 });
      const to = { src: PEER, dst: LOCAL, srcPort: 7777, dstPort: 5000 };
      const zero = udpPacket(to, Buffer.from('zero field'));
      zero.writeUInt16BE(0, 26);
      const garbage = udpPacket(to, Buffer.from('garbage field'));
      garbage[27] ^= 0xff;
      await c.call('write', { hex: zero.toString('hex') });
      await c.call('writeBatch', { hexes: [garbage.toString('hex')] });
      await c.waitFor('both datagrams', () => (c.udpMessages(5000).length >= 2 ? true : undefined));
      assert.deepEqual(
        c.udpMessages(5000).map((m) => Buffer.from(String(m.data), 'hex').toString()),
        ['zero field', 'garbage field'],
      );
      const request = icmpEchoPacket({ src: PEER, dst: LOCAL, type: 8, id: 0x4321, seq: 1 }, Buffer.from('ping'));
      await c.call('write', { hex: request.toString('hex') });
      const reply = await c.waitFor('the echo reply', () => c.ipv4Packets().find((p) => p.protocol === IPPROTO_ICMP && p.dst === PEER));
      assert.equal(inetChecksum(reply.payload), 0, 'ICMP is summed by the kernel as before');
    } finally {
      await c.dispose();
    }
  });

  test('the kernel answers an ICMP echo request written into the device', { skip }, async () => {
    const c = await startDevice();
    try {
      const data = Buffer.from('ping from the test');
      const request = icmpEchoPacket({ src: PEER, dst: LOCAL, type: 8, id: 0x1234, seq: 7 }, data);
      await c.call('write', { hex: request.toString('hex') });
      const reply = await c.waitFor('the echo reply', () =>
        c.ipv4Packets().find((p) => p.protocol === IPPROTO_ICMP && p.dst === PEER),
      );
      assert.equal(reply.src, LOCAL);
      assert.ok(reply.headerChecksumOk);
      const icmp = reply.payload;
      assert.equal(icmp[0], 0, 'type: echo reply');
      assert.equal(icmp.readUInt16BE(4), 0x1234);
      assert.equal(icmp.readUInt16BE(6), 7);
      assert.equal(inetChecksum(icmp), 0, 'ICMP checksum');
      assert.deepEqual(icmp.subarray(8), data);
    } finally {
      await c.dispose();
    }
  });

  test('pause stops delivery; resume delivers what the kernel queued, in order', { skip }, async () => {
    const c = await startDevice();
    try {
      await c.call('pause');
      const payloads = ['q1', 'q2', 'q3', 'q4', 'q5'];
      for (const p of payloads) await c.call('udpSend', { address: PEER, port: 9, hex: Buffer.from(p).toString('hex') });
      await sleep(300);
      const udpData = () =>
        c
          .ipv4Packets()
          .map((p) => parseUdp(p))
          .filter((u) => u?.dstPort === 9)
          .map((u) => u?.data.toString());
      assert.deepEqual(udpData(), [], 'nothing is delivered while paused');
      await c.call('resume');
      await c.waitFor('the queued packets', () => (udpData().length >= 5 ? true : undefined));
      assert.deepEqual(udpData(), payloads);
    } finally {
      await c.dispose();
    }
  });

  test('write errors are thrown with their code, not dropped', { skip }, async () => {
    const c = await startDevice();
    try {
      const notIp = Buffer.alloc(40); // version nibble 0: the kernel refuses it with EINVAL
      const one = await c.request('write', { hex: notIp.toString('hex') });
      assert.equal(one.ok, false);
      assert.equal(one.code, 'EINVAL');

      const good = udpPacket({ src: PEER, dst: LOCAL, srcPort: 1, dstPort: 9 }, Buffer.from('x')).toString('hex');
      const batch = await c.request('writeBatch', { hexes: [good, notIp.toString('hex'), good] });
      assert.equal(batch.ok, false);
      assert.equal(batch.code, 'EINVAL');
      assert.equal(batch.written, 1, 'the error says how many packets went out before it');
    } finally {
      await c.dispose();
    }
  });

  test('close removes the device and its routes, and the process exits by itself', { skip }, async () => {
    const c = await startDevice();
    try {
      await c.call('addRoute', { cidr: '10.97.0.0/16' });
      assert.equal(ip('-n', NS, 'link', 'show', 'dev', DEV).status, 0);
      await c.call('close');
      const link = ip('-n', NS, 'link', 'show', 'dev', DEV);
      assert.notEqual(link.status, 0, `the device is still there: ${link.out}`);
      assert.match(link.out, /does not exist/);
      assert.equal(ip('-n', NS, 'route', 'show', '10.97.0.0/16').out.trim(), '');
      let timer: NodeJS.Timeout | undefined;
      const exit = await Promise.race([
        c.exited,
        new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), 3000))),
      ]);
      clearTimeout(timer);
      assert.deepEqual(exit, { code: 0, signal: null }, 'the closed device must not keep the event loop alive');
    } finally {
      await c.dispose();
    }
  });
});
