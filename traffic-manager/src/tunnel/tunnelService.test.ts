/**
 * Manager.Tunnel end to end: a real grpc-js client and server, and real TCP/UDP servers on
 * 127.0.0.1 as the destinations the manager dials.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { once } from 'node:events';
import { status } from '@grpc/grpc-js';
import { DialOutcome, DisconnectReason, Protocol } from '../../../protocol/src/gen/telepath/tunnel/v1/tunnel.js';
import { startTestManager, tcpOpen, type TestManager, TunnelClient } from '../testing/managerHarness.js';
import { dialOutcomeOf } from './dialOutcome.js';

let m: TestManager;
let session: string;
const servers: (net.Server | dgram.Socket)[] = [];

before(async () => {
  m = await startTestManager({ tunnel: { udpIdleTimeoutMs: 400 } });
  session = await m.arrive();
});

after(async () => {
  for (const s of servers) {
    if (s instanceof net.Server) s.close();
    else s.close();
  }
  await m.close();
});

/** A TCP server on 127.0.0.1; `onSocket` gets each accepted connection. */
async function tcpServer(onSocket: (s: net.Socket) => void): Promise<number> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => undefined);
    onSocket(s);
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

const echo = (s: net.Socket): void => {
  s.pipe(s);
};

/** Opens a tunnel and expects DialResult OK. */
async function openOk(port: number, host = '127.0.0.1'): Promise<TunnelClient> {
  const t = new TunnelClient(m.client);
  t.call.write(tcpOpen(session, host, port));
  const first = await t.next();
  assert.deepEqual(first, { kind: 'message', message: { $case: 'dialResult', value: { outcome: DialOutcome.OK, message: '' } } });
  return t;
}

/** Reads data messages until `n` bytes came. */
async function readBytes(t: TunnelClient, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  while (got < n) {
    const e = await t.next();
    assert.equal(e.kind === 'message' && e.message.$case, 'data', `expected data, got ${JSON.stringify(e)}`);
    if (e.kind === 'message' && e.message.$case === 'data') {
      parts.push(Buffer.from(e.message.value));
      got += e.message.value.byteLength;
    }
  }
  return Buffer.concat(parts);
}

describe('dialing', () => {
  test('a closed port is REFUSED at once and the call ends with OK', async () => {
    const port = await tcpServer(() => undefined);
    servers.at(-1)!.close();
    const t = new TunnelClient(m.client);
    const started = Date.now();
    t.call.write(tcpOpen(session, '127.0.0.1', port));
    const { messages, code } = await t.rest();
    assert.equal(messages.length, 1);
    const r = messages[0];
    assert.equal(r?.$case, 'dialResult');
    assert.equal(r?.$case === 'dialResult' && r.value.outcome, DialOutcome.REFUSED);
    assert.match(r?.$case === 'dialResult' ? r.value.message : '', /ECONNREFUSED/);
    assert.equal(code, status.OK);
    assert.ok(Date.now() - started < 1000, 'refused without waiting for the dial timeout');
  });

  test('a destination that never answers the SYN is TIMEOUT after the dial timeout', async (t) => {
    const { port, child } = await stoppedListener();
    t.after(() => child.kill('SIGKILL'));
    const tunnel = new TunnelClient(m.client);
    const started = Date.now();
    tunnel.call.write(tcpOpen(session, '127.0.0.1', port, { dialTimeoutMs: 500 }));
    const { messages, code } = await tunnel.rest();
    const r = messages[0];
    assert.equal(r?.$case === 'dialResult' && r.value.outcome, DialOutcome.TIMEOUT);
    assert.equal(code, status.OK);
    const took = Date.now() - started;
    assert.ok(took >= 450 && took < 3000, `took ${took} ms`);
  });

  test('dial errors map to outcomes', () => {
    const err = (code: string): NodeJS.ErrnoException => Object.assign(new Error(code), { code });
    assert.equal(dialOutcomeOf(err('ECONNREFUSED')), DialOutcome.REFUSED);
    assert.equal(dialOutcomeOf(err('EHOSTUNREACH')), DialOutcome.UNREACHABLE);
    assert.equal(dialOutcomeOf(err('ENETUNREACH')), DialOutcome.UNREACHABLE);
    assert.equal(dialOutcomeOf(err('ETIMEDOUT')), DialOutcome.TIMEOUT);
    assert.equal(dialOutcomeOf(err('EADDRNOTAVAIL')), DialOutcome.FAILED);
  });

  test('an unknown session is NOT_FOUND; a first message that is not Open, or a bad address, INVALID_ARGUMENT', async () => {
    const port = await tcpServer(echo);
    const unknown = new TunnelClient(m.client);
    unknown.call.write(tcpOpen('no-such-session', '127.0.0.1', port));
    assert.equal((await unknown.rest()).code, status.NOT_FOUND);

    const dataFirst = new TunnelClient(m.client);
    dataFirst.send({ $case: 'data', value: Buffer.from('x') });
    const r = await dataFirst.rest();
    assert.equal(r.code, status.INVALID_ARGUMENT);
    assert.match(r.details, /first message must be Open/);

    const badIp = new TunnelClient(m.client);
    badIp.call.write(tcpOpen(session, '127.0.0.1', port, { destinationIp: Uint8Array.from([127, 0, 1]) }));
    assert.equal((await badIp.rest()).code, status.INVALID_ARGUMENT);

    const badProto = new TunnelClient(m.client);
    badProto.call.write(tcpOpen(session, '127.0.0.1', port, { protocol: Protocol.UNSPECIFIED }));
    assert.equal((await badProto.rest()).code, status.INVALID_ARGUMENT);
  });
});

describe('TCP', () => {
  test('data is echoed both ways; CloseSend each way ends the call with OK', async () => {
    const port = await tcpServer(echo);
    const t = await openOk(port);
    t.send({ $case: 'data', value: Buffer.from('hello, ') });
    t.send({ $case: 'data', value: Buffer.from('cluster') });
    assert.equal((await readBytes(t, 14)).toString(), 'hello, cluster');
    t.send({ $case: 'closeSend', value: {} });
    // The echo server ends its side when ours ends: CloseSend back, then the call ends.
    const rest = await t.rest();
    assert.deepEqual(rest.messages, [{ $case: 'closeSend', value: {} }]);
    assert.equal(rest.code, status.OK);
    t.call.end();
    await waitFor(() => m.tunnels.activeCount === 0);
  });

  test('half-close: the destination reads to EOF and still answers', async () => {
    const port = await tcpServer((s) => {
      let n = 0;
      s.on('data', (d: Buffer) => (n += d.length));
      s.on('end', () => s.end(`got ${n} bytes`));
    });
    const t = await openOk(port);
    t.send({ $case: 'data', value: Buffer.alloc(1000, 1) });
    t.send({ $case: 'closeSend', value: {} });
    const rest = await t.rest();
    assert.deepEqual(
      rest.messages.map((x) => (x.$case === 'data' ? Buffer.from(x.value).toString() : x.$case)),
      ['got 1000 bytes', 'closeSend'],
    );
    assert.equal(rest.code, status.OK);
  });

  test('half-close the other way: the destination ends first and the client keeps sending', async () => {
    let received = '';
    const done = new Promise<string>((resolve) => {
      void tcpServer((s) => {
        s.end('bye early');
        s.on('data', (d: Buffer) => (received += d.toString()));
        s.on('end', () => resolve(received));
      }).then((port) => openOk(port).then(async (t) => {
        assert.equal((await readBytes(t, 9)).toString(), 'bye early');
        assert.deepEqual(await t.next(), { kind: 'message', message: { $case: 'closeSend', value: {} } });
        t.send({ $case: 'data', value: Buffer.from('still ') });
        t.send({ $case: 'data', value: Buffer.from('talking') });
        t.send({ $case: 'closeSend', value: {} });
        assert.equal((await t.rest()).code, status.OK);
      }));
    });
    assert.equal(await done, 'still talking');
  });

  test('a Disconnect from the client resets the destination connection', async () => {
    const reset = new Promise<string>((resolve) => {
      void tcpServer((s) => {
        s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
        s.on('end', () => resolve('FIN'));
      }).then(async (port) => {
        const t = await openOk(port);
        t.send({ $case: 'data', value: Buffer.from('x') });
        t.send({ $case: 'disconnect', value: { reason: DisconnectReason.RESET, error: 'local socket reset' } });
        assert.equal((await t.rest()).code, status.OK);
      });
    });
    assert.equal(await reset, 'ECONNRESET');
  });

  test('a destination reset reaches the client as Disconnect RESET', async () => {
    const port = await tcpServer((s) => s.once('data', () => s.resetAndDestroy()));
    const t = await openOk(port);
    t.send({ $case: 'data', value: Buffer.from('x') });
    const rest = await t.rest();
    const last = rest.messages.at(-1);
    assert.equal(last?.$case, 'disconnect');
    assert.equal(last?.$case === 'disconnect' && last.value.reason, DisconnectReason.RESET);
    assert.equal(rest.code, status.OK);
  });

  test('20 MB each way through an echo server, checksums equal', async () => {
    const port = await tcpServer(echo);
    const t = await openOk(port);
    const total = 20 * 1024 * 1024;
    const sent = createHash('sha256');
    const got = createHash('sha256');
    let received = 0;
    const reading = (async () => {
      while (received < total) {
        const e = await t.next(10_000);
        if (e.kind !== 'message' || e.message.$case !== 'data') throw new Error(`unexpected ${JSON.stringify(e)}`);
        got.update(e.message.value);
        received += e.message.value.byteLength;
      }
    })();
    for (let off = 0; off < total;) {
      const chunk = randomBytes(Math.min(61_000 + (off % 7000), total - off));
      sent.update(chunk);
      off += chunk.length;
      if (!t.send({ $case: 'data', value: chunk })) await once(t.call, 'drain');
    }
    await reading;
    assert.equal(received, total);
    assert.equal(got.digest('hex'), sent.digest('hex'));
    t.send({ $case: 'closeSend', value: {} });
    assert.equal((await t.rest()).code, status.OK);
  });

  // Kernel socket buffers (autotuned up to tcp_rmem's maximum) and HTTP/2 windows absorb some
  // megabytes, so these tests look for a stall — the sender stops making progress while its
  // receiver does not read — rather than for a small absolute number.
  test('backpressure: a destination that does not read stops the client, and nothing is lost', async (tc) => {
    const total = 20 * 1024 * 1024;
    let destination: net.Socket | undefined;
    const sink = createHash('sha256');
    let sunk = 0;
    const port = await tcpServer((s) => {
      destination = s;
      s.pause();
      s.on('data', (d: Buffer) => {
        sink.update(d);
        sunk += d.length;
      });
    });
    const t = await openOk(port);
    tc.after(() => t.call.cancel());
    const source = createHash('sha256');
    let accepted = 0;
    let blocked = false;
    const writing = (async () => {
      while (accepted < total) {
        const chunk = randomBytes(Math.min(64 * 1024, total - accepted));
        source.update(chunk);
        accepted += chunk.length;
        if (!t.send({ $case: 'data', value: chunk })) {
          blocked = true;
          await once(t.call, 'drain');
          blocked = false;
        }
      }
    })();
    await sleep(800);
    const stalledAt = accepted;
    await sleep(300);
    tc.diagnostic(`the client stalled after ${stalledAt} bytes`);
    assert.equal(blocked, true, 'the client is waiting for drain');
    assert.equal(accepted, stalledAt, 'no progress while the destination does not read');
    assert.ok(accepted < total, 'not everything could be buffered on the way');
    destination!.resume();
    await writing;
    await waitFor(() => sunk === total, 10_000);
    assert.equal(sink.digest('hex'), source.digest('hex'));
    t.send({ $case: 'closeSend', value: {} });
  });

  test('backpressure: a client that does not read stops the destination, and nothing is lost', async (tc) => {
    const total = 64 * 1024 * 1024;
    let written = 0;
    let flushed = 0;
    const source = createHash('sha256');
    let pumping: Promise<void> | undefined;
    const port = await tcpServer((s) => {
      pumping = (async () => {
        while (written < total) {
          const chunk = randomBytes(256 * 1024);
          source.update(chunk);
          written += chunk.length;
          if (!s.write(chunk, () => (flushed += chunk.length))) await once(s, 'drain');
        }
        s.end();
      })();
    });
    const t = await openOk(port);
    tc.after(() => t.call.cancel());
    t.call.pause();
    await sleep(1000);
    const stalledAt = flushed;
    await sleep(300);
    tc.diagnostic(`the destination stalled after ${stalledAt} bytes`);
    assert.equal(flushed, stalledAt, 'no progress while the client does not read');
    assert.ok(flushed < total, 'not everything could be buffered on the way');
    t.call.resume();
    const got = createHash('sha256');
    let received = 0;
    for (;;) {
      const e = await t.next(10_000);
      if (e.kind === 'message' && e.message.$case === 'data') {
        got.update(e.message.value);
        received += e.message.value.byteLength;
      } else {
        assert.deepEqual(e, { kind: 'message', message: { $case: 'closeSend', value: {} } });
        break;
      }
    }
    await pumping;
    assert.equal(received, total);
    assert.equal(got.digest('hex'), source.digest('hex'));
    t.send({ $case: 'closeSend', value: {} });
    assert.equal((await t.rest()).code, status.OK);
  });

  test('Depart ends the session and disconnects its tunnels', async () => {
    const own = await m.arrive('samples', 'install-depart');
    const closed = new Promise<void>((resolve) => {
      void tcpServer((s) => s.on('close', () => resolve())).then(async (port) => {
        const t = new TunnelClient(m.client);
        t.call.write(tcpOpen(own, '127.0.0.1', port));
        assert.equal((await t.next()).kind, 'message');
        await new Promise<void>((res, rej) => m.client.depart({ session: { sessionId: own } }, (e) => (e ? rej(e) : res())));
        const rest = await t.rest();
        const last = rest.messages.at(-1);
        assert.equal(last?.$case === 'disconnect' && last.value.reason, DisconnectReason.SHUTDOWN);
        assert.match(last?.$case === 'disconnect' ? last.value.error : '', /departed/);
      });
    });
    await closed;
  });

  test('a cancelled call resets the destination connection', async () => {
    const closed = new Promise<string>((resolve) => {
      void tcpServer((s) => {
        s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
        s.on('end', () => resolve('FIN'));
      }).then(async (port) => {
        const t = await openOk(port);
        active = m.tunnels.activeCount;
        t.call.cancel();
      });
    });
    let active = 0;
    assert.equal(await closed, 'ECONNRESET');
    await waitFor(() => m.tunnels.activeCount === active - 1);
  });
});

describe('UDP', () => {
  async function udpEcho(): Promise<number> {
    const s = dgram.createSocket('udp4');
    servers.push(s);
    s.on('message', (msg, r) => s.send(msg, r.port, r.address));
    s.bind(0, '127.0.0.1');
    await once(s, 'listening');
    return s.address().port;
  }

  test('each Data message is one datagram, both ways; an idle flow is disconnected', async () => {
    const port = await udpEcho();
    const t = new TunnelClient(m.client);
    t.call.write(tcpOpen(session, '127.0.0.1', port, { protocol: Protocol.UDP }));
    assert.deepEqual(await t.next(), { kind: 'message', message: { $case: 'dialResult', value: { outcome: DialOutcome.OK, message: '' } } });
    const sizes = [1, 512, 1400, 9000];
    for (const n of sizes) t.send({ $case: 'data', value: Buffer.alloc(n, n & 0xff) });
    const got: number[] = [];
    while (got.length < sizes.length) {
      const e = await t.next();
      assert.ok(e.kind === 'message' && e.message.$case === 'data');
      got.push(e.message.value.byteLength);
    }
    assert.deepEqual(got.sort((a, b) => a - b), sizes);
    const started = Date.now();
    const rest = await t.rest();
    const last = rest.messages.at(-1);
    assert.equal(last?.$case === 'disconnect' && last.value.reason, DisconnectReason.IDLE_TIMEOUT);
    assert.ok(Date.now() - started >= 300, 'the flow lived until it was idle');
    assert.equal(rest.code, status.OK);
  });

  test('CloseSend from the client ends a UDP flow', async () => {
    const port = await udpEcho();
    const t = new TunnelClient(m.client);
    t.call.write(tcpOpen(session, '127.0.0.1', port, { protocol: Protocol.UDP }));
    assert.equal((await t.next()).kind, 'message');
    t.send({ $case: 'closeSend', value: {} });
    const rest = await t.rest();
    assert.deepEqual(rest.messages, [{ $case: 'closeSend', value: {} }]);
    assert.equal(rest.code, status.OK);
  });
});

/**
 * A listener whose accept queue is full and whose process is stopped: the kernel drops further
 * SYNs, so a connect neither succeeds nor fails until the dialer gives up.
 */
async function stoppedListener(): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, [
    '-e',
    "require('net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, function () { process.stdout.write(this.address().port + '\\n'); })",
  ], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const port = Number(line.toString().trim());
  child.kill('SIGSTOP');
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 4; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    fillers.push(s);
  }
  await sleep(200);
  child.once('exit', () => fillers.forEach((s) => s.destroy()));
  return { port, child };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitFor(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}
