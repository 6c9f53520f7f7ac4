/**
 * The BUILT bundle, run from a directory with no node_modules: every server mode on 127.0.0.1,
 * checked with the bundle's own client modes (and a real grpc-js client), as a test in the
 * cluster would see them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';

const here = __dirname;
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'telepath-samples-'));
const bundle = path.join(workDir, 'samples.js');
const configFile = path.join(workDir, 'config.txt');

const IDENTITY_ENV = {
  POD_NAME: 'echo-7d9f-abcde',
  SAMPLE_GREETING: 'hello from echo',
  SAMPLE_SECRET: 's3cr3t',
  SAMPLE_CONFIG_FILE: configFile,
};
/** Every test ends by this, so a server that never answers fails the test instead of hanging it. */
const TIMEOUT = { timeout: 6000 };

const IDENTITY = { pod: 'echo-7d9f-abcde', greeting: 'hello from echo', secret: 's3cr3t', config: 'first line of config' };

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the bundle to completion (a client mode); never throws on a non-zero exit. */
function runBundle(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bundle, ...args],
      { cwd: workDir, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 8000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

async function client(args: string[]): Promise<string> {
  const r = await runBundle(args);
  assert.equal(r.code, 0, `samples ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

interface Server {
  child: ChildProcess;
  ports: Map<string, number>;
  output: () => string;
}

const children = new Set<ChildProcess>();

/** Starts a server mode on 127.0.0.1 with free ports; resolves once it printed its listening lines. */
async function startServer(args: string[], listeners: number, env: Record<string, string> = IDENTITY_ENV): Promise<Server> {
  const child = spawn(process.execPath, [bundle, ...args, '--host', '127.0.0.1'], {
    cwd: workDir,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const ports = new Map<string, number>();
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      for (const m of out.matchAll(/^listening (\w+) 127\.0\.0\.1:(\d+)$/gm)) ports.set(m[1], Number(m[2]));
      if (ports.size === listeners) resolve();
    });
    child.once('exit', (code) => reject(new Error(`${args[0]} exited (${code}) before listening: ${out}`)));
  });
  return { child, ports, output: () => out };
}

function port(server: Server, kind: string): number {
  const p = server.ports.get(kind);
  assert.ok(p, `no ${kind} listener in ${server.output()}`);
  return p;
}

/** A port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const p = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

/** Sends SIGTERM and returns how the process ended and how long it took. */
async function terminate(child: ChildProcess): Promise<{ code: number | null; ms: number }> {
  const started = Date.now();
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
  child.kill('SIGTERM');
  const [code] = await exited;
  return { code, ms: Date.now() - started };
}

before(async () => {
  fs.writeFileSync(configFile, 'first line of config\nsecond line\n');
  await new Promise<void>((resolve, reject) =>
    execFile(process.execPath, [path.join(here, 'build.mjs'), bundle], (err, _out, stderr) =>
      err ? reject(new Error(`build failed: ${stderr}`)) : resolve(),
    ),
  );
  assert.ok(!fs.existsSync(path.join(workDir, 'node_modules')));
});

after(() => {
  for (const child of children) child.kill('SIGKILL');
  fs.rmSync(workDir, { recursive: true, force: true });
});

describe('http-echo', TIMEOUT, () => {
  test('answers with the identity from env and config file, several requests on one keep-alive connection', async (t) => {
    const server = await startServer(['http-echo', '--port', '0'], 1);
    t.after(() => server.child.kill('SIGKILL'));
    // A counting proxy in front of the server sees how many connections the client opens.
    let connections = 0;
    const proxy = net.createServer((c) => {
      connections++;
      const upstream = net.connect(port(server, 'http'), '127.0.0.1');
      c.pipe(upstream).pipe(c);
      c.on('error', () => upstream.destroy());
      upstream.on('error', () => c.destroy());
    });
    proxy.listen(0, '127.0.0.1');
    await once(proxy, 'listening');
    t.after(() => proxy.close());
    const url = `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}/some/path?q=1`;

    const out = await client(['http-get', url, '--header', 'X-Telepath-Intercept=abc', '--count', '3']);
    const lines = out.split('\n');
    assert.equal(lines.pop(), '', 'output ends with a newline');
    assert.equal(lines.length, 3);
    for (const line of lines) {
      const doc = JSON.parse(line);
      assert.deepEqual(
        { pod: doc.pod, greeting: doc.greeting, secret: doc.secret, config: doc.config },
        IDENTITY,
      );
      assert.equal(doc.protocol, 'http/1.1');
      assert.equal(doc.method, 'GET');
      assert.equal(doc.path, '/some/path?q=1');
      assert.equal(doc.headers['x-telepath-intercept'], 'abc');
      assert.equal(doc.headers.connection, 'keep-alive');
    }
    assert.equal(connections, 1, 'all three requests share one connection');
  });

  test('/healthz answers ok; a missing config file is "" and POD_NAME falls back to the hostname', async (t) => {
    const server = await startServer(['http-echo', '--port', '0'], 1, {
      SAMPLE_CONFIG_FILE: path.join(workDir, 'does-not-exist.txt'),
    });
    t.after(() => server.child.kill('SIGKILL'));
    const base = `http://127.0.0.1:${port(server, 'http')}`;
    assert.equal(await client(['http-get', `${base}/healthz`]), 'ok\n');
    const doc = JSON.parse(await client(['http-get', `${base}/`]));
    assert.equal(doc.pod, os.hostname());
    assert.equal(doc.config, '');
    assert.equal(doc.greeting, '');
    assert.equal(doc.secret, '');
  });

  test('bulk endpoints: GET /bytes/<n> sends exactly n bytes, POST /sink counts the body', async (t) => {
    const server = await startServer(['http-echo', '--port', '0'], 1);
    t.after(() => server.child.kill('SIGKILL'));
    const p = port(server, 'http');
    const got = await fetch(`http://127.0.0.1:${p}/bytes/3000000`);
    assert.equal(got.status, 200);
    assert.equal((await got.arrayBuffer()).byteLength, 3_000_000);
    const sunk = await fetch(`http://127.0.0.1:${p}/sink`, { method: 'POST', body: new Uint8Array(1_234_567) });
    assert.deepEqual(await sunk.json(), { bytes: 1_234_567 });
  });
});

describe('grpc-echo: h2c, gRPC and HTTP/1.1 on one port', TIMEOUT, () => {
  let server: Server;
  let target: string;
  before(async () => {
    server = await startServer(['grpc-echo', '--port', '0'], 1);
    target = `127.0.0.1:${port(server, 'grpc')}`;
  });
  after(() => server.child.kill('SIGKILL'));

  test('h2c prior knowledge answers the echo JSON with protocol h2', async () => {
    const doc = JSON.parse(await client(['h2-get', `http://${target}/h2/path?x=1`, '--header', 'X-Dev=alice']));
    assert.equal(doc.protocol, 'h2');
    assert.equal(doc.pod, IDENTITY.pod);
    assert.equal(doc.config, IDENTITY.config);
    assert.equal(doc.path, '/h2/path?x=1');
    assert.equal(doc.headers['x-dev'], 'alice');
    assert.equal(doc.headers[':path'], undefined, 'pseudo-headers are not echoed as headers');
    assert.equal(await client(['h2-get', `http://${target}/healthz`]), 'ok\n');
  });

  test('gRPC Echo through grpc-js echoes the message, the identity and only the custom metadata', async () => {
    const reply = JSON.parse(
      await client(['grpc-call', target, '--metadata', 'x-telepath-intercept=abc', '--metadata', 'x-b=2', '--message', 'ping']),
    );
    assert.deepEqual(reply, { message: 'ping', ...IDENTITY, metadata: { 'x-telepath-intercept': 'abc', 'x-b': '2' } });
  });

  test('an unknown gRPC method is UNIMPLEMENTED', async () => {
    const c = new grpc.Client(target, grpc.credentials.createInsecure());
    try {
      const err = await new Promise<grpc.ServiceError | null>((resolve) =>
        c.makeUnaryRequest(
          '/telepath.samples.Echo/Nope',
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.alloc(0),
          new grpc.Metadata(),
          { deadline: Date.now() + 3000 },
          (e) => resolve(e),
        ),
      );
      assert.equal(err?.code, grpc.status.UNIMPLEMENTED);
      assert.match(err?.details ?? '', /unknown method \/telepath\.samples\.Echo\/Nope/);
    } finally {
      c.close();
    }
  });

  test('HTTP/1.1 with Upgrade: h2c is answered over HTTP/1.1 (the upgrade is declined)', async () => {
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.get(
        `http://${target}/up`,
        { headers: { Upgrade: 'h2c', Connection: 'Upgrade, HTTP2-Settings', 'HTTP2-Settings': 'AAMAAABkAAQCAAAAAAIAAAAA' } },
        (r) => {
          let body = '';
          r.on('data', (d: Buffer) => (body += d.toString()));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
        },
      );
      req.on('upgrade', () => reject(new Error('server switched protocols')));
      req.on('error', reject);
    });
    assert.equal(res.status, 200);
    const doc = JSON.parse(res.body);
    assert.equal(doc.protocol, 'http/1.1');
    assert.equal(doc.pod, IDENTITY.pod);
    assert.equal(doc.headers.upgrade, 'h2c');
  });
});

describe('tcp-echo, udp-echo, multi', TIMEOUT, () => {
  test('tcp-send gets the hello line and its text back after half-closing', async (t) => {
    const server = await startServer(['tcp-echo', '--port', '0'], 1);
    t.after(() => server.child.kill('SIGKILL'));
    const out = await client(['tcp-send', '127.0.0.1', String(port(server, 'tcp')), 'ping-tcp']);
    assert.equal(out, 'hello from echo-7d9f-abcde greeting=hello from echo\nping-tcp\n');
  });

  test('tcp-echo keeps echoing while the client is open and ends only after the client ends', async (t) => {
    const server = await startServer(['tcp-echo', '--port', '0'], 1);
    t.after(() => server.child.kill('SIGKILL'));
    const socket = net.connect({ port: port(server, 'tcp'), host: '127.0.0.1', allowHalfOpen: true });
    t.after(() => socket.destroy());
    let received = '';
    let ended = false;
    socket.on('end', () => (ended = true));
    const until = (text: string): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (!received.endsWith(text)) return;
          socket.removeListener('data', onData);
          resolve();
        };
        const onData = (d: Buffer): void => {
          received += d.toString();
          check();
        };
        socket.on('data', onData);
        check();
      });
    await until('\n');
    socket.write('first ');
    await until('first ');
    assert.equal(ended, false, 'the server must not end while the client is open');
    socket.end('last');
    await until('last');
    await once(socket, 'end');
    assert.equal(received, 'hello from echo-7d9f-abcde greeting=hello from echo\nfirst last');
  });

  test('udp-send gets "<pod>: " and its datagram back', async (t) => {
    const server = await startServer(['udp-echo', '--port', '0'], 1);
    t.after(() => server.child.kill('SIGKILL'));
    const out = await client(['udp-send', '127.0.0.1', String(port(server, 'udp')), 'ping-udp']);
    assert.equal(out, 'echo-7d9f-abcde: ping-udp\n');
  });

  test('multi answers HTTP and TCP from one process', async (t) => {
    const server = await startServer(['multi', '--http-port', '0', '--tcp-port', '0'], 2);
    t.after(() => server.child.kill('SIGKILL'));
    const doc = JSON.parse(await client(['http-get', `http://127.0.0.1:${port(server, 'http')}/m`]));
    assert.equal(doc.pod, IDENTITY.pod);
    assert.equal(doc.path, '/m');
    const out = await client(['tcp-send', '127.0.0.1', String(port(server, 'tcp')), 'ping-multi']);
    assert.match(out, /^hello from echo-7d9f-abcde greeting=hello from echo\nping-multi\n$/);
  });
});

describe('SIGTERM ends every server mode cleanly within 1 s', { ...TIMEOUT, concurrency: true }, () => {
  const limitMs = 1000;

  test('http-echo with an open keep-alive connection', async () => {
    const server = await startServer(['http-echo', '--port', '0'], 1);
    const agent = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) =>
      http.get(`http://127.0.0.1:${port(server, 'http')}/`, { agent }, (r) => r.resume().on('end', resolve)).on('error', reject),
    );
    const { code, ms } = await terminate(server.child);
    agent.destroy();
    assert.equal(code, 0, server.output());
    assert.ok(ms < limitMs, `took ${ms} ms`);
  });

  test('grpc-echo: GOAWAY to an open HTTP/2 session, then a request still in flight is cut', async () => {
    const server = await startServer(['grpc-echo', '--port', '0'], 1);
    const session = http2.connect(`http://127.0.0.1:${port(server, 'grpc')}`);
    session.on('error', () => undefined);
    let goaway = false;
    session.on('goaway', () => (goaway = true));
    const done = session.request({ ':path': '/' });
    done.resume();
    await once(done, 'end');
    // A request whose body never ends keeps its stream open past the grace period.
    const stuck = session.request({ ':path': '/', ':method': 'POST' });
    stuck.on('error', () => undefined);
    stuck.write('never ends');
    // The PING ack comes after the server has read the frames sent before it.
    await new Promise<void>((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
    const { code, ms } = await terminate(server.child);
    session.destroy();
    assert.equal(code, 0, server.output());
    assert.ok(ms < limitMs, `took ${ms} ms`);
    assert.ok(goaway, 'the session got GOAWAY');
  });

  test('tcp-echo with a connection the client never ends', async () => {
    const server = await startServer(['tcp-echo', '--port', '0'], 1);
    const socket = net.connect({ port: port(server, 'tcp'), host: '127.0.0.1', allowHalfOpen: true });
    socket.on('error', () => undefined);
    await once(socket, 'data');
    const { code, ms } = await terminate(server.child);
    socket.destroy();
    assert.equal(code, 0, server.output());
    assert.ok(ms < limitMs, `took ${ms} ms`);
  });

  test('udp-echo and idle', async () => {
    const udp = await startServer(['udp-echo', '--port', '0'], 1);
    const idle = spawn(process.execPath, [bundle, 'idle'], { cwd: workDir, stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(idle);
    await once(idle.stdout!, 'data');
    for (const child of [udp.child, idle]) {
      const { code, ms } = await terminate(child);
      assert.equal(code, 0);
      assert.ok(ms < limitMs, `took ${ms} ms`);
    }
  });
});

describe('clients fail clearly', { ...TIMEOUT, concurrency: true }, () => {
  test('http-get, h2-get, tcp-send and grpc-call to a closed port exit non-zero with the reason on stderr', async () => {
    const p = String(await closedPort());
    const runs = await Promise.all([
      runBundle(['http-get', `http://127.0.0.1:${p}/`]),
      runBundle(['h2-get', `http://127.0.0.1:${p}/`]),
      runBundle(['tcp-send', '127.0.0.1', p, 'x']),
      runBundle(['grpc-call', `127.0.0.1:${p}`, '--timeout', '1000']),
    ]);
    for (const r of runs) {
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^samples [a-z0-9-]+: .*(ECONNREFUSED|UNAVAILABLE)/);
    }
  });

  test('udp-send with nobody answering gives up within its timeout', async () => {
    // A bound socket that never answers: no ICMP "port unreachable" either.
    const silent = dgram.createSocket('udp4');
    silent.bind(0, '127.0.0.1');
    await once(silent, 'listening');
    let datagrams = 0;
    silent.on('message', () => datagrams++);
    const started = Date.now();
    const r = await runBundle(['udp-send', '127.0.0.1', String(silent.address().port), 'x', '--timeout', '600']);
    silent.close();
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no reply after 3 attempts/);
    assert.equal(datagrams, 3, 'sent three times');
    assert.ok(Date.now() - started < 3000);
  });

  test('an unknown mode or a bad flag exits 2 with usage', async () => {
    const bogus = await runBundle(['bogus']);
    assert.equal(bogus.code, 2);
    assert.match(bogus.stderr, /unknown mode "bogus"[\s\S]*usage:/);
    const badPort = await runBundle(['tcp-send', '127.0.0.1', 'http', 'x']);
    assert.equal(badPort.code, 2);
    assert.match(badPort.stderr, /PORT must be a port number/);
  });
});

describe('dns-lookup', TIMEOUT, () => {
  test('without a type it asks the system resolver', async () => {
    const answer = JSON.parse(await client(['dns-lookup', 'localhost']));
    assert.ok(Array.isArray(answer));
    assert.ok(answer.some((a: { address: string }) => a.address === '127.0.0.1' || a.address === '::1'));
  });

  test('--type A asks the given server and prints the addresses', async (t) => {
    const questions: string[] = [];
    const dns = dgram.createSocket('udp4');
    dns.on('message', (query, from) => {
      // One fixed A answer (10.1.2.3) to whatever was asked.
      let i = 12;
      const labels: string[] = [];
      while (query[i] !== 0) {
        labels.push(query.subarray(i + 1, i + 1 + query[i]).toString());
        i += query[i] + 1;
      }
      questions.push(labels.join('.'));
      const header = Buffer.from(query.subarray(0, 12));
      header.writeUInt16BE(0x8180, 2);
      header.writeUInt16BE(1, 4);
      header.writeUInt16BE(1, 6);
      header.writeUInt32BE(0, 8);
      const answer = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3]);
      dns.send(Buffer.concat([header, query.subarray(12, i + 5), answer]), from.port, from.address);
    });
    dns.bind(0, '127.0.0.1');
    await once(dns, 'listening');
    t.after(() => dns.close());
    const out = await client([
      'dns-lookup', 'echo.samples.svc.cluster.local', '--type', 'A', '--server', `127.0.0.1:${dns.address().port}`,
    ]);
    assert.deepEqual(JSON.parse(out), ['10.1.2.3']);
    assert.deepEqual(questions, ['echo.samples.svc.cluster.local']);
  });
});
